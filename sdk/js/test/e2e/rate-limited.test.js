// Sends over the server's rate limit are refused with rate_limited and a retry_after; the outbox
// sends them again after that wait, with the same client_msg_id, and each is stored once.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { WebSocket, alice, bob, client, disconnectAll, env, serverHistory, skip } from "./server.js";

after(disconnectAll);

it("rate_limited sends are retried after retry_after with the same id, stored once", { skip, timeout: 40000 }, async () => {
  const answer = await fetch(`${env.CHAT_CONTROL_URL}/daphne`, {
    method: "POST",
    body: JSON.stringify({ env: { CHAT_RATE_LIMITS: "on", CHAT_SEND_RATE: "3/4s" } }),
  });
  const { url } = await answer.json();
  const frames = [];
  const refusals = [];
  class Recording extends WebSocket {
    send(data) {
      frames.push(JSON.parse(data));
      super.send(data);
    }

    set onmessage(listener) {
      super.onmessage = listener && ((event) => {
        const frame = JSON.parse(String(event.data));
        if (frame.type === "error") refusals.push(frame);
        listener(event);
      });
    }

    get onmessage() {
      return super.onmessage;
    }
  }
  const me = client(alice, { baseUrl: url, WebSocket: Recording });
  me.connect();
  await me.ready(10000);

  // The server counts in fixed 4 s windows (by the same clock): start the burst early in one, so
  // all six sends fall in it and three are refused, however slow the machine.
  const intoWindow = Date.now() % 4000;
  if (intoWindow > 500) await new Promise((resolve) => setTimeout(resolve, 4000 - intoWindow + 50));
  const sent = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => me.send(bob.id, `limited ${i}`)));
  assert.ok(refusals.length >= 3, `refused: ${refusals.length}`);
  for (const refusal of refusals) {
    assert.equal(refusal.code, "rate_limited");
    assert.ok(refusal.retry_after >= 1 && refusal.retry_after <= 5, String(refusal.retry_after));
  }
  const ids = sent.map((m) => m.client_msg_id);
  const sendFrames = frames.filter((f) => f.type === "send");
  assert.ok(sendFrames.length >= 9, "the refused ones were sent again");
  assert.ok(sendFrames.every((f) => ids.includes(f.client_msg_id)), "never a new id");
  const stored = (await serverHistory(alice, sent[0].conversation_id)).filter((m) => m.content.startsWith("limited"));
  assert.deepEqual(stored.map((m) => m.client_msg_id).sort(), [...ids].sort());
});
