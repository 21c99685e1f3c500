// The second edition's client surface in Chromium, against the example API (Keyward's router
// merged into an app with its own routes and a WebSocket) serving the vanilla demo app: tokens
// for other HTTP clients (createProof), connect tickets for WebSockets, `fetch` only to listed
// origins, the caller's AbortSignal, no timeout of ours on the app's API, and the events.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { launchBrowser, openApp, signUp, startServer } from "./support.mjs";

let server;
let browser;
let slow;

before(async () => {
  server = await startServer({ leptos: true, site: process.env.KEYWARD_DEMO_DIR, args: ["--rate-limits", "off"] });
  browser = await launchBrowser();
  // Another origin: an API that answers `/slow?ms=N` after N ms, with CORS for the demo page.
  slow = createServer((request, response) => {
    const cors = {
      "access-control-allow-origin": server.url,
      "access-control-allow-headers": "authorization, dpop",
      "access-control-allow-methods": "GET",
    };
    if (request.method === "OPTIONS") return response.writeHead(204, cors).end();
    slow.requests += 1;
    const ms = Number(new URL(request.url, "http://x").searchParams.get("ms") ?? 0);
    const timer = setTimeout(() => response.writeHead(200, { ...cors, "content-type": "text/plain" }).end(`waited ${ms}`), ms);
    response.on("close", () => clearTimeout(timer));
  });
  slow.requests = 0;
  await new Promise((resolve) => slow.listen(0, "127.0.0.1", resolve));
  slow.url = `http://127.0.0.1:${slow.address().port}`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  slow?.closeAllConnections();
  await new Promise((resolve) => slow?.close(resolve));
});

async function signedInPage(email) {
  const page = await (await browser.newContext()).newPage();
  await openApp(page, server.url);
  await signUp(page, email);
  await page.locator("#auth-state[data-state=signedIn]").waitFor();
  return page;
}

test("createAuthClient returns at once in `loading`; awaiting it gives the restored client", async () => {
  const page = await signedInPage("ready@example.com");
  const seen = await page.evaluate(async () => {
    const auth = window.keyward.createAuthClient({ serverUrl: `${location.origin}/auth` });
    const first = auth.state;
    const reasons = [];
    auth.onChange((event) => reasons.push(`${event.reason}:${event.state}`));
    const awaited = await auth;
    return { first, same: awaited === auth, after: auth.state, email: auth.user?.email, reasons };
  });
  assert.deepEqual(seen, {
    first: "loading",
    same: true,
    after: "signedIn",
    email: "ready@example.com",
    reasons: ["initial:loading", "restored:signedIn"],
  });
});

test("a proof from createProof is accepted by the example API for that method and URL only", async () => {
  const page = await signedInPage("proof@example.com");
  const user = await page.evaluate(() => window.auth.user);
  const proof = () => page.evaluate((url) => window.auth.createProof("GET", url), `${server.url}/api/whoami`);

  const headers = await proof();
  assert.match(headers.Authorization, /^DPoP eyJ/, "the session is device-bound");
  assert.match(headers.DPoP, /^eyJ/);
  const ok = await fetch(`${server.url}/api/whoami`, { headers });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).user_id, user.id);

  assert.equal((await fetch(`${server.url}/api/whoami`, { headers })).status, 401, "a proof is single use");
  assert.equal((await fetch(`${server.url}/api/todos`, { headers: await proof() })).status, 401, "another URL");
  const post = await fetch(`${server.url}/api/whoami`, { method: "POST", headers: await proof() });
  assert.ok(post.status === 401 || post.status === 405, `another method is refused (got ${post.status})`);
  const bearer = await fetch(`${server.url}/api/whoami`, { headers: { authorization: (await proof()).Authorization.replace("DPoP", "Bearer") } });
  assert.equal(bearer.status, 401, "the token alone, without a proof, is refused");

  const elsewhere = await page.evaluate(() =>
    window.auth.createProof("GET", "https://evil.example.com/steal").then(() => null, (e) => ({ code: e.code, keyward: e instanceof window.keyward.KeywardError })),
  );
  assert.deepEqual(elsewhere, { code: "origin_not_allowed", keyward: true });
});

test("fetch to an origin not listed is refused without a request, and the session stays", async () => {
  const page = await signedInPage("origins@example.com");
  const before = slow.requests;
  const outcome = await page.evaluate((url) =>
    window.auth.fetch(`${url}/slow?ms=0`).then(() => "sent", (e) => ({ code: e.code, message: e.message, state: window.auth.state })),
    slow.url,
  );
  assert.equal(outcome.code, "origin_not_allowed");
  assert.match(outcome.message, /apiOrigins/);
  assert.equal(outcome.state, "signedIn");
  assert.equal(slow.requests, before, "nothing reached the unlisted origin");
});

