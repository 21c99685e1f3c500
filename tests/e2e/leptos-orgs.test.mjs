// Teams in the Leptos demo (examples/leptos-app, on keyward-leptos's OrgSwitcher, CreateOrgForm,
// MemberList, InviteForm, AcceptInvitation and RequirePermission), with the invitation mailed
// over SMTP (aiosmtpd): the owner makes a team and invites by email; the invitee, in a second
// browser, makes a team of their own, then joins from the mail; switching teams changes what
// the page offers, and so does the owner making them a viewer: their next call to the team's
// API is refused with the old role, and the page follows the new one.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchBrowser, startServer, startSmtp } from "./support.mjs";

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

/** A new account, signed up on the team page of a new browser. */
async function signUp(email, errors) {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${server.url}/#team`);
  const form = page.locator(".kw-sign-up-form");
  await form.waitFor({ timeout: 20_000 });
  await form.locator("input[name=email]").fill(email);
  await form.locator("input[name=password]").fill("correct horse battery staple");
  await form.locator("button[type=submit]").click();
  await page.locator(".kw-org-switcher .kw-notice", { hasText: "not in an organization" }).waitFor({ timeout: 15_000 });
  return page;
}

async function createTeam(page, name) {
  await page.fill(".kw-create-org input[name=org-name]", name);
  await page.click(".kw-create-org button[type=submit]");
  await page.locator(".kw-org-switcher select option:checked", { hasText: `${name} (owner)` }).waitFor({ state: "attached", timeout: 15_000 });
  await page.locator(".active-role", { hasText: "owner" }).waitFor();
}

const role = (page) => page.locator(".active-role").textContent();

