// A React app signed in with Keyward. The client is made once, before the first render; the
// hooks find it without a provider.
import { createAuthClient } from "keyward";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.jsx";

window.auth = createAuthClient({ serverUrl: `${location.origin}/auth` });

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
