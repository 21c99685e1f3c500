// The browser's asynchronous primitives the Rust core stands on, one small function each.
// Every decision (what is stored, encrypted, signed, sent, and what an answer means) is made in
// Rust; these only turn the browser's event-based APIs into promises. They live in JS because
// each web-sys call costs wasm and glue bytes, and the package's core is size-budgeted
// (35 KB gzip, DESIGN.md): a request here is a few minified bytes.

const STORE = "keyward";

// IndexedDB -----------------------------------------------------------------------------------

// Opens (and on first use creates) the database `name`, with Keyward's one object store.
export function idbOpen(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = request.onblocked = () =>
      reject(request.error || new Error("blocked by another open connection"));
  });
}

// Runs `work(store)` in one transaction; resolves with what the function it returns gives once
// the transaction is committed.
function transact(db, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const done = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(done());
    tx.onerror = tx.onabort = () => reject(tx.error || new Error("the transaction was aborted"));
  });
}

// The values under `keys` (an array), read in one transaction; `undefined` where absent.
export const idbGet = (db, keys) =>
  transact(db, "readonly", (store) => {
    const requests = keys.map((key) => store.get(key));
    return () => requests.map((request) => request.result);
  });

// Stores `value` under `key` (replacing), or, with `onlyNew`, unless something is there already;
// resolves with whether it was stored.
export const idbPut = (db, key, value, onlyNew) =>
  transact(db, "readwrite", (store) => {
    let stored = true;
    const request = onlyNew ? store.add(value, key) : store.put(value, key);
    request.onerror = (event) => {
      if (request.error && request.error.name == "ConstraintError") {
        stored = false;
        // Not an error of the transaction: it commits (having stored nothing).
        event.preventDefault();
        event.stopPropagation();
      }
    };
    return () => stored;
  });

// Removes `key`.
export const idbDelete = (db, key) => transact(db, "readwrite", (store) => (store.delete(key), () => {}));

// Removes `key` if it still holds the sealed `record` (its bytes): a record another tab stored
// since it was read stays.
export const idbDeleteIf = (db, key, record) =>
  transact(db, "readwrite", (store) => {
    const request = store.get(key);
    const same = (a, b) => a?.length === b?.length && a.every((x, i) => x === b[i]);
    request.onsuccess = () => {
      const now = request.result;
      if (now && same(now.iv, record.iv) && same(now.data, record.data)) store.delete(key);
    };
    return () => {};
  });

// Deletes the database `name`.
export function idbDrop(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

// WebCrypto -----------------------------------------------------------------------------------

const encoder = new TextEncoder();

// base64url without padding.
export function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// `n` random bytes from the browser's CSPRNG, base64url.
export const randomId = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

// SHA-256 of the UTF-8 of `text`, base64url.
export const sha256 = async (text) => b64url(await crypto.subtle.digest("SHA-256", encoder.encode(text)));

// The device key pair `{privateKey, publicKey, x, y}`: the one in `record` (adding the public
// coordinates where it lacks them), or, without a record, a new non-extractable P-256 pair.
export async function deviceKey(record) {
  const pair =
    record ||
    (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]));
  const { privateKey, publicKey } = pair;
  if (pair.x && pair.y) return { privateKey, publicKey, x: pair.x, y: pair.y };
  const { x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  return { privateKey, publicKey, x, y };
}

// ECDSA P-256 / SHA-256 signature (r ‖ s) of `data` (bytes) with `key`.
export const sign = async (key, data) =>
  new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data));

// A compact JWS of the JSON texts `header` and `payload`, signed with `key`.
export async function jws(key, header, payload) {
  const input = b64url(encoder.encode(header)) + "." + b64url(encoder.encode(payload));
  return input + "." + b64url(await sign(key, encoder.encode(input)));
}

// A new non-extractable AES-256-GCM key.
export const vaultKey = () =>
  crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);

const gcm = (iv, context) => ({ name: "AES-GCM", iv, additionalData: encoder.encode(context) });

// `text` encrypted under `key`, authenticated with `context`: `{v: 1, iv, data}`.
export async function seal(key, text, context) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(gcm(iv, context), key, encoder.encode(text));
  return { v: 1, iv, data: new Uint8Array(data) };
}

