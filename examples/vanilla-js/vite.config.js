// Nothing Keyward-specific: the package works with Vite's defaults, no plugin. The proxy lets
// `npm run dev` talk to a Keyward server on :8787 (`cargo xtask demo` runs one).
export default {
  build: { target: "es2022" },
  server: {
    proxy: {
      "/auth": "http://localhost:8787",
      "/healthz": "http://localhost:8787",
    },
  },
};
