// keyward/sessions: the user's signed-in sessions. `sessions(auth).list()`, `.revoke(id)`.
import { call, camel, core, seg } from "./internal.js";

export function sessions(auth) {
  return {
    /** Live sessions, newest first; `current` marks this client's. */
    list: (options) => call(auth, "GET", "/sessions", undefined, options?.signal).then((d) => camel(d.sessions)),
    /** Ends one session (its tokens stop working at once); ending this client's signs it out. */
    async revoke(id) {
      await call(auth, "DELETE", "/sessions/" + seg(id));
      const c = await core(auth);
      if (c.sessionId() == id) await c.forget();
    },
  };
}
