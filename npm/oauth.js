// keyward/oauth: sign in with an OpenID Connect provider. `oauth(auth).providers()`,
// `.signIn(provider, {redirectTo})` (the browser leaves for the provider), `.complete(url)` on the
// page it comes back to. The provider's tokens stay on the server; the page only ever sees a
// single-use 60-second code, exchanged with a proof by this browser's device key and with the
// verifier this tab kept when it started the sign-in (someone else's code sent to this page
// cannot sign it in to their account). A signed-in user links a provider with `.link(provider)`
// (finished by `.complete(url)` too, by the same session), and lists and unlinks them with
// `identities(auth).list()` / `.unlink(id)`.
import { KeywardError, address, call, camel, dropFromAddress, open, seg, user } from "./internal.js";

const messages = {
  invalid_state: "This sign-in expired or was started in another browser: start again.",
  access_denied: "The sign-in was cancelled at the provider.",
  invalid_response: "The provider's answer did not pass the checks: start again.",
  provider_unavailable: "The provider cannot be reached: try again later.",
  account_exists: "An account has this email address: sign in to it, then link the provider.",
  email_required: "The provider gave no email address.",
  email_unverified: "The provider does not say this email address is verified.",
  identity_taken: "This provider's account is linked to another account here.",
};
const KEY = "keyward:oauth-verifier";
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export function oauth(auth) {
  return {
    /** The providers the server signs in with: `[{id, name}]`. */
    async providers() {
      const response = await fetch(`${auth.serverUrl}/oauth/providers`).catch((e) => {
        throw new KeywardError("network", String(e?.message ?? e), 0, e);
      });
      if (!response.ok) throw new KeywardError("unavailable", `the server answered ${response.status}`, response.status);
      return (await response.json()).data.providers;
    },
    /** Leaves this page for `provider`; the browser comes back to `redirectTo` (this page by default). */
    async signIn(provider, options) {
      const url = new URL(await address(auth, `/oauth/${seg(provider)}/start`));
      url.searchParams.set("redirect_to", back(options));
      const [verifier, challenge] = await pair();
      url.searchParams.set("code_challenge", challenge);
      keep("signIn", verifier);
      location.assign(url);
    },
    /**
     * Signed in (recently): leaves this page for `provider` to link the account there to this
     * one; the browser comes back to `redirectTo`, where `complete()` finishes the link.
     */
    async link(provider, options) {
      const [verifier, challenge] = await pair();
      const body = { redirect_to: back(options), code_challenge: challenge };
      const { url } = await call(auth, "POST", `/oauth/${seg(provider)}/link`, body);
      keep("link", verifier);
      location.assign(url);
    },
    /**
     * On the page the provider sent the browser back to (`url`, this page by default; the code
     * then leaves the address bar): a session bound to this browser, as the user or
     * `{mfaRequired, ticket}`; after `link()`, `{linked: identity}`; `null` when the address
     * carries no sign-in. A refusal rejects with the `login_error` as the `code`.
     */
    complete(input = globalThis.location?.href) {
      const url = new URL(input);
      const [codes, errors] = [url.searchParams.getAll("keyward_code"), url.searchParams.getAll("login_error")];
      if (!codes.length && !errors.length) return Promise.resolve(null);
      dropFromAddress(url, "keyward_code", "login_error");
      const [kind, verifier] = (sessionStorage.getItem(KEY) ?? "").split(" ");
      sessionStorage.removeItem(KEY);
      if (codes.length + errors.length > 1 || !verifier) {
        return Promise.reject(new KeywardError("invalid_state", "This page did not start this sign-in: start again."));
      }
      const [error] = errors;
      if (error) return Promise.reject(new KeywardError(error, messages[error] ?? "The sign-in failed."));
      const body = { code: codes[0], code_verifier: verifier };
      if (kind == "link") return call(auth, "POST", "/identities", body).then((data) => ({ linked: camel(data.identity) }));
      return open(auth, "/oauth/exchange", body).then(user);
    },
  };
}

/** A new verifier and its challenge. */
async function pair() {
  const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
  return [verifier, b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)))];
}

/** What this tab keeps for `complete()`: what it started (`signIn`, `link`) and its verifier. */
const keep = (kind, verifier) => sessionStorage.setItem(KEY, `${kind} ${verifier}`);

// This page by default, its fragment too (a hash-routed app comes back to the same view).
const back = (options) => options?.redirectTo ?? location.href;

/** The providers linked to the signed-in account: `.list()`, `.unlink(id)`. */
export function identities(auth) {
  return {
    /** `[{id, provider, email, createdAt}]`, oldest first. */
    list: () => call(auth, "GET", "/identities").then((data) => camel(data.identities)),
    /** Unlinks one (needs a recent sign-in; never the account's last way to sign in). */
    unlink: (id) => call(auth, "DELETE", `/identities/${seg(id)}`).then(() => {}),
  };
}
