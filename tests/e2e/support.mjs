// Helpers for the end-to-end tests: a real `keyward` server on a fresh SQLite database and a
// free port, Debian's Chromium driven by playwright-core, and a real SMTP server. `cargo xtask test` sets
// KEYWARD_BIN, KEYWARD_API_BIN, KEYWARD_OFFLINE_SYNC_BIN, KEYWARD_CHROMIUM and each site's directory:
// KEYWARD_DEMO_DIR, KEYWARD_REACT_DIR, KEYWARD_LEPTOS_DIR, KEYWARD_SIGN_IN_PAGE_DIR,
// KEYWARD_OFFLINE_SYNC_DIR.
import { createHmac } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The environment variable `name`, which `cargo xtask test` sets. */
export function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests with \`cargo xtask test\``);
  return value;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `keyward serve` serving the vanilla demo app (or, with `leptos: true`, the example API
 * binary serving the Leptos demo app; with `offlineSync: true`, the offline sync example and its
 * page; or the directory `site`); resolves once /healthz answers.
 */
export async function startServer({ env = {}, args = [], leptos = false, offlineSync = false, site, port, databaseUrl } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-e2e-"));
  port ??= await freePort();
  const [program, first, defaultSite] = offlineSync
    ? [required("KEYWARD_OFFLINE_SYNC_BIN"), [], required("KEYWARD_OFFLINE_SYNC_DIR")]
    : leptos
    ? [required("KEYWARD_API_BIN"), [], required("KEYWARD_LEPTOS_DIR")]
    : [required("KEYWARD_BIN"), ["serve"], required("KEYWARD_DEMO_DIR")];
  site ??= defaultSite;
  // A database of its own, unless the test brings one (and keeps it across servers).
  databaseUrl ??= `sqlite://${join(dir, "keyward.db")}`;
  const child = spawn(
    program,
    [...first, "--bind", `127.0.0.1:${port}`, "--database-url", databaseUrl,
      "--static-dir", site, "--issuer", `http://localhost:${port}`, ...args],
    { env: { ...process.env, KEYWARD_LOG: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // WebAuthn rejects IP addresses, so pages are opened at localhost.
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`keyward exited at start (${child.exitCode})`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("keyward did not answer /healthz within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    databaseUrl,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the `keyward` command line on `server`'s database: its standard output. */
export async function keywardCli(server, args) {
  const child = spawn(required("KEYWARD_BIN"), [...args, "--database-url", server.databaseUrl], {
    env: { ...process.env, KEYWARD_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`keyward ${args.join(" ")} exited with ${code}`);
  return out;
}

/** Opens the demo app in `page` and waits until the client is ready. */
export async function openApp(page, url) {
  await page.goto(url);
  await page.locator("#client-status[data-state=ready]").waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => window.auth !== undefined);
}

// Waits for the app's state; on a timeout, says what the page showed instead (state and error).
export const waitForState = (page, value) =>
  page
    .locator(`#auth-state[data-state=${value}]`)
    .waitFor({ timeout: 15_000 })
    .catch(async (error) => {
      const shown = await page.evaluate(() => [document.querySelector("#auth-state")?.dataset.state, document.querySelector("#error")?.textContent]);
      throw new Error(`waited for ${value}; the page shows ${JSON.stringify(shown)}`, { cause: error });
    });

/** Signs up through the page's client and returns the user. */
export async function signUp(page, email, password = "correct horse battery staple") {
  return page.evaluate(([email, password]) => window.auth.signUp({ email, password }), [email, password]);
}

/** Counts the requests to `path` made by every page of `context`. */
export function countRequests(context, path) {
  const counter = { count: 0 };
  context.on("request", (request) => {
    if (new URL(request.url()).pathname === path) counter.count += 1;
  });
  return counter;
}

/** Launches headless Chromium with the flags that work on this machine kind (DESIGN.md). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.KEYWARD_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Decodes a MIME part's body by its Content-Transfer-Encoding. */
function decode(headers, body) {
  const encoding = /content-transfer-encoding:\s*([\w-]+)/i.exec(headers)?.[1]?.toLowerCase();
  if (encoding == "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding == "quoted-printable") {
    const bytes = body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

/** `{to, subject, text}` of one raw message (the text/plain part of a multipart one). */
function parse(raw) {
  const split = (text) => {
    const at = text.search(/\r?\n\r?\n/);
    return [text.slice(0, at), text.slice(at).replace(/^\r?\n\r?\n/, "")];
  };
  const [headers, body] = split(raw);
  const header = (name) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(headers)?.[1]?.trim() ?? "";
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers)?.[1];
  let text = decode(headers, body);
  if (boundary) {
    for (const part of body.split(`--${boundary}`)) {
      const [partHeaders, partBody] = split(part.replace(/^\r?\n/, ""));
      if (/content-type:\s*text\/plain/i.test(partHeaders)) text = decode(partHeaders, partBody);
    }
  }
  const to = header("To").replace(/.*</, "").replace(/>.*/, "");
  return { to, subject: header("Subject"), text };
}

/**
 * A real SMTP server: aiosmtpd (PyPI, installed by `cargo xtask setup` into target/tools/aiosmtpd),
 * writing what it receives into a Maildir read here.
 */
export async function startSmtp() {
  const python = join(root, "target/tools/aiosmtpd/bin/python");
  if (!existsSync(python)) throw new Error(`${python} is missing: run \`cargo xtask setup\``);
  const dir = mkdtempSync(join(tmpdir(), "keyward-smtp-"));
  const port = await freePort();
  const child = spawn(python, ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", join(dir, "maildir")], { stdio: "ignore" });
  const deadline = Date.now() + 20_000;
  while (!(await new Promise((resolve) => connect(port, "127.0.0.1").once("connect", function () { this.end(); resolve(true); }).once("error", () => resolve(false))))) {
    if (Date.now() > deadline) throw new Error("aiosmtpd did not listen");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const all = () => {
    const inbox = join(dir, "maildir/new");
    if (!existsSync(inbox)) return [];
    return readdirSync(inbox)
      .map((name) => join(inbox, name))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
      .map((path) => parse(readFileSync(path, "utf8")));
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    /** The `count`-th mail to `to` (whose subject matches `subject`, when given), waiting up to 15 s, with its link and its code. */
    async mail(to, count = 1, subject = /./) {
      const until = Date.now() + 15_000;
      for (;;) {
        const mails = all().filter((mail) => mail.to == to && subject.test(mail.subject));
        if (mails.length >= count) {
          const mail = mails[count - 1];
          const link = mail.text.split(/\s+/).find((word) => word.startsWith("http") && word.includes("token="));
          const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
          return { ...mail, link, code };
        }
        if (Date.now() > until) throw new Error(`no mail #${count} to ${to}: ${JSON.stringify(all().map((m) => [m.to, m.subject]))}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) for the base32 `secret`, `offset` steps from now. */
export function totp(secret, offset = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret.replace(/=+$/, "")].map((c) => alphabet.indexOf(c).toString(2).padStart(5, "0")).join("");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + offset));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[19] & 15;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** A real OpenID Connect provider (tests/fixtures/oidc-provider.mjs) that sends browsers back to `redirectUri`. */
export async function startOidcProvider(redirectUri) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, "tests/fixtures/oidc-provider.mjs"), String(port), "keyward-e2e", "keyward-e2e-secret", redirectUri], { stdio: ["ignore", "pipe", "ignore"] });
  const issuer = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const ready = /ready (\S+)/.exec(out);
      if (ready) resolve(ready[1]);
    });
    child.once("exit", (code) => reject(new Error(`the OpenID Connect provider exited (${code})`)));
  });
  return {
    issuer,
    clientId: "keyward-e2e",
    clientSecret: "keyward-e2e-secret",
    /** Who signs in next. */
    next: (account) => fetch(`${issuer}/_test/next`, { method: "POST", body: JSON.stringify(account) }),
    /** The settings that make it a server's provider `test`, named "Test provider". */
    env: () => ({
      KEYWARD_OAUTH_TEST_ISSUER: issuer,
      KEYWARD_OAUTH_TEST_CLIENT_ID: "keyward-e2e",
      KEYWARD_OAUTH_TEST_CLIENT_SECRET: "keyward-e2e-secret",
      KEYWARD_OAUTH_TEST_NAME: "Test provider",
    }),
    stop: () => child.kill(),
  };
}
