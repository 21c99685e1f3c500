// keyward/react: hooks over a client, on useSyncExternalStore. No provider: they use the client
// given, or the first one `createAuthClient` made. Server rendering sees `loading`.
import { useSyncExternalStore } from "react";
import { KeywardError, defaultClient } from "./internal.js";

const LOADING = Object.freeze({ state: "loading", user: null });
const stores = new WeakMap();

function store(auth = defaultClient()) {
  if (!auth) throw new KeywardError("invalid_request", "call createAuthClient before using Keyward's hooks");
  let s = stores.get(auth);
  if (!s) stores.set(auth, (s = { auth, subscribe: (tell) => auth.onChange(() => tell()), get: () => auth.snapshot }));
  return s;
}

/** `{state, user}` (re-rendering on each change) and the client's methods. */
export function useAuth(auth) {
  const s = store(auth);
  const snapshot = useSyncExternalStore(s.subscribe, s.get, () => LOADING);
  const a = s.auth;
  return {
    ...snapshot,
    auth: a,
    signUp: (input) => a.signUp(input),
    signIn: (input) => a.signIn(input),
    signOut: (options) => a.signOut(options),
    fetch: (input, init) => a.fetch(input, init),
    passkeys: a.passkeys,
  };
}

/** The signed-in user, or `null`. */
export function useUser(auth) {
  return useAuth(auth).user;
}
