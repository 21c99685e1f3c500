// The Leptos demo app's provider sign-in and linked accounts (keyward-leptos OAuthButtons and
// LinkedAccounts, over the Rust client), against a real OpenID Connect provider (oidc-provider
// from npm): a new account by the provider, then a password account that links and unlinks it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { freePort, launchBrowser, startOidcProvider, startServer } from "./support.mjs";

let server;
let provider;
let browser;

before(async () => {
  const port = await freePort();
  provider = await startOidcProvider(`http://localhost:${port}/auth/oauth/test/callback`);
  server = await startServer({
    leptos: true,
    port,
    env: provider.env(),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  provider?.stop();
});

test("Continue with the provider makes an account whose only way in cannot be unlinked", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await provider.next({ sub: "leo", email: "leo@example.com", email_verified: true, name: "Leo" });
  await page.goto(`${server.url}/#security`);
  const button = page.locator(".kw-oauth-provider[data-provider=test]");
  await button.waitFor({ timeout: 20_000 });
  assert.equal(await button.textContent(), "Continue with Test provider");
  await button.click();

  // Back on the security page, signed in, the provider listed; the code left the address.
  // Named as the provider calls itself, whether the account's identities or the providers'
  // list arrived first (the row kept the provider's id when the identities came first).
  const linked = page.locator(".kw-identities li[data-provider=test]", { hasText: "Test provider" });
  await linked.waitFor({ timeout: 20_000 });
  assert.match(await linked.textContent(), /Test provider.*leo@example\.com/);
  assert.ok(page.url().endsWith("/#security"), page.url());
  await linked.locator(".kw-unlink").click();
  await page.locator(".kw-linked-accounts .kw-error", { hasText: "last way to sign in" }).waitFor();
  assert.equal(await page.locator(".kw-identities li").count(), 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a password account links the provider from the security page, and unlinks it", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/#security`);
  const signUp = page.locator(".kw-sign-up-form");
  await signUp.waitFor({ timeout: 20_000 });
  await signUp.locator("input[name=email]").fill("mia@example.com");
  await signUp.locator("input[name=password]").fill("correct horse battery staple");
  await signUp.locator("button[type=submit]").click();

  await provider.next({ sub: "mia", email: "mia@example.com", email_verified: true });
  await page.locator(".kw-link-provider[data-provider=test]").click({ timeout: 20_000 });
  const linked = page.locator(".kw-identities li[data-provider=test]");
  await linked.waitFor({ timeout: 20_000 });
  assert.equal(await page.locator(".kw-link-provider").count(), 0, "a linked provider is not offered again");
  await linked.locator(".kw-unlink").click();
  await page.locator(".kw-link-provider[data-provider=test]").waitFor();
  assert.equal(await page.locator(".kw-identities li").count(), 0);
  await context.close();
});
