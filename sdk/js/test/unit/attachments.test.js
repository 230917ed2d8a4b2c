// Attachments without the chat server: the size check, typed refusals, the streamed upload and its
// cancellation (against a throwaway node:http server, through the real fetch), the XMLHttpRequest
// path, downloads, and sends that upload their files first.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";

import {
  AttachmentTooLarge,
  ChatClient,
  ChatError,
  InvalidAttachment,
  MemoryStorage,
  MessageList,
  UnsupportedMediaType,
  UploadCancelled,
  UploadError,
} from "../../src/index.js";
import { FakeTimers, fakeServer, fakeWebSocketClass, message, seeded, settle } from "./fakes.js";

const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

function attachment(id, extra = {}) {
  return {
    attachment_id: id,
    name: "a.bin",
    size: 10,
    content_type: "application/octet-stream",
    kind: "file",
    width: null,
    height: null,
    url: `/api/v1/attachments/${id}`,
    thumbnail_url: null,
    ...extra,
  };
}

const bytes = (n) => new Blob([new Uint8Array(n).map((_, i) => i % 251)]);

const LIMITS_PATH = "/api/v1/attachments/limits";

/**
 * A REST-only client whose fetch is `fetch` (no socket needed for uploads and downloads). Its server
 * publishes no limits (GET attachments/limits: 404) unless `fetch` answers that path itself
 * (`limits: true`).
 */
function restClient(fetch, { limits = false, ...options } = {}) {
  const unpublished = (url, init) =>
    new URL(url).pathname === LIMITS_PATH ? json(404, { code: "not_found", detail: "Not found." }) : fetch(url, init);
  return new ChatClient({
    baseUrl: "http://chat.test",
    token: "tok",
    fetch: limits ? fetch : unpublished,
    XMLHttpRequest: null,
    ...options,
  });
}

const LIMITS = { max_bytes: 100, max_image_pixels: 25_000_000, max_per_message: 10 };

describe("the size check", () => {
  it("refuses a file over maxUploadBytes, or empty, before any request", async () => {
    const calls = [];
    const client = restClient(async (url) => (calls.push(url), json(201, attachment(1))), { maxUploadBytes: 100 });
    const progress = [];
    await assert.rejects(client.upload(bytes(101), { onProgress: (p) => progress.push(p) }), (err) => {
      assert.ok(err instanceof AttachmentTooLarge && err instanceof UploadError && err instanceof ChatError);
      assert.deepEqual([err.code, err.size, err.limit, err.status], ["payload_too_large", 101, 100, null]);
      return true;
    });
    await assert.rejects(client.upload(new Blob([])), InvalidAttachment);
    await assert.rejects(client.send(9, "", { files: [bytes(101)] }), AttachmentTooLarge);
    assert.deepEqual([calls, progress, client.outbox()], [[], [], []]);
    assert.equal((await client.upload(bytes(100))).attachment_id, 1);
    assert.equal(calls.length, 1);
  });

  it("learns from a 413: the same size or more is refused without a request, a smaller one goes", async () => {
    const sizes = [];
    const client = restClient(async (url, init) => {
      const size = Number(init.headers["Content-Length"]);
      sizes.push(size);
      return size > 3000 ? json(413, { code: "payload_too_large", detail: "too large" }) : json(201, attachment(2));
    });
    await assert.rejects(client.upload(bytes(5000)), (err) => err instanceof AttachmentTooLarge && err.status === 413);
    await assert.rejects(client.upload(bytes(5000)), (err) => err instanceof AttachmentTooLarge && err.status === null);
    assert.equal(sizes.length, 1, "refused before a byte was sent");
    assert.equal((await client.upload(bytes(1000))).attachment_id, 2);
  });
});

