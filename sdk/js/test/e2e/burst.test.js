// The server drops the receiver's sockets twice while the peer sends 200 messages: the receiver
// surfaces exactly the 200, each once, in msg_id order.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { MessageList, alice, bob, control, disconnectAll, recorded, skip, waitFor } from "./server.js";

after(disconnectAll);

it("200 messages through two server-side socket drops: exactly 200, once each, in order", { skip, timeout: 80000 }, async () => {
  const receiver = recorded(bob);
  const list = new MessageList(receiver.client, { peerId: alice.id });
  const sender = recorded(alice);
  receiver.client.connect();
  sender.client.connect();
  await Promise.all([receiver.client.ready(10000), sender.client.ready(10000)]);

  // Ten at a time, the next ten once those are acked; after 50 and after 130 acks the server closes
  // bob's sockets, each time while bob is connected and messages are on their way to him. (Codes an
  // application may send: daphne turns a 1012 asked for by the app into 1011.)
  const drops = { 50: 4000, 130: 3000 };
  const sent = [];
  const progress = setInterval(
    () => console.error(`acked ${sent.length}, received ${receiver.seen.message.length}, bob ${receiver.client.state}`),
    2000,
  );
  progress.unref();
  for (let chunk = 0; chunk < 20; chunk++) {
    const sends = [];
    for (let i = 0; i < 10; i++) sends.push(sender.client.send(bob.id, `burst ${chunk * 10 + i}`));
    sent.push(...(await Promise.all(sends)));
    if (drops[sent.length]) {
      await waitFor(() => receiver.client.state === "connected", "bob connected before a drop");
      await control("close", { user_id: bob.id, code: drops[sent.length] });
    }
  }
  const sentIds = sent.map((m) => m.msg_id).sort((a, b) => a - b);
  assert.equal(new Set(sentIds).size, 200);

  const fromAlice = () => receiver.seen.message.filter((m) => m.sender_id === alice.id);
  await waitFor(() => fromAlice().length >= 200 && receiver.client.state === "connected", "200 messages", 60000);
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything more would be a repeat

  const got = fromAlice().map((m) => m.msg_id);
  assert.equal(got.length, 200, "each message surfaced once");
  assert.deepEqual([...got].sort((a, b) => a - b), sentIds, "exactly the 200 sent");
  assert.deepEqual(got, [...got].sort((a, b) => a - b), "emitted in msg_id order");
  assert.deepEqual(
    list.items.map((e) => e.message.msg_id),
    sentIds,
  );
  const drops_seen = receiver.seen.state.filter((s) => s.state === "connecting" && [4000, 3000].includes(s.code));
  assert.deepEqual(drops_seen.map((s) => s.code), [4000, 3000], `both drops happened: ${JSON.stringify(receiver.seen.state)}`);

});
