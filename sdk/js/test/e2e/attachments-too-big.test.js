// A daphne whose CHAT_ATTACHMENT_MAX_BYTES is 20000. A client told nothing learns that limit from
// GET attachments/limits and refuses a larger file before sending a byte: upload() at once, and a
// connected client's send() before anything is queued. A limit given as maxUploadBytes replaces the
// published one: a larger one lets the file go, the server's 413 is an AttachmentTooLarge, after which
// the client refuses that size itself. Nothing refused is stored.
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

  // Told nothing: the server's published limit decides, before a byte is sent.
  const plain = client(alice, { baseUrl: url });
  const progress = [];
  await assert.rejects(plain.upload(tooBig, { onProgress: (p) => progress.push(p) }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge);
    assert.deepEqual([err.size, err.limit, err.status], [LIMIT + 1, LIMIT, null]);
    return true;
  });
  assert.deepEqual(progress, [], "not a byte sent");
  assert.deepEqual(await plain.attachmentLimits(), { max_bytes: LIMIT, max_image_pixels: 25_000_000, max_per_message: 10 });
  assert.equal((await plain.upload(justRight, { name: "just-right.bin" })).size, LIMIT);

  const sender = client(alice, { baseUrl: url });
  sender.connect();
  await sender.ready(10000);
  await assert.rejects(sender.send(bob.id, "", { files: [tooBig] }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge);
    assert.deepEqual([err.size, err.limit, err.status], [LIMIT + 1, LIMIT, null]);
    return true;
  });
  assert.deepEqual(sender.outbox(), []);

  // Told a larger limit: it replaces the published one, and the server's 413 teaches the client.
  const told = client(alice, { baseUrl: url, maxUploadBytes: 10 * LIMIT });
  await assert.rejects(told.upload(tooBig), (err) => {
    assert.ok(err instanceof AttachmentTooLarge);
    assert.deepEqual([err.status, err.size], [413, LIMIT + 1]);
    return true;
  });
  progress.length = 0;
  await assert.rejects(told.upload(tooBig, { onProgress: (p) => progress.push(p) }), (err) => {
    assert.ok(err instanceof AttachmentTooLarge && err.status === null, "refused by the client this time");
    return true;
  });
  assert.deepEqual(progress, [], "not a byte sent");
  assert.deepEqual((await uploadsOf(alice)).map((u) => [u.size, u.msg_id, u.name]), [[LIMIT, null, "just-right.bin"]]);
});
