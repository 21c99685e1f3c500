// The `keyward` binary over real HTTP: what a plain HTTP client (or another language) sees.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startServer } from "./support.mjs";

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

async function call(path, { method = "GET", body, token, headers = {} } = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(body ? { "content-type": "application/json" } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

test("sign up, refresh and list sessions over the network; the session records the client", async () => {
  const up = await call("/auth/sign-up", { method: "POST", body: { email: "net@example.com", password: "correct horse battery" } });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const { tokens } = up.body.data;

  const refreshed = await call("/auth/refresh", { method: "POST", body: { refresh_token: tokens.refresh_token } });
  assert.equal(refreshed.status, 200);
  assert.notEqual(refreshed.body.data.tokens.refresh_token, tokens.refresh_token);

  const sessions = await call("/auth/sessions", { token: refreshed.body.data.tokens.access_token });
  assert.equal(sessions.status, 200);
  const [session] = sessions.body.data.sessions;
  assert.equal(session.current, true);
  assert.equal(session.ip, "127.0.0.1");
  assert.match(session.user_agent ?? "", /node/i);
});

test("the sixth sign-in within a minute is rate limited with a Retry-After", async () => {
  await call("/auth/sign-up", { method: "POST", body: { email: "limit@example.com", password: "correct horse battery" } });
  // Limits count in calendar-minute windows: start well inside one, so all six fall in it.
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
  const statuses = [];
  let last;
  for (let i = 0; i < 6; i++) {
    last = await call("/auth/sign-in", { method: "POST", body: { email: "limit@example.com", password: "wrong password" } });
    statuses.push(last.status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  assert.equal(last.body.error.code, "rate_limited");
  const retryAfter = Number(last.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
});

test("CORS answers the issuer's origin and not others", async () => {
  const preflight = (origin) =>
    fetch(`${server.url}/auth/sign-in`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
  const allowed = await preflight(server.url);
  assert.equal(allowed.headers.get("access-control-allow-origin"), server.url);
  const denied = await preflight("https://evil.example");
  assert.equal(denied.headers.get("access-control-allow-origin"), null);
});
