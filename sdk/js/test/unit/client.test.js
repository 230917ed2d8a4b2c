import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ChatClient, ClientCode, ConversationList, MemoryStorage, MessageList, backoff } from "../../src/index.js";
import { FakeTimers, fakeServer, fakeWebSocketClass, message, seeded, settle } from "./fakes.js";

function setup({ storage = new MemoryStorage(), seed = 42, position = 0, options = {} } = {}) {
  const timers = new FakeTimers();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const server = fakeServer({ position });
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    token: "tok",
    WebSocket: FakeWebSocket,
    fetch: server.fetch,
    storage,
    random: seeded(seed),
    timers,
    ...options,
  });
  const states = [];
  const events = { message: [], changed: [], recalled: [], caughtUp: [], failed: [], error: [] };
  client.on("state", (e) => states.push(e));
  for (const type of Object.keys(events)) client.on(type, (e) => events[type].push(e));
  return { client, timers, sockets, server, states, events, storage };
}

/** Open the newest socket, say ready, let the catch-up finish. */
async function becomeReady(t, userId = 7) {
  await settle();
  const ws = t.sockets.at(-1);
  ws.open();
  ws.receive({ type: "ready", user_id: userId });
  await settle();
  return ws;
}

describe("backoff", () => {
  it("stays within [min, max] and is jittered", () => {
    const random = seeded(1);
    for (let step = 0; step < 40; step++) {
      const seen = new Set();
      for (let i = 0; i < 50; i++) {
        const delay = backoff(step, 500, 20000, random);
        assert.ok(delay >= 500 && delay <= 20000, `step ${step}: ${delay}`);
        assert.ok(delay <= 500 + Math.min(20000, 500 * 2 ** step));
        seen.add(delay);
      }
      assert.ok(seen.size > 10, `step ${step} is not jittered`);
    }
    assert.equal(backoff(0, 500, 20000, () => 0), 500);
    assert.equal(backoff(50, 500, 20000, () => 0.999999), 20000);
  });

  it("grows with each failed attempt and starts over after ready", async () => {
    const t = setup({ seed: 7 });
    t.client.connect();
    await settle();
    const delays = [];
    for (let i = 0; i < 8; i++) {
      t.sockets.at(-1).serverClose(1006);
      const [delay] = t.timers.pending();
      delays.push(delay);
      await t.timers.advance(delay);
    }
    const random = seeded(7);
    assert.deepEqual(
      delays,
      delays.map((_, step) => backoff(step, 500, 20000, random)),
    );
    assert.ok(delays.at(-1) > delays[0]);
    await becomeReady(t);
    assert.equal(t.client.state, "connected");
    t.sockets.at(-1).serverClose(1006);
    const [first] = t.timers.pending();
    assert.ok(first >= 500 && first <= 1000, `after ready the backoff starts over: ${first}`);
  });
});

