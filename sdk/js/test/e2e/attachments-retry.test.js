// A send with a file whose ack is lost (the socket cut as the ack arrives) and which the catch-up
// after the reconnect does not show yet (a message becomes visible to sync slightly after its id is
// handed out, PROTOCOL.md "Sync"): the client sends it again with the same client_msg_id and the
// same attachment id; the server stores one message with the file attached once, uploaded once.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { WebSocket, alice, bob, disconnectAll, recorded, serverHistory, skip, uploadsOf } from "./server.js";

after(disconnectAll);

function cuttingAtFirstAck() {
  const record = { cut: false, sends: [] };
  class CutAtAck extends WebSocket {
    send(data) {
      const frame = JSON.parse(data);
      if (frame.type === "send") record.sends.push(frame);
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

/** A fetch whose sync answers leave out the messages with this content until `record` saw a resend. */
function hidingFromSync(content, record) {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!String(url).includes("/api/v1/sync?") || record.sends.length > 1) return response;
    const page = await response.json();
    page.results = page.results.filter((m) => m.content !== content);
    return new Response(JSON.stringify(page), { status: response.status, headers: response.headers });
  };
}

it("a send with a file retried after a lost ack attaches the file once", { skip, timeout: 40000 }, async () => {
  const { CutAtAck, record } = cuttingAtFirstAck();
  const me = recorded(alice, { WebSocket: CutAtAck, fetch: hidingFromSync("once", record) });
  me.client.connect();
  await me.client.ready(10000);

  const message = await me.client.send(bob.id, "once", { files: [new File(["the only copy\n"], "once.txt")] });
  assert.ok(record.cut && record.sends.length >= 2, `the ack was cut and the send repeated (${record.sends.length})`);
  assert.ok(record.sends.every((f) => f.client_msg_id === message.client_msg_id));
  const ids = message.attachments.map((x) => x.attachment_id);
  assert.ok(record.sends.every((f) => JSON.stringify(f.attachments) === JSON.stringify(ids)), "the same ids each time");

  const stored = (await serverHistory(alice, message.conversation_id)).filter((m) => m.content === "once");
  assert.deepEqual(stored.map((m) => [m.msg_id, m.attachments.map((x) => x.attachment_id)]), [[message.msg_id, ids]]);
  assert.deepEqual(await uploadsOf(alice), [{ attachment_id: ids[0], msg_id: message.msg_id, size: 14, name: "once.txt" }]);
});
