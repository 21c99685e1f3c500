// keyward/apps: the other apps that sign users in through Keyward (Keyward as their OpenID
// Connect provider). On the page set as the server's `oidc_sign_in_page`: `apps(auth).pending()`
// (the request the page was opened with, taken out of the address bar and kept for the tab) and,
// once the user is signed in, `.continue()` (on to consent, or back to the app that asked). On
// a security page: `.list()` and `.disconnect(clientId)`.
import { call, camel, dropFromAddress, seg } from "./internal.js";

const KEPT = "keyward:oidc-req";
const KEPT_FOR_MS = 10 * 60 * 1000;

/** The address's `oidc_req` (then kept for this tab, out of the address bar), or the one kept. */
function pending() {
  if (typeof location == "undefined") return null;
  const url = new URL(location.href);
  const req = url.searchParams.get("oidc_req");
  if (req) {
    sessionStorage.setItem(KEPT, `${Date.now()} ${req}`);
    dropFromAddress(url, "oidc_req");
    return req;
  }
  const [at, kept] = (sessionStorage.getItem(KEPT) ?? "").split(" ");
  if (kept && Date.now() - Number(at) < KEPT_FOR_MS) return kept;
  sessionStorage.removeItem(KEPT);
  return null;
}

export function apps(auth) {
  return {
    /** The sign-in request another app sent the user here with, or null. */
    pending,
    /**
     * Hands the pending request (or `req`) back for this session and goes on: the browser
     * leaves for consent or the app that asked. `reauthentication_required` when that app asks
     * for a sign-in newer than this session's (sign in again, then call this again).
     */
    async continue(req = pending()) {
      if (!req) return;
      let next;
      try {
        next = (await call(auth, "POST", "/oidc/browser-session", { req })).continue_to;
      } catch (error) {
        if (error.code == "invalid_request") sessionStorage.removeItem(KEPT);
        throw error;
      }
      sessionStorage.removeItem(KEPT);
      // Only ever a path on this server.
      if (next.startsWith("/") && !next.startsWith("//")) location.assign(next);
    },
    /** The apps the user let sign them in, newest first: `[{clientId, name, scopes, grantedAt}]`. */
    list: () => call(auth, "GET", "/connected-apps").then((d) => camel(d.apps)),
    /** Disconnects an app: its sign-ins for the user end at once, and it asks again next time. */
    disconnect: (clientId) => call(auth, "DELETE", "/connected-apps/" + seg(clientId)).then(() => {}),
  };
}
