// Keyward as an OpenID Connect provider for a second app: a Node app on another site, written
// with `openid-client` (npm), signs its users in through Keyward in Chromium. First through
// Keyward's own pages (password, then the authenticator code), with refresh and logout; then
// through the Leptos app's own sign-in page (`--oidc-sign-in-page /`) with a passkey, and the
// user disconnects the app from the app's security page; then through a page on the npm package
// (`keyward/apps`); then through the sign-in page Keyward ships, for a `keyward serve` with no
// app of its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startRp } from "./fixtures/oidc-rp.mjs";
import { freePort, keywardCli, launchBrowser, required, startServer, startSmtp, totp } from "./support.mjs";

const EMAIL = "ada@example.com";
const PASSWORD = "correct horse battery staple";
let server;
let rp;
let browser;
let totpSecret;
const extra = [];

/**
 * Keyward's JSON API, as the user's own app would call it: the `data` of the answer (of `keyward`,
 * the first server by default).
 */
async function api(method, path, body, token, keyward = server) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${keyward.url}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text).data : undefined;
}

before(async () => {
  server = await startServer({ args: ["--oidc-provider", "on"] });
  const rpPort = await freePort();
  const { clientId, clientSecret } = await registerApp(server, rpPort);
  rp = await startRp({ issuer: server.url, clientId, clientSecret, port: rpPort });

  totpSecret = await userWithTotp(server, EMAIL);
  browser = await launchBrowser();
});

/** An account `email` on `keyward` with an authenticator app: the app's secret. */
async function userWithTotp(keyward, email) {
  const signedUp = await api("POST", "/auth/sign-up", { email, password: PASSWORD }, undefined, keyward);
  const token = signedUp.tokens.access_token;
  const { secret } = await api("POST", "/auth/mfa/totp", {}, token, keyward);
  await api("POST", "/auth/mfa/totp/confirm", { code: totp(secret) }, token, keyward);
  return secret;
}

after(async () => {
  await browser?.close();
  rp?.close();
  await server?.stop();
  for (const stop of extra) await stop();
});

/**
 * Keyward (`options` for `startServer`) as the provider of a second app, with the page at `/` as
 * its sign-in page: both, stopped after the tests.
 */
async function providerWithApp(options) {
  const args = ["--oidc-provider", "on", "--oidc-sign-in-page", "/", ...(options.args ?? [])];
  const keyward = await startServer({ ...options, args });
  extra.push(() => keyward.stop());
  const port = await freePort();
  const app = await startRp({ issuer: keyward.url, ...(await registerApp(keyward, port)), port });
  extra.push(async () => app.close());
  return [keyward, app];
}

/** A confidential client of `keyward` for an app on `127.0.0.1:port`: its id and secret. */
async function registerApp(keyward, port) {
  const base = `http://127.0.0.1:${port}`;
  const made = await keywardCli(keyward, [
    "clients", "create", "--type", "confidential", "--name", "Reports",
    "--redirect-uri", `${base}/callback`, "--post-logout-redirect-uri", `${base}/bye`,
  ]);
  const clientId = made.split(/\s+/)[0];
  const clientSecret = made.split("\n").find((line) => line.startsWith("kwcs_")).trim();
  assert.match(clientId, /^kwc_/);
  return { clientId, clientSecret };
}

