// The Leptos demo app (examples/leptos-app) served with the server and the example API: the tour
// a newcomer takes at http://localhost:8787.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { launchBrowser, startServer } from "./support.mjs";

const artifacts = join(dirname(fileURLToPath(import.meta.url)), "../artifacts");
let server;
let browser;

before(async () => {
  server = await startServer({ leptos: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("sign up, see the protected page call the API, sign out, see the fallback", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${server.url}/#todos`);

  // Signed out: the protected page shows the sign-in and sign-up forms.
  const signUp = page.locator(".kw-sign-up-form");
  await signUp.waitFor({ timeout: 20_000 });
  assert.equal(await page.locator(".todo-form").count(), 0);

  await signUp.locator("input[name=name]").fill("Ada");
  await signUp.locator("input[name=email]").fill("ada@example.com");
  await signUp.locator("input[name=password]").fill("correct horse battery staple");
  await signUp.locator("button[type=submit]").click();

  // Signed in: the same page now calls the protected API (a DPoP-bound token through auth.fetch).
  await page.locator(".api-status", { hasText: "from the protected API" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.textContent(".kw-user-name"), "Ada");
  await page.fill(".todo-form input[name=title]", "Ship the demo");
  await page.click(".todo-form button[type=submit]");
  await page.locator(".todos li", { hasText: "Ship the demo" }).waitFor();
  assert.match(await page.textContent(".api-status"), /^1 todo\(s\)/);

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "leptos-signed-in.png"), fullPage: true });

  // The security page lists this session and device, marked current.
  await page.goto(`${server.url}/#security`);
  await page.locator(".kw-sessions .kw-current").waitFor();
  await page.locator(".kw-devices .kw-current").waitFor();

  await page.click(".kw-sign-out");
  await page.goto(`${server.url}/#todos`);
  await page.locator(".kw-sign-in-form").waitFor();
  assert.equal(await page.locator(".todo-form").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the sign-in form announces a wrong password", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/#todos`);
  const form = page.locator(".kw-sign-in-form");
  await form.waitFor({ timeout: 20_000 });
  await form.locator("input[name=email]").fill("nobody@example.com");
  await form.locator("input[name=password]").fill("wrong password");
  await form.locator("button[type=submit]").click();
  const alert = form.locator(".kw-error[role=alert]");
  await alert.filter({ hasText: "Wrong email or password" }).waitFor();
  await context.close();
});
