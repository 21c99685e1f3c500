import type { AuthClient } from "./index.js";

/** Another app the user let sign them in with this account. */
export interface ConnectedApp {
  clientId: string;
  name: string;
  /** What it may know (`openid`, `email`, `profile`, `org`). */
  scopes: string[];
  grantedAt: string;
}

export interface Apps {
  /** The sign-in request another app sent the user here with (`?oidc_req=`), or null. */
  pending(): string | null;
  /**
   * Hands the pending request (or `req`) back for this session; the browser then leaves for
   * consent or the app that asked. Rejects with `reauthentication_required` when that app asks
   * for a sign-in newer than this session's.
   */
  continue(req?: string | null): Promise<void>;
  /** The apps the user let sign them in, newest first. */
  list(): Promise<ConnectedApp[]>;
  /** Disconnects an app: its sign-ins for the user end at once, and it asks again next time. */
  disconnect(clientId: string): Promise<void>;
}

export function apps(auth: AuthClient): Apps;
