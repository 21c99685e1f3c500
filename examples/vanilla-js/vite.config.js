// The package works with Vite's defaults. One optional addition: a preload link for the
// client's wasm, so the browser fetches it alongside the HTML instead of only once the JS runs.
// On localhost (`cargo xtask bench`) that changes nothing measurable, the download being ~5 ms;
// over a real network it saves a round trip and the download before start-up. The proxy lets
// `npm run dev` talk to a Keyward server on :8787 (`cargo xtask demo` runs one).
const preloadWasm = {
  name: "preload-wasm",
  transformIndexHtml: {
    order: "post",
    handler(_html, { bundle }) {
      return Object.keys(bundle ?? {})
        .filter((file) => file.endsWith(".wasm"))
        .map((file) => ({
          tag: "link",
          // `crossorigin` (anonymous) matches the `fetch()` the package makes, so the
          // preloaded response is the one it uses.
          attrs: { rel: "preload", href: `/${file}`, as: "fetch", type: "application/wasm", crossorigin: "" },
          injectTo: "head",
        }));
    },
  },
};

export default {
  build: { target: "es2022" },
  plugins: [preloadWasm],
  server: {
    proxy: {
      "/auth": "http://localhost:8787",
      "/healthz": "http://localhost:8787",
    },
  },
};
