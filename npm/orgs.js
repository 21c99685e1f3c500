// keyward/orgs: organizations, their members and invitations, and what the active one allows.
// `orgs(auth).create({name})`, `.list()`, `.get(id)`, `.update(id, changes)`, `.remove(id)`,
// `.activate(id)`, `.active()`, `.members(id).list/update/remove/leave`, `.transfer(id, userId)`,
// `.invite(id, {email, role})`, `.invitations(id)`, `.resend/.revoke(id, invitationId)`,
// `.accept(token)`, `.can(permission)`.
import { call, camel, seg } from "./internal.js";

/** `[resource, action]` of a well-formed permission, else null. */
const parts = (p) => {
  const [r, a, more] = String(p).split(":");
  return r && a && more === undefined ? [r, a] : null;
};

/** Whether `granted` covers `wanted`, segment by whole segment (`todo:*` never grants `todos:read`). */
export const permits = (granted, wanted) => {
  const g = parts(granted), w = parts(wanted);
  return !!g && !!w && (g[0] == "*" || g[0] == w[0]) && (g[1] == "*" || g[1] == w[1]);
};

/** The claims of the session's access token (nothing secret: the app sends this token anyway). */
const claims = async (auth) => {
  try {
    const payload = (await auth.getAccessToken()).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
};

/** The active organization as the session's token carries it, or null. */
export const active = async (auth) => {
  const c = await claims(auth);
  return c.org ? { id: c.org, role: c.org_role, permissions: c.permissions ?? [] } : null;
};

/** Whether the active organization's role grants `permission` (from the token, no request). */
export const can = async (auth, permission) => ((await active(auth))?.permissions ?? []).some((g) => permits(g, permission));

export function orgs(auth) {
  const at = (id, rest = "") => "/orgs/" + seg(id) + rest;
  const go = (method, path, body) => call(auth, method, path, body).then(camel);
  const done = () => {};
  return {
    /** A new organization; the caller is its owner: `{org, role}`. */
    create: (org) => go("POST", "/orgs", org),
    /** The caller's organizations: `[{org, role}]`, oldest membership first. */
    list: () => go("GET", "/orgs").then((d) => d.orgs),
    get: (id) => go("GET", at(id)),
    update: (id, changes) => go("PATCH", at(id), changes),
    remove: (id) => go("DELETE", at(id)).then(done),
    /** Acts for `id` from now on: the session's new tokens carry its role and permissions. */
    async activate(id) {
      const answer = await go("POST", at(id, "/activate"));
      // A refresh already running (the token was due) may predate the activation: then one more.
      await auth.refresh();
      if ((await active(auth))?.id !== id) await auth.refresh();
      return answer;
    },
    active: () => active(auth),
    can: (permission) => can(auth, permission),
    members: (id) => ({
      list: () => go("GET", at(id, "/members")).then((d) => d.members),
      update: (userId, role) => go("PATCH", at(id, "/members/" + seg(userId)), { role }).then(done),
      remove: (userId) => go("DELETE", at(id, "/members/" + seg(userId))).then(done),
      leave: () => go("DELETE", at(id, "/members/" + seg(auth.user?.id ?? ""))).then(done),
    }),
    transfer: (id, userId) => go("POST", at(id, "/transfer"), { user_id: userId }).then(done),
    /** Mails an invitation (7 days, once): `{id, email, role, expiresAt, …}`. */
    invite: (id, { email, role, redirectTo }) =>
      go("POST", at(id, "/invitations"), { email, role, redirect_to: redirectTo }).then((d) => d.invitation),
    /** The pending invitations, newest first. */
    invitations: (id) => go("GET", at(id, "/invitations")).then((d) => d.invitations),
    resend: (id, invitationId) => go("POST", at(id, "/invitations/" + seg(invitationId) + "/resend")).then((d) => d.invitation),
    revoke: (id, invitationId) => go("DELETE", at(id, "/invitations/" + seg(invitationId))).then(done),
    /** Joins with the invitation's `token` (from its link): `{org, role}`. */
    accept: (token) => go("POST", "/invitations/accept", { token }),
  };
}