/** What the app's page at `path` says (it answers JSON). */
async function appSays(page, path = "/", app = rp) {
  const res = await page.goto(`${app.url}${path}`);
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

test("the app's own sign-in page signs the user in with a passkey, and its security page disconnects the app", async () => {
  const [keyward, app] = await providerWithApp({ leptos: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });

  // The user has an account in the Leptos app, with a passkey, and is signed out.
  await page.goto(`${keyward.url}/#security`);
  const signUp = page.locator(".kw-sign-up-form");
  await signUp.waitFor({ timeout: 20_000 });
  await signUp.locator("input[name=name]").fill("Grace");
  await signUp.locator("input[name=email]").fill("grace@example.com");
  await signUp.locator("input[name=password]").fill(PASSWORD);
  await signUp.locator("button[type=submit]").click();
  await page.locator(".kw-sessions .kw-current").waitFor({ timeout: 10_000 });
  const registered = page.waitForResponse((res) => res.url().endsWith("/auth/passkeys/register/verify"));
  await page.click(".kw-security .kw-passkey-button");
  assert.equal((await registered).status(), 201);
  await page.reload();
  await page.locator(".kw-passkeys li").waitFor({ timeout: 10_000 });
  await page.click(".kw-sign-out");
  await page.locator(".kw-sign-up-form").waitFor();

  // The second app sends the browser to Keyward, which sends it to the app's sign-in page; a
  // passkey signs in there, and the page goes on to consent and back to the second app.
  await page.goto(`${app.url}/login`);
  await page.waitForURL((url) => url.searchParams.has("oidc_req"), { timeout: 10_000 });
  assert.ok(page.url().startsWith(`${keyward.url}/?oidc_req=`), page.url());
  await page.locator(".kw-continue-authorization").waitFor();
  await page.locator(".kw-passkey-button", { hasText: "Sign in with a passkey" }).click();
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  await page.click("button[value=allow]");
  await page.waitForURL(`${app.url}/`, { timeout: 10_000 });
  const me = JSON.parse(await page.textContent("body"));
  assert.equal(me.email, "grace@example.com", JSON.stringify(me));
  assert.deepEqual(me.claims.amr, ["passkey"]);

  // The app's security page lists the second app; disconnecting it ends its sign-in at once.
  await page.goto(`${keyward.url}/#security`);
  const listed = page.locator(".kw-connected-apps li", { hasText: "Reports" });
  await listed.waitFor({ timeout: 10_000 });
  await listed.locator("button", { hasText: "Disconnect" }).click();
  await listed.waitFor({ state: "detached", timeout: 10_000 });
  assert.equal((await appSays(page, "/refresh", app)).error, "invalid_grant");

  // Signed in to the Leptos app already (its session is in IndexedDB) but not at Keyward (no
  // cookie), the user is asked before anything goes on; the app's consent was taken back, so
  // Keyward asks for it again.
  await context.clearCookies();
  await page.goto(`${app.url}/login`);
  const asked = page.locator(".kw-continue-authorization .kw-continue");
  await asked.waitFor({ timeout: 10_000 });
  assert.ok(!page.url().includes("oidc_req"), `the request stayed in the address: ${page.url()}`);
  assert.match(await page.textContent(".kw-continue-authorization"), /as grace@example\.com/);
  await asked.click();
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  await page.click("button[value=allow]");
  await page.waitForURL(`${app.url}/`, { timeout: 10_000 });
  assert.equal(JSON.parse(await page.textContent("body")).email, "grace@example.com");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a page on the npm package is the sign-in page, with keyward/apps", async () => {
  const [keyward, app] = await providerWithApp({});
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));

  // Sent to the demo page, which offers to go on once signed in; signing up there does it.
  await page.goto(`${app.url}/login`);
  await page.locator("#client-status[data-state=ready]").waitFor({ timeout: 15_000 });
  assert.ok(!page.url().includes("oidc_req"), `the request stayed in the address: ${page.url()}`);
  await page.locator("#oidc-continue:not([hidden])").waitFor();
  assert.equal(await page.isDisabled("#oidc-continue-button"), true);
  await page.fill("#email", "lin@example.com");
  await page.fill("#password", PASSWORD);
  await page.click("#sign-up");
  await page.locator("#oidc-continue-button:not([disabled])").waitFor({ timeout: 10_000 });
  await page.click("#oidc-continue-button");
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  await page.click("button[value=allow]");
  await page.waitForURL(`${app.url}/`, { timeout: 10_000 });
  assert.equal(JSON.parse(await page.textContent("body")).email, "lin@example.com");

  // The page lists the app and disconnects it.
  await page.goto(keyward.url);
  await page.locator("#client-status[data-state=ready]").waitFor({ timeout: 15_000 });
  await page.locator("#auth-state[data-state=signedIn]").waitFor({ timeout: 10_000 });
  const listed = await page.evaluate(() => window.apps.list());
  assert.deepEqual(listed.map((a) => [a.name, a.scopes]), [["Reports", ["openid", "email", "profile"]]]);
  await page.evaluate((id) => window.apps.disconnect(id), listed[0].clientId);
  assert.deepEqual(await page.evaluate(() => window.apps.list()), []);
  assert.equal((await appSays(page, "/refresh", app)).error, "invalid_grant");
  assert.deepEqual(errors, []);
  await context.close();
});

