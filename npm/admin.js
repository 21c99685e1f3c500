// keyward/admin: an admin console's calls, made with the signed-in user's session. The user acts
// for the server's admin organization (`--admin-org`; `orgs(auth).activate(id)`) with a role that
// grants `keyward:admin`. Admin keys (`kwa_…`) are for servers and scripts, never for a page.
// `admin(auth).users({query, createdSince, createdBefore, limit, cursor})`, `.user(id)`,
// `.endSessions(id)`, `.disable(id)`, `.enable(id)`, `.remove(id)`, `.passwordReset(id)`,
// `.audit({userId, kind, since, limit, cursor})`, `.webhooks.create/list/update/remove/enable/
// rotateSecret/deliveries/test/redeliver`.
import { call, camel, seg } from "./internal.js";

/** `path` with the given (defined) parameters as its query, their names in snake_case. */
const query = (path, params = {}) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null) q.set(k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()), v);
  const text = String(q);
  return text ? path + "?" + text : path;
};

export function admin(auth) {
  const go = (method, path, body) => call(auth, method, "/admin" + path, body).then(camel);
  const user = (id, rest = "") => "/users/" + seg(id) + rest;
  const hook = (id, rest = "") => "/webhooks/" + seg(id) + rest;
  const done = () => {};
  return {
    /** A page of users, oldest first: `{users, nextCursor}` (no cursor on the last page). */
    users: (search) => go("GET", query("/users", search)),
    /** One user with their live sessions, devices, passkeys, linked providers and organizations. */
    user: (id) => go("GET", user(id)),
    /** Ends every session of the user at once: `{ended}`. */
    endSessions: (id) => go("DELETE", user(id, "/sessions")),
    /** The user can no longer sign in and their sessions end at once: `{user, ended}`. */
    disable: (id) => go("POST", user(id, "/disable")),
    enable: (id) => go("POST", user(id, "/enable")),
    /** Deletes the user with their data (`last_owner` while they are a shared team's last owner). */
    remove: (id) => go("DELETE", user(id)).then(done),
    /** Mails the user a password reset link (an admin never sets a password). */
    passwordReset: (id) => go("POST", user(id, "/password-reset")).then(done),
    /** A page of the audit log, newest first: `{events, nextCursor}`. */
    audit: (filter) => go("GET", query("/audit", filter)),
    webhooks: {
      /** A new endpoint (every event when `events` is absent): `{…endpoint, secret}`, the secret shown once. */
      create: ({ url, events }) => go("POST", "/webhooks", { url, events }),
      list: () => go("GET", "/webhooks").then((d) => d.endpoints),
      /** `{url?, events?}`; `events: null` sends every event. */
      update: (id, changes) => go("PATCH", hook(id), changes),
      remove: (id) => go("DELETE", hook(id)).then(done),
      /** Sends to a disabled endpoint again. */
      enable: (id) => go("POST", hook(id, "/enable")),
      /** A new secret, shown once; for a day deliveries are signed with the old one too: `{…endpoint, secret}`. */
      rotateSecret: (id) => go("POST", hook(id, "/rotate-secret")),
      /** A page of the endpoint's delivery log, newest first: `{deliveries, nextCursor}`. */
      deliveries: (id, page) => go("GET", query(hook(id, "/deliveries"), page)),
      /** Queues a test message to the endpoint alone: the delivery. */
      test: (id) => go("POST", hook(id, "/test")),
      /** Sends a delivery again. */
      redeliver: (id, deliveryId) => go("POST", hook(id, "/deliveries/" + seg(deliveryId) + "/redeliver")).then(done),
    },
  };
}
