import type { AuthClient } from "./index.js";

/** One signed-in session of the user. */
export interface Session {
  id: string;
  /** Whether it is this client's session. */
  current: boolean;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
}

export interface Sessions {
  /** Live sessions, newest first; `current` marks this client's. */
  list(options?: { signal?: AbortSignal }): Promise<Session[]>;
  /** Ends one session (its tokens stop working at once); ending this client's signs it out. */
  revoke(id: string): Promise<void>;
}

export function sessions(auth: AuthClient): Sessions;
