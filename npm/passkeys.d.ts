import type { AuthClient, Passkey } from "./index.js";

export interface Passkeys {
  /** The user's passkeys. */
  list(options?: { signal?: AbortSignal }): Promise<Passkey[]>;
  rename(id: string, name: string): Promise<void>;
  /** Removes a passkey (needs a recent sign-in; never the last way to sign in). */
  remove(id: string): Promise<void>;
}

export function passkeys(auth: AuthClient): Passkeys;