// The text sealed in `record`; `undefined` when it does not decrypt (tampered, another key,
// another context, not a record). Any other failure (the browser's) is thrown: it says nothing
// about the record.
export async function unseal(key, record, context) {
  try {
    const text = await crypto.subtle.decrypt(gcm(record.iv, context), key, record.data);
    return new TextDecoder("utf-8", { fatal: true }).decode(text);
  } catch (error) {
    if (["OperationError", "DataError", "TypeError"].includes(error?.name)) return undefined;
    throw error;
  }
}

// Fetch ---------------------------------------------------------------------------------------

// A request to `url` with `body` (JSON text) when given, aborted by the caller's `signal`.
export function jsonRequest(method, url, body, signal) {
  const init = { method, signal };
  if (body != null) {
    init.body = body;
    init.headers = { "content-type": "application/json" };
  }
  return new Request(url, init);
}

// `fetch` of a copy of `request` (the request itself can be sent again) with `authorization` and
// `proof` set when given, and given up after `timeoutMs` when given. Resolves with the response,
// or `null` when the request's own signal (the caller's) aborted it; rejects with the network
// error.
export async function send(request, authorization, proof, timeoutMs) {
  const copy = request.clone();
  if (authorization) copy.headers.set("authorization", authorization);
  if (proof) copy.headers.set("dpop", proof);
  let timer, init;
  if (timeoutMs != null) {
    const timeout = new AbortController();
    timer = setTimeout(() => timeout.abort(), timeoutMs);
    init = { signal: AbortSignal.any ? AbortSignal.any([timeout.signal, request.signal]) : timeout.signal };
  }
  try {
    return await fetch(copy, init);
  } catch (error) {
    if (request.signal.aborted) return null;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// The response's JSON body: `null` when empty, `undefined` when not JSON.
export async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// The value of the header `name`, or `undefined`.
export const header = (response, name) => response.headers.get(name) ?? undefined;

// `url` resolved against the page's address; `undefined` when it does not parse.
export function absolute(url) {
  try {
    return new URL(url, globalThis.location && location.href).href;
  } catch {
    return undefined;
  }
}

// The `protocol` and `host` of an absolute URL; `undefined` when it does not parse.
export function urlParts(url) {
  try {
    const { protocol, host } = new URL(url);
    return [protocol, host];
  } catch {
    return undefined;
  }
}

// Tabs and the page ---------------------------------------------------------------------------

// Runs `work()` (which returns a promise) holding the exclusive Web Lock `name` across this
// origin's tabs. Without Web Locks, or when the lock is not granted within `waitMs` (a tab frozen
// holding it), runs it anyway.
export async function withLock(name, waitMs, work) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return work();
  let started = false;
  const run = () => ((started = true), work());
  try {
    return await locks.request(name, { signal: AbortSignal.timeout(waitMs) }, run);
  } catch (error) {
    if (started) throw error;
    return run();
  }
}

// Calls `onOnline` when the network comes back and `onVisible` when the page becomes visible;
// returns the function that stops both.
export function listen(onOnline, onVisible) {
  const visible = () => document.visibilityState == "visible" && onVisible();
  addEventListener("online", onOnline);
  globalThis.document && document.addEventListener("visibilitychange", visible);
  return () => {
    removeEventListener("online", onOnline);
    globalThis.document && document.removeEventListener("visibilitychange", visible);
  };
}

// WebAuthn ------------------------------------------------------------------------------------

// `navigator.credentials.create` (`create`) or `.get` with the server's `{publicKey}` options,
// read by the browser's own JSON helpers; with `autofill`, `.get` runs as the browser's autofill
// (`mediation: "conditional"`, stopped by `signal`). Resolves with the credential as JSON text,
// `null` when there is none, or `undefined` when `signal` aborted it.
export async function ceremony(create, options, autofill, signal) {
  const parse = create ? "parseCreationOptionsFromJSON" : "parseRequestOptionsFromJSON";
  const request = { publicKey: PublicKeyCredential[parse](options.publicKey) };
  if (autofill) {
    request.mediation = "conditional";
    request.signal = signal || undefined;
  }
  try {
    const credential = await navigator.credentials[create ? "create" : "get"](request);
    return signal && signal.aborted ? undefined : credential && JSON.stringify(credential.toJSON());
  } catch (error) {
    if (signal && signal.aborted) return undefined;
    throw error;
  }
}
