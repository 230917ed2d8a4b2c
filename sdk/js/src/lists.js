// List helpers kept current from a ChatClient's events; a view renders `items` on each `change`.
import { revOf } from "./dedupe.js";
import { Emitter } from "./emitter.js";

/**
 * The conversations of the user, newest last message first (pinned ones first when the server
 * has pinning), unread counts from `unread` frames.
 */
export class ConversationList extends Emitter {
  constructor(client) {
    super();
    this.client = client;
    /** @type {Map<number, any>} */
    this._byId = new Map();
    this.total = null;
    this._offs = [
      client.on("message", (m) => this._onMessage(m)),
      client.on("changed", (m) => this._onChanged(m)),
      client.on("recalled", (f) => this._onRecalled(f)),
      client.on("unread", (f) => this._onUnread(f)),
    ];
  }

  /** Load the first page (or the next one older: `{before}`) from the server. */
  async load({ limit, before } = {}) {
    const page = await this.client.conversations({ limit, before });
    for (const conversation of page.results) {
      const held = this._byId.get(conversation.conversation_id);
      // A message pushed while the page was on its way is newer than the page's copy.
      if (held?.last_message && conversation.last_message && held.last_message.msg_id > conversation.last_message.msg_id) {
        conversation.last_message = held.last_message;
      }
      this._byId.set(conversation.conversation_id, { ...held, ...conversation });
    }
    this._changed();
    return page;
  }

  get items() {
    return [...this._byId.values()].sort(
      (a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)) || lastId(b) - lastId(a),
    );
  }

  get(conversationId) {
    return this._byId.get(conversationId);
  }

  dispose() {
    for (const off of this._offs) off();
  }

  _onMessage(message) {
    let conversation = this._byId.get(message.conversation_id);
    if (!conversation) {
      const me = this.client.userId;
      const peerId = message.sender_id === me ? message.recipient_id : message.sender_id;
      conversation = { conversation_id: message.conversation_id, peer: { user_id: peerId }, last_message: null, unread: 0 };
      this._byId.set(message.conversation_id, conversation);
      // The peer's Profile and the counts, for a conversation this list had not loaded.
      this.client.conversation(message.conversation_id).then(
        (full) => {
          const current = this._byId.get(full.conversation_id);
          this._byId.set(full.conversation_id, { ...full, last_message: newer(current?.last_message, full.last_message) });
          this._changed();
        },
        () => {},
      );
    }
    conversation.last_message = newer(conversation.last_message, message);
    this._changed();
  }

  _onChanged(message) {
    const conversation = this._byId.get(message.conversation_id);
    if (conversation?.last_message?.msg_id === message.msg_id && revOf(message) >= revOf(conversation.last_message)) {
      conversation.last_message = message;
      this._changed();
    }
  }

  _onRecalled(frame) {
    const conversation = this._byId.get(frame.conversation_id);
    if (conversation?.last_message?.msg_id === frame.msg_id) {
      conversation.last_message = { ...conversation.last_message, status: "recalled", content: "", attachments: [] };
      this._changed();
    }
  }

  _onUnread(frame) {
    this.total = frame.total;
    const conversation = this._byId.get(frame.conversation_id);
    if (conversation) conversation.unread = frame.unread;
    this._changed();
  }

  _changed() {
    this.emit("change", this.items);
  }
}

/**
 * The messages of one conversation: one entry per msg_id, ordered by msg_id, then local echoes of
 * messages not yet acked (status pending, or failed), matched to their Message by client_msg_id.
 * Entry: {message, status: "pending" | "sent" | "failed", error?}; an echo also has `uploads` (its
 * files still to upload) and `progress` (the last uploadProgress event of its files, or null).
 */
