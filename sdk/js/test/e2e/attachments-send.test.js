// Files with a message: the sender's uploads report their progress, the message reaches the peer
// through its SDK with its attachments (push, history, sync), and the peer downloads the file and
// the image's thumbnail with its own token.
import assert from "node:assert/strict";
import { openAsBlob } from "node:fs";
import { after, it } from "node:test";

import { alice, bob, disconnectAll, recorded, skip, uploadsOf, waitFor } from "./server.js";

after(disconnectAll);

const PHOTO = new URL("./fixtures/photo.png", import.meta.url);

/** Width and height from a PNG's IHDR chunk. */
async function pngSize(blob) {
  const bytes = new DataView(await blob.arrayBuffer());
  assert.equal(bytes.getUint32(0), 0x89504e47, "a PNG");
  return [bytes.getUint32(16), bytes.getUint32(20)];
}

it("a message with a photo and a file reaches the peer, who downloads both", { skip, timeout: 40000 }, async () => {
  const a = recorded(alice);
  const b = recorded(bob);
  const progress = [];
  a.client.on("uploadProgress", (p) => progress.push(p));
  a.client.connect();
  b.client.connect();
  await Promise.all([a.client.ready(10000), b.client.ready(10000)]);

  const photo = new File([await openAsBlob(PHOTO)], "photo.png", { type: "image/png" });
  const notes = new File(["notes ✓\n".repeat(40000)], "notes.txt");
  const sent = await a.client.send(bob.id, "", { files: [photo, notes] });
  assert.deepEqual(sent.attachments.map((x) => [x.kind, x.name]), [["image", "photo.png"], ["file", "notes.txt"]]);

  const ofNotes = progress.filter((p) => p.index === 1);
  assert.ok(ofNotes.length > 3, `progress events of the 360 KB file: ${ofNotes.length}`);
  assert.equal(ofNotes.at(-1).loaded, ofNotes.at(-1).total);
  assert.ok(ofNotes.every((p) => p.client_msg_id === sent.client_msg_id));

  const got = await waitFor(() => b.seen.message.find((m) => m.msg_id === sent.msg_id), "bob's copy");
  assert.deepEqual(got.attachments, sent.attachments);
  const [image, file] = got.attachments;
  assert.deepEqual([image.width, image.height, file.thumbnail_url], [800, 600, null]);

  const thumbnail = await b.client.download(image, { thumbnail: true });
  const [width, height] = await pngSize(thumbnail);
  assert.ok(Math.max(width, height) <= 320 && width > height, `thumbnail ${width}x${height}`);
  assert.deepEqual(await pngSize(await b.client.download(image)), [800, 600]);
  assert.equal(await (await b.client.download(file)).text(), "notes ✓\n".repeat(40000));
  await assert.rejects(b.client.download(file, { thumbnail: true }), { code: "not_found" });

  const history = await b.client.history(sent.conversation_id);
  assert.deepEqual(history.results.at(-1).attachments, sent.attachments);
  const synced = await b.client.rest.request("GET", "sync", { query: { since: 0 } });
  assert.deepEqual(synced.results.find((m) => m.msg_id === sent.msg_id).attachments, sent.attachments);
  assert.deepEqual((await uploadsOf(alice)).map((u) => u.msg_id), [sent.msg_id, sent.msg_id]);

  // upload() alone, then the id in a send.
  const seen = [];
  const alone = await a.client.upload(new Blob(["x".repeat(200_000)]), { name: "alone.txt", onProgress: (p) => seen.push(p) });
  assert.ok(seen.length > 2 && seen.at(-1).loaded === seen.at(-1).total);
  const second = await a.client.send(bob.id, "and one more", { attachments: [alone.attachment_id] });
  assert.deepEqual(second.attachments.map((x) => x.attachment_id), [alone.attachment_id]);
  assert.equal(b.seen.error.length + a.seen.error.length, 0);
});
