// The driver of a client's wasm core. The core (Rust, `Core`) holds the session's tokens and
// makes every decision: what a request carries and what goes into its DPoP proof, whether a
// refusal calls for a new proof or a refresh, what an answer means, what the vault stores, when
// to refresh and when the session is over. This file only does the waiting the core cannot do
// (the core has no async code: that keeps it small): it asks the core, does what it says with
// the browser's primitives (io.js), and tells it what happened.
import { Core } from "./keyward_wasm.js";
import * as io from "./io.js";

const CONTEXT = "keyward session v1"; // Authenticated with every vault record.
const KEY = "vault_key", SESSION = "session", DEVICE = "device_key";
const TIMEOUT_MS = 15000; // A call to the auth server gives up after this (a network error).
// A refresh whose answer is lost is retried within the server's 10 s grace window.
const REFRESH_TIMEOUT_MS = 6000;
// A tab frozen in the middle of a refresh does not block the others for longer than this:
// short enough that the token it used is still inside the server's 10 s grace window.
const LOCK_WAIT_MS = 5000;

const now = () => Date.now();
/** Whether this browser can run passkey ceremonies from the server's JSON options. */
export const passkeysSupported = () =>
  !!(globalThis.PublicKeyCredential?.parseCreationOptionsFromJSON && PublicKeyCredential.parseRequestOptionsFromJSON);
const isKey = (key) => typeof CryptoKey == "function" && key instanceof CryptoKey;

// The vault: the session record, AES-256-GCM under a non-extractable key, in IndexedDB. A
// record that does not decrypt reads as none, and is deleted. This tab's reads and writes run
// one after another, in the order they were asked for: a save that takes longer to encrypt
// never lands after a newer one.
class Vault {
  #queue = Promise.resolve();
  constructor(db, key) {
    this.db = db;
    this.key = key;
  }
  #next(work) {
    const done = this.#queue.then(work);
    this.#queue = done.catch(() => {});
    return done;
  }
  #read = async () => this.open((await io.idbGet(this.db, [SESSION]))[0]);
  load() {
    return this.#next(this.#read);
  }
  // The plaintext of `record`. One that does not decrypt (tampered with, or sealed under a
  // lost key) can never be read: it is deleted (unless another tab replaced it meanwhile).
  async open(record) {
    const text = record && (await io.unseal(this.key, record, CONTEXT));
    if (record && text === undefined) await this.forget(record);
    return text;
  }
  forget(record) {
    return io.idbDeleteIf(this.db, SESSION, record).catch(() => {});
  }
  // Stores what `next(stored)` gives for what is stored now (`undefined`: nothing, delete).
  update(next) {
    return this.#next(async () => {
      const text = next(await this.#read());
      if (text === undefined) return io.idbDelete(this.db, SESSION);
      // Encrypted first: an IndexedDB transaction cannot wait for WebCrypto.
      const record = await io.seal(this.key, text, CONTEXT);
      return io.idbPut(this.db, SESSION, record, false);
    });
  }
}

// What another tab stored first wins: `make()` is stored unless a record is there already.
async function firstStored(db, name, make, read) {
  const made = await make();
  if (await io.idbPut(db, name, made.record ?? made, true)) return made;
  const [stored] = await io.idbGet(db, [name]);
  return read(stored);
}

const storedKey = (key) => {
  if (!isKey(key)) throw new Error("the vault key is unreadable");
  return key;
};

async function deviceKey(db, record) {
  if (record) {
    try {
      return await io.deviceKey(record);
    } catch {
      // Not a key pair: replaced by a new one.
    }
  }
  return firstStored(
    db,
    DEVICE,
    async () => {
      const key = await io.deviceKey();
      return { ...key, record: key };
    },
    (stored) => io.deviceKey(stored),
  );
}

// What the vault holds: `{vault, text, device}`, the session record's plaintext (`undefined`
// for none, or one that does not decrypt) and the device key. Without IndexedDB (or with
// `memoryOnly`) no vault, and a device key for this page only.
async function readVault(name, memoryOnly) {
  if (!memoryOnly && globalThis.indexedDB) {
    try {
      const db = await io.idbOpen(name);
      let [key, record, device] = await io.idbGet(db, [KEY, SESSION, DEVICE]);
      if (!isKey(key)) {
        // Without its key no stored session can be read.
        key = await firstStored(db, KEY, io.vaultKey, storedKey);
        record = undefined;
      }
      const vault = new Vault(db, key);
      const [text, pair] = await Promise.all([vault.open(record), deviceKey(db, device).catch(() => undefined)]);
      return { vault, text, device: pair, record };
    } catch {
      // IndexedDB or WebCrypto refused: memory only.
    }
  }
  return { text: undefined, device: await io.deviceKey().catch(() => undefined) };
}

