// The `keyward` package: the client's API around its WebAssembly core. The core (Rust) holds
// every secret and security decision: the device key, the encrypted vault, the tokens and their
// refresh across tabs, passkey ceremonies, DPoP proofs, and the one authorized call. This file
// gives it the shape apps expect (a client that exists at once, a stable snapshot, events with
// a reason, KeywardError). Plain endpoints live in feature modules: keyward/sessions,
// keyward/devices, keyward/passkeys, keyward/react.
import init from "./keyward_wasm.js";
import { Client, passkeysSupported } from "./client.js";
import wasm from "./keyward_wasm_inline.js";
import { KeywardError, camel, cores, setDefault, toError, user } from "./internal.js";

export { KeywardError };

/** Whether `e` is a KeywardError (from any copy of this package). */
export const isKeywardError = (e) => e instanceof KeywardError || e?.name == "KeywardError";

/** The version of this package. */
export const version = () => "0.1.0";

/** Which browser APIs Keyward can use here. */
export const capabilities = () => ({
  webCrypto: !!globalThis.crypto?.subtle,
  indexedDb: !!globalThis.indexedDB,
  webLocks: !!globalThis.navigator?.locks,
  broadcastChannel: typeof BroadcastChannel == "function",
  passkeys: typeof PublicKeyCredential == "function",
});

let loading;
/**
 * Compiles the WebAssembly core, once. It ships inside this module (gzip, base64): no .wasm
 * file to serve, so every bundler takes the package unchanged.
 */
export const load = () =>
  (loading ??= init({
    module_or_path: new Response(
      new Blob([Uint8Array.fromBase64?.(wasm) ?? Uint8Array.from(atob(wasm), (c) => c.charCodeAt(0))])
        .stream()
        .pipeThrough(new DecompressionStream("gzip")),
      { headers: { "content-type": "application/wasm" } },
    ),
  }));

const browser = typeof indexedDB == "object" || typeof document == "object";
const same = (a, b) => a === b || (!!a && !!b && Object.keys(a).every((k) => a[k] === b[k]));

class AuthClient extends EventTarget {
  #listeners = new Set();
  #failed;
  #snapshot = Object.freeze({ state: "loading", user: null });

