// The offline-first client of the sync example, on the `keyward` npm package (served at
// /keyward/). Edits go into a queue in IndexedDB first (each marked with its user's id), then
// over the WebSocket whenever there is one: the queue survives a reload or a browser restart
// while offline, and each edit leaves it only when the server has acknowledged it or refused it
// for good. The last list seen is kept too, so a reload offline still shows it. Every
// connection is opened with a fresh connect ticket and renewed in band with another whenever
// the session's tokens are; a connection whose token expired or whose role changed is opened
// again, one whose session was revoked is not.
import { createAuthClient } from "/keyward/index.js";

const $ = (id) => document.getElementById(id);
const auth = createAuthClient({ serverUrl: `${location.origin}/auth` });
const syncUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/sync`;
window.auth = auth;

// The queue: `{seq, edit}` in order of making.
const db = await new Promise((resolve, reject) => {
  const open = indexedDB.open("offline-sync", 1);
  open.onupgradeneeded = () => open.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
  open.onsuccess = () => resolve(open.result);
  open.onerror = () => reject(open.error);
});
const store = (mode, use) =>
  new Promise((resolve, reject) => {
    const tx = db.transaction("queue", mode);
    const request = use(tx.objectStore("queue"));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
  });
const queue = {
  add: (edit, user) => store("readwrite", (s) => s.add({ edit, user })),
  all: () => store("readonly", (s) => s.getAll()),
  async drop(id) {
    const items = await queue.all();
    await Promise.all(items.filter((item) => item.edit.id === id).map((item) => store("readwrite", (s) => s.delete(item.seq))));
  },
};

let socket = null;
let connecting = false; // a ticket is being asked for: one connection at a time
let todos = JSON.parse(localStorage.getItem("offline-sync:todos") ?? "[]");
let ended = null; // set when the server revoked the session: it is not reconnected
let retry = 1000; // the next wait before trying again, doubled up to 30 s
const me = () => auth.user?.id ?? null;
// Refusals that say the edit itself is wrong; any other (the session or token ended) keeps it
// for the next connection.
const FINAL = new Set(["invalid_request", "forbidden", "list_full"]);

function status(state, text = state) {
  $("sync-status").dataset.state = state;
  $("sync-status").textContent = text;
}

function later() {
  setTimeout(connect, retry + Math.random() * 250);
  retry = Math.min(retry * 2, 30_000);
}

async function render() {
  const pending = (await queue.all()).filter((item) => item.user === me()).map((item) => item.edit);
  $("pending").textContent = String(pending.length);
  $("pending").dataset.count = String(pending.length);
  const shown = todos.map((todo) => ({ ...todo, pending: false }));
  for (const edit of pending) {
    if (edit.type === "add" && !shown.some((todo) => todo.id === edit.id)) shown.push({ id: edit.id, title: edit.title, done: false, pending: true });
  }
  $("todos").replaceChildren(
    ...shown.map((todo) => {
      const item = document.createElement("li");
      item.dataset.id = todo.id;
      item.textContent = todo.title;
      item.classList.toggle("pending", todo.pending);
      item.classList.toggle("done", todo.done);
      return item;
    }),
  );
}

async function flush() {
  if (socket?.readyState !== WebSocket.OPEN) return;
  for (const { edit, user } of await queue.all()) if (user === me()) socket.send(JSON.stringify(edit));
}

async function connect() {
  if (socket || connecting || ended || !navigator.onLine || auth.state !== "signedIn") return;
  status("connecting");
  connecting = true;
  let ticket;
  try {
    ticket = await auth.connectTicket(syncUrl);
  } catch (error) {
    status(auth.state === "signedOut" ? "signed-out" : "offline");
    if (auth.state !== "signedOut") later();
    return;
  } finally {
    connecting = false;
  }
  const opened = new WebSocket(`${syncUrl}?ticket=${encodeURIComponent(ticket)}`);
  socket = opened;
  opened.onopen = () => {
    retry = 1000;
    status("online");
    flush();
  };
  opened.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "todos") {
      todos = message.todos;
      localStorage.setItem("offline-sync:todos", JSON.stringify(todos));
    }
    if (message.type === "ack" || (message.type === "refused" && FINAL.has(message.code))) await queue.drop(message.id);
    if (message.type === "refused") $("error").textContent = `The server refused an edit: ${message.code}`;
    await render();
  };
  opened.onclose = (event) => {
    if (socket === opened) socket = null;
    // Revoked: the session is over here too. A token that expired, or a role that changed,
    // only needs a new ticket.
    if (event.code === 1008 && event.reason === "session_revoked") {
      ended = event.reason;
      status("closed", `closed: ${event.reason}`);
      return;
    }
    status("offline");
    if (navigator.onLine) later();
  };
}

async function add(title) {
  if (!me()) {
    $("error").textContent = "Sign in to add todos.";
    return;
  }
  const edit = { type: "add", id: crypto.randomUUID(), title };
  await queue.add(edit, me());
  await render();
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(edit));
  else connect();
}

$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const title = $("title").value.trim();
  $("title").value = "";
  if (title) add(title);
});
for (const [id, act] of [
  ["sign-up", () => auth.signUp({ email: $("email").value, password: $("password").value })],
  ["sign-in", () => auth.signIn({ email: $("email").value, password: $("password").value })],
  ["sign-out", () => auth.signOut()],
]) {
  $(id).addEventListener("click", () => act().catch((error) => ($("error").textContent = error.message)));
}
window.addEventListener("online", connect);
window.addEventListener("offline", () => {
  status("offline");
  socket?.close();
});
auth.onChange(({ state, user, reason }) => {
  $("account").hidden = state === "signedIn" || state === "offline";
  $("who").hidden = !user;
  $("who-email").textContent = user?.email ?? "";
  if (state === "signedIn") {
    if (reason !== "refreshed") ended = null;
    connect();
  }
  // New tokens: the open connection is renewed in band with a ticket from them, so that it
  // outlives the token it was opened with.
  if (reason === "refreshed" && socket?.readyState === WebSocket.OPEN) {
    auth.connectTicket(syncUrl).then((ticket) => socket?.send(JSON.stringify({ type: "renew", ticket })), () => {});
  }
  render();
  if (state === "signedOut") {
    socket?.close();
    status("signed-out", "signed out");
  }
});
await render();
