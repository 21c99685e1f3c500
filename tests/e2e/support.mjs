// Helpers for the end-to-end tests: a real `keyward` server on a fresh SQLite database and a
// free port, and Debian's Chromium driven by playwright-core. `cargo xtask test` sets
// KEYWARD_BIN, KEYWARD_DEMO_DIR and KEYWARD_CHROMIUM.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests with \`cargo xtask test\``);
  return value;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `keyward serve` serving the vanilla demo app (or, with `leptos: true`, the example API
 * binary serving the Leptos demo app, or the directory `site`); resolves once /healthz answers.
 */
export async function startServer({ env = {}, args = [], leptos = false, site } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-e2e-"));
  const port = await freePort();
  const [program, first, defaultSite] = leptos
    ? [required("KEYWARD_API_BIN"), [], required("KEYWARD_LEPTOS_DIR")]
    : [required("KEYWARD_BIN"), ["serve"], required("KEYWARD_DEMO_DIR")];
  site ??= defaultSite;
  const child = spawn(
    program,
    [...first, "--bind", `127.0.0.1:${port}`, "--database-url", `sqlite://${join(dir, "keyward.db")}`,
      "--static-dir", site, "--issuer", `http://localhost:${port}`, ...args],
    { env: { ...process.env, KEYWARD_LOG: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // WebAuthn rejects IP addresses, so pages are opened at localhost.
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`keyward exited at start (${child.exitCode})`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("keyward did not answer /healthz within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens the demo app in `page` and waits until the client is ready. */
export async function openApp(page, url) {
  await page.goto(url);
  await page.locator("#client-status[data-state=ready]").waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => window.auth !== undefined);
}

/** Signs up through the page's client and returns the user. */
export async function signUp(page, email, password = "correct horse battery staple") {
  return page.evaluate(([email, password]) => window.auth.signUp({ email, password }), [email, password]);
}

/** Counts the requests to `path` made by every page of `context`. */
export function countRequests(context, path) {
  const counter = { count: 0 };
  context.on("request", (request) => {
    if (new URL(request.url()).pathname === path) counter.count += 1;
  });
  return counter;
}

/** Launches headless Chromium with the flags that work on this machine kind (DESIGN.md). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.KEYWARD_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
