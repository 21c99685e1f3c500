// The package works with Vite's defaults (its WebAssembly core ships inside its JS: there is
// no .wasm file to serve or preload). The proxy lets `npm run dev` talk to a Keyward server on
// :8787 (`cargo xtask demo` runs one).
export default {
  build: { target: "es2022" },
  server: {
    proxy: {
      "/auth": "http://localhost:8787",
      "/healthz": "http://localhost:8787",
    },
  },
};
