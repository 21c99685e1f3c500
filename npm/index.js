// The `keyward` package entry: loads the WebAssembly client once, on first use, so apps never
// call an init function themselves. Bundlers (Vite included, no plugin) resolve the .wasm file
// through `new URL(…, import.meta.url)` inside keyward_wasm.js.
import init, * as wasm from "./keyward_wasm.js";

let loading;

/** Loads the WebAssembly module (once). Pass a URL or a compiled module to load it from elsewhere. */
export function load(moduleOrPath) {
  loading ??= init(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
  return loading;
}

/** Creates the client and restores a stored session (no network round trip). */
export async function createAuthClient(options) {
  await load();
  return wasm.createAuthClient(options);
}

/** Which browser APIs Keyward can use here. */
export async function capabilities() {
  await load();
  return wasm.capabilities();
}

/** The version of this package. */
export async function version() {
  await load();
  return wasm.version();
}
