// keyward/devices: the browsers and apps the user signed in with, each a device key.
import { call, camel, core, seg, toError } from "./internal.js";

export function devices(auth) {
  const list = (options) => call(auth, "GET", "/devices", undefined, options?.signal).then((d) => camel(d.devices));
  const current = () => list().then((all) => all.find((d) => d.current) ?? null);
  return {
    /** Devices not revoked, most recently seen first; `current` marks this browser. */
    list,
    /** This browser's device, or `null` when the session is not bound to one. */
    current,
    /** Renames a device. */
    rename: (id, name) => call(auth, "PATCH", "/devices/" + seg(id), { name }).then(() => {}),
    /** Revokes a device and every session bound to it; revoking this one signs out here. */
    async revoke(id) {
      const here = (await current())?.id == id;
      await call(auth, "DELETE", "/devices/" + seg(id));
      if (here) await (await core(auth)).forget();
    },
    /** Signs a device challenge with this browser's key (for `POST /auth/devices/challenge/verify`). */
    signChallenge: async (challenge) => (await core(auth)).signChallenge(challenge).catch((e) => {
      throw toError(e);
    }),
  };
}
