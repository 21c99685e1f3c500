import type { AuthClient, User } from "./index.js";

export interface Email {
  /** Sends (again) the verification mail to the signed-in user's address (nothing when it is verified). */
  sendVerification(): Promise<void>;
  /** Confirms an address with the `token` of its verification link; resolves with the user. */
  confirm(token: string): Promise<User>;
  /** Asks to move to `newEmail` (needs a recent sign-in): a confirm link goes there, a notice to the current address. */
  change(newEmail: string, options?: { redirectTo?: string }): Promise<void>;
  /** Confirms a change with the `token` of the link sent to the new address; resolves with the user. */
  confirmChange(token: string): Promise<User>;
}

export function email(auth: AuthClient): Email;
