// The socket is cut after the server took a send and before its ack reached the client: after the
// reconnect there is one stored message with one msg_id, and the client shows it once.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { MessageList, WebSocket, alice, bob, disconnectAll, recorded, serverHistory, skip, waitFor } from "./server.js";

after(disconnectAll);

/** A socket that drops the connection (no close frame) instead of delivering the first ack. */
function cuttingAtFirstAck() {
  const record = { cut: false, sends: [] };
  class CutAtAck extends WebSocket {
    send(data) {
      const frame = JSON.parse(data);
      if (frame.type === "send") record.sends.push(frame.client_msg_id);
      super.send(data);
    }

    set onmessage(listener) {
      super.onmessage = listener && ((event) => {
        if (!record.cut && JSON.parse(String(event.data)).type === "ack") {
          record.cut = true;
          this.terminate ? this.terminate() : this.close();
          return;
        }
        listener(event);
      });
    }

    get onmessage() {
      return super.onmessage;
    }
  }
  return { CutAtAck, record };
}

it("a socket cut between send and ack: one stored message, one msg_id, shown once", { skip, timeout: 30000 }, async () => {
  const { CutAtAck, record } = cuttingAtFirstAck();
  const me = recorded(alice, { WebSocket: CutAtAck });
  const list = new MessageList(me.client, { peerId: bob.id });
  me.client.connect();
  await me.client.ready(10000);

  const message = await me.client.send(bob.id, "cut before the ack");
  assert.ok(record.cut, "the ack was cut off");
  assert.deepEqual(me.seen.state.slice(0, 3).map((s) => s.state), ["connecting", "connected", "connecting"], "the socket was lost");
  assert.ok(record.sends.every((id) => id === message.client_msg_id), "every (re)send carried the one id");

  const stored = (await serverHistory(alice, message.conversation_id)).filter((m) => m.content === "cut before the ack");
  assert.deepEqual(stored.map((m) => m.msg_id), [message.msg_id]);
  await waitFor(() => me.client.state === "connected", "reconnected");
  const mine = me.seen.message.filter((m) => m.client_msg_id === message.client_msg_id);
  assert.deepEqual(mine.map((m) => m.msg_id), [message.msg_id]);
  assert.deepEqual(list.items.map((e) => [e.message.msg_id, e.status]), [[message.msg_id, "sent"]]);
  assert.deepEqual(me.client.outbox(), []);
});
