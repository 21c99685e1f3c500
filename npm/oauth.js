// keyward/oauth: sign in with an OpenID Connect provider. `oauth(auth).providers()`,
// `.signIn(provider, {redirectTo})` (the browser leaves for the provider), `.complete(url)` on the
// page it comes back to. The provider's tokens stay on the server; the page only ever sees a
// single-use 60-second code, exchanged with a proof by this browser's device key and with the
// verifier this tab kept when it started the sign-in (someone else's code sent to this page
// cannot sign it in to their account).
import { KeywardError, open, user } from "./internal.js";

const messages = {
  invalid_state: "This sign-in expired or was started in another browser: start again.",
  access_denied: "The sign-in was cancelled at the provider.",
  invalid_response: "The provider's answer did not pass the checks: start again.",
  provider_unavailable: "The provider cannot be reached: try again later.",
  account_exists: "An account has this email address: sign in to it, then link the provider.",
  email_required: "The provider gave no email address.",
  email_unverified: "The provider does not say this email address is verified.",
};
const KEY = "keyward:oauth-verifier";
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export function oauth(auth) {
  const base = () => `${auth.serverUrl}/oauth/`;
  return {
    /** The providers the server signs in with: `[{id, name}]`. */
    async providers() {
      const response = await fetch(`${base()}providers`).catch((e) => {
        throw new KeywardError("network", String(e?.message ?? e), 0, e);
      });
      if (!response.ok) throw new KeywardError("unavailable", `the server answered ${response.status}`, response.status);
      return (await response.json()).data.providers;
    },
    /** Leaves this page for `provider`; the browser comes back to `redirectTo` (this page by default). */
    async signIn(provider, options) {
      const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
      sessionStorage.setItem(KEY, verifier);
      const challenge = b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
      const url = new URL(`${base()}${encodeURIComponent(provider)}/start`);
      url.searchParams.set("redirect_to", options?.redirectTo ?? location.href.split("#")[0]);
      url.searchParams.set("code_challenge", challenge);
      location.assign(url);
    },
    /**
     * On the page the provider sent the browser back to (`url`, this page by default; the code
     * then leaves the address bar): a session bound to this browser, as the user or
     * `{mfaRequired, ticket}`; `null` when the address carries no sign-in. A refusal rejects
     * with the `login_error` as the `code`.
     */
    complete(input = globalThis.location?.href) {
      const url = new URL(input);
      const [codes, errors] = [url.searchParams.getAll("keyward_code"), url.searchParams.getAll("login_error")];
      if (!codes.length && !errors.length) return Promise.resolve(null);
      if (globalThis.location?.href == url.href) {
        url.searchParams.delete("keyward_code");
        url.searchParams.delete("login_error");
        history.replaceState(history.state, "", url);
      }
      const verifier = sessionStorage.getItem(KEY);
      sessionStorage.removeItem(KEY);
      if (codes.length + errors.length > 1 || !verifier) {
        return Promise.reject(new KeywardError("invalid_state", "This page did not start this sign-in: start again."));
      }
      const [error] = errors;
      if (error) return Promise.reject(new KeywardError(error, messages[error] ?? "The sign-in failed."));
      return open(auth, "/oauth/exchange", { code: codes[0], code_verifier: verifier }).then(user);
    },
  };
}