describe("connection states", () => {
  it("is connected only after ready and a finished catch-up", async () => {
    const t = setup();
    t.server.messages.push(message(5));
    t.client.connect();
    assert.deepEqual(t.states, [{ state: "connecting", code: ClientCode.CONNECT, reason: "connect called" }]);
    await settle();
    const ws = t.sockets[0];
    assert.match(ws.url, /^ws:\/\/chat\.test\/ws\/chat\/\?token=tok$/);
    ws.open();
    await settle();
    assert.equal(t.client.state, "connecting");
    ws.receive({ type: "ready", user_id: 7 });
    assert.equal(t.client.state, "connecting", "not before the catch-up");
    await settle();
    assert.equal(t.client.state, "connected");
    assert.equal(t.events.caughtUp.length, 1);
    await t.client.ready();
  });

  it("a close goes back to connecting and reconnects with backoff", async () => {
    const t = setup();
    t.client.connect();
    await becomeReady(t);
    t.sockets[0].serverClose(1006, "gone");
    assert.deepEqual(t.states.at(-1), { state: "connecting", code: 1006, reason: "gone" });
    const [delay] = t.timers.pending();
    assert.ok(delay >= 500 && delay <= 1000, `${delay}`);
    await t.timers.advance(delay - 1);
    assert.equal(t.sockets.length, 1);
    await t.timers.advance(1);
    assert.equal(t.sockets.length, 2);
  });

  it("announces each retry's delay, also while it stays connecting", async () => {
    const t = setup();
    const retries = [];
    t.client.on("retry", (e) => retries.push(e));
    t.client.connect();
    await settle();
    t.sockets[0].serverClose(1006, "refused");
    const [first] = t.timers.pending();
    assert.deepEqual(retries, [{ delay: first, code: 1006, reason: "refused" }]);
    await t.timers.advance(first);
    t.sockets[1].serverClose(1006, "refused again");
    const [second] = t.timers.pending();
    assert.equal(t.states.length, 1, "no new state event: it stays connecting");
    assert.deepEqual(retries.at(-1), { delay: second, code: 1006, reason: "refused again" });
    t.sockets[1].serverClose(4401, "not authenticated");
    t.client.disconnect();
    assert.equal(retries.length, 2, "no retry after 4401 or disconnect()");
  });

  it("4401 ends in disconnected and never retries", async () => {
    const t = setup();
    t.client.connect();
    await settle();
    t.sockets[0].open();
    t.sockets[0].serverClose(4401, "not authenticated");
    assert.deepEqual(t.states.at(-1), { state: "disconnected", code: 4401, reason: "not authenticated" });
    await t.timers.advance(600000);
    assert.equal(t.sockets.length, 1);
    await assert.rejects(t.client.ready(), { code: "disconnected" });
  });

  it("disconnect() ends in disconnected and never retries", async () => {
    const t = setup();
    t.client.connect();
    const waiting = t.client.ready();
    await settle();
    t.client.disconnect();
    await assert.rejects(waiting, { code: "disconnected" });
    assert.equal(t.sockets[0].closedWith, 1000);
    assert.deepEqual(t.states.at(-1), { state: "disconnected", code: ClientCode.DISCONNECT, reason: "disconnect called" });
    await t.timers.advance(600000);
    assert.equal(t.sockets.length, 1);
  });

  it("1012 reconnects after a short random delay", async () => {
    const t = setup();
    t.client.connect();
    await becomeReady(t);
    for (let i = 0; i < 5; i++) {
      t.sockets.at(-1).serverClose(1012, "restart");
      const [delay] = t.timers.pending();
      assert.ok(delay >= 0 && delay < 500, `${delay}`);
      await t.timers.advance(delay);
      await becomeReady(t);
    }
    assert.equal(t.sockets.length, 6);
  });

  it("a missing pong drops the socket and reconnects", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    await t.timers.advance(25000);
    const [ping] = ws.frames("ping");
    assert.ok(ping.ref);
    ws.receive({ type: "pong", ref: ping.ref });
    await t.timers.advance(25000);
    assert.equal(ws.frames("ping").length, 2);
    await t.timers.advance(10000);
    assert.deepEqual(t.states.at(-1), { state: "connecting", code: ClientCode.NO_PONG, reason: "no pong" });
    assert.equal(ws.closedWith, 1000);
    await t.timers.advance(t.timers.pending()[0]);
    assert.equal(t.sockets.length, 2);
  });

  it("no ready frame within the timeout: reconnect", async () => {
    const t = setup();
    t.client.connect();
    await settle();
    t.sockets[0].open();
    await t.timers.advance(9999);
    assert.equal(t.sockets[0].closedWith, null);
    await t.timers.advance(1);
    assert.equal(t.sockets[0].closedWith, 1000);
    await t.timers.advance(t.timers.pending()[0]);
    assert.equal(t.sockets.length, 2);
    assert.equal(t.client.state, "connecting");
  });

  it("resync runs a catch-up on the same socket", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    const before = t.server.syncCalls().length;
    t.server.messages.push(message(10));
    ws.receive({ type: "resync" });
    await settle();
    assert.equal(t.server.syncCalls().length, before + 1);
    assert.deepEqual(
      t.events.message.map((m) => m.msg_id),
      [10],
    );
    assert.equal(t.sockets.length, 1);
    assert.equal(t.client.state, "connected");
    assert.equal(t.events.caughtUp.length, 2);
  });
});

