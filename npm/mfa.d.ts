import type { AuthClient, User } from "./index.js";

/** What an authenticator app needs to add the account. */
export interface TotpEnrolment {
  /** The secret, base32 (to type by hand). */
  secret: string;
  /** `otpauth://totp/…`: what the QR code holds. */
  otpauthUri: string;
  /** The QR code, an SVG document (from your Keyward server). */
  qrSvg: string;
}

export interface Mfa {
  /** Starts adding an app (needs a recent sign-in). */
  enrol(): Promise<TotpEnrolment>;
  /** Confirms the app with its first code; resolves with the ten recovery codes (shown once). */
  confirm(code: string): Promise<string[]>;
  /** Finishes a sign-in that answered `{mfaRequired, ticket}`, with a code from the app. */
  verify(ticket: string, code: string): Promise<User>;
  /** The same with a recovery code (each works once). */
  recover(ticket: string, recoveryCode: string): Promise<User>;
  /** Turns the second factor off (a current code or a recovery code, and a recent sign-in). */
  disable(code: string): Promise<void>;
  /** Ten new recovery codes; the old ones stop working. */
  regenerateCodes(code: string): Promise<string[]>;
  /**
   * Proves a code (or a recovery code) again from this session, for what needs a recent or
   * two-factor sign-in (`reauthentication_required`, `step_up_required`): resolves once the
   * session's new tokens carry it.
   */
  stepUp(code: string): Promise<void>;
}

export function mfa(auth: AuthClient): Mfa;
