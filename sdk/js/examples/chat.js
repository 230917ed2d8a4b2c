// A terminal chat with one peer: lines you type are sent, the peer's messages are printed.
//   CHAT_URL=http://127.0.0.1:8000 CHAT_TOKEN=<key> CHAT_PEER=<user_id> node examples/chat.js
import { createInterface } from "node:readline";
import { ChatClient } from "@chat/sdk";
import { FileStorage } from "@chat/sdk/node";

const peer = Number(process.env.CHAT_PEER);
const client = new ChatClient({
  baseUrl: process.env.CHAT_URL,
  token: process.env.CHAT_TOKEN,
  WebSocket: globalThis.WebSocket ?? (await import("ws")).default, // Node < 22: the `ws` package
  storage: new FileStorage(process.env.CHAT_STATE ?? ".chat-state.json"), // cursor and outbox
});

client.on("state", ({ state, code, reason }) => console.error(`[${state}${code ? ` ${code} ${reason}` : ""}]`));
client.on("typing", ({ user_id }) => user_id === peer && console.error("[typing]"));
client.on("message", (m) => {
  if (m.sender_id !== peer) return;
  console.log(`peer: ${m.status === "recalled" ? "(recalled)" : m.content}`);
  client.markRead(m.conversation_id, m.msg_id).catch(() => {});
});
client.on("recalled", ({ msg_id }) => console.error(`[message ${msg_id} recalled]`));
client.connect();

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  client.send(peer, line).then(
    (sent) => console.log(`me: ${sent.content} (#${sent.msg_id})`),
    (error) => console.error(`[not sent: ${error.code} ${error.detail}]`),
  );
});
input.on("close", () => client.flush().then(() => client.disconnect()));