describe("catch-up", () => {
  it("a new client starts at sync/position, then follows next_since", async () => {
    const t = setup({ position: 100 });
    t.server.messages.push(message(50), message(120), message(130));
    t.client.connect();
    await becomeReady(t);
    assert.deepEqual(t.server.calls.map((c) => c.path).filter((p) => p.startsWith("sync")), ["sync/position", "sync"]);
    assert.equal(t.server.syncCalls()[0].query.since, "100");
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [120, 130]);
    assert.equal(t.client.cursor, 130);
    assert.equal(await t.storage.get("chat:cursor"), 130);
  });

  it("pages while has_more, saving each next_since only after its page was emitted", async () => {
    const storage = new MemoryStorage();
    const t = setup({ storage, options: { syncLimit: 2 } });
    await storage.set("chat:cursor", 0);
    t.server.messages.push(message(1), message(2), message(3), message(4), message(5));
    const savedWhenEmitted = [];
    t.client.on("message", async (m) => savedWhenEmitted.push([m.msg_id, await storage.get("chat:cursor")]));
    t.client.connect();
    await becomeReady(t);
    assert.deepEqual(t.server.syncCalls().map((c) => c.query.since), ["0", "2", "4"]);
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [1, 2, 3, 4, 5]);
    for (const [msgId, cursor] of savedWhenEmitted) assert.ok(cursor < msgId, `cursor ${cursor} saved before ${msgId}`);
  });

  it("the full-page rule: keep the page, wait, ask again from the same since", async () => {
    const t = setup({ position: 10 });
    t.server.pages = [
      { results: [message(11), message(12)], has_more: true, next_since: 10 },
      { results: [message(11), message(12), message(13)], has_more: false, next_since: 13 },
    ];
    t.client.connect();
    await becomeReady(t);
    assert.equal(t.server.syncCalls().length, 1);
    assert.equal(t.client.state, "connecting");
    await t.timers.advance(1000);
    assert.deepEqual(t.server.syncCalls().map((c) => c.query.since), ["10", "10"]);
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [11, 12, 13]);
    assert.equal(t.client.cursor, 13);
    assert.equal(t.client.state, "connected");
  });

  it("emits each (msg_id, rev) once: live, synced, acked or changed", async () => {
    const t = setup({ position: 0 });
    t.server.messages.push(message(1));
    t.client.connect();
    const ws = await becomeReady(t);
    ws.receive({ type: "message", message: message(1) });
    ws.receive({ type: "message", message: message(2) });
    ws.receive({ type: "message", message: message(2) });
    t.server.messages.push(message(2));
    ws.receive({ type: "resync" });
    await settle();
    ws.receive({ type: "changed", message: message(2, { rev: 5, content: "edited" }) });
    ws.receive({ type: "changed", message: message(2, { rev: 5, content: "edited" }) });
    ws.receive({ type: "changed", message: message(2, { rev: 4, content: "older" }) });
    ws.receive({ type: "recalled", conversation_id: 1, msg_id: 2 });
    ws.receive({ type: "recalled", conversation_id: 1, msg_id: 2 });
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [1, 2]);
    assert.deepEqual(t.events.changed.map((m) => [m.msg_id, m.rev]), [[2, 5]]);
    assert.equal(t.events.recalled.length, 1);
  });

  it("a restart emits nothing the last run emitted, though its cursor is older", async () => {
    const storage = new MemoryStorage();
    const first = setup({ storage, position: 0 });
    first.client.connect();
    const ws = await becomeReady(first);
    first.server.messages.push(message(1), message(2));
    ws.receive({ type: "message", message: message(1) });
    ws.receive({ type: "message", message: message(2) });
    await first.client.flush();
    first.client.disconnect();
    assert.equal(first.client.cursor, 0, "a live message does not move the cursor");

    const second = setup({ storage });
    second.server.messages.push(message(1), message(2), message(3));
    second.client.connect();
    await becomeReady(second);
    assert.equal(second.server.syncCalls()[0].query.since, "0");
    assert.deepEqual(second.events.message.map((m) => m.msg_id), [3]);
    await second.client.flush();
    assert.deepEqual(await storage.get("chat:seen"), [], "pruned once the cursor passed them");
  });

  it("acks the offline list per sender up to the newest message synced, when asked to", async () => {
    const t = setup({ position: 0, options: { ackOffline: true } });
    t.server.messages.push(message(1), message(2, { sender_id: 12 }), message(3), message(4, { sender_id: 7, recipient_id: 9 }));
    t.client.connect();
    await becomeReady(t);
    assert.deepEqual(t.server.acks, [
      { sender_id: 9, up_to: 3 },
      { sender_id: 12, up_to: 2 },
    ]);
    const quiet = setup({ position: 0 }); // off by default
    quiet.server.messages.push(message(1));
    quiet.client.connect();
    await becomeReady(quiet);
    assert.deepEqual(quiet.server.acks, []);
  });

  it("live frames that arrive during a catch-up wait for it", async () => {
    const t = setup({ position: 0 });
    t.server.pages = [{ results: [message(1), message(2)], has_more: false, next_since: 2 }];
    t.client.connect();
    await settle();
    const ws = t.sockets[0];
    ws.open();
    ws.receive({ type: "ready", user_id: 7 });
    ws.receive({ type: "message", message: message(3) });
    ws.receive({ type: "message", message: message(2) });
    await settle();
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [1, 2, 3]);
  });

  it("a failed catch-up reconnects", async () => {
    const t = setup();
    t.server.fetch = async () => {
      throw new Error("offline");
    };
    t.client.rest._fetch = t.server.fetch;
    t.client.connect();
    await becomeReady(t);
    assert.equal(t.events.error[0].code, "network_error");
    assert.equal(t.sockets[0].closedWith, 1000);
    assert.equal(t.client.state, "connecting");
    await t.timers.advance(t.timers.pending()[0]);
    assert.equal(t.sockets.length, 2);
  });
});

