// ChatClient: one socket, its state machine, the gap-free catch-up and the outbox.
//
// States after Centrifugo's client SDK spec: disconnected -> connecting -> connected. `connected`
// only once the server said `ready` AND the catch-up (GET sync from the stored cursor) finished.
// A close, a missing pong or a failed catch-up goes back to `connecting` and retries with backoff;
// close code 4401 and disconnect() end in `disconnected`, with no retry.
//
// Never lose, never repeat: live frames that arrive during a catch-up wait for it, and every message
// is emitted once per (msg_id, rev) (dedupe.js); the cursor and its rules are catchup.js's.
import { Attachments } from "./attachments.js";
import { backoff } from "./backoff.js";
import { CatchUp } from "./catchup.js";
import { ChatError, RETRYABLE_CODES, UploadCancelled, retryableUpload } from "./errors.js";
import { Emitter } from "./emitter.js";
import { Outbox, mintClientMsgId } from "./outbox.js";
import { Rest } from "./rest.js";
import { toStorage } from "./storage.js";

/** Codes of `state` events the client causes itself (a server's close codes are >= 1000). */
export const ClientCode = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  TRANSPORT_CLOSED: 2,
  NO_PONG: 3,
  CATCH_UP_FAILED: 4,
  NO_READY: 5,
});

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_SERVICE_RESTART = 1012;
const MAX_REFS = 1000;
// Uploads of one queued message that may fail in a row, unanswered or with a 5xx, on one socket
// before the message fails: the server was reachable all along, so the file is the likely cause (a
// server that refuses a body too large for it as soon as the headers are in closes the connection,
// which can reach the client as a reset, not a 413). A new socket starts the count again; a 429
// honours its Retry-After and is not counted.
const MAX_UPLOAD_FAILURES = 5;
const LIVE_FRAMES = new Set(["message", "changed", "recalled"]);
const PASSED_ON = new Set(["unread", "read", "typing", "presence", "profile"]);

const DEFAULTS = {
  minReconnectDelay: 500,
  maxReconnectDelay: 20000,
  pingInterval: 25000,
  pongTimeout: 10000,
  readyTimeout: 10000,
  syncLimit: 500,
  fullPageWait: 1000,
  typingInterval: 3000,
  storageKey: "chat",
  ackOffline: false,
};

export class ChatClient extends Emitter {
  constructor(options) {
    super();
    const { baseUrl, token = null, storage, random = Math.random, timers = {} } = options;
    this.options = { ...DEFAULTS, ...options };
    const base = resolveBase(baseUrl);
    this.rest = new Rest({ baseUrl: base, token, fetch: options.fetch, XMLHttpRequest: options.XMLHttpRequest });
    this.attachments = new Attachments(this.rest, { maxUploadBytes: options.maxUploadBytes ?? null });
    this._wsUrl = `${base.replace(/^http/, "ws")}/ws/chat/${token ? `?token=${encodeURIComponent(token)}` : ""}`;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this._random = random;
    this._timers = {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle),
      now: () => Date.now(),
      ...timers,
    };
    this._storage = toStorage(storage);
    this._outbox = new Outbox(this._storage, `${this.options.storageKey}:outbox`);
    this._sync = new CatchUp({
      rest: this.rest,
      storage: this._storage,
      storageKey: this.options.storageKey,
      timers: this._timers,
      limit: this.options.syncLimit,
      fullPageWait: this.options.fullPageWait,
      onError: (exc) => this.emit("error", exc),
    });
    this._seen = this._sync.seen;

