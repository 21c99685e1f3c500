// The offline-first client of the sync example, on the `keyward` npm package (served at
// /keyward/). Edits go into a queue in IndexedDB first, then over the WebSocket whenever there
// is one: the queue survives a reload or a browser restart while offline, and each edit leaves
// it only when the server has acknowledged (or refused) it. Every connection is opened with a
// fresh connect ticket; a session the server ended is not reconnected.
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
  add: (edit) => store("readwrite", (s) => s.add({ edit })),
  all: () => store("readonly", (s) => s.getAll()),
  async drop(id) {
    const items = await queue.all();
    await Promise.all(items.filter((item) => item.edit.id === id).map((item) => store("readwrite", (s) => s.delete(item.seq))));
  },
};

let socket = null;
let todos = [];
let ended = null; // why the server ended the session's connection, if it did

function status(state, text = state) {
  $("sync-status").dataset.state = state;
  $("sync-status").textContent = text;
}

async function render() {
  const pending = (await queue.all()).map((item) => item.edit);
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
  for (const { edit } of await queue.all()) socket.send(JSON.stringify(edit));
}

async function connect() {
  if (socket || ended || !navigator.onLine || auth.state !== "signedIn") return;
  status("connecting");
  let ticket;
  try {
    ticket = await auth.connectTicket(syncUrl);
  } catch (error) {
    status(auth.state === "signedOut" ? "signed-out" : "offline");
    return;
  }
  const opened = new WebSocket(`${syncUrl}?ticket=${encodeURIComponent(ticket)}`);
  socket = opened;
  opened.onopen = () => {
    status("online");
    flush();
  };
  opened.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "todos") todos = message.todos;
    if (message.type === "ack" || message.type === "refused") await queue.drop(message.id);
    if (message.type === "refused") $("error").textContent = `The server refused an edit: ${message.code}`;
    await render();
  };
  opened.onclose = (event) => {
    if (socket === opened) socket = null;
    // Ended by the server for a reason of Keyward's: the session is over here too.
    if (event.code === 1008) {
      ended = event.reason;
      status("closed", `closed: ${event.reason}`);
      return;
    }
    status("offline");
    if (navigator.onLine) setTimeout(connect, 1000);
  };
}

async function add(title) {
  const edit = { type: "add", id: crypto.randomUUID(), title };
  await queue.add(edit);
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
auth.onChange(({ state, user }) => {
  $("account").hidden = state === "signedIn" || state === "offline";
  $("who").hidden = !user;
  $("who-email").textContent = user?.email ?? "";
  if (state === "signedIn") {
    ended = null;
    connect();
  }
  if (state === "signedOut") {
    socket?.close();
    status("signed-out", "signed out");
  }
});
await render();
