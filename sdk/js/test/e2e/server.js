// What the end-to-end scenarios share. tests/test_sdk_js.py starts a real daphne and a Celery
// worker on the test database, registers alice and bob, and runs each scenario file with:
//   CHAT_URL          the daphne, http://127.0.0.1:<port>
//   CHAT_CONTROL_URL  a small HTTP server in the pytest process that acts on the server side
//                     (POST /close {user_id, code}: close the user's sockets through the channel
//                     layer; POST /resync {user_id}: push a resync frame; POST /daphne {env}: another
//                     daphne with these settings; POST /uploads {user_id}: the user's upload rows)
//   ALICE_ID, ALICE_TOKEN, BOB_ID, BOB_TOKEN
// Run alone (without those), every scenario skips and says why.
import { ChatClient, MessageList } from "../../src/index.js";

export const env = process.env;
export const skip = env.CHAT_URL ? false : "needs a live server: run through tests/test_sdk_js.py";

export const alice = { id: Number(env.ALICE_ID), token: env.ALICE_TOKEN };
export const bob = { id: Number(env.BOB_ID), token: env.BOB_TOKEN };

/** A WebSocket constructor: Node 22's global one, or the `ws` package on Node 18/20. */
export const WebSocket = globalThis.WebSocket ?? (await import("ws")).default;

const made = [];

export function client(user, options = {}) {
  const c = new ChatClient({ baseUrl: env.CHAT_URL, token: user.token, WebSocket, ...options });
  made.push(c);
  return c;
}

/** Disconnect every client a scenario made (pass or fail), so that node can exit. */
export function disconnectAll() {
  for (const c of made.splice(0)) c.disconnect();
}

/** A client whose events are recorded: `seen.message` is every Message it emitted, in order. */
export function recorded(user, options = {}) {
  const c = client(user, options);
  const seen = { message: [], changed: [], recalled: [], state: [], caughtUp: [], error: [], read: [], unread: [] };
  for (const type of Object.keys(seen)) c.on(type, (event) => seen[type].push(event));
  return { client: c, seen };
}

export async function rest(user, method, path, body) {
  const response = await fetch(`${env.CHAT_URL}/api/v1/${path}`, {
    method,
    headers: { Authorization: `Token ${user.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function sendRest(from, to, content) {
  const answer = await rest(from, "POST", "messages", { to: to.id, content, client_msg_id: crypto.randomUUID() });
  if (answer.status !== 201) throw new Error(`send failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export async function control(path, body) {
  const response = await fetch(`${env.CHAT_CONTROL_URL}/${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`control ${path}: ${response.status}`);
  return response.status === 200 ? response.json() : null;
}

/** The user's uploads as the database holds them: [{attachment_id, msg_id (null: attached to nothing), size, name}]. */
export async function uploadsOf(user) {
  return (await control("uploads", { user_id: user.id })).results;
}

export async function waitFor(condition, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every message of the conversation, as the server holds it. */
export async function serverHistory(user, conversationId) {
  const all = [];
  let before;
  for (;;) {
    const query = `limit=100${before ? `&before=${before}` : ""}`;
    const { body } = await rest(user, "GET", `conversations/${conversationId}/messages?${query}`);
    all.unshift(...body.results);
    if (!body.has_more) return all;
    before = body.results[0].msg_id;
  }
}

export { MessageList };
