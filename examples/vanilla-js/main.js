// A plain app on the keyward npm package. The session is `auth`; the account's sessions,
// devices and passkeys come from the package's feature modules. This file only renders them.
// (`window.auth`, `window.manage`, `window.team`, `window.listTeams` and `window.keyward` are
// exposed for the end-to-end tests.)
import * as keyward from "keyward";
import { capabilities, createAuthClient, version } from "keyward";
import { devices } from "keyward/devices";
import { email } from "keyward/email";
import { magicLink } from "keyward/magic-link";
import { mfa } from "keyward/mfa";
import { orgs, permits } from "keyward/orgs";
import { apps } from "keyward/apps";
import { password } from "keyward/password";
import { passkeys } from "keyward/passkeys";
import { sessions } from "keyward/sessions";

const $ = (id) => document.getElementById(id);
const errorBox = $("error");

function showError(error) {
  errorBox.textContent = error ? `${error.code ?? "error"}: ${error.message}` : "";
}

async function checkServer() {
  const health = $("server-health");
  try {
    const response = await fetch("/healthz");
    const body = await response.json();
    health.textContent = response.ok ? `${body.data.status} (${body.data.database}, keyward ${body.data.version})` : `unhealthy: ${body.error.code}`;
    health.dataset.state = response.ok ? "ok" : "error";
  } catch (error) {
    health.textContent = `unreachable: ${error}`;
    health.dataset.state = "error";
  }
}

function notice(text) {
  $("notice").textContent = text ?? "";
}

function render({ state, user }) {
  const stateBox = $("auth-state");
  stateBox.textContent = state;
  stateBox.dataset.state = state;
  const signedIn = state === "signedIn" || state === "offline";
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
  $("user-email").textContent = user?.email ?? "";
  const verified = !!user?.emailVerified;
  $("email-status").textContent = verified ? "verified" : "not verified yet: follow the link we mailed you";
  $("email-status").dataset.verified = String(verified);
  $("resend-verification").hidden = verified;
  if (signedIn) {
    listSessions();
    listDevices();
    listPasskeys();
    listTeams();
  }
}

// Teams (keyward/orgs): the user's organizations, the active one, and what its role allows.
async function listTeams(team = window.team) {
  try {
    const [mine, active] = await Promise.all([team.list(), team.active()]);
    $("orgs").replaceChildren(
      ...mine.map(({ org, role }) => {
        const item = document.createElement("li");
        item.dataset.org = org.slug;
        item.textContent = `${org.name} (${role}) `;
        if (org.id !== active?.id) {
          const use = document.createElement("button");
          use.textContent = "Switch to";
          use.addEventListener("click", () => team.activate(org.id).then(() => listTeams(), showError));
          item.append(use);
        }
        return item;
      }),
    );
    const current = mine.find(({ org }) => org.id === active?.id);
    $("team").hidden = !current;
    if (!current) return;
    $("active-org").textContent = current.org.name;
    $("active-org").dataset.slug = current.org.slug;
    $("active-role").textContent = active.role;
    // What the token grants, as `team.can(…)` reads it (the claims are in hand already).
    const can = (permission) => active.permissions.some((granted) => permits(granted, permission));
    $("team-writer").hidden = !can("todos:write");
    $("invite-form").hidden = !can("members:invite");
    const members = await team.members(active.id).list();
    $("members").replaceChildren(
      ...members.map((m) => Object.assign(document.createElement("li"), { textContent: `${m.user.email}: ${m.role}` })),
    );
  } catch (error) {
    if (error.code !== "signed_out") showError(error);
  }
}

async function listPasskeys(manage = window.manage) {
  try {
    const passkeys = await manage.passkeys.list();
    $("passkeys").replaceChildren(
      ...passkeys.map((passkey) => {
        const item = document.createElement("li");
        item.textContent = `${passkey.name}, added ${new Date(passkey.createdAt).toLocaleString()} `;
        const remove = document.createElement("button");
        remove.textContent = "Remove";
        remove.addEventListener("click", async () => {
          await manage.passkeys.remove(passkey.id).catch(showError);
          listPasskeys();
        });
        item.append(remove);
        return item;
      }),
    );
  } catch (error) {
    if (error.code !== "signed_out") showError(error);
  }
}

