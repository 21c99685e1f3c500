// keyward/magic-link: sign in from a mail. `magicLink(auth).send(email, {redirectTo})`,
// `.complete(url)` on the page the link opens, or `.complete({email, code})` with the mail's code.
import { KeywardError, dropFromAddress, open, user } from "./internal.js";

export function magicLink(auth) {
  return {
    /** Mails a sign-in link and a 6-digit code to `email` (an account is made on first use). */
    send: (email, options) => open(auth, "/magic-link", { email, redirect_to: options?.redirectTo }).then(() => {}),
    /**
     * Signs in, bound to this browser's device key: from the link's page (`url`, this page's
     * address by default, whose `token` is then taken out of the address bar) or from
     * `{email, code}`. Resolves with the user (or `{mfaRequired, ticket}`).
     */
    complete(input = globalThis.location?.href) {
      let body = input;
      if (typeof input == "string" || input instanceof URL) {
        const url = new URL(input);
        const token = url.searchParams.get("token");
        if (url.searchParams.get("type") != "magic_link" || !token) {
          return Promise.reject(new KeywardError("invalid_link", "This address is not a magic link's"));
        }
        dropFromAddress(url, "token", "type");
        body = { token };
      }
      return open(auth, "/magic-link/verify", body).then(user);
    },
  };
}