export class Client {
  #core;
  #device; // {privateKey, x, y}, or undefined without WebCrypto.
  #vault; // undefined: memory only.
  #lock;
  #onChange;
  #inflight;
  #timer;
  #unsaved = false; // The vault missed the last change: it knows nothing newer than memory.
  #channel;

  /**
   * Opens the vault and restores the stored session (no network). The vault is read while
   * `ready` (the wasm core compiling) settles: neither waits for the other.
   */
  static async open(options, onChange, ready) {
    const name = options.storageName ?? "keyward";
    const stored = readVault(name, options.memoryOnly);
    await ready;
    const client = new Client();
    const core = (client.#core = new Core(options.serverUrl, options.apiOrigins ?? []));
    client.#onChange = onChange;
    client.#lock = "keyward-refresh:" + name;
    const { vault, text, device, record } = await stored;
    client.#vault = vault;
    client.#device = device;
    // A record that decrypts but is no session: deleted, unless another tab replaced it.
    if (!core.restore(text)) vault?.forget(record);
    if (device) core.device(device.x, device.y);
    client.#joinTabs(name);
    io.listen(
      () => core.state() == "offline" && client.#wake(),
      () => client.#wake(),
    );
    client.#schedule();
    return client;
  }

  state() {
    return this.#core.state();
  }
  user() {
    return this.#core.user();
  }
  sessionId() {
    return this.#core.sessionId();
  }
  persistent() {
    return !!this.#vault;
  }

  #tell(reason, why) {
    this.#onChange(reason, why, this.#core.state(), this.#core.user());
  }

