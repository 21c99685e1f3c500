// Passkeys in Chromium with a virtual authenticator (CDP WebAuthn domain), through the demo app
// and the npm package, against the real server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, openApp, signUp, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer({ args: ["--rate-limits", "off"] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page with a platform authenticator that stores discoverable credentials and verifies users. */
async function pageWithAuthenticator() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await openApp(page, server.url);
  return { context, page, cdp, authenticatorId };
}

test("from password to passkey: register in the demo, sign out, sign in with one tap", async () => {
  const { context, page, cdp, authenticatorId } = await pageWithAuthenticator();
  await signUp(page, "onetap@example.com");
  await page.locator("#auth-state[data-state=signedIn]").waitFor();

  await page.click("#add-passkey");
  await page.locator("#passkeys li").first().waitFor();
  assert.match(await page.textContent("#passkeys li"), /Passkey on Chrome/);
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true);

  await page.click("#sign-out");
  await page.locator("#auth-state[data-state=signedOut]").waitFor();
  await page.fill("#email", "onetap@example.com");
  await page.click("#passkey-sign-in");
  await page.locator("#auth-state[data-state=signedIn]").waitFor();
  assert.equal(await page.textContent("#user-email"), "onetap@example.com");
  assert.equal(await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status)), 200);
  await context.close();
});

test("usernameless: a discoverable passkey signs in without an email, and signs up without a password", async () => {
  const { context, page } = await pageWithAuthenticator();
  const user = await page.evaluate(() => window.auth.passkeys.signUp({ email: "nopassword@example.com", name: "No Password" }));
  assert.equal(user.name, "No Password");
  assert.equal(await page.evaluate(() => window.auth.state), "signedIn");
  await page.evaluate(() => window.auth.signOut());

  const again = await page.evaluate(() => window.auth.passkeys.signIn());
  assert.equal(again.email, "nopassword@example.com");
  assert.equal(await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status)), 200);
  const devices = await page.evaluate(() => window.manage.devices.list());
  assert.ok(devices.some((d) => d.current), "the passkey session is bound to this browser's key");
  await context.close();
});

test("a cancelled passkey dialog surfaces as `cancelled`, and nothing changes", async () => {
  const { context, page, cdp, authenticatorId } = await pageWithAuthenticator();
  await signUp(page, "cancel@example.com");
  // The user does not complete verification: the browser reports NotAllowedError.
  await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
  const failure = await page.evaluate(() => window.auth.passkeys.register().then(() => null, (e) => ({ name: e.name, code: e.code })));
  assert.deepEqual(failure, { name: "KeywardError", code: "cancelled" });
  assert.deepEqual(await page.evaluate(() => window.manage.passkeys.list()), []);
  assert.equal(await page.evaluate(() => window.auth.state), "signedIn");
  await context.close();
});

test("passkey autofill signs in when a passkey is picked, and stops when aborted", async () => {
  const { context, page, cdp, authenticatorId } = await pageWithAuthenticator();
  await page.evaluate(() => window.auth.passkeys.signUp({ email: "autofill@example.com" }));
  await page.evaluate(() => window.auth.signOut());
  assert.equal(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), true);

  // The authenticator answers at once: the autofill offer is taken, the user is signed in.
  const picked = await page.evaluate(() => window.auth.passkeys.autofill());
  assert.equal(picked.email, "autofill@example.com");
  assert.equal(await page.evaluate(() => window.auth.state), "signedIn");
  await page.evaluate(() => window.auth.signOut());

  // Nobody picks: the page stops offering, the promise settles with null, nothing changes.
  await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: false });
  const stopped = await page.evaluate(async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    return { user: await window.auth.passkeys.autofill({ signal: controller.signal }), state: window.auth.state };
  });
  assert.deepEqual(stopped, { user: null, state: "signedOut" });
  await context.close();
});
