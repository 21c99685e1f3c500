/** Options for `createAuthClient`. */
export interface AuthClientOptions {
  /** The Keyward server's auth prefix, e.g. `"https://auth.example.com/auth"`. */
  serverUrl: string;
  /** Origins besides the auth server's that `fetch`, `createProof` and `connectTicket` may send the session's token to, e.g. `["https://api.example.com"]`. */
  apiOrigins?: string[];
  /** IndexedDB database name (also names the cross-tab lock and channel). Default `"keyward"`. */
  storageName?: string;
  /** Keep the session in memory only: it ends with the page. Default `false`. */
  memoryOnly?: boolean;
}

/** `"loading"` until the stored session is read; `"offline"` when signed in but the server is unreachable. */
export type AuthState = "loading" | "signedOut" | "signedIn" | "offline";

/** A user as the server shows it. */
export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  /** RFC 3339. */
  createdAt: string;
}

/** `auth.snapshot`: the same frozen object until the next change. */
export interface AuthSnapshot {
  readonly state: AuthState;
  readonly user: User | null;
}

/** Why `onChange` was called. `restored`: the stored session was read (the first state after `loading`). */
export type ChangeReason = "initial" | "restored" | "signedIn" | "refreshed" | "userUpdated" | "signedOut" | "offline" | "online";

/** Why a session ended: this page signed out, the server revoked it, it expired, or another tab signed out. */
export type SignOutWhy = "user" | "revoked" | "expired" | "otherTab";

/** What `onChange` listeners receive: the new snapshot's fields and why it changed. */
export interface AuthEvent extends AuthSnapshot {
  readonly reason: ChangeReason;
  /** For `signedOut`. */
  readonly why?: SignOutWhy;
}

