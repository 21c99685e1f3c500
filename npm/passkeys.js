// keyward/passkeys: managing the user's passkeys (the ceremonies are `auth.passkeys`).
import { call, camel, seg } from "./internal.js";

export function passkeys(auth) {
  return {
    /** The user's passkeys. */
    list: (options) => call(auth, "GET", "/passkeys", undefined, options?.signal).then((d) => camel(d.passkeys)),
    /** Renames a passkey. */
    rename: (id, name) => call(auth, "PATCH", "/passkeys/" + seg(id), { name }).then(() => {}),
    /** Removes a passkey (needs a recent sign-in; never the last way to sign in). */
    remove: (id) => call(auth, "DELETE", "/passkeys/" + seg(id)).then(() => {}),
  };
}
