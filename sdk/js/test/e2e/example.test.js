// The README's terminal chat (examples/chat.js), run as a process: it prints what the peer sends
// and sends what is typed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";

import { alice, bob, disconnectAll, env, recorded, skip, waitFor } from "./server.js";

after(disconnectAll);

it("the README's chat client chats", { skip, timeout: 30000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "chat-example-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ["examples/chat.js"], {
    env: { ...process.env, CHAT_URL: env.CHAT_URL, CHAT_TOKEN: bob.token, CHAT_PEER: String(alice.id), CHAT_STATE: join(dir, "s.json") },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (err += chunk));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  await waitFor(() => err.includes("[connected]"), `the example connected (${err})`);

  const a = recorded(alice);
  a.client.connect();
  await a.client.ready(10000);
  await a.client.send(bob.id, "hi from alice");
  await waitFor(() => out.includes("peer: hi from alice"), `the example printed it (${out})`);
  child.stdin.write("hi from bob\n");
  await waitFor(() => a.seen.message.some((m) => m.sender_id === bob.id && m.content === "hi from bob"), "alice got it");
  await waitFor(() => out.includes("me: hi from bob (#"), "the ack printed");
  child.stdin.end();
  assert.equal(await exited, 0, err);
});
