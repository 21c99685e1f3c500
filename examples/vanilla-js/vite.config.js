// Nothing Keyward-specific: the package works with Vite's defaults, no plugin.
export default {
  build: { target: "es2022" },
};
