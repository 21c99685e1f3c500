// The demo page served by the real server loads the wasm client in Chromium and shows the
// server's health.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the demo page loads the wasm client and shows the server healthy", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(server.url);

  const client = page.locator("#client-status[data-state]");
  await client.waitFor({ timeout: 15_000 });
  assert.equal(await client.getAttribute("data-state"), "ready", await client.textContent());
  assert.match(await client.textContent(), /^ready \(keyward \d+\.\d+\.\d+\)$/);

  const health = page.locator("#server-health[data-state]");
  await health.waitFor({ timeout: 15_000 });
  assert.equal(await health.getAttribute("data-state"), "ok", await health.textContent());
  assert.match(await health.textContent(), /^ok \(sqlite, keyward /);

  // WebCrypto and IndexedDB are what the client stands on; Chromium on localhost has both.
  const webCrypto = page.locator("#capabilities li", { hasText: "webCrypto" });
  assert.equal(await webCrypto.getAttribute("data-available"), "true");
  assert.deepEqual(errors, []);
});
