// The keyward npm package in Chromium, installed from the packed tarball into a Vite app
// (examples/vanilla-js), against the real server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { countRequests, launchBrowser, openApp, signUp, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  // Rate limits off: these tests sign in far more often than a person would. Access tokens
  // live 20 s, so a controlled clock moved 21 s ahead expires them while staying well within
  // the minute of clock difference the server accepts in DPoP proofs.
  server = await startServer({ args: ["--rate-limits", "off", "--access-ttl", "20s"] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("signed up, a reload restores the session from IndexedDB without signing in again", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "reload@example.com");
  await page.locator("#auth-state[data-state=signedIn]").waitFor();

  const authCalls = [];
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    if (["/auth/sign-in", "/auth/sign-up", "/auth/refresh"].includes(path)) authCalls.push(path);
  });
  await page.reload();
  await openApp(page, server.url);
  await page.locator("#auth-state[data-state=signedIn]").waitFor();
  assert.equal(await page.textContent("#user-email"), "reload@example.com");
  const token = await page.evaluate(() => window.auth.getAccessToken());
  assert.match(token, /^eyJ/);
  assert.deepEqual(authCalls, [], "no sign-in, sign-up or refresh was needed");
  await context.close();
});

test("IndexedDB, localStorage and cookies hold no readable token", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "storage@example.com");
  const access = await page.evaluate(() => window.auth.getAccessToken());
  // The refresh token only ever crosses the wire: read it from the network as an attacker would.
  const refreshed = await page.evaluate(async () => {
    const response = await fetch("/auth/sign-in", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "storage@example.com", password: "correct horse battery staple" }),
    });
    return (await response.json()).data.tokens.refresh_token;
  });
  const dump = await page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("keyward");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const records = await new Promise((resolve, reject) => {
      const request = db.transaction("keyward").objectStore("keyward").getAll();
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const text = [];
    const walk = (value) => {
      if (value instanceof Uint8Array) text.push(new TextDecoder().decode(value));
      else if (value && typeof value === "object") Object.values(value).forEach(walk);
      else text.push(String(value));
    };
    records.forEach(walk);
    return { text: text.join("\n"), storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }), cookies: document.cookie, count: records.length };
  });
  assert.ok(dump.count >= 2, "a key and a session are stored");
  for (const secret of [access, access.split(".")[1], refreshed.slice(4), "storage@example.com"]) {
    assert.ok(!dump.text.includes(secret), "a token is readable in IndexedDB");
    assert.ok(!dump.storage.includes(secret) && !dump.cookies.includes(secret));
  }
  await context.close();
});

test("five tabs with an expired access token make one refresh in total and share its token", async () => {
  const context = await browser.newContext();
  // A controlled clock in every page: time jumps past the token's expiry without any timer firing.
  await context.clock.install();
  const first = await context.newPage();
  await openApp(first, server.url);
  await signUp(first, "tabs@example.com");
  const tabs = [first];
  for (let i = 0; i < 4; i++) {
    const page = await context.newPage();
    await openApp(page, server.url);
    await page.locator("#auth-state[data-state=signedIn]").waitFor();
    tabs.push(page);
  }
  await context.clock.pauseAt(Date.now() + 2_000);
  await context.clock.setSystemTime(Date.now() + 2_000 + 21_000);

  const refreshes = countRequests(context, "/auth/refresh");
  const tokens = await Promise.all(tabs.map((page) => page.evaluate(() => window.auth.getAccessToken())));
  assert.equal(refreshes.count, 1, "one refresh across five tabs");
  assert.equal(new Set(tokens).size, 1, "every tab ends with the same token");

  // Valid: the page's client presents it (with its DPoP proof) and the server accepts it.
  const me = await tabs[4].evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status));
  assert.equal(me, 200, "and it is valid");
  await context.close();
});

test("offline keeps the user signed in; back online it refreshes", async () => {
  const context = await browser.newContext();
  await context.clock.install();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "offline@example.com");
  await context.clock.pauseAt(Date.now() + 2_000);

  await context.setOffline(true);
  // A fresh token is still served from memory.
  assert.match(await page.evaluate(() => window.auth.getAccessToken()), /^eyJ/);
  // Past its expiry, the refresh fails, but the session and the user stay.
  await context.clock.setSystemTime(Date.now() + 2_000 + 21_000);
  const failure = await page.evaluate(() => window.auth.getAccessToken().then(() => null, (e) => ({ code: e.code, name: e.name })));
  assert.deepEqual(failure, { code: "network", name: "KeywardError" });
  assert.equal(await page.evaluate(() => window.auth.state), "offline");
  assert.equal(await page.evaluate(() => window.auth.user.email), "offline@example.com");

  const refreshes = countRequests(context, "/auth/refresh");
  await context.setOffline(false);
  await page.waitForFunction(() => window.auth?.state === "signedIn", null, { timeout: 10_000 });
  assert.equal(refreshes.count, 1, "the online event triggered the refresh");
  const me = await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status));
  assert.equal(me, 200);
  await context.close();
});

