import type { AuthClient, MfaRequired, User } from "./index.js";

export interface MagicLink {
  /** Mails a sign-in link and a 6-digit code to `email` (an account is made on first use). */
  send(email: string, options?: { redirectTo?: string }): Promise<void>;
  /**
   * Signs in, bound to this browser's device key: from the link's page (`url`, this page's
   * address by default, whose `token` is then taken out of the address bar) or from
   * `{email, code}`.
   */
  complete(input?: string | URL | { email: string; code: string }): Promise<User | MfaRequired>;
}

export function magicLink(auth: AuthClient): MagicLink;
