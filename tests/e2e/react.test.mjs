// examples/react (React 19 + Vite, keyward/react's hooks, no provider) in Chromium against the
// real server: sign up, reload signed in, sign out, and a bounded number of renders; and the
// hooks rendered on the server (Node), where they see `loading`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { countRequests, launchBrowser, startServer } from "./support.mjs";

let server;
let browser;
const app = process.env.KEYWARD_REACT_DIR;

before(async () => {
  if (!app) throw new Error("KEYWARD_REACT_DIR is not set: run the end-to-end tests with `cargo xtask test`");
  server = await startServer({ site: join(app, "dist"), args: ["--rate-limits", "off"] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const settled = (page) => page.waitForFunction(() => {
  const now = window.renders;
  return new Promise((resolve) => setTimeout(() => resolve(window.renders === now), 500));
});

test("the React example signs up, reloads signed in, signs out, and renders a bounded number of times", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(server.url);
  await page.locator("main[data-state=signedOut]").waitFor({ timeout: 15_000 });
  await settled(page);
  // StrictMode renders twice; loading → signedOut adds one pass. An endless loop would not settle.
  const first = await page.evaluate(() => window.renders);
  assert.ok(first <= 6, `renders before any action: ${first}`);

  await page.fill("input[name=email]", "react@example.com");
  await page.fill("input[name=password]", "correct horse battery staple");
  await page.click("button[value=sign-up]");
  await page.locator("main[data-state=signedIn]").waitFor();
  assert.equal(await page.textContent("#email"), "react@example.com");
  await settled(page);
  const afterSignUp = await page.evaluate(() => window.renders);
  assert.ok(afterSignUp - first <= 4, `renders for one sign-up: ${afterSignUp - first}`);

  const signIns = countRequests(context, "/auth/sign-in");
  await page.reload();
  await page.locator("main[data-state=signedIn]").waitFor({ timeout: 15_000 });
  assert.equal(await page.textContent("#email"), "react@example.com");
  assert.equal(signIns.count, 0, "restored from IndexedDB, not signed in again");

  await page.click("text=Sign out");
  await page.locator("main[data-state=signedOut]").waitFor();
  assert.deepEqual(errors, []);
});

test("on the server the hooks render `loading` and never crash", async () => {
  const load = (path) => import(pathToFileURL(join(app, "node_modules", path)).href);
  const [{ createElement }, { renderToString }, keyward, hooks] = await Promise.all([
    load("react/index.js"),
    load("react-dom/server.node.js"),
    load("keyward/index.js"),
    load("keyward/react.js"),
  ]);
  const client = keyward.createAuthClient({ serverUrl: "https://auth.example.com/auth" });
  // Awaiting the client on the server resolves with it (there is no session to read there).
  const awaited = await Promise.race([client, new Promise((resolve) => setTimeout(() => resolve("hung"), 2_000))]);
  assert.equal(awaited, client);
  const refused = await client.signIn({ email: "a@example.com", password: "x" }).catch((e) => [e.name, e.code]);
  assert.deepEqual(refused, ["KeywardError", "unsupported"]);
  function Header() {
    const { state, user } = hooks.useAuth();
    return createElement("p", { "data-state": state }, user?.email ?? "nobody");
  }
  assert.equal(renderToString(createElement(Header)), '<p data-state="loading">nobody</p>');
});
