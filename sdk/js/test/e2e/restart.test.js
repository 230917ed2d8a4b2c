// A client restarted on its stored cursor and outbox loses nothing and repeats nothing: the
// messages of the last run are not emitted again, those that came while it was away are, and the
// message queued while offline is sent once, with the id it was given before the restart.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";

import { FileStorage } from "../../src/node.js";
import { alice, bob, disconnectAll, recorded, rest, sendRest, serverHistory, skip, waitFor } from "./server.js";

after(disconnectAll);

it("a restart with a stored cursor and outbox loses and repeats nothing", { skip, timeout: 40000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "chat-sdk-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "bob.json");

  const first = recorded(bob, { storage: new FileStorage(path), ackOffline: true });
  first.client.connect();
  await first.client.ready(10000);
  const before = [];
  for (let i = 0; i < 5; i++) before.push(await sendRest(alice, bob, `before ${i}`));
  await waitFor(() => first.seen.message.length === 5, "the first five, live");
  first.client.disconnect();
  // Queued while offline, then the process "dies" before any answer.
  const queued = first.client.send(alice.id, "queued while offline");
  queued.catch(() => {});
  await first.client.flush();
  const [entry] = first.client.outbox();
  assert.equal(entry.content, "queued while offline");

  const away = [];
  for (let i = 0; i < 5; i++) away.push(await sendRest(alice, bob, `away ${i}`));

  const second = recorded(bob, { storage: new FileStorage(path), ackOffline: true });
  second.client.connect();
  await second.client.ready(10000);
  await waitFor(() => second.client.outbox().length === 0, "the outbox sent");
  await new Promise((resolve) => setTimeout(resolve, 500)); // room for a repeat to show

  const fromAlice = second.seen.message.filter((m) => m.sender_id === alice.id);
  assert.deepEqual(
    fromAlice.map((m) => m.msg_id),
    away.map((m) => m.msg_id),
    "exactly the messages sent while away",
  );
  const mine = second.seen.message.filter((m) => m.sender_id === bob.id);
  assert.deepEqual(mine.map((m) => m.client_msg_id), [entry.client_msg_id]);
  // What sync brought was acked off the server's offline list.
  let offline;
  const deadline = Date.now() + 5000;
  do offline = (await rest(bob, "GET", "offline")).body.results;
  while (offline.length && Date.now() < deadline);
  assert.deepEqual(offline, []);
  const stored = (await serverHistory(bob, before[0].conversation_id)).filter((m) => m.sender_id === bob.id);
  assert.deepEqual(stored.map((m) => [m.msg_id, m.client_msg_id]), [[mine[0].msg_id, entry.client_msg_id]]);
});
