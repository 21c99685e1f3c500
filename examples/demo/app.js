// The demo page: loads the keyward npm package (built into ./pkg by `cargo xtask demo`) and asks
// the server for its health. It grows with the product; see the README's feature table.
import init, { version, capabilities } from "./pkg/keyward.js";

const clientStatus = document.getElementById("client-status");
const serverHealth = document.getElementById("server-health");

async function loadClient() {
  try {
    await init();
    clientStatus.textContent = `ready (keyward ${version()})`;
    clientStatus.dataset.state = "ready";
    const list = document.getElementById("capabilities");
    for (const [name, available] of Object.entries(capabilities())) {
      const item = document.createElement("li");
      item.textContent = `${name}: ${available ? "yes" : "no"}`;
      item.dataset.available = String(available);
      list.append(item);
    }
  } catch (error) {
    clientStatus.textContent = `failed to load: ${error}`;
    clientStatus.dataset.state = "error";
  }
}

async function checkServer() {
  try {
    const response = await fetch("/healthz");
    const body = await response.json();
    if (response.ok) {
      serverHealth.textContent = `${body.data.status} (${body.data.database}, keyward ${body.data.version})`;
      serverHealth.dataset.state = "ok";
    } else {
      serverHealth.textContent = `unhealthy: ${body.error.code}`;
      serverHealth.dataset.state = "error";
    }
  } catch (error) {
    serverHealth.textContent = `unreachable: ${error}`;
    serverHealth.dataset.state = "error";
  }
}

await Promise.all([loadClient(), checkServer()]);
