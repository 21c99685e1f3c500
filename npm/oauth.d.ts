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
  | "account_exists" | "email_required" | "email_unverified" | "identity_taken";

/** A provider's account linked to this one. */
export interface Identity {
  /** Its id (`identities.unlink(id)`). */
  id: string;
  /** The provider's id. */
  provider: string;
  /** The address the provider vouched for, if it gave one. */
  email: string | null;
  /** When it was linked (RFC 3339). */
  createdAt: string;
}

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
   * Signed in, recently (else `reauthentication_required`): leaves this page for `provider` to
   * link the account there to this one; the browser comes back to `redirectTo` (this page by
   * default), where `complete()` finishes the link from this session.
   */
  link(provider: string, options?: { redirectTo?: string }): Promise<void>;
  /**
   * On the page the provider sent the browser back to: a session bound to this browser (the
   * user, or `{mfaRequired, ticket}`); after `link()`, `{linked}`; `null` when the address
   * carries no sign-in. A code this tab did not ask for is refused (`invalid_state`).
   */
  complete(url?: string | URL): Promise<User | MfaRequired | { linked: Identity } | null>;
}

export function oauth(auth: AuthClient): OAuth;

/** The providers linked to the signed-in account. */
export interface Identities {
  /** Oldest first. */
  list(): Promise<Identity[]>;
  /**
   * Unlinks one: needs a recent sign-in (`reauthentication_required`), and is refused with
   * `last_sign_in_method` when no password, passkey or other provider would be left.
   */
  unlink(id: string): Promise<void>;
}

export function identities(auth: AuthClient): Identities;
