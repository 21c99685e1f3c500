// Sign-in with an OpenID Connect provider, in Chromium, from a page on another origin than the
// auth server, against a real provider (oidc-provider from npm): the session ends up bound to
// the browser's device key, and no token ever appears in an address.
import assert from "node:assert/strict";
import { createReadStream, existsSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { freePort, launchBrowser, startOidcProvider, startServer } from "./support.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
let server;
let provider;
let browser;
let spa;
let spaServer;

/** The test's app: its page, and the package under /pkg/. */
async function serveApp() {
  const port = await freePort();
  const types = { ".html": "text/html", ".js": "text/javascript" };
  const site = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = path.startsWith("/pkg/") ? join(root, "npm", path) : join(root, "tests/e2e/fixtures/oauth/index.html");
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => site.listen(port, "127.0.0.1", resolve));
  return [site, `http://127.0.0.1:${port}`];
}

before(async () => {
  [spaServer, spa] = await serveApp();
  const port = await freePort();
  provider = await startOidcProvider(`http://localhost:${port}/auth/oauth/test/callback`);
  server = await startServer({
    port,
    // Passkeys are not part of this test: their origins stay the server's own.
    args: ["--allowed-origins", spa, "--rp-origins", `http://localhost:${port}`],
    env: provider.env(),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  provider?.stop();
  spaServer?.close();
});

test("a page on another origin signs in with the provider and gets a device-bound session", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const addresses = [];
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("framenavigated", (frame) => frame === page.mainFrame() && addresses.push(frame.url()));
  await provider.next({ sub: "grace", email: "grace@example.com", email_verified: true, name: "Grace" });
  const app = `${spa}/?server=${encodeURIComponent(server.url)}`;
  await page.goto(app);
  await page.locator("body[data-state=signedOut]").waitFor({ state: "attached", timeout: 15_000 });
  assert.deepEqual(await page.evaluate(() => window.oauth.providers()), [{ id: "test", name: "Test provider" }]);

  // A provider id of ".." would not stay one segment: the browser would leave for the server's
  // `/start` instead of a provider's. The client refuses it and the page stays.
  const here = page.url();
  const refused = await page.evaluate(() => window.oauth.signIn("..").then(() => "left", (e) => `${e.code} ${e.status ?? "unsent"}`));
  assert.equal(refused, "invalid_request unsent");
  assert.equal(page.url(), here);

  await page.evaluate(() => window.oauth.signIn("test")).catch(() => {}); // the page leaves
  await page.locator("body[data-state=signedIn]").waitFor({ state: "attached", timeout: 20_000 });
  const outcome = JSON.parse(await page.getAttribute("body", "data-outcome"));
  assert.equal(outcome.user.email, "grace@example.com");
  assert.equal(outcome.user.emailVerified, true);
  assert.ok(!page.url().includes("keyward_code"), `the code left the address bar: ${page.url()}`);
  assert.ok(addresses.some((a) => a.includes("keyward_code=kwo_")), "the app got a code");
  assert.ok(!addresses.some((a) => /access_token|id_token|refresh_token/.test(a)), addresses.join("\n"));

  // Bound to this browser's device key, like any other session.
  const claims = await page.evaluate(() =>
    window.auth.getAccessToken().then((t) => JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))),
  );
  assert.ok(claims.cnf?.jkt, JSON.stringify(claims));
  assert.deepEqual(claims.amr, ["fed"]);

  // A reload stays signed in, and finds no sign-in to finish (the code left the address).
  await page.reload();
  await page.locator("body[data-state=signedIn]").waitFor({ state: "attached", timeout: 15_000 });
  assert.equal(await page.getAttribute("body", "data-outcome"), JSON.stringify({ user: null }));
  assert.deepEqual(errors, []);
  await context.close();
});

test("a signed-in user links the provider, signs in with it, and unlinks it", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const email = `linker-${Date.now()}@example.com`;
  await page.goto(`${spa}/?server=${encodeURIComponent(server.url)}`);
  await page.locator("body[data-state=signedOut]").waitFor({ state: "attached", timeout: 15_000 });
  const user = await page.evaluate((email) => window.auth.signUp({ email, password: "correct horse battery staple" }), email);

  // The provider's account is linked by this session, from the page it comes back to.
  await provider.next({ sub: "linker", email, email_verified: true });
  await page.evaluate(() => window.oauth.link("test")).catch(() => {}); // the page leaves
  await page.locator("body[data-outcome]").waitFor({ state: "attached", timeout: 20_000 });
  const { user: outcome } = JSON.parse(await page.getAttribute("body", "data-outcome"));
  assert.equal(outcome?.linked?.provider, "test", JSON.stringify(outcome));
  assert.equal(outcome.linked.email, email);
  assert.ok(!page.url().includes("keyward_code"), page.url());
  const listed = await page.evaluate(() => window.identities.list());
  assert.deepEqual(listed.map((i) => [i.id, i.provider]), [[outcome.linked.id, "test"]]);

  // Signed out, the provider signs in to this account.
  await page.evaluate(() => window.auth.signOut());
  await page.evaluate(() => window.oauth.signIn("test")).catch(() => {});
  await page.locator("body[data-state=signedIn]").waitFor({ state: "attached", timeout: 20_000 });
  const signedIn = JSON.parse(await page.getAttribute("body", "data-outcome"));
  assert.equal(signedIn.user.id, user.id);

  // Unlinked, it is gone from the list (the password is still a way in).
  await page.evaluate((id) => window.identities.unlink(id), outcome.linked.id);
  assert.deepEqual(await page.evaluate(() => window.identities.list()), []);
  await context.close();
});

test("a code sent to a page that did not start the sign-in does not sign it in (login CSRF)", { timeout: 60_000 }, async () => {
  // The attacker's own sign-in, stopped before their page uses the code.
  await provider.next({ sub: "mallory", email: "mallory@example.com", email_verified: true });
  const attacker = await browser.newContext();
  const theirs = await attacker.newPage();
  await theirs.route(`${spa}/**`, (route) =>
    route.request().url().includes("keyward_code=") ? route.abort() : route.continue(),
  );
  await theirs.goto(`${spa}/?server=${encodeURIComponent(server.url)}`);
  await theirs.locator("body[data-state=signedOut]").waitFor({ state: "attached", timeout: 15_000 });
  const request = theirs.waitForRequest((r) => r.url().includes("keyward_code="));
  await theirs.evaluate(() => window.oauth.signIn("test")).catch(() => {});
  const link = (await request).url();
  await theirs.unrouteAll({ behavior: "ignoreErrors" });
  await attacker.close();

  // The victim opens it.
  const victim = await browser.newContext();
  const page = await victim.newPage();
  await page.goto(link);
  await page.locator("body[data-state]:not([data-state=loading])").waitFor({ state: "attached", timeout: 15_000 });
  assert.deepEqual(JSON.parse(await page.getAttribute("body", "data-outcome")), { error: "invalid_state" });
  assert.equal(await page.getAttribute("body", "data-state"), "signedOut");
  await victim.close();
});

test("a page outside the allowed origins cannot start a sign-in", async () => {
  const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  const reply = await fetch(`${server.url}/auth/oauth/test/start?redirect_to=${encodeURIComponent("https://evil.example/")}&code_challenge=${challenge}`, { redirect: "manual" });
  assert.equal(reply.status, 403);
  assert.equal((await reply.json()).error.code, "redirect_not_allowed");
});