  // Stores the core's session (this tab changed it), tells the other tabs, reschedules the
  // refresh and tells the listeners `reason`.
  async #adopt(reason, why) {
    if (this.#vault) {
      // A vault that cannot be written still leaves a working session in memory. Newer tokens
      // another tab stored meanwhile are kept: the record never goes back in time.
      try {
        await this.#vault.update((stored) => (this.#core.mergeStored(stored), this.#core.record()));
        this.#unsaved = false;
      } catch {
        this.#unsaved = true;
      }
      this.#channel?.postMessage("changed");
    }
    this.#schedule();
    this.#tell(reason, why);
  }

  // What another tab stored (read when the core's generation was `generation`) becomes this
  // one's, unless this tab changed the session since.
  #adoptStored(text, generation) {
    const change = this.#core.adoptStored(text, generation);
    if (change) {
      this.#schedule();
      this.#tell(change, change == "signedOut" ? "otherTab" : undefined);
    }
  }

  #joinTabs(name) {
    if (!this.#vault || typeof BroadcastChannel != "function") return;
    this.#channel = new BroadcastChannel("keyward:" + name);
    // Never what changed: the other tabs read the encrypted vault again.
    this.#channel.onmessage = () => {
      const generation = this.#core.generation;
      this.#vault.load().then(
        (text) => this.#adoptStored(text, generation),
        () => {}, // A vault that cannot be read says nothing: the session in memory stays.
      );
    };
  }

  // The network came back, or the page became visible: refresh if the token is due (or,
  // offline, to find out whether the server is back).
  #wake() {
    const due = this.#core.due(now());
    if (due !== undefined && (due <= 0 || this.#core.state() == "offline")) this.#refreshBehind();
  }

  // The next refresh: when the token is due (`refreshIn`: never sooner than a second after the
  // last), or `after` milliseconds from now.
  #schedule(after) {
    clearTimeout(this.#timer);
    const due = after ?? this.#core.refreshIn(now());
    if (due === undefined) return;
    // setTimeout takes 32 bits; anything longer is rescheduled on the way.
    this.#timer = setTimeout(() => this.#refreshBehind(), Math.min(Math.max(due, 0), 2 ** 31 - 1));
  }

  #refreshBehind() {
    this.refresh().catch(() => {});
  }

  /** Refreshes now: one refresh per session at a time in this tab, and across tabs. */
  refresh() {
    return (this.#inflight ??= this.#refreshShared().finally(() => (this.#inflight = undefined)));
  }

  #refreshShared() {
    this.#core.refreshStarts(now());
    return io.withLock(this.#lock, LOCK_WAIT_MS, () => this.#refreshLocked());
  }

  async #refreshLocked() {
    const core = this.#core;
    // Another tab may have refreshed (or signed out) while this one waited for the lock: its
    // tokens are ours too. (Unless the vault missed this tab's last change.)
    if (this.#vault && !this.#unsaved) {
      const generation = core.generation;
      let text, read = true;
      try {
        text = await this.#vault.load();
      } catch {
        read = false;
      }
      if (read) {
        this.#adoptStored(text, generation);
        if (core.sessionId() === undefined) throw Core.error("signedOut");
        if (core.refreshedElsewhere(now())) return;
      }
    }
    const body = core.refreshBody();
    let data, error;
    try {
      data = await this.#server("POST", "/refresh", false, body, undefined, REFRESH_TIMEOUT_MS);
    } catch (thrown) {
      error = thrown;
    }
    const outcome = core.refreshed(data, error, now());
    if (outcome == "refreshed") await this.#adopt("refreshed");
    else if (outcome.startsWith("signedOut")) await this.#adopt("signedOut", outcome.slice(10));
    else if (outcome == "retry" || outcome == "corrupt") this.#schedule(core.backoff());
    if (error) throw error;
    if (outcome == "corrupt") throw Core.error("corrupt");
  }

  /** A valid access token: the cached one while fresh, refreshed behind when due. */
  async accessToken() {
    const due = this.#core.due(now());
    if (due === undefined) throw Core.error("signedOut");
    if (due < 0) {
      await this.refresh();
      const token = this.#core.token(now());
      if (!token) throw Core.error("signedOut");
      return token;
    }
    // Due: refreshed behind, when the timer says (at once, unless the last refresh started
    // within a second: a token due as soon as it is issued never makes a refresh per call).
    if (due == 0) this.#schedule();
    return this.#core.token(now());
  }

  cachedToken() {
    return this.#core.token(now());
  }

  // `Authorization` and `DPoP` for `method` `url`, as the core says, and what the proof was
  // made with (for `observe`).
  async #credentials(method, url, authorized) {
    const c = this.#core.credentials(method, url, authorized, now());
    if (!c.header) return [c.authorization, undefined, c];
    if (c.hash) c.claims.ath = await io.sha256(c.hash);
    return [c.authorization, await io.jws(this.#device.privateKey, c.header, JSON.stringify(c.claims)), c];
  }

  // Sends `request` with credentials; once more with a new proof when a refusal brought a new
  // DPoP nonce or showed this browser's clock is off. Notes whether the auth server answered.
  async #dispatch(request, authorized, timeoutMs) {
    const core = this.#core;
    const once = async () => {
      const [authorization, proof, made] = await this.#credentials(request.method, request.url, authorized);
      let response;
      try {
        response = await io.send(request, authorization, proof, timeoutMs);
      } catch (error) {
        throw Core.error("network", error);
      }
      if (response === null) throw Core.error("aborted");
      const again = core.observe(
        response.url || request.url,
        io.header(response, "dpop-nonce"),
        io.header(response, "date"),
        now(),
        made,
        io.header(response, "www-authenticate"),
      );
      return [response, again && !!proof];
    };
    const ours = request.url.startsWith(core.base);
    try {
      let [response, again] = await once();
      if (again && (response.status == 400 || response.status == 401)) [response] = await once();
      // `offline` is about the auth server: an API that cannot be reached is the app's news.
      if (ours) this.#reached(true);
      return response;
    } catch (error) {
      if (ours && error?.code == "network") this.#reached(false);
      throw error;
    }
  }

  #reached(answered) {
    const change = this.#core.reached(answered);
    if (change) this.#tell(change);
  }

  // `data` of one call to the auth server: with the session's token when `authorized`, else
  // as a token request (with a proof by the device key, which binds a new session).
  async #server(method, path, authorized, body, signal, timeoutMs = TIMEOUT_MS) {
    const request = io.jsonRequest(method, this.#core.url(path), body, signal);
    const response = await this.#dispatch(request, authorized, timeoutMs);
    let json;
    try {
      json = await io.readJson(response);
    } catch (error) {
      throw Core.error("network", error);
    }
    return Core.answer(response.status, json);
  }

  /** `data` of an authorized call to the auth server; a refused token is refreshed once. */
  async call(method, path, body, signal) {
    await this.accessToken();
    try {
      return await this.#server(method, path, true, body, signal);
    } catch (error) {
      if (error?.status != 401 || !Core.tokenRefused(error.code)) throw error;
      await this.refresh();
      return this.#server(method, path, true, body, signal);
    }
  }

  /** `fetch` with the session's token, to the auth server and the app's API origins only. */
  async fetch(request) {
    this.#core.allowed(request.url);
    await this.accessToken();
    const response = await this.#dispatch(request, true);
    if (!Core.refused(response.status, io.header(response, "www-authenticate"))) return response;
    await this.refresh();
    return this.#dispatch(request, true);
  }

  /** The URL of `path` on the auth server; refused (and nothing sent) for an id that is `.` or `..`. */
  url(path) {
    return this.#core.url(path);
  }

  /** A token request (`body`: JSON text); a session in the answer becomes this client's. */
  async tokenRequest(path, body) {
    const data = await this.#server("POST", path, false, body);
    if (this.#core.signedIn(data, now())) await this.#adopt("signedIn");
    return data;
  }

  /** A passkey ceremony: `signIn`, `signUp`, `register`, `autofill`. */
  async passkey(ceremony, input) {
    const register = ceremony == "register";
    const path = register ? "/passkeys/register" : ceremony == "signUp" ? "/passkeys/sign-up" : "/passkeys/sign-in";
    const body = JSON.stringify(
      register ? { name: input.name ?? null } : ceremony == "signUp" ? { email: input.email ?? "", name: input.name ?? null } : { email: ceremony == "autofill" ? null : (input.email ?? null) },
    );
    const options = register ? await this.call("POST", path + "/options", body) : await this.#server("POST", path + "/options", false, body);
    if (!passkeysSupported()) throw Core.error("passkeysUnsupported");
    const autofill = ceremony == "autofill";
    const signal = autofill && typeof input.signal == "object" ? input.signal : undefined;
    let credential;
    try {
      credential = await io.ceremony(register || ceremony == "signUp", options, autofill, signal);
    } catch (error) {
      throw Core.error("passkey", error);
    }
    if (credential === undefined) return null; // The autofill offer was stopped.
    if (credential === null) throw Core.error("cancelled");
    return register ? this.call("POST", path + "/verify", credential) : this.tokenRequest(path + "/verify", credential);
  }

  /** Signs out: `session`, `others` or `all`. The session ends here whatever the network does. */
  async signOut(scope) {
    if (this.#core.sessionId() === undefined) return;
    // A token that cannot be refreshed (offline) still tells the server, if it is valid.
    await this.accessToken().catch(() => {});
    const told = this.#server("POST", "/sign-out", true, JSON.stringify({ scope }));
    // Nothing ends here for `others`: the caller hears whether the others did.
    if (scope == "others") return void (await told);
    await told.catch(() => {});
    await this.forget();
  }

  /** Ends the session here without telling the server (it knows). */
  async forget() {
    if (this.#core.forget()) await this.#adopt("signedOut", "user");
  }

  /** Reads the user again (`GET /auth/me`). */
  async reloadUser() {
    const data = await this.call("GET", "/me");
    if (this.#core.reloaded(data)) await this.#adopt("userUpdated");
  }

  /** `{Authorization, DPoP?}` for one request made by another HTTP client. */
  async createProof(method, url) {
    url = this.#core.allowed(url);
    await this.accessToken();
    const [authorization, proof] = await this.#credentials(method, url, true);
    return { Authorization: authorization, DPoP: proof };
  }

  /** A connect ticket for a WebSocket or EventSource at `url`. */
  async connectTicket(url) {
    url = this.#core.allowed(url);
    const data = await this.call("POST", "/connect-ticket", JSON.stringify({ url }));
    if (typeof data?.ticket != "string") throw Core.error("corrupt");
    return data.ticket;
  }

  /** Signs a device challenge with this browser's key. */
  async signChallenge(challenge) {
    const c = this.#core.challenge(challenge, now());
    return io.jws(this.#device.privateKey, c.header, JSON.stringify(c.claims));
  }
}