test("a caller's AbortSignal aborts fetch as fetch does, and the state stays signedIn", async () => {
  const page = await signedInPage("abort@example.com");
  const outcome = await page.evaluate(async (api) => {
    const auth = await window.keyward.createAuthClient({ serverUrl: `${location.origin}/auth`, apiOrigins: [api] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = await auth.fetch(`${api}/slow?ms=20000`, { signal: controller.signal }).then(() => null, (e) => e);
    return { name: error?.name, state: auth.state, pageState: window.auth.state };
  }, slow.url);
  assert.deepEqual(outcome, { name: "AbortError", state: "signedIn", pageState: "signedIn" });
});

/** Opens a WebSocket in `page`: its first message, or how it failed. */
function connect(page, url) {
  return page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const socket = new WebSocket(url);
        socket.onmessage = (event) => {
          resolve({ message: JSON.parse(event.data) });
          socket.close();
        };
        socket.onerror = () => resolve({ refused: true });
      }),
    url,
  );
}

test("a WebSocket accepts a connect ticket once; replayed or for another URL it is refused", async () => {
  const page = await signedInPage("socket@example.com");
  const user = await page.evaluate(() => window.auth.user);
  const ws = `${server.url.replace("http", "ws")}/ws`;
  const ticket = await page.evaluate((url) => window.auth.connectTicket(url), ws);
  assert.deepEqual(await connect(page, `${ws}?ticket=${ticket}`), { message: { user_id: user.id } });
  assert.deepEqual(await connect(page, `${ws}?ticket=${ticket}`), { refused: true }, "replayed");
  const other = await page.evaluate((url) => window.auth.connectTicket(url), `${server.url.replace("http", "ws")}/elsewhere`);
  assert.deepEqual(await connect(page, `${ws}?ticket=${other}`), { refused: true }, "issued for another URL");
  const unlisted = await page.evaluate(() => window.auth.connectTicket("wss://evil.example.com/ws").then(() => null, (e) => e.code));
  assert.equal(unlisted, "origin_not_allowed");
});

test("a 30 s response from the app's API is not a network error; a ticket 31 s old is refused", async () => {
  const page = await signedInPage("patience@example.com");
  const ws = `${server.url.replace("http", "ws")}/ws`;
  const late = await page.evaluate((url) => window.auth.connectTicket(url), ws);
  const waited = page.evaluate(async (api) => {
    const auth = await window.keyward.createAuthClient({ serverUrl: `${location.origin}/auth`, apiOrigins: [api] });
    const states = new Set();
    auth.onChange((event) => states.add(event.state));
    const response = await auth.fetch(`${api}/slow?ms=30000`).then((r) => r.text(), (e) => `failed: ${e.code}`);
    return { response, states: [...states] };
  }, slow.url);
  await new Promise((resolve) => setTimeout(resolve, 31_000));
  assert.deepEqual(await connect(page, `${ws}?ticket=${late}`), { refused: true }, "a ticket is good for 30 s");
  assert.deepEqual(await waited, { response: "waited 30000", states: ["signedIn"] });
  const fresh = await page.evaluate((url) => window.auth.connectTicket(url), ws);
  assert.ok((await connect(page, `${ws}?ticket=${fresh}`)).message, "a fresh ticket still connects");
});

test("events say why; snapshots are stable; a throwing listener is reported, not swallowed", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openApp(page, server.url);
  const other = await context.newPage();
  await openApp(other, server.url);
  await page.evaluate(() => {
    window.events = [];
    window.reported = [];
    window.auth.addEventListener("error", (event) => window.reported.push(event.error.message));
    window.auth.onChange(() => {
      throw new Error("a listener's bug");
    });
    window.auth.onChange((event) => window.events.push(event.why ? `${event.reason}:${event.why}` : event.reason));
  });
  await signUp(page, "events@example.com");
  const stable = await page.evaluate(async () => {
    const before = window.auth.snapshot;
    const same = before === window.auth.snapshot && window.auth.user === window.auth.user;
    await window.auth.refresh();
    const after = window.auth.snapshot;
    return { same, changed: before !== after, userKept: before.user === after.user, frozen: Object.isFrozen(after) };
  });
  assert.deepEqual(stable, { same: true, changed: true, userKept: true, frozen: true });
  await other.locator("#auth-state[data-state=signedIn]").waitFor();
  await other.evaluate(() => window.auth.signOut());
  await page.locator("#auth-state[data-state=signedOut]").waitFor();
  const seen = await page.evaluate(() => ({ events: window.events, reported: window.reported }));
  assert.deepEqual(seen.events, ["initial", "signedIn", "refreshed", "signedOut:otherTab"]);
  // Reported once per call (the four above), and the other listener still heard each change.
  assert.deepEqual(seen.reported, Array(4).fill("a listener's bug"));
  const error = await page.evaluate(() =>
    window.auth.signIn({ email: "events@example.com", password: "wrong password" }).catch((e) => ({
      instance: e instanceof window.keyward.KeywardError,
      guard: window.keyward.isKeywardError(e),
      code: e.code,
      status: e.status,
    })),
  );
  assert.deepEqual(error, { instance: true, guard: true, code: "invalid_credentials", status: 401 });
});