async function listDevices(manage = window.manage) {
  const list = $("devices");
  try {
    const devices = await manage.devices.list();
    list.replaceChildren(
      ...devices.map((device) => {
        const item = document.createElement("li");
        item.dataset.deviceId = device.id;
        item.textContent = `${device.name}${device.current ? " (this browser)" : ""}, last seen ${new Date(device.lastSeenAt).toLocaleString()} `;
        const revoke = document.createElement("button");
        revoke.textContent = device.current ? "Sign this browser out" : "Revoke";
        revoke.addEventListener("click", async () => {
          await manage.devices.revoke(device.id).catch(showError);
          listDevices();
        });
        item.append(revoke);
        return item;
      }),
    );
  } catch (error) {
    if (error.code !== "signed_out") showError(error);
  }
}

async function listSessions(manage = window.manage) {
  const list = $("sessions");
  try {
    const sessions = await manage.sessions.list();
    list.replaceChildren(
      ...sessions.map((session) => {
        const item = document.createElement("li");
        item.dataset.sessionId = session.id;
        item.textContent = `${session.current ? "this browser" : session.userAgent ?? "unknown client"}, since ${new Date(session.createdAt).toLocaleString()} `;
        if (!session.current) {
          const revoke = document.createElement("button");
          revoke.textContent = "Revoke";
          revoke.addEventListener("click", async () => {
            await manage.sessions.revoke(session.id).catch(showError);
            listSessions();
          });
          item.append(revoke);
        }
        return item;
      }),
    );
  } catch (error) {
    if (error.code !== "signed_out") showError(error);
  }
}

// Keyward as the OpenID Connect provider of other apps (keyward/apps), with this page as its
// sign-in page (`keyward serve --oidc-sign-in-page /`): once signed in here, the user continues
// to the app that asked.
function wireOtherApps(auth) {
  const others = apps(auth);
  window.apps = others;
  if (!others.pending()) return;
  $("oidc-continue").hidden = false;
  const button = $("oidc-continue-button");
  auth.onChange(({ state }) => (button.disabled = state !== "signedIn"));
  button.addEventListener("click", () => others.continue().catch(showError));
}

async function main() {
  checkServer();
  const auth = await createAuthClient({ serverUrl: `${location.origin}/auth` });
  // For `cargo xtask bench`: milliseconds from navigation start to a restored session.
  window.keywardReadyAt = performance.now();
  window.auth = auth;
  window.keyward = keyward;
  window.manage = { sessions: sessions(auth), devices: devices(auth), passkeys: passkeys(auth) };
  wireTeams(auth);
  wireOtherApps(auth);
  const clientStatus = $("client-status");
  clientStatus.textContent = `ready (keyward ${await version()})`;
  clientStatus.dataset.state = "ready";

  const caps = await capabilities();
  $("capabilities").replaceChildren(
    ...Object.entries(caps).map(([name, available]) => {
      const item = document.createElement("li");
      item.textContent = `${name}: ${available ? "yes" : "no"}`;
      item.dataset.available = String(available);
      return item;
    }),
  );

  // Called at once with the current state, then on every change.
  auth.onChange(() => render(auth.snapshot));

  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(null);
    const email = $("email").value;
    const password = $("password").value;
    const action = event.submitter?.value === "sign-up" ? auth.signUp({ email, password }) : auth.signIn({ email, password });
    await action.then(window.secondFactor).catch(showError);
  });
  $("sign-out").addEventListener("click", () => auth.signOut().catch(showError));

  if (auth.passkeys.isSupported()) {
    $("passkey-actions").hidden = false;
    $("passkey-sign-in").addEventListener("click", async () => {
      showError(null);
      const email = $("email").value || undefined;
      await auth.passkeys.signIn({ email }).catch(showError);
    });
    $("add-passkey").addEventListener("click", async () => {
      showError(null);
      await auth.passkeys.register().catch(showError);
      listPasskeys();
    });
  } else {
    $("add-passkey").hidden = true;
  }
  wireLifecycle(auth);
  $("call-api").addEventListener("click", async () => {
    const response = await auth.fetch("/auth/me").catch(showError);
    if (response) $("api-result").textContent = `${response.status} ${JSON.stringify(await response.json(), null, 2)}`;
  });
}