  constructor(options) {
    super();
    this.serverUrl = options.serverUrl.replace(/\/+$/, "");
    // The vault is read while the wasm compiles: the session is restored sooner.
    this.ready = browser
      ? Client.open(options, (reason, why, state, wire) => this.#change(reason, why, state, wire), load())
          .then(
            (core) => {
              cores.set(this, core);
              delete this.then;
              this.#change("restored", undefined, core.state(), core.user());
            },
            (error) => {
              // WebAssembly refused (as by a CSP without 'wasm-unsafe-eval'): signed out, every
              // call refused with the reason.
              delete this.then;
              this.#failed = new KeywardError("unsupported", `WebAssembly could not be loaded (a Content-Security-Policy needs 'wasm-unsafe-eval'): ${error?.message ?? error}`, 0, error);
              this.#report(this.#failed);
              this.#announce("restored", undefined, Object.freeze({ state: "signedOut", user: null }));
            },
          )
      : // Not a browser (server rendering): the state stays `loading`, every call is refused.
        Promise.resolve().then(() => {
          delete this.then;
          this.#failed = new KeywardError("unsupported", "Keyward runs in a browser");
        });
    // `await createAuthClient(…)` resolves once the session is restored, with the client.
    this.then = (ok, fail) => this.ready.then(() => ok?.(this), fail);
    const passkey = (ceremony, then) => (input) => this.#run((c) => c.passkey(ceremony, input ?? {})).then(then);
    /** Passkey ceremonies (the browser shows its dialog). Management: keyward/passkeys. */
    this.passkeys = {
      isSupported: passkeysSupported,
      isPlatformAuthenticatorAvailable: async () =>
        !!(await globalThis.PublicKeyCredential?.isUserVerifyingPlatformAuthenticatorAvailable?.().catch(() => false)),
      signIn: passkey("signIn", user),
      signUp: passkey("signUp", user),
      register: passkey("register", camel),
      autofill: passkey("autofill", user),
    };
  }

  /** `{state, user}`: one frozen object per change, the same one until the next. */
  get snapshot() {
    return this.#snapshot;
  }
  get state() {
    return this.#snapshot.state;
  }
  get user() {
    return this.#snapshot.user;
  }

  #change(reason, why, state, wire) {
    const next = user({ user: wire });
    // The same user object while the user is the same: a refresh does not re-render it.
    const kept = same(this.#snapshot.user, next) ? this.#snapshot.user : next;
    this.#announce(reason, why, Object.freeze({ state, user: kept }));
  }

  #announce(reason, why, snapshot) {
    this.#snapshot = snapshot;
    const event = Object.freeze({ reason, why, ...snapshot });
    for (const listener of [...this.#listeners]) this.#tell(listener, event);
  }

  #tell(listener, event) {
    try {
      listener(event);
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error) {
    console.error("keyward:", error);
    this.dispatchEvent(new ErrorEvent("error", { error, message: String(error?.message ?? error) }));
  }

  /** Calls `listener` at once (reason `initial`), then on every change. Returns the unsubscriber. */
  onChange(listener) {
    const own = (event) => listener(event);
    this.#listeners.add(own);
    this.#tell(own, Object.freeze({ reason: "initial", ...this.#snapshot }));
    return () => this.#listeners.delete(own);
  }

  async #run(work) {
    await this.ready;
    const core = cores.get(this);
    if (!core) throw this.#failed;
    try {
      return await work(core);
    } catch (error) {
      throw toError(error);
    }
  }

  signUp(input) {
    return this.#run((c) => c.tokenRequest("/sign-up", JSON.stringify(input ?? {}))).then(user);
  }
  signIn(input) {
    return this.#run((c) => c.tokenRequest("/sign-in", JSON.stringify(input ?? {}))).then(user);
  }
  signOut(options) {
    const scope = options?.scope ?? "session";
    // Refused before anything ends: a typo must not sign out more (or less) than meant.
    if (!["session", "others", "all"].includes(scope)) {
      return Promise.reject(new KeywardError("invalid_request", `signOut: scope is "session", "others" or "all", not ${scope}`));
    }
    return this.#run((c) => c.signOut(scope));
  }
  getAccessToken() {
    const token = cores.get(this)?.cachedToken();
    return token ? Promise.resolve(token) : this.#run((c) => c.accessToken());
  }
  refresh() {
    return this.#run((c) => c.refresh());
  }
  reloadUser() {
    return this.#run((c) => c.reloadUser()).then(() => this.user);
  }
  fetch(input, init) {
    let request;
    try {
      request = new Request(input, init);
    } catch (error) {
      return Promise.reject(new KeywardError("invalid_request", String(error?.message ?? error), 0, error));
    }
    return this.#run((c) => c.fetch(request)).catch((error) => {
      // Aborted by the caller: rejected as `fetch` itself rejects, with the signal's reason.
      throw request.signal.aborted ? request.signal.reason : error;
    });
  }
  createProof(method, url) {
    return this.#run((c) => c.createProof(method, String(url)));
  }
  connectTicket(url) {
    return this.#run((c) => c.connectTicket(String(url)));
  }
}

/** Creates the client. It exists at once, in state `loading` until the stored session is read. */
export function createAuthClient(options) {
  const url = (text) => URL.canParse?.(text) ?? true;
  if (typeof options?.serverUrl != "string" || !url(options.serverUrl)) {
    throw new KeywardError("invalid_request", "createAuthClient needs { serverUrl: an absolute URL }");
  }
  const bad = (options.apiOrigins ?? []).find((origin) => typeof origin != "string" || !url(origin));
  if (bad !== undefined) throw new KeywardError("invalid_request", `apiOrigins: ${bad} is not an origin such as https://api.example.com`);
  return setDefault(new AuthClient(options));
}
