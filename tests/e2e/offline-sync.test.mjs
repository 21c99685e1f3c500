// The offline-sync example (examples/offline-sync) in Chromium: edits made offline wait in
// IndexedDB and reach the server, and the other users, once the browser is back online over a
// WebSocket opened with a fresh connect ticket; a device revoked from another browser has its
// socket closed at once, and gets no new ticket.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchBrowser, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer({ offlineSync: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const password = "correct horse battery staple";

/** A browser of its own, on the example's page, signed up (or in) as `email`. */
async function open(email, { signUp = true } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(server.url);
  await page.waitForFunction(() => window.auth !== undefined, null, { timeout: 20_000 });
  await page.evaluate(
    ({ email, password, signUp }) => (signUp ? window.auth.signUp({ email, password }) : window.auth.signIn({ email, password })),
    { email, password, signUp },
  );
  await sync(page, "online");
  return { context, page, errors };
}

const sync = (page, state) => page.locator(`#sync-status[data-state="${state}"]`).waitFor({ timeout: 15_000 });

async function add(page, title) {
  await page.fill("#title", title);
  await page.click("#add");
}

const shown = (page) => page.locator("#todos li").allTextContents();

test("edits made offline wait in IndexedDB and sync, with a fresh ticket, once back online", async () => {
  const stamp = Date.now();
  const ada = await open(`ada-${stamp}@example.com`);
  const lin = await open(`lin-${stamp}@example.com`);

  await add(ada.page, "Buy milk");
  await lin.page.locator("#todos li", { hasText: "Buy milk" }).waitFor({ timeout: 15_000 });
  await ada.page.locator("#pending[data-count='0']").waitFor({ timeout: 15_000 });

  // Offline: the edits stay in this browser, marked as waiting.
  await ada.context.setOffline(true);
  await sync(ada.page, "offline");
  await add(ada.page, "Offline one");
  await add(ada.page, "Offline two");
  await ada.page.locator("#pending[data-count='2']").waitFor();
  assert.equal(await ada.page.locator("#todos li.pending").count(), 2);
  assert.deepEqual(await ada.page.evaluate(() => new Promise((resolve) => {
    const open = indexedDB.open("offline-sync");
    open.onsuccess = () => {
      const all = open.result.transaction("queue").objectStore("queue").getAll();
      all.onsuccess = () => resolve(all.result.map((item) => item.edit.title));
    };
  })), ["Offline one", "Offline two"]);
  assert.deepEqual(await shown(lin.page), ["Buy milk"], "nothing left the offline browser");

  // Back online: a new ticket, a new socket, the queue replayed and acknowledged.
  const tickets = [];
  ada.page.on("request", (request) => request.url().endsWith("/auth/connect-ticket") && tickets.push(request.url()));
  await ada.context.setOffline(false);
  await sync(ada.page, "online");
  await ada.page.locator("#pending[data-count='0']").waitFor({ timeout: 15_000 });
  assert.equal(await ada.page.locator("#todos li.pending").count(), 0);
  assert.ok(tickets.length >= 1, "reconnected with a fresh ticket");
  await lin.page.locator("#todos li", { hasText: "Offline two" }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await shown(lin.page), ["Buy milk", "Offline one", "Offline two"]);
  assert.deepEqual([...ada.errors, ...lin.errors], []);
  await ada.context.close();
  await lin.context.close();
});

test("a device revoked from another browser is disconnected at once and cannot reconnect", async () => {
  const email = `grace-${Date.now()}@example.com`;
  const laptop = await open(email);
  const phone = await open(email, { signUp: false });

  // From the phone: revoke the laptop's device.
  await phone.page.evaluate(async () => {
    const answer = await (await window.auth.fetch("/auth/devices")).json();
    const laptop = answer.data.devices.find((device) => !device.current);
    const revoked = await window.auth.fetch(`/auth/devices/${laptop.id}`, { method: "DELETE" });
    if (!revoked.ok) throw new Error(`revoking answered ${revoked.status}`);
  });
  await laptop.page.locator("#sync-status[data-state=closed]", { hasText: "session_revoked" }).waitFor({ timeout: 5_000 });
  // No new ticket for it: its session is over.
  const refused = await laptop.page.evaluate(() =>
    window.auth.connectTicket(`ws://${location.host}/sync`).then(() => "issued", (error) => error.code),
  );
  assert.ok(["session_revoked", "signed_out"].includes(refused), refused);
  // The phone syncs on.
  await add(phone.page, "Still here");
  await phone.page.locator("#todos li:not(.pending)", { hasText: "Still here" }).waitFor({ timeout: 15_000 });
  await laptop.context.close();
  await phone.context.close();
});

test("a connection outlives its access token: renewed in band, or opened again with a new ticket", async () => {
  // Tokens of 4 seconds: the page's connection is renewed (or closed as expired and opened
  // again) several times during the test.
  const short = await startServer({ offlineSync: true, args: ["--access-ttl", "4s"] });
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(short.url);
  await page.waitForFunction(() => window.auth !== undefined, null, { timeout: 20_000 });
  await page.evaluate(() => window.auth.signUp({ email: "short@example.com", password: "correct horse battery staple" }));
  await sync(page, "online");
  await page.waitForTimeout(9_000);
  // Long past the first token's expiry, an edit still reaches the server.
  await add(page, "Still syncing");
  await page.locator("#todos li:not(.pending)", { hasText: "Still syncing" }).waitFor({ timeout: 15_000 });
  await page.locator("#pending[data-count='0']").waitFor({ timeout: 15_000 });
  await sync(page, "online");
  assert.deepEqual(errors, []);
  await context.close();
  await short.stop();
});