// Email verification, password reset and change, magic links (keyward/email, /password,
// /magic-link). Emailed links open this page with `type` and `token`: it POSTs the token (opening
// the link alone changes nothing) and takes it out of the address bar.
function wireLifecycle(auth) {
  const lifecycle = { email: email(auth), password: password(auth), magicLink: magicLink(auth), mfa: mfa(auth) };
  window.lifecycle = lifecycle;
  const act = (promise, done) =>
    promise.then(
      (value) => {
        showError(null);
        if (done) notice(done);
        return value;
      },
      (error) => {
        notice(null);
        showError(error);
      },
    );
  // A sign-in that needs the second factor answers `{mfaRequired, ticket}`: ask for a code.
  let ticket;
  window.secondFactor = (result) => {
    $("mfa-form").hidden = !result?.mfaRequired;
    ticket = result?.ticket;
    return result;
  };
  const finish = (promise) => act(promise.then(window.secondFactor));
  $("mfa-verify").addEventListener("click", () => finish(lifecycle.mfa.verify(ticket, $("mfa-code").value)));
  $("mfa-recover").addEventListener("click", () => finish(lifecycle.mfa.recover(ticket, $("recovery-code").value)));
  $("mfa-enrol").addEventListener("click", async () => {
    const enrolment = await act(lifecycle.mfa.enrol());
    if (!enrolment) return;
    $("mfa-secret").textContent = enrolment.secret;
    // As an image: nothing in an SVG shown this way can run.
    $("mfa-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qrSvg)}`;
    $("mfa-setup").hidden = false;
  });
  $("mfa-confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const codes = await act(lifecycle.mfa.confirm($("mfa-confirm-code").value), "Two-factor authentication is on: keep these recovery codes.");
    if (!codes) return;
    $("mfa-setup").hidden = true;
    $("recovery-codes").replaceChildren(
      ...codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })),
    );
  });
  const here = new URL(location.href);
  const [type, token] = [here.searchParams.get("type"), here.searchParams.get("token")];
  // A mailed link acts on a click only (a scanner running the page must not use it).
  const onClick = (label, action) => {
    $("link-form").hidden = false;
    $("link-confirm").textContent = label;
    $("link-confirm").addEventListener("click", () => {
      $("link-form").hidden = true;
      action();
    }, { once: true });
  };
  if (type && token) {
    if (type === "magic_link") {
      onClick("Sign in", () => finish(lifecycle.magicLink.complete()));
    } else {
      here.searchParams.delete("type");
      here.searchParams.delete("token");
      history.replaceState(history.state, "", here);
      if (type === "verify_email") onClick("Confirm my email address", () => act(lifecycle.email.confirm(token), "Your email address is verified."));
      if (type === "org_invitation") onClick("Join the team", () => act(window.team.accept(token), "You joined the team.").then(() => listTeams()));
      if (type === "change_email") onClick("Confirm my new address", () => act(lifecycle.email.confirmChange(token), "Your email address is changed."));
      if (type === "reset_password") {
        $("reset-form").hidden = false;
        $("reset").addEventListener("submit", async (event) => {
          event.preventDefault();
          await act(lifecycle.password.reset(token, $("new-password").value), "Password changed: sign in with it.");
          $("reset-form").hidden = true;
        });
      }
    }
  }
  $("send-magic-link").addEventListener("click", () =>
    act(lifecycle.magicLink.send($("email").value), "A sign-in link and a code are on their way."),
  );
  $("forgot-password").addEventListener("click", () =>
    act(lifecycle.password.forgot($("email").value), "If the address has an account, a link is on its way."),
  );
  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    finish(lifecycle.magicLink.complete({ email: $("email").value, code: $("magic-code").value }));
  });
  $("resend-verification").addEventListener("click", () =>
    act(lifecycle.email.sendVerification(), "A new link is on its way."),
  );
  $("change-password").addEventListener("submit", (event) => {
    event.preventDefault();
    act(lifecycle.password.change($("current-password").value, $("next-password").value), "Password changed.");
  });
}

function wireTeams(auth) {
  const team = orgs(auth);
  window.team = team;
  window.listTeams = listTeams;
  $("org-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(null);
    const made = await team.create({ name: $("org-name").value }).catch(showError);
    if (made) await team.activate(made.org.id).catch(showError);
    listTeams();
  });
  $("invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const active = await team.active();
    const sent = await team
      .invite(active.id, { email: $("invite-email").value, role: $("invite-role").value, redirectTo: location.origin + "/" })
      .catch(showError);
    if (sent) notice(`Invitation sent to ${sent.email}.`);
  });
}

main().catch((error) => {
  $("client-status").textContent = `failed to load: ${error}`;
  $("client-status").dataset.state = "error";
});
