// Client-side figures for `cargo xtask bench`, in headless Chromium against the real server:
// cold start (navigation → session restored from IndexedDB, no network round trip to sign in)
// and getAccessToken() with a valid cached token; and the same cold start of bench/floor.html, the
// least an IndexedDB-backed client can take here. Prints one JSON line.
// Env: KEYWARD_URL (a server serving examples/vanilla-js and floor.html), KEYWARD_CHROMIUM.
import { chromium } from "playwright-core";

const url = process.env.KEYWARD_URL;
const browser = await chromium.launch({
  executablePath: process.env.KEYWARD_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage();
await page.goto(url);
await page.waitForFunction(() => window.auth);
await page.evaluate(() => window.auth.signUp({ email: `client-${Date.now()}@bench.test`, password: "bench-password-123" }));

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};

// Navigation start → `window.keywardReadyAt`, over 30 reloads. Nothing of Playwright's may run in
// the page while it loads: its polling (`waitForFunction`) injects a script that holds the main
// thread for ~10 ms and added ~25 ms to the figure. So: reload, let the page settle untouched,
// then read the mark it left.
async function coldStarts(url, ready) {
  await page.goto(url);
  await page.waitForFunction(ready);
  const samples = [];
  for (let i = 0; i < 30; i++) {
    await page.reload({ waitUntil: "load" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await page.waitForFunction(ready);
    samples.push(await page.evaluate(() => window.keywardReadyAt));
  }
  return samples;
}

const floor = await coldStarts(`${url}/floor.html`, () => window.keywardReadyAt !== undefined);
const cold = await coldStarts(url, () => window.keywardReadyAt !== undefined && window.auth?.state === "signedIn");

const perCall = await page.evaluate(async () => {
  const samples = [];
  for (let batch = 0; batch < 300; batch++) {
    const start = performance.now();
    for (let i = 0; i < 100; i++) await window.auth.getAccessToken();
    samples.push(((performance.now() - start) * 1000) / 100);
  }
  return samples;
});

console.log(JSON.stringify({
  cold_start_ms: { median: percentile(cold, 0.5), p95: percentile(cold, 0.95), samples: cold.length },
  floor_ms: { median: percentile(floor, 0.5), p95: percentile(floor, 0.95), samples: floor.length },
  get_access_token_us: { median: percentile(perCall, 0.5), p95: percentile(perCall, 0.95), calls: perCall.length * 100 },
}));
await browser.close();
