// Device-bound sessions in Chromium: tokens read out of the page are useless outside it, a
// device revoked elsewhere signs the browser out, and a lost key means a fresh sign-in.
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { after, before, test } from "node:test";
import { countRequests, launchBrowser, openApp, signUp, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer({ args: ["--rate-limits", "off", "--access-ttl", "20s"] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const b64 = (data) => Buffer.from(data).toString("base64url");

/** A DPoP proof made outside the browser, by a key the attacker does own. */
function attackerProof(method, url) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const { kty, crv, x, y } = publicKey.export({ format: "jwk" });
  const header = b64(JSON.stringify({ typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } }));
  const claims = b64(JSON.stringify({ jti: randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000) }));
  const signature = sign("sha256", Buffer.from(`${header}.${claims}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${header}.${claims}.${b64(signature)}`;
}

test("tokens read out of the page are refused outside it, while the page keeps refreshing", async () => {
  const context = await browser.newContext();
  await context.clock.install();
  const page = await context.newPage();
  await openApp(page, server.url);
  // What an XSS or a malicious extension could read: the tokens as they cross the wire.
  const answer = page.waitForResponse((r) => r.url().endsWith("/auth/sign-up"));
  await signUp(page, "stolen@example.com");
  const { tokens } = (await (await answer).json()).data;
  assert.equal(tokens.token_type, "DPoP");

  const refresh = (headers = {}) =>
    fetch(`${server.url}/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    }).then(async (r) => ({ status: r.status, code: (await r.json()).error?.code }));
  assert.deepEqual(await refresh(), { status: 401, code: "dpop_required" });
  assert.deepEqual(await refresh({ dpop: attackerProof("POST", `${server.url}/auth/refresh`) }), { status: 401, code: "invalid_dpop_proof" });

  const me = (authorization, headers = {}) =>
    fetch(`${server.url}/auth/me`, { headers: { authorization, ...headers } }).then(async (r) => (await r.json()).error?.code ?? r.status);
  assert.equal(await me(`Bearer ${tokens.access_token}`), "invalid_token");
  assert.equal(await me(`DPoP ${tokens.access_token}`), "dpop_required");
  assert.equal(await me(`DPoP ${tokens.access_token}`, { dpop: attackerProof("GET", `${server.url}/auth/me`) }), "invalid_dpop_proof");

  // The browser, holding the key, refreshes as usual and its requests go through.
  await context.clock.pauseAt(Date.now() + 2_000);
  await context.clock.setSystemTime(Date.now() + 2_000 + 21_000);
  const refreshes = countRequests(context, "/auth/refresh");
  const fresh = await page.evaluate(() => window.auth.getAccessToken());
  assert.notEqual(fresh, tokens.access_token);
  assert.equal(refreshes.count, 1);
  assert.equal(await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status)), 200);
  assert.equal(await page.evaluate(() => window.auth.state), "signedIn");
  await context.close();
});

test("revoking a device from a second browser signs the first one out", async () => {
  const laptop = await browser.newContext();
  const laptopPage = await laptop.newPage();
  await openApp(laptopPage, server.url);
  await signUp(laptopPage, "twodevices@example.com");
  const laptopDevice = await laptopPage.evaluate(() => window.manage.devices.current());
  assert.equal(laptopDevice.current, true);
  assert.match(laptopDevice.name, /Chrome/);

  const phone = await browser.newContext();
  const phonePage = await phone.newPage();
  await openApp(phonePage, server.url);
  await phonePage.evaluate(() => window.auth.signIn({ email: "twodevices@example.com", password: "correct horse battery staple" }));
  const devices = await phonePage.evaluate(() => window.manage.devices.list());
  assert.equal(devices.length, 2);
  assert.notEqual(devices.find((d) => d.current).id, laptopDevice.id, "each browser has its own key");
  await phonePage.evaluate((id) => window.manage.devices.revoke(id), laptopDevice.id);

  const outcome = await laptopPage.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status, (e) => e.code));
  assert.equal(outcome, "session_revoked");
  await laptopPage.locator("#auth-state[data-state=signedOut]").waitFor();
  assert.equal(await phonePage.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status)), 200);
  await laptop.close();
  await phone.close();
});

test("a lost device key (IndexedDB wiped) leads to a fresh sign-in with a new key, no loop", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "wiped@example.com");
  const before = await page.evaluate(() => window.manage.devices.current());

  await page.evaluate(async () => {
    await new Promise((resolve) => {
      const request = indexedDB.deleteDatabase("keyward");
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    });
  });
  const requests = countRequests(context, "/auth/refresh");
  await page.reload();
  await openApp(page, server.url);
  await page.locator("#auth-state[data-state=signedOut]").waitFor();
  assert.equal(requests.count, 0, "nothing to refresh, nothing retried");

  await page.evaluate(() => window.auth.signIn({ email: "wiped@example.com", password: "correct horse battery staple" }));
  const after = await page.evaluate(() => window.manage.devices.current());
  assert.notEqual(after.jkt, before.jkt, "a new device key");
  assert.equal(await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status)), 200);
  await context.close();
});
