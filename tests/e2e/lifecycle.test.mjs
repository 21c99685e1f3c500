// The account lifecycle in Chromium, through the demo app on the npm package, with mail really
// sent over SMTP (aiosmtpd) and read back here: sign up → verify the address from the mail →
// turn on TOTP (codes computed here, as an authenticator app would) → sign in with password and
// code → sign in with a recovery code; forget the password → reset it from the mail → sign in;
// and a magic-link sign-in in a fresh browser by the mail's code, and by its link.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchBrowser, openApp, startServer, startSmtp, totp, waitForState as state } from "./support.mjs";

let server;
let browser;
let smtp;

before(async () => {
  smtp = await startSmtp();
  server = await startServer({ args: ["--smtp-url", smtp.url] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

test("sign up, verify the address from the mail, turn on TOTP, sign in with a code, then with a recovery code", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const email = `life-${Date.now()}@example.com`;
  await openApp(page, server.url);
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-up");
  await state(page, "signedIn");
  await page.locator("#email-status[data-verified=false]").waitFor();

  const verification = await smtp.mail(email);
  assert.match(verification.subject, /^Confirm your email address/);
  assert.ok(verification.link.startsWith(`${server.url}/?type=verify_email&token=kwl_`), verification.link);
  // A scanner's GET of the link changes nothing: the page has to POST the token.
  assert.equal((await fetch(verification.link)).status, 200);
  assert.equal((await page.evaluate(() => window.auth.reloadUser())).emailVerified, false);
  await page.goto(verification.link);
  // Nothing happens before the click (a scanner running the page confirms nothing).
  await page.locator("#link-confirm", { hasText: "Confirm my email address" }).waitFor();
  assert.equal((await page.evaluate(() => window.auth.reloadUser())).emailVerified, false);
  await page.click("#link-confirm");
  await page.locator("#email-status[data-verified=true]").waitFor({ timeout: 15_000 });
  assert.ok(!page.url().includes("token="), `the token left the address bar: ${page.url()}`);

  // Two-factor authentication, set up as a user would: the QR code shows, the app's first code turns it on.
  await page.click("#mfa-enrol");
  await page.locator("#mfa-setup").waitFor({ state: "visible" });
  const secret = await page.locator("#mfa-secret").textContent();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok((await page.locator("#mfa-qr").getAttribute("src")).startsWith("data:image/svg+xml"));
  await page.fill("#mfa-confirm-code", totp(secret));
  await page.click("#mfa-confirm");
  await page.locator("#recovery-codes li").first().waitFor();
  const recovery = await page.locator("#recovery-codes li").allTextContents();
  assert.equal(recovery.length, 10);

  // Password, then the app's next code (the first one is used). The code form shows only once
  // the sign-in asks for it.
  await page.click("#sign-out");
  await state(page, "signedOut");
  assert.ok(await page.locator("#mfa-form").isHidden(), "the code form shows before any sign-in asked for a code");
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-in");
  await page.locator("#mfa-form").waitFor({ state: "visible" });
  assert.equal(await page.locator("#auth-state").getAttribute("data-state"), "signedOut");
  await page.fill("#mfa-code", totp(secret, 1));
  await page.click("#mfa-verify");
  await state(page, "signedIn");

  // Password, then a recovery code; the same code again is refused.
  await page.click("#sign-out");
  await state(page, "signedOut");
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-in");
  await page.locator("#mfa-form").waitFor({ state: "visible" });
  await page.fill("#recovery-code", recovery[0]);
  await page.click("#mfa-recover");
  await state(page, "signedIn");

  // A step-up from this session (another recovery code): its new tokens are recent.
  const claims = () =>
    page.evaluate(() => window.auth.getAccessToken().then((t) => JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))));
  const before = await claims();
  await page.waitForTimeout(1100);
  await page.evaluate((code) => window.lifecycle.mfa.stepUp(code), recovery[1]);
  const after = await claims();
  assert.ok(after.auth_time > before.auth_time, `auth_time ${before.auth_time} → ${after.auth_time}`);
  assert.equal(after.aal, 2);
  assert.ok(after.amr.includes("otp"), after.amr);
  const spent = await page.evaluate((code) => window.lifecycle.mfa.stepUp(code).then(() => "ok", (e) => e.code), recovery[1]);
  assert.equal(spent, "invalid_mfa_code");
  await state(page, "signedIn");
  await page.click("#sign-out");
  await state(page, "signedOut");
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-in");
  await page.locator("#mfa-form").waitFor({ state: "visible" });
  await page.fill("#recovery-code", recovery[0]);
  await page.click("#mfa-recover");
  await page.locator("#error:has-text('invalid_mfa_code')").waitFor();
  await context.close();
});

test("a forgotten password is reset from the mail, and the new one signs in", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const email = `reset-${Date.now()}@example.com`;
  await openApp(page, server.url);
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-up");
  await state(page, "signedIn");
  await smtp.mail(email);

  await page.click("#sign-out");
  await state(page, "signedOut");
  await page.fill("#email", email);
  await page.click("#forgot-password");
  await page.locator("#notice:has-text('a link is on its way')").waitFor();
  const reset = await smtp.mail(email, 2);
  assert.match(reset.subject, /^Reset your/);
  await page.goto(reset.link);
  await page.locator("#reset-form").waitFor({ state: "visible", timeout: 15_000 });
  await page.fill("#new-password", "a freshly chosen passphrase");
  await page.click("#reset-password");
  await page.locator("#notice:has-text('Password changed')").waitFor();

  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-in");
  await page.locator("#error:has-text('invalid_credentials')").waitFor();
  await page.fill("#password", "a freshly chosen passphrase");
  await page.click("#sign-in");
  await state(page, "signedIn");
  await context.close();
});

test("a magic link signs in a fresh browser by the mail's code, and another by its link, device-bound", async () => {
  const email = `magic-${Date.now()}@example.com`;
  const first = await browser.newContext();
  const page = await first.newPage();
  await openApp(page, server.url);
  await page.fill("#email", email);
  await page.click("#send-magic-link");
  await page.locator("#notice:has-text('sign-in link')").waitFor();
  const mail = await smtp.mail(email);
  assert.match(mail.code, /^\d{6}$/);

  // The code, typed in a browser that never saw the mail's link.
  await page.fill("#magic-code", mail.code);
  await page.click("#sign-in-with-code");
  await state(page, "signedIn");
  const headers = await page.evaluate(() => window.auth.createProof("GET", `${location.origin}/auth/me`));
  assert.ok(headers.DPoP && headers.Authorization.startsWith("DPoP "), "device-bound");
  // Used: the same code again is refused.
  const again = await page.evaluate(
    ([email, code]) => window.lifecycle.magicLink.complete({ email, code }).then(() => "ok", (e) => e.code),
    [email, mail.code],
  );
  assert.equal(again, "invalid_link");

  // The link of a second mail, opened in another fresh browser.
  const other = await browser.newContext();
  const second = await other.newPage();
  await openApp(second, server.url);
  await second.fill("#email", email);
  await second.click("#send-magic-link");
  const link = (await smtp.mail(email, 2)).link;
  await second.goto(link);
  await second.click("#link-confirm");
  await state(second, "signedIn");
  await second.locator("#user-email", { hasText: email }).waitFor();
  await first.close();
  await other.close();
});