describe("outbox", () => {
  it("mints one client_msg_id and resends it after every catch-up until the ack", async () => {
    const t = setup();
    t.client.connect();
    let ws = await becomeReady(t);
    const sending = t.client.send(9, "hello");
    await settle();
    const [first] = ws.frames("send");
    assert.equal(first.content, "hello");
    ws.serverClose(1006);
    for (let i = 0; i < 3; i++) {
      await t.timers.advance(20000);
      ws = await becomeReady(t);
      const [again] = ws.frames("send");
      assert.equal(again.client_msg_id, first.client_msg_id);
      if (i < 2) ws.serverClose(1006);
    }
    const acked = message(40, { sender_id: 7, recipient_id: 9, content: "hello", client_msg_id: first.client_msg_id });
    ws.receive({ type: "ack", client_msg_id: first.client_msg_id, ref: ws.frames("send")[0].ref, message: acked });
    assert.deepEqual(await sending, acked);
    assert.deepEqual(t.client.outbox(), []);
    assert.deepEqual(t.events.message.map((m) => m.msg_id), [40]);
  });

  it("a send is settled by the synced copy of the message even without an ack", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    const sending = t.client.send(9, "hi");
    await settle();
    const [frame] = ws.frames("send");
    ws.serverClose(1006);
    t.server.messages.push(message(41, { sender_id: 7, client_msg_id: frame.client_msg_id }));
    await t.timers.advance(20000);
    const next = await becomeReady(t);
    assert.equal((await sending).msg_id, 41);
    assert.deepEqual(next.frames("send"), [], "nothing left to resend");
  });

  it("rate_limited and unavailable are retried after retry_after with the same id", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    t.client.send(9, "hi");
    await settle();
    const [frame] = ws.frames("send");
    ws.receive({ type: "error", code: "rate_limited", detail: "slow", retry_after: 3, client_msg_id: frame.client_msg_id, ref: frame.ref });
    await t.timers.advance(2999);
    assert.equal(ws.frames("send").length, 1);
    await t.timers.advance(1);
    const again = ws.frames("send")[1];
    assert.equal(again.client_msg_id, frame.client_msg_id);
    ws.receive({ type: "error", code: "unavailable", detail: "later", retry_after: 1, client_msg_id: frame.client_msg_id });
    await t.timers.advance(1000);
    assert.equal(ws.frames("send")[2].client_msg_id, frame.client_msg_id);
  });

  it("other errors fail the message", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    const sending = t.client.send(9, " ");
    await settle();
    const [frame] = ws.frames("send");
    ws.receive({ type: "error", code: "validation_error", detail: "empty", errors: { content: ["empty"] }, client_msg_id: frame.client_msg_id });
    await assert.rejects(sending, (err) => err.code === "validation_error" && err.errors.content[0] === "empty");
    assert.equal(t.events.failed.length, 1);
    assert.deepEqual(t.client.outbox(), []);
  });

  it("a stored outbox is resent after a restart with the same id, never a new one", async () => {
    const storage = new MemoryStorage();
    const first = setup({ storage });
    first.client.send(9, "kept");
    await settle();
    const [entry] = await storage.get("chat:outbox");
    first.client.disconnect();

    const second = setup({ storage });
    second.client.connect();
    const ws = await becomeReady(second);
    assert.deepEqual(ws.frames("send").map((f) => [f.client_msg_id, f.content]), [[entry.client_msg_id, "kept"]]);
    assert.equal(second.client.outbox()[0].client_msg_id, entry.client_msg_id);
  });

  it("typing sends at most one frame per conversation every 3 s", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    assert.equal(t.client.typing(1), true);
    assert.equal(t.client.typing(1), false);
    assert.equal(t.client.typing(2), true);
    await t.timers.advance(2999);
    assert.equal(t.client.typing(1), false);
    await t.timers.advance(1);
    assert.equal(t.client.typing(1), true);
    assert.equal(ws.frames("typing").length, 3);
  });

  it("watch is sent again on every reconnect", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    t.client.watch([9, 12]);
    assert.deepEqual(ws.frames("watch")[0].user_ids, [9, 12]);
    ws.serverClose(1006);
    await t.timers.advance(20000);
    const next = await becomeReady(t);
    assert.deepEqual(next.frames("watch")[0].user_ids, [9, 12]);
  });
});