describe("the limit the server publishes (GET attachments/limits)", () => {
  /** A fetch answering the limits with `limits` (a Response, or a function making one) and uploads with 201. */
  function publishing(limits) {
    const calls = [];
    const fetch = async (url, init = {}) => {
      const path = new URL(url).pathname;
      calls.push(`${init.method || "GET"} ${path}`);
      if (path === LIMITS_PATH) return typeof limits === "function" ? limits() : json(200, limits);
      return json(201, attachment(calls.length));
    };
    return { calls, fetch };
  }

  it("is asked once, before the first upload, and a larger file is refused without sending a byte", async () => {
    const server = publishing(LIMITS);
    const client = restClient(server.fetch, { limits: true });
    const progress = [];
    await assert.rejects(client.upload(bytes(101), { onProgress: (p) => progress.push(p) }), (err) => {
      assert.ok(err instanceof AttachmentTooLarge);
      assert.deepEqual([err.size, err.limit, err.status], [101, 100, null]);
      return true;
    });
    assert.deepEqual(progress, []);
    await client.upload(bytes(100));
    await client.upload(bytes(50));
    assert.deepEqual(server.calls, [`GET ${LIMITS_PATH}`, "POST /api/v1/attachments", "POST /api/v1/attachments"]);
    assert.deepEqual(await client.attachmentLimits(), LIMITS);
    assert.equal(server.calls.length, 3, "kept, not asked again");
  });

  it("maxUploadBytes replaces it: never asked, the app's limit decides", async () => {
    const server = publishing(LIMITS);
    const client = restClient(server.fetch, { limits: true, maxUploadBytes: 1000 });
    await client.upload(bytes(500));
    await assert.rejects(client.upload(bytes(1001)), (err) => err instanceof AttachmentTooLarge && err.limit === 1000);
    assert.deepEqual(server.calls, ["POST /api/v1/attachments"]);
  });

  it("a fetch that fails lets the upload go (the server's 413 decides) and is tried again next time", async () => {
    const answers = [
      () => Promise.reject(new TypeError("fetch failed")),
      () => json(503, { code: "unavailable", detail: "later" }),
      () => json(200, LIMITS),
    ];
    const server = publishing(() => answers.shift()());
    const client = restClient(server.fetch, { limits: true });
    await client.upload(bytes(500));
    await client.upload(bytes(500));
    await assert.rejects(client.upload(bytes(500)), (err) => err instanceof AttachmentTooLarge && err.limit === 100);
    assert.deepEqual(
      server.calls.map((c) => c.split(" ")[1]),
      [LIMITS_PATH, "/api/v1/attachments", LIMITS_PATH, "/api/v1/attachments", LIMITS_PATH],
    );
  });

  it("a server without it (404) is not asked again", async () => {
    const server = publishing(() => json(404, { code: "not_found", detail: "Not found." }));
    const client = restClient(server.fetch, { limits: true });
    await client.upload(bytes(500));
    await client.upload(bytes(500));
    assert.deepEqual(server.calls, [`GET ${LIMITS_PATH}`, "POST /api/v1/attachments", "POST /api/v1/attachments"]);
    await assert.rejects(client.attachmentLimits(), (err) => err instanceof ChatError && err.code === "not_found");
  });

  it("a connected client refuses a send with a file over it before queueing anything", async () => {
    const t = await connected({ limits: LIMITS });
    await assert.rejects(t.client.send(9, "", { files: [bytes(101)] }), (err) => {
      assert.ok(err instanceof AttachmentTooLarge);
      assert.deepEqual([err.size, err.limit, err.status], [101, 100, null]);
      return true;
    });
    assert.deepEqual([t.client.outbox(), t.events.pending, t.uploads], [[], [], []]);
    t.client.disconnect();
  });
});

it("refusals are typed: 415, validation_error on file, and rate_limited stays a plain ChatError", async () => {
  const answers = [
    json(415, { code: "unsupported_media_type", detail: "multipart please" }),
    json(400, { code: "validation_error", detail: "bad", errors: { file: ["Not a whole image."] } }),
    json(429, { code: "rate_limited", detail: "later" }, { "Retry-After": "30" }),
  ];
  const client = restClient(async () => answers.shift());
  await assert.rejects(client.upload(bytes(10)), UnsupportedMediaType);
  await assert.rejects(client.upload(bytes(10)), (err) => {
    assert.ok(err instanceof InvalidAttachment);
    assert.deepEqual(err.errors, { file: ["Not a whole image."] });
    return true;
  });
  await assert.rejects(client.upload(bytes(10)), (err) => {
    assert.ok(!(err instanceof UploadError));
    assert.deepEqual([err.code, err.retryAfter], ["rate_limited", 30]);
    return true;
  });
});

