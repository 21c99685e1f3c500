// React's Vite plugin and nothing for Keyward: the package needs no configuration. The proxy
// lets `npm run dev` talk to a Keyward server on :8787.
import react from "@vitejs/plugin-react";

export default {
  plugins: [react()],
  build: { target: "es2022" },
  server: { proxy: { "/auth": "http://localhost:8787" } },
};
