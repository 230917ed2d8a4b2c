// A recall made while the client was away, of a message it had already shown, is applied when it
// comes back: PROTOCOL 1.2 revisions (sync by `rev`) carry it. Skipped on a server without them.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { MessageList, alice, bob, disconnectAll, recorded, rest, sendRest, skip, waitFor } from "./server.js";

after(disconnectAll);

it("a recall made while away is applied on reconnect", { skip, timeout: 30000 }, async (t) => {
  const me = recorded(bob);
  const list = new MessageList(me.client, { peerId: alice.id });
  me.client.connect();
  await me.client.ready(10000);
  const message = await sendRest(alice, bob, "seen, then recalled");
  await waitFor(() => list.items.length === 1, "the message, live");
  if (typeof message.rev !== "number") {
    t.skip("the server's Messages carry no rev: it syncs by msg_id, so a recall made while away never reaches sync (PROTOCOL 1.2 revisions not deployed)");
    return;
  }
  me.client.disconnect();
  assert.equal((await rest(alice, "DELETE", `messages/${message.msg_id}`)).status, 204);
  me.client.connect();
  await me.client.ready(10000);
  await waitFor(() => list.items[0].message.status === "recalled", "the recall");
  assert.equal(me.seen.changed.filter((m) => m.msg_id === message.msg_id).length, 1);
  assert.equal(me.seen.recalled.filter((f) => f.msg_id === message.msg_id).length, 1);
});
