// A message sent and recalled while the client was away reaches it, once, as recalled.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { MessageList, alice, bob, disconnectAll, recorded, rest, sendRest, skip, waitFor } from "./server.js";

after(disconnectAll);

it("a message sent and recalled while away comes back recalled, once", { skip, timeout: 30000 }, async () => {
  const me = recorded(bob);
  const list = new MessageList(me.client, { peerId: alice.id });
  me.client.connect();
  await me.client.ready(10000);
  me.client.disconnect();

  const message = await sendRest(alice, bob, "soon gone");
  assert.equal((await rest(alice, "DELETE", `messages/${message.msg_id}`)).status, 204);

  me.client.connect();
  await me.client.ready(10000);
  await waitFor(() => list.items.length === 1, "the message");
  assert.deepEqual(me.seen.message.map((m) => [m.msg_id, m.status, m.content]), [[message.msg_id, "recalled", ""]]);
  assert.equal(list.items[0].message.status, "recalled");
});