test("a team made, an invitation mailed and accepted in another browser, and the page following the active team's permissions", async () => {
  const errors = [];
  const stamp = Date.now();
  const [ownerEmail, bobEmail] = [`leptos-owner-${stamp}@example.com`, `leptos-bob-${stamp}@example.com`];

  // The owner: a team, a first to-do through the permission-checked API, an invitation.
  const owner = await signUp(ownerEmail, errors);
  await createTeam(owner, "Acme");
  await owner.locator(".team-status", { hasText: "0 team todo(s)" }).waitFor({ timeout: 15_000 });
  await owner.fill(".team-todo-form input[name=title]", "Plan the launch");
  await owner.click(".team-todo-form button[type=submit]");
  await owner.locator(".team-todos li", { hasText: "Plan the launch" }).waitFor({ timeout: 15_000 });
  await owner.fill(".kw-invite-form input[name=invite-email]", bobEmail);
  await owner.selectOption(".kw-invite-form select[name=invite-role]", "member");
  await owner.click(".kw-invite-form button[type=submit]");
  await owner.locator(".kw-invite-form .kw-notice", { hasText: `Invitation sent to ${bobEmail}` }).waitFor({ timeout: 15_000 });
  await owner.locator(`.kw-invitations li[data-email="${bobEmail}"]`).waitFor();
  const invitation = await smtp.mail(bobEmail, 1, /invited you to Acme/);
  // A second invitation, revoked: it leaves the pending list.
  const carolEmail = `leptos-carol-${stamp}@example.com`;
  await owner.fill(".kw-invite-form input[name=invite-email]", carolEmail);
  await owner.click(".kw-invite-form button[type=submit]");
  const carol = owner.locator(`.kw-invitations li[data-email="${carolEmail}"]`);
  await carol.locator(".kw-revoke").click({ timeout: 15_000 });
  await carol.waitFor({ state: "detached", timeout: 15_000 });
  await owner.locator(`.kw-invitations li[data-email="${bobEmail}"]`).waitFor();
  assert.ok(invitation.link.startsWith(`${server.url}/?type=org_invitation&token=kwl_`), invitation.link);

  // Bob: an account, its address proved from its mail, a team of his own (where he invites).
  const bob = await signUp(bobEmail, errors);
  const verification = await smtp.mail(bobEmail, 1, /^Confirm your email address/);
  await bob.goto(verification.link);
  await bob.click(".kw-verify-email .kw-link-confirm", { timeout: 15_000 });
  await bob.locator(".kw-verify-email[data-state=done]").waitFor({ timeout: 15_000 });
  await bob.goto(`${server.url}/#team`);
  await createTeam(bob, "Bob's");
  await bob.locator(".kw-invite-form").waitFor();

  // He joins Acme from the invitation's mail: nothing happens before the click.
  await bob.goto(invitation.link);
  const accept = bob.locator(".kw-accept-invitation[data-state=ready] .kw-link-confirm:enabled");
  await accept.click({ timeout: 15_000 });
  await bob.locator(".kw-accept-invitation[data-state=done]", { hasText: "You joined Acme as member." }).waitFor({ timeout: 15_000 });
  assert.ok(!bob.url().includes("token="), `the token left the address bar: ${bob.url()}`);

  // Switching to Acme: a member reads and writes the team's to-dos, and does not invite.
  await bob.goto(`${server.url}/#team`);
  const acme = bob.locator(".kw-org-switcher select option", { hasText: "Acme (member)" });
  await acme.waitFor({ state: "attached", timeout: 15_000 });
  await bob.selectOption(".kw-org-switcher select", { label: "Acme (member)" });
  await bob.locator(".active-role", { hasText: "member" }).waitFor({ timeout: 15_000 });
  await bob.locator(".team-todos li", { hasText: "Plan the launch" }).waitFor({ timeout: 15_000 });
  await bob.locator(".kw-invite[hidden]").waitFor({ state: "attached" });
  assert.equal(await bob.locator(".kw-member select").count(), 0, "a member changes nobody's role");
  await bob.fill(".team-todo-form input[name=title]", "Write the docs");
  await bob.click(".team-todo-form button[type=submit]");
  await bob.locator(".team-todos li", { hasText: "Write the docs" }).waitFor({ timeout: 15_000 });

  // Back to his own team and again to Acme: the gated parts follow.
  await bob.selectOption(".kw-org-switcher select", { label: "Bob's (owner)" });
  await bob.locator(".kw-invite-form").waitFor({ timeout: 15_000 });
  assert.equal(await role(bob), "owner");
  await bob.selectOption(".kw-org-switcher select", { label: "Acme (member)" });
  await bob.locator(".active-role", { hasText: "member" }).waitFor({ timeout: 15_000 });
  await bob.locator(".kw-invite[hidden]").waitFor({ state: "attached" });

  // The owner sees him among the members, and makes him a viewer.
  await owner.reload();
  const bobRow = owner.locator(`.kw-member[data-email="${bobEmail}"]`);
  await bobRow.waitFor({ timeout: 20_000 });
  await owner.locator(`.kw-member.kw-current[data-email="${ownerEmail}"] .kw-leave`).waitFor();
  await bobRow.locator("select[name=role]").selectOption("viewer");
  await owner.locator(`.kw-member[data-email="${bobEmail}"][data-role=viewer]`).waitFor({ timeout: 15_000 });

  // Bob's next write goes with his member token: refused at once, and the page follows his new
  // role (read-only, no form).
  await bob.fill(".team-todo-form input[name=title]", "Sneak this in");
  await bob.click(".team-todo-form button[type=submit]");
  await bob.locator(".read-only").waitFor({ timeout: 15_000 });
  assert.equal(await role(bob), "viewer");
  assert.equal(await bob.locator(".team-todo-form").count(), 0);
  await bob.locator(".team-status", { hasText: "2 team todo(s)" }).waitFor({ timeout: 15_000 });
  await owner.reload();
  await owner.locator(".team-status", { hasText: "2 team todo(s)" }).waitFor({ timeout: 20_000 });
  const titles = await owner.locator(".team-todos li").allTextContents();
  assert.deepEqual(titles, ["Plan the launch", "Write the docs"]);

  // Bob leaves Acme: it leaves his switcher, and his session acts for no team.
  await bob.click(".kw-member.kw-current .kw-leave");
  await bob.locator(".kw-org-switcher select option", { hasText: "Acme" }).waitFor({ state: "detached", timeout: 15_000 });
  await bob.locator(".active-role").waitFor({ state: "detached", timeout: 15_000 });
  await owner.reload();
  await owner.locator(`.kw-member[data-email="${ownerEmail}"]`).waitFor({ timeout: 20_000 });
  assert.equal(await owner.locator(`.kw-member[data-email="${bobEmail}"]`).count(), 0);
  assert.deepEqual(errors, []);
});