test("a refresh whose answer is lost is retried within seconds, and the user stays signed in", async () => {
  // Its own server, with a 1 s grace window: the retry arrives after it, as a retry after a
  // long timeout or an offline spell would (the security review's finding 4).
  const lossy = await startServer({ args: ["--rate-limits", "off", "--access-ttl", "20s", "--refresh-grace", "1s"] });
  const context = await browser.newContext();
  await context.clock.install();
  const page = await context.newPage();
  await openApp(page, lossy.url);
  await signUp(page, "lost-answer@example.com");
  await context.clock.pauseAt(Date.now() + 2_000);
  await context.clock.setSystemTime(Date.now() + 2_000 + 21_000);

  // The first refresh reaches the server, which rotates the token, but its answer never
  // reaches the page.
  let lost = 0;
  await context.route("**/auth/refresh", async (route) => {
    if (lost === 0) {
      lost += 1;
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  const refreshes = countRequests(context, "/auth/refresh");
  const failure = await page.evaluate(() => window.auth.getAccessToken().then(() => null, (e) => e.code));
  assert.equal(failure, "network");
  assert.equal(lost, 1);
  assert.equal(await page.evaluate(() => window.auth.state), "offline");

  // Past the server's grace window, the client's retry (2 s later on its clock) still gets the
  // successor of the token it used, and the session lives on.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await context.clock.runFor(2_500);
  await page.waitForFunction(() => window.auth?.state === "signedIn", null, { timeout: 10_000 });
  assert.equal(refreshes.count, 2, "one retry, 2 s after the lost answer");
  const me = await page.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status));
  assert.equal(me, 200);
  await context.close();
  await lossy.stop();
});

test("a session revoked from another browser signs this one out on its next refresh", async () => {
  const alice = await browser.newContext();
  const laptop = await alice.newPage();
  await openApp(laptop, server.url);
  await signUp(laptop, "revoked@example.com");

  const other = await browser.newContext();
  const phone = await other.newPage();
  await openApp(phone, server.url);
  await phone.evaluate(() => window.auth.signIn({ email: "revoked@example.com", password: "correct horse battery staple" }));
  const sessions = await phone.evaluate(() => window.manage.sessions.list());
  assert.equal(sessions.length, 2);
  const laptopSession = sessions.find((s) => !s.current);
  await phone.evaluate((id) => window.manage.sessions.revoke(id), laptopSession.id);

  // The laptop's next authenticated call is refused, its refresh is refused: signed out.
  const outcome = await laptop.evaluate(() => window.auth.fetch("/auth/me").then((r) => r.status, (e) => e.code));
  assert.equal(outcome, "session_revoked");
  await laptop.locator("#auth-state[data-state=signedOut]").waitFor();
  assert.equal(await laptop.evaluate(() => window.auth.user), null);
  // The phone is unaffected.
  assert.equal(await phone.evaluate(() => window.auth.state), "signedIn");
  await alice.close();
  await other.close();
});

test("signing out in one tab signs out the others", async () => {
  const context = await browser.newContext();
  const one = await context.newPage();
  await openApp(one, server.url);
  await signUp(one, "twotabs@example.com");
  const two = await context.newPage();
  await openApp(two, server.url);
  await two.locator("#auth-state[data-state=signedIn]").waitFor();

  await one.evaluate(() => window.auth.signOut());
  await two.locator("#auth-state[data-state=signedOut]").waitFor({ timeout: 5_000 });
  await context.close();
});

test("an IndexedDB that fails to read or write never signs the user out, and never replays an old token", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "brokendb@example.com");
  const refreshes = countRequests(context, "/auth/refresh");
  // From now on every IndexedDB read and write of this page fails (a full disk, a browser bug).
  await page.evaluate(() => {
    const broken = () => {
      throw new DOMException("the disk is full", "UnknownError");
    };
    IDBObjectStore.prototype.get = broken;
    IDBObjectStore.prototype.put = broken;
    IDBObjectStore.prototype.delete = broken;
  });
  const outcome = await page.evaluate(async () => {
    const reasons = [];
    window.auth.onChange((event) => reasons.push(event.why ? `${event.reason}:${event.why}` : event.reason));
    // Two refreshes: the second must send the first one's successor, not the token the vault
    // still holds (which the server would take as a reuse and revoke the session for).
    await window.auth.refresh();
    await window.auth.refresh();
    const me = await window.auth.fetch("/auth/me").then((r) => r.status);
    return { reasons, state: window.auth.state, me };
  });
  assert.deepEqual(outcome, { reasons: ["initial", "refreshed", "refreshed"], state: "signedIn", me: 200 });
  assert.equal(refreshes.count, 2);
  await context.close();
});

test("signing out while a refresh is in flight stays signed out", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  await signUp(page, "race@example.com");
  // The refresh's answer arrives a second late: after the user signed out.
  await page.route("**/auth/refresh", async (route) => {
    const response = await route.fetch();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await route.fulfill({ response });
  });
  const outcome = await page.evaluate(async () => {
    const refreshed = window.auth.refresh().catch((e) => e.code);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await window.auth.signOut();
    await refreshed;
    return window.auth.state;
  });
  assert.equal(outcome, "signedOut");
  await page.unroute("**/auth/refresh");
  await page.reload();
  await openApp(page, server.url);
  assert.equal(await page.evaluate(() => window.auth.state), "signedOut", "nothing was stored after the sign-out");
  await context.close();
});
