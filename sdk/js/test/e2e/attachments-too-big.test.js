// A daphne whose CHAT_ATTACHMENT_MAX_BYTES is 20000: its 413 is an AttachmentTooLarge, after which
// the client refuses that size itself before sending a byte; a client told the limit
// (maxUploadBytes) refuses a larger file at once, and nothing of it is queued or stored.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { AttachmentTooLarge } from "../../src/index.js";
import { alice, bob, client, control, disconnectAll, skip, uploadsOf } from "./server.js";

after(disconnectAll);

const LIMIT = 20000;

it("a file over the server's limit is refused before it is uploaded", { skip, timeout: 60000 }, async () => {
  const { url } = await control("daphne", { env: { CHAT_ATTACHMENT_MAX_BYTES: String(LIMIT) } });
  const tooBig = new Blob([new Uint8Array(LIMIT + 1)]);
  const justRight = new Blob([new Uint8Array(LIMIT).fill(7)]);

  const learner = client(alice, { baseUrl: url });
  const progress = [];
  await assert.rejects(learner.upload(tooBig, { onProgress: (p) => progress.push(p) }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge);
    assert.deepEqual([err.status, err.size], [413, LIMIT + 1]);
    return true;
  });
  progress.length = 0;
  await assert.rejects(learner.upload(tooBig, { onProgress: (p) => progress.push(p) }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge && err.status === null, "refused by the client this time");
    return true;
  });
  assert.deepEqual(progress, [], "not a byte sent");
  assert.equal((await learner.upload(justRight, { name: "just-right.bin" })).size, LIMIT);

  const told = client(alice, { baseUrl: url, maxUploadBytes: LIMIT });
  await assert.rejects(told.send(bob.id, "", { files: [tooBig] }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge);
    assert.deepEqual([err.size, err.limit, err.status], [LIMIT + 1, LIMIT, null]);
    return true;
  });
  assert.deepEqual(told.outbox(), []);
  assert.deepEqual((await uploadsOf(alice)).map((u) => [u.size, u.msg_id, u.name]), [[LIMIT, null, "just-right.bin"]]);
});