/** A passkey of the user. */
export interface Passkey {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface SignUpInput {
  email: string;
  /** 8 to 1024 characters. */
  password: string;
  name?: string;
}

export interface SignInInput {
  email: string;
  password: string;
}

/** A sign-in that needs a second factor. */
export interface MfaRequired {
  mfaRequired: true;
  ticket: string;
}

export interface SignOutOptions {
  /** `"session"` (default): this one; `"others"`: every other; `"all"`: every session of the user. */
  scope?: "session" | "others" | "all";
}

/** Headers that authorize one request made by another HTTP client: spread them into its headers. */
export interface ProofHeaders {
  Authorization: string;
  /** When the session is device-bound. */
  DPoP?: string;
}

/** Passkey ceremonies (`auth.passkeys`). A dialog the user closes rejects with code `cancelled`. */
export interface PasskeyCeremonies {
  /** Whether passkeys work in this browser. */
  isSupported(): boolean;
  /** Whether this device has a built-in authenticator (Touch ID, Windows Hello, Android). */
  isPlatformAuthenticatorAvailable(): Promise<boolean>;
  /** Signs in with the account's passkey (`email`), or one the user picks (without). */
  signIn(input?: { email?: string }): Promise<User>;
  /** Creates an account with a passkey and no password. */
  signUp(input: { email: string; name?: string }): Promise<User>;
  /** Registers a passkey to the signed-in account (needs a recent sign-in). */
  register(input?: { name?: string }): Promise<Passkey>;
  /** Offers passkeys in the browser's autofill; `null` once `signal` aborts. */
  autofill(input?: { signal?: AbortSignal }): Promise<User | null>;
}

/** The browser client. Every rejection is a `KeywardError`, except `fetch` aborted by its caller, which rejects as `fetch` does. */
export interface AuthClient extends EventTarget {
  /** Resolves once the stored session is read. */
  readonly ready: Promise<void>;
  /** The auth server's URL, as given to `createAuthClient` (without a trailing `/`). */
  readonly serverUrl: string;
  readonly snapshot: AuthSnapshot;
  readonly state: AuthState;
  readonly user: User | null;
  /** Calls `listener` at once (reason `initial`), then on every change. Returns the unsubscriber. A listener that throws is reported (console, and an `error` event on the client). */
  onChange(listener: (event: AuthEvent) => void): () => void;
  signUp(input: SignUpInput): Promise<User>;
  /** The user, or `{mfaRequired, ticket}` when the account asks for a second factor. */
  signIn(input: SignInInput): Promise<User | MfaRequired>;
  signOut(options?: SignOutOptions): Promise<void>;
  /** A valid access token (refreshed first when needed). A device-bound one is useless without a proof: see `createProof`. */
  getAccessToken(): Promise<string>;
  /** Refreshes the tokens now (one refresh across tabs). */
  refresh(): Promise<void>;
  /** Reads the user again from the server; resolves with it. */
  reloadUser(): Promise<User | null>;
  /** `fetch` with the token (and a DPoP proof), to the auth server and `apiOrigins` only; the caller's signal is honoured, and there is no timeout of ours. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Headers for one request by another HTTP client (axios, a GraphQL client), for this method and URL only. */
  createProof(method: string, url: string | URL): Promise<ProofHeaders>;
  /** A single-use, 30-second ticket for a WebSocket or EventSource at `url`: pass it as the `ticket` query parameter. */
  connectTicket(url: string | URL): Promise<string>;
  readonly passkeys: PasskeyCeremonies;
}

/** The server's stable codes, and the client's own (`network`, `signed_out`, `cancelled`, `aborted`, `origin_not_allowed`, `unsupported`, `browser`, `corrupt`; and `invalid_request`, without a `status`, for a value it cannot send). */
export type ErrorCode =
  | "invalid_request" | "payload_too_large" | "unsupported_media_type" | "not_found"
  | "method_not_allowed" | "invalid_email" | "weak_password" | "password_too_long"
  | "email_taken" | "invalid_credentials" | "account_locked" | "account_disabled" | "unauthorized"
  | "invalid_token" | "token_expired" | "session_revoked" | "invalid_refresh_token"
  | "refresh_token_expired" | "refresh_token_reused" | "dpop_required"
  | "invalid_dpop_proof" | "use_dpop_nonce" | "passkey_invalid" | "challenge_expired"
  | "reauthentication_required" | "last_sign_in_method" | "invalid_ticket"
  | "email_not_verified" | "invalid_link" | "identity_taken" | "redirect_not_allowed" | "password_too_common"
  | "invalid_mfa_code" | "mfa_already_enabled" | "mfa_not_enabled" | "step_up_required"
  | "sign_in_required" | "forbidden" | "last_owner" | "slug_taken" | "not_a_member" | "unknown_role" | "already_a_member" | "email_mismatch" | "rate_limited" | "internal" | "unavailable" | "unknown"
  | "network" | "signed_out" | "cancelled" | "aborted" | "origin_not_allowed"
  | "unsupported" | "browser" | "corrupt";

/** Every rejection of this package (but a caller's abort of `fetch`). Branch on `code`. */
export class KeywardError extends Error {
  name: "KeywardError";
  code: ErrorCode;
  /** The HTTP status, when the server answered. */
  status?: number;
  constructor(code: ErrorCode, message: string, status?: number, cause?: unknown);
}

/** Whether `e` is a `KeywardError`. */
export function isKeywardError(e: unknown): e is KeywardError;

/** Creates the client: at once, in state `loading` until the stored session is read (`await` it to wait). */
export function createAuthClient(options: AuthClientOptions): AuthClient;

/** Compiles the WebAssembly core (once); `createAuthClient` does it. */
export function load(): Promise<unknown>;

/** Which browser APIs Keyward can use here. */
export interface Capabilities {
  /** WebCrypto (`crypto.subtle`): device keys and token encryption. */
  webCrypto: boolean;
  /** IndexedDB: persistent keys and tokens. Without it a session lasts for the page's lifetime. */
  indexedDb: boolean;
  /** Web Locks: one token refresh at a time across tabs. */
  webLocks: boolean;
  /** BroadcastChannel: tabs share a refresh's result. */
  broadcastChannel: boolean;
  /** WebAuthn: passkeys. */
  passkeys: boolean;
}
export function capabilities(): Capabilities;

/** The version of this package. */
export function version(): string;
