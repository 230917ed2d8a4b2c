// An edit made while the client was away is applied on reconnect (PROTOCOL 1.2 edit and revisions).
// Skipped on a server that has no edit yet (PATCH messages/{id} answers 405).
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { MessageList, alice, bob, disconnectAll, recorded, rest, sendRest, skip, waitFor } from "./server.js";

after(disconnectAll);

it("an edit made while away is applied on reconnect", { skip, timeout: 30000 }, async (t) => {
  const me = recorded(bob);
  const list = new MessageList(me.client, { peerId: alice.id });
  me.client.connect();
  await me.client.ready(10000);
  const message = await sendRest(alice, bob, "first words");
  await waitFor(() => list.items.length === 1, "the message, live");
  me.client.disconnect();

  const edit = await rest(alice, "PATCH", `messages/${message.msg_id}`, { content: "second thoughts" });
  if (edit.status === 405) {
    t.skip("PATCH messages/{id} answers 405: the server has no edit yet (PROTOCOL 1.2)");
    return;
  }
  assert.equal(edit.status, 200);
  me.client.connect();
  await me.client.ready(10000);
  await waitFor(() => list.items[0].message.content === "second thoughts", "the edit");
  assert.equal(me.seen.changed.filter((m) => m.msg_id === message.msg_id).length, 1);
  assert.equal(me.seen.message.filter((m) => m.msg_id === message.msg_id).length, 1);
});
