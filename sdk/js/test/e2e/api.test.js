// Every call of the client against the real server: send, the lists, read receipts, unread counts,
// typing, watch and presence, recall, history, conversation settings, profile, blocking, offline,
// Web Push, and ChatError for what the server refuses. Calls of
// PROTOCOL 1.2 features this server may not have yet (search, react, upload) answer a ChatError.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { ChatError, ConversationList, MessageList } from "../../src/index.js";
import { alice, bob, disconnectAll, recorded, skip, waitFor } from "./server.js";

after(disconnectAll);

// A subscription's keys as a browser makes them (65 and 16 bytes, base64url).
const PUSH_KEYS = {
  p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
  auth: "tBHItJI5svbpez7KI4CCXg",
};

it("every call against the real server", { skip, timeout: 40000 }, async () => {
  const a = recorded(alice);
  const b = recorded(bob);
  const typing = [];
  const presence = [];
  b.client.on("typing", (f) => typing.push(f));
  a.client.on("presence", (f) => presence.push(f));
  a.client.connect();
  await a.client.ready(10000);
  a.client.watch([bob.id]);
  await waitFor(() => presence.some((p) => p.user_id === bob.id && p.online === false), "bob offline");
  b.client.connect();
  await b.client.ready(10000);
  await waitFor(() => presence.some((p) => p.user_id === bob.id && p.online === true), "bob online");

  const bobsList = new ConversationList(b.client);
  await bobsList.load();
  assert.deepEqual(bobsList.items, []);
  const bobsMessages = new MessageList(b.client, { peerId: alice.id });

  const first = await a.client.send(bob.id, "hello bob 👋");
  assert.equal(first.content, "hello bob 👋");
  assert.equal(first.sender_id, alice.id);
  const second = await a.client.send(bob.id, "second", { replyTo: first.msg_id });
  await waitFor(() => bobsMessages.items.length === 2, "bob's list");
  assert.deepEqual(bobsMessages.items.map((e) => e.message.msg_id), [first.msg_id, second.msg_id]);
  await waitFor(() => bobsList.get(first.conversation_id)?.unread === 2, "bob's unread count");
  assert.equal(bobsList.items[0].last_message.msg_id, second.msg_id);
  assert.equal(bobsList.total, 2);
  await waitFor(() => bobsList.items[0].peer.username === "alice", "the peer's profile");

  assert.equal(b.client.typing(first.conversation_id), true);
  assert.equal(b.client.typing(first.conversation_id), false, "at most one per 3 s");
  const aliceTyping = [];
  a.client.on("typing", (f) => aliceTyping.push(f));
  await waitFor(() => aliceTyping.length === 1, "the typing frame");
  assert.equal(aliceTyping[0].user_id, bob.id);

  assert.deepEqual(await b.client.markRead(first.conversation_id, first.msg_id), {
    conversation_id: first.conversation_id,
    unread: 1,
  });
  await waitFor(() => a.seen.read.some((r) => r.up_to === first.msg_id), "alice's read receipt");
  await waitFor(() => bobsList.get(first.conversation_id).unread === 1, "bob's unread after reading");
  await b.client.markRead(first.conversation_id);
  assert.deepEqual(await b.client.unread(), { total: 0, conversations: {} });

  await a.client.recall(second.msg_id);
  await waitFor(() => bobsMessages.items[1].message.status === "recalled", "the recall on bob's side");
  assert.equal(bobsList.items[0].last_message.status, "recalled");

  const page = await b.client.history(first.conversation_id, { limit: 1 });
  assert.equal(page.results.length, 1);
  assert.equal(page.has_more, true);
  const older = await b.client.history(first.conversation_id, { before: page.results[0].msg_id });
  assert.deepEqual(older.results.map((m) => m.msg_id), [first.msg_id]);
  const conversations = await b.client.conversations();
  assert.equal(conversations.results[0].peer.user_id, alice.id);
  assert.equal((await b.client.me()).user_id, bob.id);
  assert.equal((await b.client.user(alice.id)).username, "alice");
  assert.deepEqual((await b.client.users("ali")).results.map((p) => p.user_id), [alice.id]);

  // Settings, profile, blocking, offline and Web Push: the typed calls the browser UI uses.
  assert.equal((await b.client.conversationWith(alice.id)).conversation_id, first.conversation_id);
  const muted = await b.client.updateConversation(first.conversation_id, { muted: true, pinned: true });
  assert.deepEqual([muted.conversation_id, muted.muted, muted.pinned, muted.archived], [first.conversation_id, true, true, false]);
  assert.equal((await a.client.conversation(first.conversation_id)).muted, false, "bob's setting, not alice's");
  assert.equal((await b.client.updateMe({ nickname: "Bobby" })).nickname, "Bobby");
  assert.equal((await a.client.user(bob.id)).nickname, "Bobby");
  await b.client.block(alice.id);
  assert.deepEqual((await b.client.blocks()).results.map((p) => [p.user_id, p.blocked]), [[alice.id, true]]);
  await assert.rejects(a.client.send(bob.id, "blocked"), { code: "forbidden" });
  await b.client.unblock(alice.id);
  assert.deepEqual((await b.client.blocks()).results, []);
  const away = await b.client.offline();
  for (const group of away.results) await b.client.ackOffline(group.sender.user_id, group.messages.at(-1).msg_id);
  assert.deepEqual((await b.client.offline()).results, []);
  assert.match(await b.client.pushKey(), /^[A-Za-z0-9_-]{80,}$/);
  const endpoint = "https://8.8.8.8/push/sdk-js-api";
  await b.client.subscribePush({ endpoint, keys: PUSH_KEYS });
  await b.client.unsubscribePush(endpoint);
  await assert.rejects(b.client.subscribePush({ endpoint: "http://8.8.8.8/push", keys: PUSH_KEYS }), (err) => {
    assert.ok(err instanceof ChatError && err.code === "validation_error" && err.errors.endpoint, String(err));
    return true;
  });

  await assert.rejects(a.client.send(alice.id, "to myself"), (err) => err instanceof ChatError && err.code === "validation_error");
  await assert.rejects(a.client.recall(2 ** 52), (err) => err.code === "not_found" && err.status === 404);
  await assert.rejects(b.client.recall(first.msg_id), { code: "forbidden" });

  // PROTOCOL 1.2 calls: served, or refused with a ChatError (this server may not have them yet).
  for (const call of [
    () => b.client.search("hello"),
    () => b.client.react(first.msg_id, "👍"),
    () => b.client.upload(new Blob(["some bytes"]), { name: "notes.txt" }),
  ]) {
    try {
      await call();
    } catch (err) {
      assert.ok(err instanceof ChatError && ["not_found", "method_not_allowed"].includes(err.code), String(err));
    }
  }
  assert.equal(b.seen.error.length, 0, b.seen.error.map(String).join());
});
