import type { AuthClient } from "./index.js";

/** A device key the user signed in with (a browser profile, an app install). */
export interface Device {
  id: string;
  /** From the user agent at first sign-in, unless renamed. */
  name: string;
  /** RFC 7638 thumbprint of its public key: the `cnf.jkt` of its tokens. */
  jkt: string;
  /** Whether it is this browser. */
  current: boolean;
  createdAt: string;
  lastSeenAt: string;
}

export interface Devices {
  /** Devices not revoked, most recently seen first; `current` marks this browser. */
  list(options?: { signal?: AbortSignal }): Promise<Device[]>;
  /** This browser's device, or `null` when the session is not bound to one. */
  current(): Promise<Device | null>;
  rename(id: string, name: string): Promise<void>;
  /** Revokes a device and every session bound to it; revoking this one signs out here. */
  revoke(id: string): Promise<void>;
  /** Signs a device challenge with this browser's key: the proof for `POST /auth/devices/challenge/verify`. */
  signChallenge(challenge: string): Promise<string>;
}

export function devices(auth: AuthClient): Devices;
