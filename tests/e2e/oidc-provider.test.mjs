// Keyward as an OpenID Connect provider for a second app: a Node app on another site, written
// with `openid-client` (npm), signs its users in through Keyward's own sign-in and consent pages
// in Chromium (password, then the authenticator code), refreshes, and signs them out again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startRp } from "./fixtures/oidc-rp.mjs";
import { freePort, keywardCli, launchBrowser, startServer, totp } from "./support.mjs";

const EMAIL = "ada@example.com";
const PASSWORD = "correct horse battery staple";
let server;
let rp;
let browser;
let totpSecret;

/** Keyward's JSON API, as the user's own app would call it: the `data` of the answer. */
async function api(method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text).data : undefined;
}

before(async () => {
  server = await startServer({ args: ["--oidc-provider", "on"] });
  const rpPort = await freePort();
  const rpBase = `http://127.0.0.1:${rpPort}`;
  const made = await keywardCli(server, [
    "clients", "create", "--type", "confidential", "--name", "Reports",
    "--redirect-uri", `${rpBase}/callback`, "--post-logout-redirect-uri", `${rpBase}/bye`,
  ]);
  const clientId = made.split(/\s+/)[0];
  const clientSecret = made.split("\n").find((line) => line.startsWith("kwcs_")).trim();
  assert.match(clientId, /^kwc_/);
  rp = await startRp({ issuer: server.url, clientId, clientSecret, port: rpPort });

  // The user has an account with an authenticator app.
  const signedUp = await api("POST", "/auth/sign-up", { email: EMAIL, password: PASSWORD });
  const token = signedUp.tokens.access_token;
  totpSecret = (await api("POST", "/auth/mfa/totp", {}, token)).secret;
  await api("POST", "/auth/mfa/totp/confirm", { code: totp(totpSecret) }, token);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  rp?.close();
  await server?.stop();
});

/** What the app's page at `path` says (it answers JSON). */
async function appSays(page, path = "/") {
  const res = await page.goto(`${rp.url}${path}`);
  return JSON.parse(await res.text());
}

test("a second app signs its user in through Keyward, refreshes, and signs out", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));

  // The app sends the browser to Keyward, which asks for the password, then the code.
  await page.goto(`${rp.url}/login`);
  assert.ok(page.url().startsWith(`${server.url}/auth/oidc/sign-in?`), page.url());
  await page.fill("input[name=email]", EMAIL);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.locator("input[name=code]").waitFor({ timeout: 10_000 });
  // The next period's code: the current one was spent confirming the enrolment.
  await page.fill("input[name=code]", totp(totpSecret, 1));
  await page.click("button[type=submit]");

  // Consent names the app; allowing it sends the browser back with a code.
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  assert.match(await page.textContent("body"), /Reports/);
  await page.click("button[value=allow]");
  await page.waitForURL(`${rp.url}/`, { timeout: 10_000 });
  const me = JSON.parse(await page.textContent("body"));
  assert.equal(me.signedIn, true, JSON.stringify(me));
  assert.equal(me.email, EMAIL);
  assert.deepEqual(me.claims.amr, ["pwd", "otp"]);

  // Refresh rotates; userinfo still answers.
  assert.deepEqual(await appSays(page, "/refresh"), { rotated: true, sub: me.sub });
  assert.equal((await appSays(page, "/userinfo")).email, EMAIL);

  // Signed in at Keyward and consent remembered: a second sign-in goes straight through.
  await page.goto(`${rp.url}/login`);
  await page.waitForURL(`${rp.url}/`, { timeout: 10_000 });
  assert.equal((await appSays(page)).sub, me.sub);

  // RP-initiated logout: back at the app with its state, the app's tokens dead.
  await page.goto(`${rp.url}/logout`);
  await page.waitForURL(/\/bye\?/, { timeout: 10_000 });
  assert.deepEqual(JSON.parse(await page.textContent("body")), { signedOut: true, stateMatches: true });
  assert.equal((await appSays(page, "/refresh")).error, "invalid_grant");
  const refused = await appSays(page, "/userinfo");
  assert.equal(refused.status, 401, JSON.stringify(refused));

  // Keyward signed the browser out too: the next sign-in asks for the password again.
  await page.goto(`${rp.url}/login`);
  assert.ok(page.url().startsWith(`${server.url}/auth/oidc/sign-in?`), page.url());
  assert.deepEqual(errors, []);
  await context.close();
});
