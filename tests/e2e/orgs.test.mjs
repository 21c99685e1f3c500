// Teams in Chromium, through the demo app on keyward/orgs, with the invitation mailed over SMTP
// (aiosmtpd): an owner makes a team and invites by email; the invitee, in a second browser,
// verifies their address from its mail and joins from the invitation's; switching between their
// own team and the one they joined changes what the page offers (by the permissions in the
// session's token), and so does a role change once the session refreshes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchBrowser, openApp, startServer, startSmtp, waitForState as state } from "./support.mjs";

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

async function signUp(page, email) {
  await openApp(page, server.url);
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#sign-up");
  await state(page, "signedIn");
}

async function createTeam(page, name) {
  await page.fill("#org-name", name);
  await page.click("#org-create-button");
  await page.locator("#active-org", { hasText: name }).waitFor({ timeout: 15_000 });
}

/** Follows a mailed link the way a person does: open it, then press the page's button. */
async function follow(page, link, label) {
  await page.goto(link);
  await page.locator("#link-confirm", { hasText: label }).click({ timeout: 15_000 });
}

test("a team is made, an invitation is mailed and accepted in another browser, and the page follows the active team's permissions", async () => {
  const stamp = Date.now();
  const [ownerEmail, bobEmail] = [`owner-${stamp}@example.com`, `bob-${stamp}@example.com`];
  const owner = await (await browser.newContext()).newPage();
  await signUp(owner, ownerEmail);
  await createTeam(owner, "Acme");
  assert.equal(await owner.locator("#active-role").textContent(), "owner");
  await owner.locator("#invite-form:not([hidden])").waitFor();
  assert.ok(await owner.locator("#team-writer").isVisible());

  // An id that is "." or ".." would not stay one segment of the path: the browser resolves
  // `/orgs/<id>/members/..` to `/orgs/<id>/`, one step from removing the team instead of a
  // member. The client refuses such an id and sends nothing; the team is still there.
  const refused = await owner.evaluate(async () => {
    const { id } = await window.team.active();
    const attempts = [
      () => window.team.members(id).remove(".."),
      () => window.team.revoke(id, ".."),
      () => window.team.members(id).update(".", "viewer"),
    ];
    const codes = [];
    // No status: the client refused it; the server's own `invalid_request` would carry 400.
    for (const attempt of attempts) codes.push(await attempt().then(() => "done", (e) => `${e.code} ${e.status ?? "unsent"}`));
    return { codes, name: (await window.team.get(id)).org.name };
  });
  assert.deepEqual(refused, { codes: Array(3).fill("invalid_request unsent"), name: "Acme" });

  await owner.fill("#invite-email", bobEmail);
  await owner.selectOption("#invite-role", "member");
  await owner.click("#invite");
  await owner.locator("#notice", { hasText: "Invitation sent" }).waitFor({ timeout: 15_000 });
  const invitation = await smtp.mail(bobEmail, 1, /invited you to Acme/);
  assert.ok(invitation.link.startsWith(`${server.url}/?type=org_invitation&token=kwl_`), invitation.link);

  // Bob, in his own browser: signs up, proves the address, makes his own team, then joins Acme.
  const bob = await (await browser.newContext()).newPage();
  await signUp(bob, bobEmail);
  const verification = await smtp.mail(bobEmail, 1, /^Confirm your email address/);
  await follow(bob, verification.link, "Confirm my email address");
  await bob.locator("#email-status[data-verified=true]").waitFor({ timeout: 15_000 });
  await createTeam(bob, "Bob's");
  await bob.locator("#invite-form:not([hidden])").waitFor();
  await follow(bob, invitation.link, "Join the team");
  await bob.locator("#notice", { hasText: "You joined the team." }).waitFor({ timeout: 15_000 });
  const acme = bob.locator("#orgs li", { hasText: "Acme (member)" });
  await acme.waitFor({ timeout: 15_000 });

  // Switching to Acme: a member writes but does not invite.
  await acme.getByRole("button", { name: "Switch to" }).click();
  await bob.locator("#active-org", { hasText: "Acme" }).waitFor({ timeout: 15_000 });
  await bob.locator("#invite-form[hidden]").waitFor({ state: "attached" });
  assert.ok(await bob.locator("#team-writer").isVisible());
  assert.equal(await bob.locator("#active-role").textContent(), "member");
  await owner.evaluate(() => window.listTeams());
  await owner.locator("#members li", { hasText: `${bobEmail}: member` }).waitFor({ timeout: 15_000 });

  // Back to his own team: he invites again.
  await bob.locator("#orgs li", { hasText: "Bob's (owner)" }).getByRole("button", { name: "Switch to" }).click();
  await bob.locator("#active-org", { hasText: "Bob's" }).waitFor({ timeout: 15_000 });
  await bob.locator("#invite-form:not([hidden])").waitFor();

  // In Acme again, made a viewer by the owner: once his session refreshes, he no longer writes.
  await bob.locator("#orgs li", { hasText: "Acme (member)" }).getByRole("button", { name: "Switch to" }).click();
  await bob.locator("#active-org", { hasText: "Acme" }).waitFor({ timeout: 15_000 });
  await owner.evaluate(async (email) => {
    const active = await window.team.active();
    const members = await window.team.members(active.id).list();
    const bob = members.find((m) => m.user.email === email);
    await window.team.members(active.id).update(bob.user.id, "viewer");
  }, bobEmail);
  // His token with the old role is refused at once (the client refreshes and retries).
  const me = await bob.evaluate(async () => (await window.auth.fetch("/auth/me")).status);
  assert.equal(me, 200);
  assert.equal(await bob.evaluate(() => window.team.can("todos:write")), false);
  await bob.evaluate(() => window.listTeams());
  await bob.locator("#team-writer[hidden]").waitFor({ state: "attached", timeout: 15_000 });
  assert.equal(await bob.locator("#active-role").textContent(), "viewer");
});
