// What the package's modules share, and nothing an app imports: the error class, the bridge to
// a client's wasm core, and the snake_case → camelCase renaming of the server's objects.

/** Every rejection from this package is one of these. Branch on `code`, never on `message`. */
export class KeywardError extends Error {
  constructor(code, message, status, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "KeywardError";
    this.code = code;
    if (status) this.status = status;
  }
}

/** The wasm core rejects with plain `Error`s named KeywardError; anything else is wrapped. */
export const toError = (e) =>
  e instanceof KeywardError
    ? e
    : e?.name == "KeywardError"
      ? new KeywardError(e.code, e.message, e.status)
      : new KeywardError("browser", String(e?.message ?? e), 0, e);

/** The wasm core behind each client (set when it is ready). */
export const cores = new WeakMap();

/** The ready core of `auth`. */
export const core = async (auth) => (await auth.ready, cores.get(auth));

const rethrow = (e) => {
  throw toError(e);
};

/** The ready core of `auth`; rejects with why there is none. */
const ready = async (auth) => {
  const c = await core(auth).catch(rethrow);
  if (!c) throw new KeywardError("unsupported", "Keyward runs in a browser");
  return c;
};

/** `data` of an authorized call to the auth server; `body` an object (sent as JSON). */
export const call = async (auth, method, path, body, signal) =>
  (await ready(auth)).call(method, path, body === undefined ? undefined : JSON.stringify(body), signal).catch(rethrow);

/**
 * `data` of a request to the auth server that needs no session (a link's token, a code, an
 * address): sent with a proof by the device key, so a session in the answer is bound to it and
 * becomes this client's; `body` an object (sent as JSON).
 */
export const open = async (auth, path, body) => (await ready(auth)).tokenRequest(path, JSON.stringify(body)).catch(rethrow);

/** The URL of `path` on the auth server, for a page the browser leaves for (checked like a call's). */
export const address = (auth, path) => ready(auth).then((client) => client.url(path)).catch(rethrow);

/** The user of a sign-in's answer, or `{mfaRequired, ticket}`; `null` for neither. */
export const user = (data) =>
  data?.user ? camel(data.user) : data?.mfa_required ? { mfaRequired: true, ticket: data.mfa_ticket } : null;

/** A copy of a server object with camelCase keys (nested objects and arrays too). */
export const camel = (value) =>
  Array.isArray(value)
    ? value.map(camel)
    : value && typeof value == "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/_(\w)/g, (_, c) => c.toUpperCase()), camel(v)]))
      : value;

/** A path segment. */
export const seg = encodeURIComponent;

let first;
/** The first client made: the one hooks use when given none. */
export const setDefault = (auth) => ((first ??= auth), auth);
export const defaultClient = () => first;

/** Takes the query parameters `names` out of the address bar, when `url` is this page's address. */
export const dropFromAddress = (url, ...names) => {
  if (globalThis.location?.href != url.href) return;
  for (const name of names) url.searchParams.delete(name);
  history.replaceState(history.state, "", url);
};