describe("the streamed upload (Node's fetch, a real socket)", () => {
  let server;
  let base;
  const requests = [];
  before(async () => {
    server = createServer((req, res) => {
      if (req.method === "GET") {
        // GET attachments/limits: this server publishes none.
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ code: "not_found", detail: "Not found." }));
        return;
      }
      const seen = { headers: req.headers, body: [], aborted: false, ended: false };
      requests.push(seen);
      req.on("data", (chunk) => seen.body.push(chunk));
      req.on("aborted", () => (seen.aborted = true));
      req.on("close", () => (seen.closed = true));
      req.on("end", () => {
        seen.ended = true;
        res.writeHead(201, { "Content-Type": "application/json" });
        res.end(JSON.stringify(attachment(3, { size: Number(req.headers["content-length"]) })));
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => server.close());

  it("sends one multipart field `file` with its Content-Length, and reports progress up to the whole body", async () => {
    const client = new ChatClient({ baseUrl: base, token: "tok" });
    const progress = [];
    const file = new File([bytes(300_000)], 'a "quoted"\nname.bin', { type: "application/pdf" });
    await client.upload(file, { onProgress: (p) => progress.push(p) });
    const seen = requests.at(-1);
    const body = Buffer.concat(seen.body);
    assert.equal(body.length, Number(seen.headers["content-length"]));
    assert.match(seen.headers["content-type"], /^multipart\/form-data; boundary=/);
    assert.equal(seen.headers.authorization, "Token tok");
    const text = body.toString("latin1");
    assert.ok(text.includes('Content-Disposition: form-data; name="file"; filename="a _quoted__name.bin"'));
    assert.ok(text.includes("Content-Type: application/pdf\r\n\r\n"));
    assert.ok(progress.length > 3);
    assert.deepEqual(progress.at(-1), { loaded: body.length, total: body.length });
    assert.deepEqual(progress.map((p) => p.loaded), progress.map((p) => p.loaded).sort((a, b) => a - b));
  });

  it("an AbortSignal mid-body rejects with UploadCancelled and the server never gets the whole body", async () => {
    requests.length = 0;
    const client = new ChatClient({ baseUrl: base, token: "tok" });
    const abort = new AbortController();
    const file = bytes(8_000_000);
    await assert.rejects(
      client.upload(file, { signal: abort.signal, onProgress: (p) => p.loaded > 2_000_000 && abort.abort() }),
      UploadCancelled,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Cut mid-body, or (when the connection was slower than the first 2 MB) before its headers went out.
    assert.ok(requests.every((r) => !r.ended && Buffer.concat(r.body).length < file.size), "never the whole body");
    await assert.rejects(client.upload(file, { signal: abort.signal }), UploadCancelled, "aborted already: no request");
  });
});

it("in browsers the upload goes through XMLHttpRequest: its upload progress, abort and status", async () => {
  const made = [];
  class FakeXhr {
    constructor() {
      this.headers = {};
      this.upload = {};
      made.push(this);
    }
    open(method, url) {
      Object.assign(this, { method, url });
    }
    setRequestHeader(k, v) {
      this.headers[k] = v;
    }
    getResponseHeader() {
      return null;
    }
    send(form) {
      this.form = form;
    }
    abort() {
      this.onabort();
    }
    answer(status, body) {
      Object.assign(this, { status, responseText: JSON.stringify(body) });
      this.onload();
    }
  }
  const client = new ChatClient({ baseUrl: "http://chat.test", token: "tok", fetch: async () => null, XMLHttpRequest: FakeXhr });
  const progress = [];
  const first = client.upload(bytes(10), { name: "n.txt", onProgress: (p) => progress.push(p) });
  await settle();
  const xhr = made[0];
  assert.deepEqual([xhr.method, xhr.url, xhr.headers.Authorization], ["POST", "http://chat.test/api/v1/attachments", "Token tok"]);
  assert.equal(xhr.form.get("file").name, "n.txt");
  xhr.upload.onprogress({ loaded: 5, total: 10, lengthComputable: true });
  xhr.answer(201, attachment(4));
  assert.equal((await first).attachment_id, 4);
  assert.deepEqual(progress, [{ loaded: 5, total: 10 }]);

  const abort = new AbortController();
  const second = client.upload(bytes(10), { signal: abort.signal });
  await settle();
  abort.abort();
  await assert.rejects(second, UploadCancelled);

  const third = client.upload(bytes(10));
  await settle();
  made[2].answer(413, { code: "payload_too_large", detail: "too large" });
  await assert.rejects(third, (err) => err instanceof AttachmentTooLarge && err.status === 413 && err.size === 10);
});

it("downloads send the token to the server's own origin only", async () => {
  const calls = [];
  const client = restClient(async (url, init) => {
    calls.push([url, init.headers.Authorization]);
    if (url.endsWith("/attachments/8/thumbnail")) return new Response("thumb", { headers: { "Content-Type": "image/png" } });
    return json(404, { code: "not_found", detail: "No such attachment." });
  });
  const image = attachment(8, { kind: "image", thumbnail_url: "/api/v1/attachments/8/thumbnail" });
  assert.equal(client.attachmentUrl(image, { thumbnail: true }), "http://chat.test/api/v1/attachments/8/thumbnail");
  assert.equal(client.attachmentUrl(9), "http://chat.test/api/v1/attachments/9");
  const blob = await client.download(image, { thumbnail: true });
  assert.deepEqual([await blob.text(), blob.type], ["thumb", "image/png"]);
  await assert.rejects(client.download(attachment(7), { thumbnail: true }), { code: "not_found" });
  await assert.rejects(client.download(99), { code: "not_found", status: 404 });
  await assert.rejects(client.download(attachment(5, { url: "https://evil.test/api/v1/attachments/5" })), {
    code: "invalid_url",
  });
  assert.deepEqual(calls, [
    ["http://chat.test/api/v1/attachments/8/thumbnail", "Token tok"],
    ["http://chat.test/api/v1/attachments/99", "Token tok"],
  ]);
});

// --- sends with files, on the fake socket ----------------------------------------------------------

/** A connected client whose uploads wait until the test answers them (`uploads[i].answer(...)`). */
async function connected({ storage = new MemoryStorage(), options = {}, limits = null } = {}) {
  const timers = new FakeTimers();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const server = fakeServer({ limits });
  const uploads = [];
  const fetch = (url, init = {}) => {
    if (!url.endsWith("/api/v1/attachments")) return server.fetch(url, init);
    return new Promise((resolve, reject) => {
      const upload = { init, answer: resolve, fail: reject };
      uploads.push(upload);
      init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      // Read the body as a server would, so that progress is reported.
      new Response(init.body).arrayBuffer().then((body) => (upload.length = body.byteLength), () => {});
    });
  };
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    token: "tok",
    WebSocket: FakeWebSocket,
    fetch,
    XMLHttpRequest: null,
    storage,
    random: seeded(3),
    timers,
    ...options,
  });
  const events = { failed: [], uploadProgress: [], pending: [] };
  for (const type of Object.keys(events)) client.on(type, (e) => events[type].push(e));
  client.connect();
  const ws = await ready(sockets);
  return { client, timers, sockets, ws, uploads, events, storage };
}

async function ready(sockets) {
  await settle();
  const ws = sockets.at(-1);
  ws.open();
  ws.receive({ type: "ready", user_id: 7 });
  await settle();
  return ws;
}

it("a send uploads its files first, and every resend carries the same ids without uploading again", async () => {
  const t = await connected();
  const list = new MessageList(t.client, { peerId: 9 });
  const sending = t.client.send(9, "", { attachments: [54], files: [bytes(200_000), new File(["x"], "two.txt")] });
  await settle();
  assert.equal(t.uploads.length, 1, "one file at a time");
  assert.deepEqual(t.ws.frames("send"), [], "not sent before its files are up");
  assert.deepEqual(t.client.outbox()[0].uploads, [{ name: null, size: 200_000 }, { name: "two.txt", size: 1 }]);
  assert.equal(await t.storage.get("chat:outbox").then((o) => o.length), 0, "not stored while its Blobs upload");
  t.uploads[0].answer(json(201, attachment(55)));
  await settle();
  assert.ok(list.items[0].progress.loaded > 0 && list.items[0].status === "pending");
  t.uploads[1].answer(json(201, attachment(56)));
  await settle();
  const [frame] = t.ws.frames("send");
  assert.deepEqual(frame.attachments, [54, 55, 56]);
  assert.deepEqual((await t.storage.get("chat:outbox"))[0].attachments, [54, 55, 56], "stored once its files are up");
  const loaded = t.events.uploadProgress.filter((p) => p.index === 1).map((p) => p.loaded);
  assert.ok(loaded.length > 1 && loaded.at(-1) === t.events.uploadProgress.find((p) => p.index === 1).total);

  t.ws.serverClose(1011, "crash before the ack");
  await t.timers.advance(30000);
  const again = await ready(t.sockets);
  const [resent] = again.frames("send");
  assert.deepEqual([resent.client_msg_id, resent.attachments], [frame.client_msg_id, [54, 55, 56]]);
  assert.equal(t.uploads.length, 2, "no file uploaded twice");
  const acked = message(50, { client_msg_id: frame.client_msg_id, sender_id: 7, recipient_id: 9 });
  again.receive({ type: "ack", client_msg_id: frame.client_msg_id, message: { ...acked, attachments: [54, 55, 56].map((i) => attachment(i)) } });
  assert.deepEqual((await sending).attachments.map((a) => a.attachment_id), [54, 55, 56]);
  assert.deepEqual(t.client.outbox(), []);
});

it("a send cancelled while its file uploads is never sent; a refused upload fails the send", async () => {
  const t = await connected();
  const abort = new AbortController();
  const list = new MessageList(t.client, { peerId: 9 });
  const sending = t.client.send(9, "with a file", { files: [bytes(10)], signal: abort.signal });
  await settle();
  const id = t.client.outbox()[0].client_msg_id;
  abort.abort();
  await assert.rejects(sending, UploadCancelled);
  assert.equal(t.client.cancel(id), false, "gone already");
  assert.deepEqual(t.events.failed.map((f) => [f.client_msg_id, f.error.code]), [[id, "cancelled"]]);
  assert.deepEqual(list.items.map((e) => e.status), ["failed"]);

  const refused = t.client.send(9, "a broken image", { files: [bytes(10)] });
  await settle();
  t.uploads[1].answer(json(400, { code: "validation_error", detail: "no", errors: { file: ["Broken."] } }));
  await assert.rejects(refused, InvalidAttachment);
  await t.timers.advance(60000);
  assert.deepEqual([t.ws.frames("send"), t.client.outbox()], [[], []]);
});

it("an upload that found no server is retried after a backoff, then the message is sent", async () => {
  const t = await connected({ options: { minReconnectDelay: 100, maxReconnectDelay: 1000 } });
  t.client.send(9, "", { files: [bytes(10)] });
  await settle();
  t.uploads[0].fail(new TypeError("fetch failed"));
  await settle();
  assert.equal(t.uploads.length, 1, "waits before trying again");
  await t.timers.advance(1000);
  assert.equal(t.uploads.length, 2);
  t.uploads[1].answer(json(201, attachment(57)));
  await settle();
  assert.deepEqual(t.ws.frames("send")[0].attachments, [57]);
});

it("disconnect() pauses an upload, which starts again after the next connect", async () => {
  const t = await connected();
  const sending = t.client.send(9, "", { files: [bytes(10)] });
  await settle();
  t.client.disconnect();
  t.client.connect(); // at once: the paused upload has not even seen its abort yet
  assert.equal(t.client.outbox()[0].uploads.length, 1);
  const ws = await ready(t.sockets);
  assert.equal(t.events.failed.length, 0, "paused, not failed");
  assert.equal(t.uploads.length, 2);
  t.uploads[1].answer(json(201, attachment(58)));
  await settle();
  const [frame] = ws.frames("send");
  assert.deepEqual(frame.attachments, [58]);
  ws.receive({ type: "ack", client_msg_id: frame.client_msg_id, message: message(51, { client_msg_id: frame.client_msg_id, sender_id: 7 }) });
  assert.equal((await sending).msg_id, 51);
});

it("a recall empties the attachments of the lists' copies", async () => {
  const t = await connected();
  const list = new MessageList(t.client, { peerId: 9, conversationId: 1 });
  t.ws.receive({ type: "message", message: message(60, { attachments: [attachment(1)] }) });
  t.ws.receive({ type: "recalled", conversation_id: 1, msg_id: 60 });
  assert.deepEqual(list.items.map((e) => [e.message.status, e.message.attachments]), [["recalled", []]]);
});

it("five uploads failing in a row on one socket fail the send; a new socket counts again", async () => {
  const t = await connected({ options: { minReconnectDelay: 100, maxReconnectDelay: 1000 } });
  const failOne = async (i) => {
    await settle();
    t.uploads[i].fail(new TypeError("socket hang up"));
    await t.timers.advance(1000);
  };
  const doomed = assert.rejects(t.client.send(9, "", { files: [bytes(10)] }), { code: "network_error" });
  for (let i = 0; i < 5; i++) await failOne(i);
  await doomed;
  assert.equal(t.uploads.length, 5, "no sixth attempt");
  assert.deepEqual(t.client.outbox(), []);

  const sending = t.client.send(9, "", { files: [bytes(10)] });
  for (let i = 5; i < 9; i++) await failOne(i);
  t.ws.serverClose(1011, "a new socket");
  await t.timers.advance(30000);
  const ws = await ready(t.sockets);
  for (let i = 9; i < 13; i++) await failOne(i); // the first began on the old socket: counted on the new one
  t.uploads[13].answer(json(201, attachment(59)));
  await settle();
  const [frame] = ws.frames("send");
  assert.deepEqual(frame.attachments, [59]);
  ws.receive({ type: "ack", client_msg_id: frame.client_msg_id, message: message(52, { client_msg_id: frame.client_msg_id, sender_id: 7 }) });
  assert.equal((await sending).msg_id, 52);
});
