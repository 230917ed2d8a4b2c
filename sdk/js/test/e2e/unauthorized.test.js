// A socket closed with 4401 ends in `disconnected`, and the client never tries again.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { WebSocket, disconnectAll, recorded, skip } from "./server.js";

after(disconnectAll);

it("4401: disconnected, no retry", { skip, timeout: 30000 }, async () => {
  let opened = 0;
  class Counting extends WebSocket {
    constructor(url) {
      super(url);
      opened += 1;
    }
  }
  const me = recorded({ id: 0, token: "not-a-real-token" }, { WebSocket: Counting, minReconnectDelay: 50 });
  me.client.connect();
  await assert.rejects(me.client.ready(10000), { code: "disconnected" });
  assert.deepEqual(me.seen.state.at(-1), { state: "disconnected", code: 4401, reason: me.seen.state.at(-1).reason });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  assert.equal(opened, 1, "never reconnected");
  assert.equal(me.client.state, "disconnected");
});
