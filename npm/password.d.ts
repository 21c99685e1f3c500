import type { AuthClient } from "./index.js";

export interface Password {
  /** Asks for a reset mail; resolves alike whether or not the address has an account. */
  forgot(email: string, options?: { redirectTo?: string }): Promise<void>;
  /** Sets a new password with the `token` of a reset link; every session of the account ends. */
  reset(token: string, password: string): Promise<void>;
  /** Changes the signed-in user's password (needs the current one and a recent sign-in); the other sessions end. */
  change(current: string, next: string): Promise<void>;
}

export function password(auth: AuthClient): Password;
