// An upload aborted mid-body (upload()'s AbortSignal, or a send's while its file uploads) leaves
// nothing: no upload row on the server, no message, nothing in the outbox.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { UploadCancelled } from "../../src/index.js";
import { alice, bob, disconnectAll, recorded, rest, skip, uploadsOf } from "./server.js";

after(disconnectAll);

it("a cancelled upload leaves nothing stored and nothing attached", { skip, timeout: 40000 }, async () => {
  const a = recorded(alice);
  a.client.connect();
  await a.client.ready(10000);
  const big = new Blob([new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7) % 256)]);

  const stop = new AbortController();
  const onProgress = (p) => p.loaded > 1024 * 1024 && stop.abort();
  await assert.rejects(a.client.upload(big, { name: "big.bin", signal: stop.signal, onProgress }), UploadCancelled);

  const cancel = new AbortController();
  a.client.on("uploadProgress", (p) => p.loaded > 1024 * 1024 && cancel.abort());
  await assert.rejects(a.client.send(bob.id, "never sent", { files: [big], signal: cancel.signal }), UploadCancelled);
  assert.deepEqual(a.client.outbox(), []);

  await new Promise((resolve) => setTimeout(resolve, 1000)); // an upload the server still held would be stored by now
  assert.deepEqual(await uploadsOf(alice), []);
  assert.deepEqual((await rest(alice, "GET", "conversations")).body.results, []);
  assert.equal(a.seen.message.length, 0);
});