test("the sign-in page Keyward ships signs in with the password and the code, and disconnects the app", async () => {
  const [keyward, app] = await providerWithApp({ site: required("KEYWARD_SIGN_IN_PAGE_DIR") });
  const secret = await userWithTotp(keyward, "ines@example.com");
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));

  // Sent to Keyward's page, the user signs in with the password, then the authenticator's
  // code; the page goes on to consent by itself, and back to the app.
  await page.goto(`${app.url}/login`);
  const notice = page.locator(".kw-continue-authorization", { hasText: "Another app asks you to sign in" });
  await notice.waitFor({ timeout: 20_000 });
  assert.ok(!page.url().includes("oidc_req"), `the request stayed in the address: ${page.url()}`);
  const form = page.locator(".kw-sign-in-form");
  await form.locator("input[name=email]").fill("ines@example.com");
  await form.locator("input[name=password]").fill(PASSWORD);
  await form.locator("button[type=submit]").click();
  const code = page.locator(".kw-mfa-code-form");
  await code.waitFor({ timeout: 10_000 });
  await code.locator("input[name=code]").fill(totp(secret, 1));
  await code.locator("button[type=submit]").click();
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  assert.match(await page.textContent("body"), /Reports/);
  await page.click("button[value=allow]");
  await page.waitForURL(`${app.url}/`, { timeout: 10_000 });
  const me = JSON.parse(await page.textContent("body"));
  assert.equal(me.email, "ines@example.com", JSON.stringify(me));
  assert.deepEqual(me.claims.amr, ["pwd", "otp"]);

  // Opened by itself, the page is the account's: it lists the app, and disconnects it.
  await page.goto(keyward.url);
  const listed = page.locator(".kw-connected-apps li", { hasText: "Reports" });
  await listed.waitFor({ timeout: 20_000 });
  await listed.locator("button", { hasText: "Disconnect" }).click();
  await listed.waitFor({ state: "detached", timeout: 10_000 });
  assert.equal((await appSays(page, "/refresh", app)).error, "invalid_grant");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a mailed link to someone else's account, with a request planted beside it, goes on only when the user says so", async () => {
  const smtp = await startSmtp();
  extra.push(() => smtp.stop());
  const [keyward, app] = await providerWithApp({ site: required("KEYWARD_SIGN_IN_PAGE_DIR"), args: ["--smtp-url", smtp.url] });

  // The attacker's own account, a sign-in link mailed to it, and an authorization request for
  // the app made in the attacker's own browser.
  await api("POST", "/auth/sign-up", { email: "mallory@example.com", password: PASSWORD }, undefined, keyward);
  await api("POST", "/auth/magic-link", { email: "mallory@example.com" }, undefined, keyward);
  const token = new URL((await smtp.mail("mallory@example.com", 1, /sign-in link/)).link).searchParams.get("token");
  const toKeyward = (await fetch(`${app.url}/login`, { redirect: "manual" })).headers.get("location");
  const toPage = (await fetch(toKeyward, { redirect: "manual" })).headers.get("location");
  const req = new URL(toPage, keyward.url).searchParams.get("oidc_req");
  assert.ok(req, toPage);

  // The victim opens a link carrying both, and signs in: as the attacker, which the page says.
  // It does not go on to the app by itself.
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${keyward.url}/?type=magic_link&token=${token}&oidc_req=${encodeURIComponent(req)}`);
  await page.locator(".kw-magic-link-sign-in button").click({ timeout: 20_000 });
  const asked = page.locator(".kw-continue-authorization .kw-continue");
  await asked.waitFor({ timeout: 10_000 });
  assert.match(await page.textContent(".kw-continue-authorization"), /as mallory@example\.com/);
  await page.waitForLoadState("networkidle");
  assert.ok(page.url().startsWith(`${keyward.url}/`) && !page.url().includes("/auth/oidc/"), page.url());
  assert.equal(await page.locator("button[value=allow]").count(), 0);

  // Told who they would be, a user who wants to go on may.
  await asked.click();
  await page.locator("button[value=allow]").waitFor({ timeout: 10_000 });
  assert.deepEqual(errors, []);
  await context.close();
});
