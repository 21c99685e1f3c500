import type { AuthClient, MfaRequired, User } from "./index.js";

/** A provider the server signs in with. */
export interface OAuthProvider {
  /** Its id (`oauth.signIn(id)`). */
  id: string;
  /** What its button says. */
  name: string;
}

/**
 * Why a provider's sign-in failed: the `code` of the `KeywardError` that `complete()` rejects
 * with (besides the usual `ErrorCode`s of the exchange, such as `invalid_link` or `network`).
 */
export type LoginError =
  | "invalid_state" | "access_denied" | "invalid_response" | "provider_unavailable"
  | "account_exists" | "email_required" | "email_unverified";

export interface OAuth {
  /** The providers the server signs in with. */
  providers(): Promise<OAuthProvider[]>;
  /**
   * Leaves this page for `provider` (resolves as the browser leaves); the browser comes back to
   * `redirectTo` (this page by default). The tab keeps a verifier (sessionStorage) that only
   * `complete()` in this tab can show.
   */
  signIn(provider: string, options?: { redirectTo?: string }): Promise<void>;
  /**
   * On the page the provider sent the browser back to: a session bound to this browser (the
   * user, or `{mfaRequired, ticket}`); `null` when the address carries no sign-in. A code this
   * tab did not ask for is refused (`invalid_state`).
   */
  complete(url?: string | URL): Promise<User | MfaRequired | null>;
}

export function oauth(auth: AuthClient): OAuth;
