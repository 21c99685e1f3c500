// The package unchanged in esbuild and webpack 5 (Vite is the demo app's bundler): a page that
// imports `keyward`, built with no plugin and no loader for it, loads in Chromium and signs in.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import webpack from "webpack";
import { launchBrowser, startServer } from "./support.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const fixture = join(root, "tests/e2e/fixtures/bundlers");
// The packed tarball as `npm install` put it into the demo app (what a user's project has).
const installed = join(root, "examples/vanilla-js/node_modules");

let browser;
const dirs = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function site() {
  const dir = mkdtempSync(join(tmpdir(), "keyward-bundle-"));
  dirs.push(dir);
  copyFileSync(join(fixture, "index.html"), join(dir, "index.html"));
  return dir;
}

async function signsIn(dir, email) {
  const server = await startServer({ site: dir, args: ["--rate-limits", "off"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(server.url);
    await page.locator("body[data-state=signedOut]").waitFor({ state: "attached", timeout: 15_000 });
    const user = await page.evaluate((email) => window.auth.signUp({ email, password: "correct horse battery staple" }), email);
    assert.equal(user.email, email);
    await page.locator("body[data-state=signedIn]").waitFor({ state: "attached" });
    await page.reload();
    await page.locator("body[data-state=signedIn]").waitFor({ state: "attached", timeout: 15_000 });
    const me = await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.json()));
    assert.equal(me.data.user.email, email);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await server.stop();
  }
}

test("esbuild bundles the package with no plugin; the page loads and signs in", async () => {
  const dir = site();
  await esbuild.build({
    entryPoints: [join(fixture, "entry.js")],
    bundle: true,
    minify: true,
    format: "iife",
    outfile: join(dir, "bundle.js"),
    nodePaths: [installed],
    logLevel: "warning",
  });
  await signsIn(dir, "esbuild@example.com");
});

test("webpack 5 bundles the package with no loader; the page loads and signs in", async () => {
  const dir = site();
  const stats = await new Promise((resolve, reject) =>
    webpack(
      {
        mode: "production",
        entry: join(fixture, "entry.js"),
        output: { path: dir, filename: "bundle.js" },
        resolve: { modules: [installed, "node_modules"] },
      },
      (error, stats) => (error ? reject(error) : resolve(stats)),
    ),
  );
  assert.deepEqual(stats.compilation.errors.map(String), []);
  await signsIn(dir, "webpack@example.com");
});

test("under a CSP without 'wasm-unsafe-eval' the client says why; with it, it signs in", async () => {
  const server = await startServer({ args: ["--rate-limits", "off"] });
  try {
    for (const [policy, works] of [["script-src 'self'", false], ["script-src 'self' 'wasm-unsafe-eval'", true]]) {
      const page = await browser.newPage();
      await page.route(`${server.url}/`, async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, headers: { ...response.headers(), "content-security-policy": policy } });
      });
      await page.goto(server.url);
      await page.waitForFunction(() => window.auth !== undefined, null, { timeout: 15_000 });
      const outcome = await page.evaluate(() =>
        window.auth
          .signUp({ email: `csp${Math.random()}@example.com`, password: "correct horse battery staple" })
          .then(() => ({ state: window.auth.state }), (e) => ({ code: e.code, message: e.message, state: window.auth.state })),
      );
      if (works) {
        assert.deepEqual(outcome, { state: "signedIn" }, policy);
      } else {
        assert.equal(outcome.code, "unsupported", policy);
        assert.match(outcome.message, /wasm-unsafe-eval/);
        assert.equal(outcome.state, "signedOut");
      }
      await page.close();
    }
  } finally {
    await server.stop();
  }
});
