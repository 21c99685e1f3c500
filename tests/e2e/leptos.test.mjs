// The Leptos demo app (examples/leptos-app) served with the server and the example API: the tour
// a newcomer takes at http://localhost:8787.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { launchBrowser, startServer, startSmtp, totp } from "./support.mjs";

const artifacts = join(dirname(fileURLToPath(import.meta.url)), "../artifacts");
let server;
let browser;
let smtp;

before(async () => {
  smtp = await startSmtp();
  server = await startServer({ leptos: true, args: ["--smtp-url", smtp.url] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

test("sign up, see the protected page call the API, sign out, see the fallback", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${server.url}/#todos`);

  // Signed out: the protected page shows the sign-in and sign-up forms.
  const signUp = page.locator(".kw-sign-up-form");
  await signUp.waitFor({ timeout: 20_000 });
  assert.equal(await page.locator(".todo-form").count(), 0);

  await signUp.locator("input[name=name]").fill("Ada");
  await signUp.locator("input[name=email]").fill("ada@example.com");
  await signUp.locator("input[name=password]").fill("correct horse battery staple");
  await signUp.locator("button[type=submit]").click();

  // Signed in: the same page now calls the protected API (a DPoP-bound token through auth.fetch).
  await page.locator(".api-status", { hasText: "from the protected API" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.textContent(".kw-user-name"), "Ada");
  await page.fill(".todo-form input[name=title]", "Ship the demo");
  await page.click(".todo-form button[type=submit]");
  await page.locator(".todos li", { hasText: "Ship the demo" }).waitFor();
  assert.match(await page.textContent(".api-status"), /^1 todo\(s\)/);

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "leptos-signed-in.png"), fullPage: true });

  // The security page lists this session and device, marked current.
  await page.goto(`${server.url}/#security`);
  await page.locator(".kw-sessions .kw-current").waitFor();
  await page.locator(".kw-devices .kw-current").waitFor();

  await page.click(".kw-sign-out");
  await page.goto(`${server.url}/#todos`);
  await page.locator(".kw-sign-in-form").waitFor();
  assert.equal(await page.locator(".todo-form").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the sign-in form announces a wrong password", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/#todos`);
  const form = page.locator(".kw-sign-in-form");
  await form.waitFor({ timeout: 20_000 });
  await form.locator("input[name=email]").fill("nobody@example.com");
  await form.locator("input[name=password]").fill("wrong password");
  await form.locator("button[type=submit]").click();
  const alert = form.locator(".kw-error[role=alert]");
  await alert.filter({ hasText: "Wrong email or password" }).waitFor();
  await context.close();
});

test("the account lifecycle through the Leptos components, with mail over SMTP", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const email = `leptos-life-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  await page.goto(`${server.url}/#security`);
  const signUp = page.locator(".kw-sign-up-form");
  await signUp.waitFor({ timeout: 20_000 });
  await signUp.locator("input[name=email]").fill(email);
  await signUp.locator("input[name=password]").fill(password);
  await signUp.locator("button[type=submit]").click();

  // Not verified yet: the security page says so. The mailed link, opened here, confirms it.
  await page.locator(".kw-verify-email[data-state=unverified]").waitFor({ timeout: 10_000 });
  const verification = await smtp.mail(email);
  await page.goto(verification.link);
  // Nothing happens before the click (a scanner running the page confirms nothing).
  await page.locator(".kw-verify-email[data-state=ready] .kw-link-confirm:enabled").waitFor({ timeout: 15_000 });
  await page.click(".kw-verify-email .kw-link-confirm");
  await page.locator(".kw-verify-email[data-state=done]").waitFor({ timeout: 15_000 });
  assert.ok(!page.url().includes("token="), `the token left the address bar: ${page.url()}`);

  // Two-factor: the QR code, the first code, ten recovery codes.
  await page.goto(`${server.url}/#security`);
  await page.click(".kw-mfa-start");
  const secret = (await page.locator(".kw-mfa-secret").textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok((await page.locator(".kw-mfa-qr").getAttribute("src")).startsWith("data:image/svg+xml,"));
  await page.fill(".kw-mfa-confirm-form input[name=code]", totp(secret));
  await page.click(".kw-mfa-confirm-form button[type=submit]");
  await page.locator(".kw-mfa-setup[data-state=on]").waitFor();
  const recovery = (await page.locator(".kw-recovery-codes li").allTextContents()).map((c) => c.trim());
  assert.equal(recovery.length, 10);

  // A new password (the sign-up was recent).
  const newPassword = "a brand new passphrase";
  await page.fill(".kw-change-password input[name=current-password]", password);
  await page.fill(".kw-change-password input[name=new-password]", newPassword);
  await page.click(".kw-change-password button[type=submit]");
  await page.locator(".kw-change-password .kw-notice", { hasText: "Password changed" }).waitFor();

  // Sign out, sign in: the password, then the app's next code.
  await page.click(".kw-sign-out");
  const signIn = page.locator(".kw-sign-in-form");
  await signIn.waitFor();
  await signIn.locator("input[name=email]").fill(email);
  await signIn.locator("input[name=password]").fill(newPassword);
  await signIn.locator("button[type=submit]").click();
  await page.locator(".kw-mfa-challenge").waitFor();
  assert.equal(await page.locator(".kw-sign-in-form").isHidden(), true);
  await page.fill(".kw-mfa-code-form input[name=code]", totp(secret, 1));
  await page.click(".kw-mfa-code-form button[type=submit]");
  await page.locator(".kw-mfa-setup").waitFor();

  // Back signed out, the form remembers the address and the method.
  await page.click(".kw-sign-out");
  await page.reload();
  await page.locator(".kw-sign-in-form .kw-last-used").waitFor({ timeout: 20_000 });
  assert.equal(await page.inputValue(".kw-sign-in-form input[name=email]"), email);
  await context.close();

  // A fresh browser signs in by the magic link's code, then a recovery code.
  const fresh = await browser.newContext();
  const other = await fresh.newPage();
  other.on("pageerror", (error) => errors.push(error.message));
  await other.goto(`${server.url}/#todos`);
  await other.locator(".kw-sign-in-by-mail summary").click({ timeout: 20_000 });
  await other.fill(".kw-magic-link-form input[name=email]", email);
  await other.click(".kw-magic-link-form button[type=submit]");
  const magic = await smtp.mail(email, 1, /sign-in link/);
  await other.fill(".kw-magic-code-form input[name=code]", magic.code);
  await other.click(".kw-magic-code-form button[type=submit]");
  await other.locator(".kw-mfa-challenge").waitFor();
  await other.fill(".kw-mfa-recovery-form input[name=recovery-code]", recovery[0]);
  await other.click(".kw-mfa-recovery-form button[type=submit]");
  await other.locator(".api-status", { hasText: "from the protected API" }).waitFor({ timeout: 10_000 });
  await fresh.close();

  // Forgotten password: the mailed link opens a form; the new password signs in.
  const third = await browser.newContext();
  const reset = await third.newPage();
  reset.on("pageerror", (error) => errors.push(error.message));
  await reset.goto(`${server.url}/#todos`);
  await reset.locator(".kw-forgot summary").click({ timeout: 20_000 });
  await reset.fill(".kw-forgot-password input[name=email]", email);
  await reset.click(".kw-forgot-password button[type=submit]");
  await reset.locator(".kw-forgot-password .kw-notice", { hasText: "reset link" }).waitFor();
  const mail = await smtp.mail(email, 1, /^Reset/);
  await reset.goto(mail.link);
  await reset.fill(".kw-reset-password input[name=new-password]", "the third passphrase");
  await reset.click(".kw-reset-password button[type=submit]");
  await reset.locator(".kw-reset-password[data-state=done]").waitFor();
  assert.ok(!reset.url().includes("token="));
  const form = reset.locator(".kw-sign-in-form");
  await form.locator("input[name=email]").fill(email);
  await form.locator("input[name=password]").fill("the third passphrase");
  await form.locator("button[type=submit]").click();
  await reset.locator(".kw-mfa-challenge").waitFor();
  await reset.fill(".kw-mfa-recovery-form input[name=recovery-code]", recovery[1]);
  await reset.click(".kw-mfa-recovery-form button[type=submit]");
  await reset.locator(".kw-user-menu").waitFor();

  // A new address, confirmed from its mail in this browser (the one that asked).
  const moved = `moved-${Date.now()}@example.com`;
  await reset.goto(`${server.url}/#security`);
  await reset.fill(".kw-change-email input[name=new-email]", moved);
  await reset.click(".kw-change-email button[type=submit]");
  await reset.locator(".kw-change-email .kw-notice", { hasText: moved }).waitFor();
  const change = await smtp.mail(moved);
  await reset.goto(change.link);
  await reset.click(".kw-confirm-email-change .kw-link-confirm");
  await reset.locator(".kw-confirm-email-change[data-state=done]", { hasText: moved }).waitFor();
  await reset.locator(".kw-user-name", { hasText: moved }).waitFor();
  assert.deepEqual(errors, []);
  await third.close();
});
