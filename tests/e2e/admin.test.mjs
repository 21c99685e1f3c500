// An admin console on keyward/admin, in Chromium: its user signs in with their own session and
// acts for the server's admin organization (`--admin-org`). They find users page by page,
// disable one (whose sessions end at once and who cannot sign in), enable them again, read
// the audit log that names them, and manage a webhook endpoint. Without the admin organization
// as the session's active one, and for an ordinary user, every call is refused.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { keywardCli, launchBrowser, startServer } from "./support.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const PASSWORD = "correct horse battery staple";
let dir;
let server;
let browser;
let adminOrg;

/** `data` of a JSON request to `base`'s auth API (with a Bearer token when given). */
async function api(base, method, path, body, token) {
  const response = await fetch(`${base}/auth${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => null);
  return { status: response.status, data: json?.data, code: json?.error?.code };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-admin-"));
  // The console's page, with the package as published under /pkg/.
  const site = join(dir, "site");
  cpSync(join(root, "tests/e2e/fixtures/admin"), site, { recursive: true });
  symlinkSync(join(root, "npm/pkg"), join(site, "pkg"));
  const databaseUrl = `sqlite://${join(dir, "keyward.db")}`;
  // The operators' organization is made first; the server is then started naming it.
  const first = await startServer({ site, databaseUrl });
  const operator = await api(first.url, "POST", "/sign-up", { email: "operator@example.com", password: PASSWORD });
  const made = await api(first.url, "POST", "/orgs", { name: "Operators" }, operator.data.tokens.access_token);
  assert.equal(made.status, 201, JSON.stringify(made));
  adminOrg = made.data.org.id;
  for (const n of [1, 2, 3, 4, 5]) {
    const user = await api(first.url, "POST", "/sign-up", { email: `ada${n}@example.com`, password: PASSWORD });
    assert.equal(user.status, 201, JSON.stringify(user));
  }
  await first.stop();
  // Webhooks to this machine (nothing is delivered: the endpoint is made, changed and removed).
  const env = { KEYWARD_WEBHOOK_ALLOW_PRIVATE: "true" };
  server = await startServer({ site, databaseUrl, env, args: ["--admin-org", adminOrg] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openConsole(email) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(server.url);
  await page.locator("body[data-state=ready]").waitFor({ state: "attached", timeout: 15_000 });
  await page.evaluate(([email, password]) => window.auth.signIn({ email, password }), [email, PASSWORD]);
  return page;
}

test("an operator pages through users, disables and enables one, reads the audit log and manages a webhook", async () => {
  const page = await openConsole("operator@example.com");
  // Signed in, but acting for no organization: the admin API refuses the session.
  assert.deepEqual(await page.evaluate(() => window.admin.users().catch((e) => e.code)), "forbidden");
  await page.evaluate((id) => window.orgs.activate(id), adminOrg);

  // Two at a time: every Ada once, in the order they signed up.
  const seen = [];
  let cursor;
  do {
    const page2 = await page.evaluate((cursor) => window.admin.users({ query: "ADA", limit: 2, cursor }), cursor);
    assert.ok(page2.users.length <= 2);
    seen.push(...page2.users.map((u) => u.email));
    cursor = page2.nextCursor;
  } while (cursor);
  assert.deepEqual(seen, [1, 2, 3, 4, 5].map((n) => `ada${n}@example.com`));

  const ada = (await page.evaluate(() => window.admin.users({ query: "ada3" }))).users[0];
  assert.equal(ada.email, "ada3@example.com");
  // By when they were made: Ada 3 and those after her.
  const since = await page.evaluate((at) => window.admin.users({ query: "ada", createdSince: at }), ada.createdAt);
  assert.deepEqual(since.users.map((u) => u.email), [3, 4, 5].map((n) => `ada${n}@example.com`));
  assert.equal(ada.disabledAt, undefined);
  // Ada signs in elsewhere (her sign-up's session is live too), then is disabled: her sessions
  // end at once and she cannot sign in.
  const signedUp = (await page.evaluate((id) => window.admin.user(id), ada.id)).sessions.length;
  const session = await api(server.url, "POST", "/sign-in", { email: ada.email, password: PASSWORD });
  assert.equal(session.status, 200);
  const detail = await page.evaluate((id) => window.admin.user(id), ada.id);
  assert.equal(detail.user.email, ada.email);
  assert.equal(detail.sessions.length, signedUp + 1);
  assert.ok(detail.user.lastSignInAt, "the last sign-in, in camelCase");
  const disabled = await page.evaluate((id) => window.admin.disable(id), ada.id);
  assert.equal(disabled.ended, signedUp + 1);
  assert.ok(disabled.user.disabledAt);
  assert.equal((await api(server.url, "GET", "/me", undefined, session.data.tokens.access_token)).status, 401);
  const refused = await api(server.url, "POST", "/sign-in", { email: ada.email, password: PASSWORD });
  assert.equal(refused.code, "account_disabled");
  // The command line, on the same database, sees what the console did.
  assert.match(await keywardCli(server, ["users", "show", ada.id]), /disabled/);

  const enabled = await page.evaluate((id) => window.admin.enable(id), ada.id);
  assert.equal(enabled.disabledAt, undefined);
  assert.equal((await api(server.url, "POST", "/sign-in", { email: ada.email, password: PASSWORD })).status, 200);

  // The audit log names the operator as the one who disabled her.
  const me = await page.evaluate(() => window.auth.user.id);
  const audit = await page.evaluate((id) => window.admin.audit({ userId: id, kind: "admin_disabled_user" }), ada.id);
  assert.equal(audit.events.length, 1);
  assert.equal(audit.events[0].userId, ada.id);
  assert.equal(audit.events[0].detail.adminUser, me);
  // Her own sign-ins, and nobody else's.
  const signIns = await page.evaluate((id) => window.admin.audit({ userId: id, kind: "sign_in" }), ada.id);
  assert.equal(signIns.events.length, 2, JSON.stringify(signIns.events));
  assert.ok(signIns.events.every((event) => event.userId === ada.id && event.kind === "sign_in"));

  // A webhook endpoint: its secret shown once, listed without it, changed, rotated, removed.
  const hook = await page.evaluate(() =>
    window.admin.webhooks.create({ url: "http://127.0.0.1:9/keyward", events: ["user.disabled"] }),
  );
  assert.match(hook.secret, /^whsec_/);
  const listed = await page.evaluate(() => window.admin.webhooks.list());
  assert.deepEqual(listed.map((e) => [e.id, e.events, "secret" in e]), [[hook.id, ["user.disabled"], false]]);
  const every = await page.evaluate((id) => window.admin.webhooks.update(id, { events: null }), hook.id);
  assert.equal(every.events, undefined, "every event type");
  const rotated = await page.evaluate((id) => window.admin.webhooks.rotateSecret(id), hook.id);
  assert.notEqual(rotated.secret, hook.secret);
  assert.ok(rotated.previousSecretUntil);
  assert.deepEqual(await page.evaluate((id) => window.admin.webhooks.deliveries(id), hook.id), { deliveries: [] });
  await page.evaluate((id) => window.admin.webhooks.remove(id), hook.id);
  assert.deepEqual(await page.evaluate(() => window.admin.webhooks.list()), []);
  assert.equal(
    await page.evaluate(() => window.admin.webhooks.create({ url: "not a url" }).catch((e) => e.code)),
    "invalid_request",
  );
});

test("an ordinary user's session is refused by every admin call, and changes nothing", async () => {
  const page = await openConsole("ada5@example.com");
  const ada = await page.evaluate(() => window.auth.user);
  const refusals = await page.evaluate(async (id) => {
    const hooks = window.admin.webhooks;
    const calls = [
      () => window.admin.users(),
      () => window.admin.user(id),
      () => window.admin.endSessions(id),
      () => window.admin.disable(id),
      () => window.admin.enable(id),
      () => window.admin.remove(id),
      () => window.admin.passwordReset(id),
      () => window.admin.audit(),
      () => hooks.create({ url: "https://hooks.example.com/x" }),
      () => hooks.list(),
      () => hooks.update("whe_x", { events: null }),
      () => hooks.remove("whe_x"),
      () => hooks.enable("whe_x"),
      () => hooks.rotateSecret("whe_x"),
      () => hooks.deliveries("whe_x"),
      () => hooks.test("whe_x"),
      () => hooks.redeliver("whe_x", 1),
    ];
    return Promise.all(calls.map((call) => call().then(() => "allowed", (e) => e.code)));
  }, ada.id);
  assert.deepEqual(refusals, Array(17).fill("forbidden"));
  // Still signed in, still able to sign in.
  assert.equal(await page.evaluate(() => window.auth.state), "signedIn");
  assert.equal((await api(server.url, "POST", "/sign-in", { email: ada.email, password: PASSWORD })).status, 200);
});