describe("MessageList", () => {
  it("shows a local echo, then the acked message in msg_id order, replaced by newer revs only", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    const list = new MessageList(t.client, { peerId: 9 });
    ws.receive({ type: "message", message: message(20) });
    list.send("mine");
    await settle();
    assert.deepEqual(list.items.map((e) => [e.message.msg_id, e.status]), [[20, "sent"], [null, "pending"]]);
    const [frame] = ws.frames("send");
    const acked = message(25, { sender_id: 7, recipient_id: 9, content: "mine", client_msg_id: frame.client_msg_id });
    ws.receive({ type: "message", message: message(22) });
    ws.receive({ type: "ack", client_msg_id: frame.client_msg_id, message: acked });
    assert.deepEqual(list.items.map((e) => [e.message.msg_id, e.status]), [[20, "sent"], [22, "sent"], [25, "sent"]]);
    ws.receive({ type: "changed", message: message(22, { rev: 30, content: "new" }) });
    assert.equal(list.items[1].message.content, "new");
    ws.receive({ type: "recalled", conversation_id: 1, msg_id: 20 });
    assert.equal(list.items[0].message.status, "recalled");
    list.dispose();
  });
});

describe("ConversationList", () => {
  it("orders by the newest last message and takes unread counts from unread frames", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    const list = new ConversationList(t.client);
    ws.receive({ type: "message", message: message(10, { conversation_id: 1 }) });
    ws.receive({ type: "message", message: message(11, { conversation_id: 2, sender_id: 7, recipient_id: 12 }) });
    assert.deepEqual(list.items.map((c) => [c.conversation_id, c.last_message.msg_id, c.peer.user_id]), [
      [2, 11, 12],
      [1, 10, 9],
    ]);
    ws.receive({ type: "message", message: message(12, { conversation_id: 1 }) });
    ws.receive({ type: "unread", conversation_id: 1, unread: 2, total: 2 });
    assert.deepEqual(list.items.map((c) => [c.conversation_id, c.unread]), [[1, 2], [2, 0]]);
    assert.equal(list.total, 2);
    ws.receive({ type: "recalled", conversation_id: 1, msg_id: 12 });
    assert.equal(list.get(1).last_message.status, "recalled");
    list.dispose();
  });
});

describe("refs", () => {
  it("an error on a typing or watch frame comes out as an error event naming the frame", async () => {
    const t = setup();
    t.client.connect();
    const ws = await becomeReady(t);
    t.client.watch(["x"]);
    const [watch] = ws.frames("watch");
    ws.receive({ type: "error", code: "validation_error", detail: "bad ids", errors: { user_ids: ["no"] }, client_msg_id: null, ref: watch.ref });
    assert.equal(t.events.error.length, 1);
    assert.equal(t.events.error[0].code, "validation_error");
    assert.equal(t.events.error[0].frame, "watch");
  });
});

describe("client_msg_id", () => {
  it("is a UUID v4, also where there is no crypto (Node 18 without the global)", async () => {
    const { mintClientMsgId } = await import("../../src/outbox.js");
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(mintClientMsgId(Math.random), uuid);
    const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
    Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
    try {
      const random = seeded(3);
      const [a, b] = [mintClientMsgId(random), mintClientMsgId(random)];
      assert.match(a, uuid);
      assert.notEqual(a, b);
    } finally {
      Object.defineProperty(globalThis, "crypto", saved);
    }
  });
});