    /** @type {"disconnected" | "connecting" | "connected"} */
    this.state = "disconnected";
    this.userId = null;
    this._gen = 0; // one per socket; callbacks of an older socket are ignored
    this._ws = null;
    this._socketTimers = new Set();
    this._reconnectTimer = null;
    this._attempt = 0;
    this._catching = null;
    this._catchGen = 0;
    this._again = false;
    this._buffer = [];
    this._refs = 0;
    this._refKinds = new Map();
    this._waiting = new Map(); // client_msg_id -> {resolve, reject} of send()
    this._readyWaiters = [];
    this._typingSent = new Map();
    this._watching = [];
    this._loaded = this._load();
  }

  async _load() {
    await this._sync.load();
    await this._outbox.load();
  }

  /** Resolves once everything written so far (cursor, outbox, what was emitted) is in the storage. */
  async flush() {
    await this._loaded;
    await this._sync.flushed();
    await this._outbox.flushed();
  }

  /** The cursor the next catch-up starts from (null: a new client, which asks sync/position). */
  get cursor() {
    return this._sync.cursor;
  }

  // --- the connection ------------------------------------------------------------------------

  connect() {
    if (this.state !== "disconnected") return;
    if (!this._WebSocket) {
      throw new TypeError("no WebSocket: pass one (e.g. the `ws` package on Node < 22) as options.WebSocket");
    }
    this._attempt = 0;
    this._setState("connecting", ClientCode.CONNECT, "connect called");
    this._open();
  }

  disconnect() {
    this._gen += 1;
    this._closeSocket(1000);
    this._clear(this._reconnectTimer);
    this._reconnectTimer = null;
    for (const entry of this._outbox.entries()) {
      this._clear(entry.retryTimer);
      entry.retryTimer = null;
      if (entry.abort) {
        // Paused, not cancelled: the entry keeps its files and uploads them after the next connect.
        entry.paused = true;
        entry.abort.abort();
      }
    }
    if (this.state !== "disconnected") this._setState("disconnected", ClientCode.DISCONNECT, "disconnect called");
  }

  /** Resolves once connected (now, or at the next `connected`); rejects on `disconnected` or timeout. */
  ready(timeout) {
    if (this.state === "connected") return Promise.resolve();
    if (this.state === "disconnected") return Promise.reject(new ChatError("disconnected", "not connecting"));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null };
      if (timeout !== undefined) {
        waiter.timer = this._timers.setTimeout(() => {
          this._readyWaiters = this._readyWaiters.filter((w) => w !== waiter);
          reject(new ChatError("timeout", `not connected within ${timeout} ms`));
        }, timeout);
      }
      this._readyWaiters.push(waiter);
    });
  }

  async _open() {
    await this._loaded;
    if (this.state === "disconnected" || this._ws) return;
    const gen = ++this._gen;
    let ws;
    try {
      ws = new this._WebSocket(this._wsUrl);
    } catch (exc) {
      this._lost(gen, ClientCode.TRANSPORT_CLOSED, String(exc?.message || exc));
      return;
    }
    this._ws = ws;
    this._later(gen, this.options.readyTimeout, () => this._lost(gen, ClientCode.NO_READY, "no ready frame"));
    ws.onmessage = (event) => gen === this._gen && this._onFrame(gen, event.data);
    ws.onclose = (event) =>
      this._lost(gen, event?.code ?? ClientCode.TRANSPORT_CLOSED, event?.reason || "transport closed");
    ws.onerror = () => {}; // a close follows; `ws` throws on an error event nobody listens to
  }

  /** The socket of generation `gen` is gone (closed, silent, or dropped by us): decide what next. */
  _lost(gen, code, reason) {
    if (gen !== this._gen) return;
    this._gen += 1;
    this._closeSocket(1000);
    if (this.state === "disconnected") return;
    if (code === CLOSE_UNAUTHENTICATED) {
      this._setState("disconnected", code, reason);
      return;
    }
    const min = this.options.minReconnectDelay;
    const delay =
      code === CLOSE_SERVICE_RESTART
        ? Math.floor(this._random() * min) // another node answers: a short random delay, no backoff
        : backoff(this._attempt++, min, this.options.maxReconnectDelay, this._random);
    this._setState("connecting", code, reason);
    this.emit("retry", { delay, code, reason });
    this._reconnectTimer = this._timers.setTimeout(() => {
      this._reconnectTimer = null;
      this._open();
    }, delay);
  }

  _closeSocket(code) {
    for (const timer of this._socketTimers) this._clear(timer);
    this._socketTimers.clear();
    const ws = this._ws;
    this._ws = null;
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close(code);
    } catch {
      // already closing
    }
  }

  _setState(state, code, reason) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", { state, code, reason });
    if (state === "connecting") return;
    const waiters = this._readyWaiters;
    this._readyWaiters = [];
    for (const waiter of waiters) {
      this._clear(waiter.timer);
      if (state === "connected") waiter.resolve();
      else waiter.reject(new ChatError("disconnected", reason));
    }
  }

  /** A timer that dies with the socket of generation `gen`. */
  _later(gen, ms, fn) {
    const timer = this._timers.setTimeout(() => {
      this._socketTimers.delete(timer);
      if (gen === this._gen) fn();
    }, ms);
    this._socketTimers.add(timer);
    return timer;
  }

  _clear(timer) {
    if (timer != null) {
      this._timers.clearTimeout(timer);
      this._socketTimers.delete(timer);
    }
  }

  _send(frame) {
    if (!this._ws || this._ws.readyState !== 1) return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  }

  _ref(kind, data) {
    const ref = `r${++this._refs}`;
    this._refKinds.set(ref, { kind, data });
    // A read, typing or watch frame is answered only when refused: forget the oldest refs.
    if (this._refKinds.size > MAX_REFS) this._refKinds.delete(this._refKinds.keys().next().value);
    return ref;
  }

  _schedulePing(gen) {
    this._later(gen, this.options.pingInterval, () => {
      const ref = this._ref("ping");
      this._send({ type: "ping", ref });
      this._pongTimer = this._later(gen, this.options.pongTimeout, () =>
        this._lost(gen, ClientCode.NO_PONG, "no pong"),
      );
    });
  }

  // --- frames from the server ----------------------------------------------------------------

  _onFrame(gen, data) {
    let frame;
    try {
      frame = JSON.parse(typeof data === "string" ? data : String(data));
    } catch {
      this.emit("error", new ChatError("invalid_frame", "the server sent a frame that is not JSON"));
      return;
    }
    const type = frame?.type;
    if (type === "ready") {
      for (const timer of this._socketTimers) this._clear(timer);
      this.userId = frame.user_id;
      this._attempt = 0;
      for (const entry of this._outbox.entries()) entry.uploadFailures = 0;
      this._schedulePing(gen);
      if (this._watching.length) this._send({ type: "watch", user_ids: this._watching, ref: this._ref("watch") });
      this._catchUp(gen);
    } else if (type === "pong") {
      this._refKinds.delete(frame.ref);
      this._clear(this._pongTimer);
      this._schedulePing(gen);
    } else if (type === "ack") {
      this._refKinds.delete(frame.ref);
      this._accept(frame.message);
    } else if (type === "error") {
      this._onErrorFrame(frame);
    } else if (LIVE_FRAMES.has(type)) {
      if (this._catching) this._buffer.push(frame);
      else this._live(frame);
    } else if (type === "resync") {
      this._catchUp(gen);
    } else if (PASSED_ON.has(type)) {
      this.emit(type, frame);
    }
  }

  _live(frame) {
    if (frame.type === "recalled") {
      if (this._seen.recall(frame.msg_id)) this.emit("recalled", frame);
    } else if (frame.message) {
      this._accept(frame.message);
    }
  }

  /** A Message from a push, a sync page, an ack or a REST answer: emitted once per (msg_id, rev). */
  _accept(message) {
    if (!message || typeof message.msg_id !== "number") return;
    this._settle(message);
    const kind = this._seen.classify(message);
    if (kind) this._sync.emitted(message);
    if (kind === "new") {
      this.emit("message", message);
    } else if (kind === "changed") {
      this.emit("changed", message);
      if (message.status === "recalled" && this._seen.recall(message.msg_id)) {
        this.emit("recalled", { type: "recalled", conversation_id: message.conversation_id, msg_id: message.msg_id });
      }
    }
  }

  _onErrorFrame(frame) {
    const error = ChatError.fromBody(frame);
    const sent = frame.ref ? this._refKinds.get(frame.ref) : undefined;
    if (frame.ref) this._refKinds.delete(frame.ref);
    const clientMsgId = frame.client_msg_id || (sent?.kind === "send" ? sent.data : null);
    const entry = clientMsgId ? this._outbox.get(clientMsgId) : undefined;
    if (entry) {
      this._sendFailed(entry, error);
    } else if (!clientMsgId) {
      this.emit("error", Object.assign(error, { frame: sent?.kind ?? null }));
    }
  }

  // --- catch-up ------------------------------------------------------------------------------

  /** Sync from the cursor; one run at a time (a request during a run makes it go round once more). */
  _catchUp(gen) {
    this._catchGen = gen;
    if (this._catching) {
      this._again = true;
      return this._catching;
    }
    this._catching = this._syncLoop().then(
      () => this._caughtUp(),
      (exc) => this._caughtUp(exc),
    );
    return this._catching;
  }

  async _syncLoop() {
    do {
      this._again = false;
      await this._sync.run({
        accept: (message) => this._accept(message),
        userId: this.userId,
        stopped: () => this.state === "disconnected",
      });
    } while (this._again && this.state !== "disconnected");
  }

  _caughtUp(failure) {
    this._catching = null;
    const buffered = this._buffer;
    this._buffer = [];
    for (const frame of buffered) this._live(frame);
    const gen = this._catchGen;
    if (gen !== this._gen || !this._ws) return; // that socket is gone; the next one catches up again
    if (failure) {
      this.emit("error", failure);
      this._lost(gen, ClientCode.CATCH_UP_FAILED, `catch-up failed: ${failure.code || failure}`);
      return;
    }
    this._setState("connected", null, "caught up");
    this.emit("caughtUp", { cursor: this._sync.cursor });
    for (const entry of this._outbox.entries()) this._transmit(entry);
    if (this.options.ackOffline) this._ackOffline();
  }

  /**
   * What sync brought needs no `offline` list: ack it per sender, so the server's list stays short
   * (PROTOCOL.md 1.2, "A client that catches up with sync does not need offline"). Best effort.
   */
  _ackOffline() {
    for (const [senderId, upTo] of this._sync.takeSynced()) this.ackOffline(senderId, upTo).catch(() => {});
  }

  // --- the outbox ----------------------------------------------------------------------------

  /** Pending sends (also those restored from storage), oldest first. */
  outbox() {
    return this._outbox.entries().map(publicEntry);
  }

  /**
   * Send a message; resolves with the acked Message. The client_msg_id minted here is the
   * message's for good: every resend (after each catch-up, after a restart) carries it.
   * `files` (Blobs) are uploaded first, once connected, each id kept as it comes, so every resend
   * carries the same ids; `signal` cancels the message while its files are still uploading.
   */
  async send(to, content, { replyTo = null, attachments = null, files = null, signal } = {}) {
    for (const file of files || []) {
      if (typeof file?.size !== "number" || typeof file?.slice !== "function") {
        throw new TypeError("files are Blobs or Files (in Node: fs.openAsBlob(path))");
      }
    }
    // Connected: the server's published limit first, so that a file over it is refused here. Offline,
    // queueing must not wait for a request: the upload checks again before it starts.
    if (files?.length && this.state === "connected") await this.attachments.learnLimit();
    for (const file of files || []) this.attachments.sizeCheck.check(file.size);
    if (signal?.aborted) throw new UploadCancelled("the message was cancelled before it was queued");
    await this._loaded;
    const entry = {
      client_msg_id: mintClientMsgId(this._random),
      to,
      content,
      reply_to: replyTo,
      attachments: (attachments || files?.length) ? [...(attachments || [])] : null,
      created_at: new Date(this._timers.now()).toISOString(),
      uploads: (files || []).map((file) => ({ file, name: typeof file.name === "string" ? file.name : null, size: file.size })),
    };
    const answered = new Promise((resolve, reject) => this._waiting.set(entry.client_msg_id, { resolve, reject }));
    if (signal) {
      const onAbort = () => this.cancel(entry.client_msg_id);
      const off = () => signal.removeEventListener("abort", onAbort);
      signal.addEventListener("abort", onAbort, { once: true });
      answered.then(off, off);
    }
    await this._outbox.add(entry);
    this.emit("pending", publicEntry(entry));
    if (this.state === "connected") this._transmit(entry);
    return answered;
  }

  /**
   * Give up a message while its files are still uploading (or waiting to): the upload is aborted,
   * send() rejects with UploadCancelled, nothing is sent. False once the message went out (recall
   * it instead) or for an unknown id.
   */
  cancel(clientMsgId) {
    const entry = this._outbox.get(clientMsgId);
    if (!entry?.uploads?.length) return false;
    this._clear(entry.retryTimer);
    entry.retryTimer = null;
    entry.abort?.abort();
    this._sendFailed(entry, new UploadCancelled("the message was cancelled while its files were uploading"));
    return true;
  }

  /** Upload an entry's files one by one (one run at a time), then send it if still connected. */
  async _uploadFiles(entry) {
    const id = entry.client_msg_id;
    entry.abort = new AbortController();
    let failure = null;
    try {
      while (entry.uploads.length && this._outbox.get(id)) {
        const upload = entry.uploads[0];
        const index = entry.attachments.length;
        const attachment = await this.attachments.upload(upload.file, {
          name: upload.name ?? undefined,
          signal: entry.abort.signal,
          onProgress: (p) => this.emit("uploadProgress", { client_msg_id: id, index, name: upload.name, ...p }),
        });
        if (!this._outbox.get(id)) break; // cancelled as it finished
        entry.uploads.shift();
        entry.attachments.push(attachment.attachment_id);
        this._outbox.save();
      }
    } catch (error) {
      failure = error;
    }
    entry.abort = null;
    if (entry.paused) {
      entry.paused = false; // disconnect(): the next catch-up starts it again (or now, if that was quicker)
    } else if (!this._outbox.get(id)) {
      return; // cancel() said it already
    } else if (
      failure instanceof ChatError &&
      retryableUpload(failure) &&
      (failure.code === "rate_limited" || (entry.uploadFailures || 0) + 1 < MAX_UPLOAD_FAILURES)
    ) {
      if (failure.code !== "rate_limited") entry.uploadFailures = (entry.uploadFailures || 0) + 1;
      const min = this.options.minReconnectDelay;
      const wait =
        failure.retryAfter != null
          ? failure.retryAfter * 1000
          : backoff(Math.max((entry.uploadFailures || 0) - 1, 0), min, this.options.maxReconnectDelay, this._random);
      entry.retryTimer = this._timers.setTimeout(() => {
        entry.retryTimer = null;
        if (this.state === "connected") this._transmit(entry);
      }, wait);
      return;
    } else if (failure) {
      this._sendFailed(entry, failure instanceof ChatError ? failure : new ChatError("upload_failed", String(failure)));
      return;
    } else {
      entry.uploadFailures = 0;
    }
    if (this.state === "connected") this._transmit(entry);
  }

  _transmit(entry) {
    if (entry.retryTimer || !this._outbox.get(entry.client_msg_id)) return;
    if (entry.uploads?.length) {
      if (!entry.abort) this._uploadFiles(entry);
      return;
    }
    const frame = { type: "send", to: entry.to, content: entry.content, client_msg_id: entry.client_msg_id };
    if (entry.reply_to != null) frame.reply_to = entry.reply_to;
    if (entry.attachments?.length) frame.attachments = entry.attachments;
    frame.ref = this._ref("send", entry.client_msg_id);
    this._send(frame);
  }

  /** A Message of ours carrying an outbox client_msg_id (ack, push or sync) answers that send. */
  _settle(message) {
    const id = message.client_msg_id;
    if (!id || message.sender_id !== this.userId || !this._outbox.get(id)) return;
    this._clear(this._outbox.get(id).retryTimer);
    this._outbox.remove(id);
    this._waiting.get(id)?.resolve(message);
    this._waiting.delete(id);
  }

  _sendFailed(entry, error) {
    if (RETRYABLE_CODES.has(error.code)) {
      const wait = (error.retryAfter ?? 1) * 1000;
      entry.retryTimer = this._timers.setTimeout(() => {
        entry.retryTimer = null;
        if (this.state === "connected") this._transmit(entry);
      }, wait);
      return;
    }
    this._outbox.remove(entry.client_msg_id);
    this.emit("failed", { client_msg_id: entry.client_msg_id, to: entry.to, error });
    this._waiting.get(entry.client_msg_id)?.reject(error);
    this._waiting.delete(entry.client_msg_id);
  }

  // --- other frames --------------------------------------------------------------------------

  /** Tell the peer you are typing: at most one frame per conversation every 3 s; true if sent. */
  typing(conversationId) {
    const now = this._timers.now();
    const last = this._typingSent.get(conversationId);
    if (this.state !== "connected" || (last !== undefined && now - last < this.options.typingInterval)) return false;
    this._typingSent.set(conversationId, now);
    return this._send({ type: "typing", conversation_id: conversationId, ref: this._ref("typing") });
  }

  /** Replace the watch list (presence and profile frames); kept and sent again on every reconnect. */
  watch(userIds) {
    this._watching = [...userIds];
    if (this._ws) this._send({ type: "watch", user_ids: this._watching, ref: this._ref("watch") });
  }

  // --- REST ----------------------------------------------------------------------------------

  /** Mark read up to a msg_id (omitted: everything); resolves with {conversation_id, unread}. */
  markRead(conversationId, upTo) {
    return this.rest.request("POST", `conversations/${conversationId}/read`, {
      body: upTo === undefined || upTo === null ? {} : { up_to: upTo },
    });
  }

  async edit(msgId, content) {
    const message = await this.rest.request("PATCH", `messages/${msgId}`, { body: { content } });
    this._accept(message);
    return message;
  }

  async recall(msgId) {
    await this.rest.request("DELETE", `messages/${msgId}`);
  }

  /** Set your reaction (an emoji), or remove it (null); resolves with the Message. */
  async react(msgId, emoji) {
    const path = `messages/${msgId}/reaction`;
    const message =
      emoji === null
        ? await this.rest.request("DELETE", path)
        : await this.rest.request("PUT", path, { body: { emoji } });
    this._accept(message);
    return message;
  }

  conversations({ limit, before, archived } = {}) {
    return this.rest.request("GET", "conversations", { query: { limit, before, archived } });
  }

  conversation(conversationId) {
    return this.rest.request("GET", `conversations/${conversationId}`);
  }

  /** The conversation with that user (1.1); rejects with ChatError not_found before their first message. */
  conversationWith(userId) {
    return this.rest.request("GET", `conversations/with/${userId}`);
  }

  /**
   * Change your own settings of a conversation (1.2): any of {muted, pinned, archived}; resolves with
   * the Conversation. A sixth pinned conversation is a validation_error.
   */
  updateConversation(conversationId, { muted, pinned, archived } = {}) {
    const body = Object.fromEntries(
      Object.entries({ muted, pinned, archived }).filter(([, value]) => value !== undefined),
    );
    return this.rest.request("PATCH", `conversations/${conversationId}`, { body });
  }

  history(conversationId, { before, after, limit } = {}) {
    return this.rest.request("GET", `conversations/${conversationId}/messages`, { query: { before, after, limit } });
  }

  search(q, { conversationId, before, limit } = {}) {
    return this.rest.request("GET", "search", { query: { q, conversation_id: conversationId, before, limit } });
  }

  // --- attachments ---------------------------------------------------------------------------

  /** Upload one Blob (POST attachments); send its attachment_id with send(..., {attachments}). */
  upload(file, { onProgress, name, signal } = {}) {
    return this.attachments.upload(file, { onProgress, name, signal });
  }

  /** The absolute URL of an attachment's bytes or thumbnail (fetching it needs the token). */
  attachmentUrl(attachment, { thumbnail = false } = {}) {
    return this.attachments.url(attachment, { thumbnail });
  }

  /** An attachment's bytes (or its thumbnail's) as a Blob; URL.createObjectURL shows it in a page. */
  download(attachment, { thumbnail = false, signal } = {}) {
    return this.attachments.download(attachment, { thumbnail, signal });
  }

  /**
   * What the server lets through POST attachments (an extension of 1.2): {max_bytes, max_image_pixels,
   * max_per_message}. Fetched once and kept; a failed fetch is tried again on the next call.
   */
  attachmentLimits() {
    return this.attachments.limits();
  }

  me() {
    return this.rest.request("GET", "me");
  }

  /** Change your nickname and/or avatar_url ("" clears it); resolves with your Profile. */
  updateMe({ nickname, avatar_url } = {}) {
    const body = Object.fromEntries(Object.entries({ nickname, avatar_url }).filter(([, value]) => value !== undefined));
    return this.rest.request("PATCH", "me", { body });
  }

  user(userId) {
    return this.rest.request("GET", `users/${userId}`);
  }

  users(q) {
    return this.rest.request("GET", "users", { query: { q } });
  }

  unread() {
    return this.rest.request("GET", "unread");
  }

  // --- blocking (1.2) ------------------------------------------------------------------------

  /** The users you block: {results: [Profile]}. */
  blocks() {
    return this.rest.request("GET", "blocks");
  }

  /** Block a user (idempotent): no send either way, no typing, presence or profile frames between you. */
  async block(userId) {
    await this.rest.request("PUT", `users/${userId}/block`);
  }

  async unblock(userId) {
    await this.rest.request("DELETE", `users/${userId}/block`);
  }

  // --- offline -------------------------------------------------------------------------------

  /**
   * Messages that reached you while no socket of yours was connected: {results: [{sender, messages}]},
   * grouped by sender. A client that catches up with sync does not need it (see ackOffline option).
   */
  offline() {
    return this.rest.request("GET", "offline");
  }

  /** Clear one sender's offline messages up to upTo (a msg_id). */
  async ackOffline(senderId, upTo) {
    await this.rest.request("POST", "offline/ack", { body: { sender_id: senderId, up_to: upTo } });
  }

  // --- Web Push (1.2) ------------------------------------------------------------------------

  /** The server's VAPID public key (base64url): pushManager.subscribe's applicationServerKey. */
  async pushKey() {
    return (await this.rest.request("GET", "push/key")).public_key;
  }

  /**
   * Have the server push new messages to this subscription while none of your sockets is connected:
   * a browser's PushSubscription (its toJSON() is sent) or {endpoint, keys: {p256dh, auth}}.
   */
  async subscribePush(subscription) {
    const body = typeof subscription?.toJSON === "function" ? subscription.toJSON() : subscription;
    await this.rest.request("POST", "push/subscriptions", { body });
  }

  /** Stop pushing to that endpoint (also fine for one never or no longer subscribed). */
  async unsubscribePush(endpoint) {
    await this.rest.request("DELETE", "push/subscriptions", { body: { endpoint } });
  }
}

/** An outbox entry as apps see it: no timers, no Blobs (uploads: what is still to upload). */
function publicEntry({ client_msg_id, to, content, reply_to, attachments, created_at, uploads }) {
  const entry = { client_msg_id, to, content, reply_to, attachments, created_at };
  return uploads?.length ? { ...entry, uploads: uploads.map(({ name, size }) => ({ name, size })) } : entry;
}

function resolveBase(baseUrl) {
  const href = globalThis.location?.href;
  const url = href ? new URL(baseUrl || "/", href) : new URL(baseUrl);
  return url.href.replace(/\/+$/, "");
}