export class MessageList extends Emitter {
  /** @param {{peerId: number, conversationId?: number | null}} where */
  constructor(client, { peerId, conversationId = null }) {
    super();
    this.client = client;
    this.peerId = peerId;
    this.conversationId = conversationId;
    /** @type {Map<number, any>} msg_id -> entry */
    this._byMsgId = new Map();
    /** @type {Map<string, any>} client_msg_id -> echo entry, not acked yet */
    this._echoes = new Map();
    this.hasOlder = true;
    this._offs = [
      client.on("message", (m) => this._onMessage(m)),
      client.on("changed", (m) => this._onMessage(m)),
      client.on("recalled", (f) => this._onRecalled(f)),
      client.on("pending", (e) => this._onPending(e)),
      client.on("failed", (f) => this._onFailed(f)),
      client.on("uploadProgress", (p) => this._onUploadProgress(p)),
    ];
    for (const entry of client.outbox()) this._onPending(entry);
  }

  get items() {
    const sent = [...this._byMsgId.values()].sort((a, b) => a.message.msg_id - b.message.msg_id);
    return [...sent, ...this._echoes.values()];
  }

  /** Send to the peer (the echo shows at once, status pending). */
  send(content, options) {
    return this.client.send(this.peerId, content, options);
  }

  /** Load the newest page, or the page before the oldest loaded one. */
  async loadOlder({ limit } = {}) {
    if (this.conversationId === null) return;
    const oldest = Math.min(...[...this._byMsgId.keys()]);
    const page = await this.client.history(this.conversationId, {
      limit,
      before: Number.isFinite(oldest) ? oldest : undefined,
    });
    for (const message of page.results) this._put(message);
    this.hasOlder = page.has_more;
    this._changed();
    return page;
  }

  dispose() {
    for (const off of this._offs) off();
  }

  _mine(message) {
    if (this.conversationId !== null) return message.conversation_id === this.conversationId;
    const me = this.client.userId;
    const ours =
      (message.sender_id === this.peerId && message.recipient_id === me) ||
      (message.sender_id === me && message.recipient_id === this.peerId);
    if (ours) this.conversationId = message.conversation_id;
    return ours;
  }

  _put(message) {
    const held = this._byMsgId.get(message.msg_id);
    if (held && revOf(held.message) > revOf(message)) return false;
    if (held && revOf(held.message) === revOf(message) && held.message.status === "recalled") return false;
    this._byMsgId.set(message.msg_id, { message, status: "sent" });
    if (message.client_msg_id) this._echoes.delete(message.client_msg_id);
    return true;
  }

  _onMessage(message) {
    if (this._mine(message) && this._put(message)) this._changed();
  }

  _onRecalled(frame) {
    const held = this._byMsgId.get(frame.msg_id);
    if (!held || held.message.status === "recalled") return;
    held.message = { ...held.message, status: "recalled", content: "", attachments: [] };
    this._changed();
  }

  _onPending(entry) {
    if (entry.to !== this.peerId) return;
    this._echoes.set(entry.client_msg_id, {
      message: {
        msg_id: null,
        conversation_id: this.conversationId,
        sender_id: this.client.userId,
        recipient_id: entry.to,
        content: entry.content,
        client_msg_id: entry.client_msg_id,
        created_at: entry.created_at,
        status: "normal",
        attachments: [],
      },
      status: "pending",
      uploads: entry.uploads ?? [],
      progress: null,
    });
    this._changed();
  }

  _onUploadProgress(progress) {
    const echo = this._echoes.get(progress.client_msg_id);
    if (!echo) return;
    echo.progress = progress;
    this._changed();
  }

  _onFailed(failure) {
    const echo = this._echoes.get(failure.client_msg_id);
    if (!echo) return;
    echo.status = "failed";
    echo.error = failure.error;
    this._changed();
  }

  _changed() {
    this.emit("change", this.items);
  }
}

function lastId(conversation) {
  return conversation.last_message?.msg_id ?? 0;
}

function newer(a, b) {
  if (!a) return b;
  if (!b) return a;
  return b.msg_id > a.msg_id || (b.msg_id === a.msg_id && revOf(b) >= revOf(a)) ? b : a;
}