describe("REST calls", () => {
  /** A client whose fetch records each request and answers `answers[path]` (default 204). */
  function recording(answers = {}) {
    const calls = [];
    const fetch = async (url, init = {}) => {
      const path = new URL(url).pathname.replace("/api/v1/", "");
      calls.push([init.method, path, init.body === undefined ? undefined : JSON.parse(init.body)]);
      const body = answers[`${init.method} ${path}`];
      return body === undefined
        ? new Response(null, { status: 204 })
        : new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    };
    return { calls, client: new ChatClient({ baseUrl: "http://chat.test", token: "tok", fetch }) };
  }

  const peer = { user_id: 9, username: "bob", nickname: "Bob", avatar_url: "", online: false, blocked: true };
  const conversation = { conversation_id: 4, peer, last_message: message(5), unread: 0, muted: true };

  it("block, unblock and the list of blocked users", async () => {
    const { calls, client } = recording({ "GET blocks": { results: [peer] } });
    assert.equal(await client.block(9), undefined);
    assert.deepEqual(await client.blocks(), { results: [peer] });
    assert.equal(await client.unblock(9), undefined);
    assert.deepEqual(calls, [
      ["PUT", "users/9/block", undefined],
      ["GET", "blocks", undefined],
      ["DELETE", "users/9/block", undefined],
    ]);
  });

  it("conversation settings send only the fields given; conversationWith asks by user", async () => {
    const { calls, client } = recording({ "PATCH conversations/4": conversation, "GET conversations/with/9": conversation });
    assert.deepEqual(await client.updateConversation(4, { muted: true }), conversation);
    await client.updateConversation(4, { pinned: false, archived: true });
    assert.deepEqual(await client.conversationWith(9), conversation);
    assert.deepEqual(calls, [
      ["PATCH", "conversations/4", { muted: true }],
      ["PATCH", "conversations/4", { pinned: false, archived: true }],
      ["GET", "conversations/with/9", undefined],
    ]);
  });

  it("the offline list and its ack", async () => {
    const away = { results: [{ sender: peer, messages: [message(5), message(6)] }] };
    const { calls, client } = recording({ "GET offline": away });
    assert.deepEqual(await client.offline(), away);
    assert.equal(await client.ackOffline(9, 6), undefined);
    assert.deepEqual(calls, [
      ["GET", "offline", undefined],
      ["POST", "offline/ack", { sender_id: 9, up_to: 6 }],
    ]);
  });

  it("Web Push: the key, a subscription (a PushSubscription's toJSON or plain JSON) and its removal", async () => {
    const { calls, client } = recording({ "GET push/key": { public_key: "BEl6" } });
    assert.equal(await client.pushKey(), "BEl6");
    const json = { endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a" } };
    await client.subscribePush({ toJSON: () => json, endpoint: json.endpoint });
    await client.subscribePush(json);
    await client.unsubscribePush(json.endpoint);
    assert.deepEqual(calls, [
      ["GET", "push/key", undefined],
      ["POST", "push/subscriptions", json],
      ["POST", "push/subscriptions", json],
      ["DELETE", "push/subscriptions", { endpoint: json.endpoint }],
    ]);
  });

  it("updateMe sends only the fields given and resolves with the Profile", async () => {
    const me = { user_id: 7, username: "alice", nickname: "Al", avatar_url: "", online: true };
    const { calls, client } = recording({ "PATCH me": me });
    assert.deepEqual(await client.updateMe({ nickname: "Al" }), me);
    await client.updateMe({ avatar_url: "" });
    assert.deepEqual(calls, [
      ["PATCH", "me", { nickname: "Al" }],
      ["PATCH", "me", { avatar_url: "" }],
    ]);
  });

  it("a refusal is a ChatError with the server's code", async () => {
    const fetch = async () =>
      new Response(JSON.stringify({ code: "not_found", detail: "Not found." }), { status: 404 });
    const client = new ChatClient({ baseUrl: "http://chat.test", token: "tok", fetch });
    await assert.rejects(client.conversationWith(9), (err) => err.code === "not_found" && err.status === 404);
    await assert.rejects(client.block(9), (err) => err.code === "not_found");
  });
});
