// Server nonces for DPoP (RFC 9449 §8, `KEYWARD_DPOP_NONCE=on`) in Chromium: a proof made
// before the page knew the server's nonce is refused with a new one, and the request is sent
// once more with a new proof. Every request that went out without it gets that second try, not
// only the first to come back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, openApp, signUp, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer({ env: { KEYWARD_DPOP_NONCE: "on" }, args: ["--rate-limits", "off"] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("requests sent together before the page knows the server's nonce all get through", async () => {
  const page = await (await browser.newContext()).newPage();
  await openApp(page, server.url);
  await signUp(page, "nonces@example.com");
  await page.locator("#auth-state[data-state=signedIn]").waitFor();

  // A reload forgets the nonce: the next requests all go out without one, at once. (The demo's
  // own requests, its lists, are held back until they are done, so that none of them learns
  // the nonce from their answers.)
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route(/\/auth\/(sessions|devices|passkeys|orgs)$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.reload();
  await page.locator("#auth-state[data-state=signedIn]").waitFor();
  const seen = await page.evaluate(async () => {
    const auth = window.auth;
    const calls = [1, 2, 3].map(() => auth.fetch("/auth/me").then((r) => r.status));
    const refreshed = auth.refresh().then(
      () => "refreshed",
      (e) => e.code,
    );
    return { statuses: await Promise.all(calls), refreshed: await refreshed, state: auth.state };
  });
  release();
  assert.deepEqual(seen, { statuses: [200, 200, 200], refreshed: "refreshed", state: "signedIn" });
});
