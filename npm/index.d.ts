// wasm-bindgen's classes declare `[Symbol.dispose]` (explicit resource management).
/// <reference lib="esnext.disposable" />
import type {
  AuthClient,
  AuthClientOptions,
  Capabilities,
} from "./keyward_wasm.js";

export type {
  AuthClient,
  AuthClientOptions,
  AuthSnapshot,
  AuthState,
  Capabilities,
  Device,
  Devices,
  ErrorCode,
  KeywardError,
  Passkey,
  PasskeyAutofillInput,
  PasskeyRegisterInput,
  Passkeys,
  PasskeySignInInput,
  PasskeySignUpInput,
  Session,
  Sessions,
  SignInInput,
  SignOutOptions,
  SignUpInput,
  User,
} from "./keyward_wasm.js";

/** Loads the WebAssembly module (once). Pass a URL or a compiled module to load it from elsewhere. */
export function load(moduleOrPath?: string | URL | Request | Response | BufferSource | WebAssembly.Module): Promise<unknown>;

/** Creates the client and restores a stored session (no network round trip). */
export function createAuthClient(options: AuthClientOptions): Promise<AuthClient>;

/** Which browser APIs Keyward can use here. */
export function capabilities(): Promise<Capabilities>;

/** The version of this package. */
export function version(): Promise<string>;
