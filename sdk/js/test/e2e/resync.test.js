// A `resync` frame runs a catch-up on the same socket, which brings a message whose push was lost.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { WebSocket, alice, bob, control, disconnectAll, recorded, sendRest, skip, waitFor } from "./server.js";

after(disconnectAll);

it("resync catches up without reconnecting, and finds the message whose push was lost", { skip, timeout: 30000 }, async () => {
  const sockets = [];
  let dropped = null;
  class LosingFirstMessage extends WebSocket {
    constructor(url) {
      super(url);
      sockets.push(this);
    }

    set onmessage(listener) {
      super.onmessage = listener && ((event) => {
        const frame = JSON.parse(String(event.data));
        if (dropped === null && frame.type === "message") {
          dropped = frame.message.msg_id; // as the channel layer may lose a frame
          return;
        }
        listener(event);
      });
    }

    get onmessage() {
      return super.onmessage;
    }
  }
  const me = recorded(bob, { WebSocket: LosingFirstMessage });
  me.client.connect();
  await me.client.ready(10000);

  const lost = await sendRest(alice, bob, "its push is lost");
  await waitFor(() => dropped !== null, "the push to arrive (and be dropped)");
  assert.equal(dropped, lost.msg_id);
  assert.ok(!me.seen.message.some((m) => m.msg_id === lost.msg_id));

  await control("resync", { user_id: bob.id });
  await waitFor(() => me.seen.message.some((m) => m.msg_id === lost.msg_id), "the catch-up to bring it");
  assert.equal(sockets.length, 1, "no reconnect");
  assert.equal(me.client.state, "connected");
  assert.equal(me.seen.caughtUp.length, 2);
  assert.deepEqual(me.seen.state.map((s) => s.state), ["connecting", "connected"]);
});
