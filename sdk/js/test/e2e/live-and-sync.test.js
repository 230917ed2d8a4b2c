// A message that arrives live and again in a catch-up's sync page surfaces once.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { alice, bob, control, disconnectAll, recorded, sendRest, skip, waitFor } from "./server.js";

after(disconnectAll);

it("a message pushed live and synced again is emitted once", { skip, timeout: 30000 }, async () => {
  const syncs = [];
  const countingFetch = (url, init) => {
    if (String(url).includes("/sync?")) syncs.push(String(url));
    return fetch(url, init);
  };
  const me = recorded(bob, { fetch: countingFetch });
  me.client.connect();
  await me.client.ready(10000);
  const cursor = me.client.cursor;

  const sent = await sendRest(alice, bob, "live, then synced");
  await waitFor(() => me.seen.message.some((m) => m.msg_id === sent.msg_id), "the live push");
  assert.equal(me.client.cursor, cursor, "a live message does not move the cursor");

  // The next catch-up starts below the message, so its page holds it again.
  const before = syncs.length;
  await control("resync", { user_id: bob.id });
  await waitFor(() => me.seen.caughtUp.length === 2, "the catch-up after resync");
  assert.equal(syncs.length, before + 1);
  assert.ok(me.client.cursor >= sent.msg_id, "the cursor moved past it");
  assert.deepEqual(
    me.seen.message.filter((m) => m.msg_id === sent.msg_id).length,
    1,
  );
});
