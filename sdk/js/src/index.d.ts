// Types of everything @chat/sdk exports (PROTOCOL.md 1.2 objects and frames).

export interface Profile {
  user_id: number;
  username: string;
  nickname: string;
  avatar_url: string;
  online: boolean;
  is_active?: boolean;
  last_seen?: string | null;
  blocked?: boolean;
}

export interface Attachment {
  attachment_id: number;
  name: string;
  size: number;
  content_type: string;
  kind: "image" | "file";
  width: number | null;
  height: number | null;
  url: string;
  thumbnail_url: string | null;
}

export interface Reaction {
  user_id: number;
  emoji: string;
}

export interface ReplyTo {
  msg_id: number;
  sender_id: number;
  preview: string;
  status: "normal" | "recalled";
}

export interface Message {
  msg_id: number;
  conversation_id: number;
  sender_id: number;
  recipient_id: number;
  content: string;
  client_msg_id: string | null;
  created_at: string;
  status: "normal" | "recalled";
  recalled_by?: "sender" | "moderator" | null;
  /** 1.2; absent from older servers, where it counts as msg_id (see revOf). */
  rev?: number;
  edited_at?: string | null;
  reply_to?: ReplyTo | null;
  /** 1.2: ordered by user_id, `[]` when none and once recalled; absent from older servers. */
  reactions?: Reaction[];
  /** 1.2: in upload order, `[]` when none and once recalled; absent from older servers. */
  attachments?: Attachment[];
}

export interface Conversation {
  conversation_id: number;
  peer: Profile;
  last_message: Message | null;
  unread: number;
  peer_read_up_to?: number | null;
  blocked?: boolean;
  muted?: boolean;
  pinned?: boolean;
  archived?: boolean;
}

/** GET attachments/limits (an extension of 1.2): what POST attachments and a send let through. */
export interface AttachmentLimits {
  /** CHAT_ATTACHMENT_MAX_BYTES: a larger file is refused (413). */
  max_bytes: number;
  /** CHAT_ATTACHMENT_MAX_PIXELS: an image with more pixels (width x height) is a validation_error. */
  max_image_pixels: number;
  /** The most attachments one message may carry. */
  max_per_message: number;
}

/** One sender's part of GET offline. */
export interface OfflineGroup {
  sender: Profile;
  /** Ascending by msg_id. */
  messages: Message[];
}

/** Your own settings of a conversation (PATCH conversations/{id}); each left out stays as it is. */
export interface ConversationSettings {
  muted?: boolean;
  /** At most 5 pinned conversations: a sixth is a validation_error. */
  pinned?: boolean;
  archived?: boolean;
}

/** What PATCH me changes; each left out stays as it is. */
export interface ProfileChanges {
  /** At most 64 characters. */
  nickname?: string;
  /** An http(s) URL; "" clears it. */
  avatar_url?: string;
}

/** A browser's PushSubscription as JSON (its toJSON()). */
export interface PushSubscriptionData {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  expirationTime?: number | null;
}

export type ConnectionState = "disconnected" | "connecting" | "connected";

export interface StateEvent {
  state: ConnectionState;
  /** A WebSocket close code (4401, 1012, 1006...), a ClientCode, or null for `connected`. */
  code: number | null;
  reason: string;
}

export interface UnreadEvent {
  type: "unread";
  conversation_id: number;
  unread: number;
  total: number;
}

export interface ReadEvent {
  type: "read";
  conversation_id: number;
  reader_id: number;
  up_to: number;
}

export interface TypingEvent {
  type: "typing";
  conversation_id: number;
  user_id: number;
}

export interface RecalledEvent {
  type: "recalled";
  conversation_id: number;
  msg_id: number;
  recalled_by?: "sender" | "moderator";
}

export interface PresenceEvent {
  type: "presence";
  user_id: number;
  online: boolean;
  last_seen: string | null;
}

export interface ProfileEvent {
  type: "profile";
  profile: Profile;
}

/** A new socket is due in `delay` ms (after every lost socket, also while already `connecting`). */
export interface RetryEvent {
  delay: number;
  /** What ended the last socket: a WebSocket close code or a ClientCode. */
  code: number;
  reason: string;
}

export interface CaughtUpEvent {
  /** The cursor the catch-up ended at (the last next_since). */
  cursor: number | null;
}

/** A file of a queued send that is still to upload. */
export interface PendingUpload {
  /** The File's name (null for a Blob without one). */
  name: string | null;
  size: number;
}

/** A send waiting for the server's answer (also one restored from storage after a restart). */
export interface OutboxEntry {
  client_msg_id: string;
  to: number;
  content: string;
  reply_to: number | null;
  /** Ids of its attachments: given to send(), then those of its files as each upload finishes. */
  attachments: number[] | null;
  created_at: string;
  /** Its files still to upload (absent when none): it is sent once they are all up. */
  uploads?: PendingUpload[];
}

/** A file of a queued send is being uploaded (`loaded` of `total` bytes of the request body). */
export interface UploadProgressEvent {
  client_msg_id: string;
  /** The file's place in the message's attachments. */
  index: number;
  name: string | null;
  loaded: number;
  total: number | null;
}

export interface FailedEvent {
  client_msg_id: string;
  to: number;
  error: ChatError;
}

export interface ChatEvents {
  state: StateEvent;
  /** A message new to this client (pushed, synced or acked), once per msg_id. */
  message: Message;
  /** A newer revision of a message already emitted (edit, recall, reaction). */
  changed: Message;
  unread: UnreadEvent;
  read: ReadEvent;
  typing: TypingEvent;
  recalled: RecalledEvent;
  presence: PresenceEvent;
  profile: ProfileEvent;
  caughtUp: CaughtUpEvent;
  retry: RetryEvent;
  pending: OutboxEntry;
  failed: FailedEvent;
  uploadProgress: UploadProgressEvent;
  error: ChatError | Error;
}

export class Emitter<Events extends object = Record<string, unknown>> {
  /** Returns a function that removes the listener. */
  on<K extends keyof Events & string>(type: K, listener: (event: Events[K]) => void): () => void;
  once<K extends keyof Events & string>(type: K, listener: (event: Events[K]) => void): () => void;
  off<K extends keyof Events & string>(type: K, listener: (event: Events[K]) => void): void;
  emit<K extends keyof Events & string>(type: K, event: Events[K]): void;
}

export class ChatError extends Error {
  constructor(
    code: string,
    detail?: string,
    extra?: { errors?: Record<string, string[]> | null; retryAfter?: number | null; status?: number | null },
  );
  /** PROTOCOL.md's code (validation_error, not_found, rate_limited...) or network_error, timeout, disconnected. */
  readonly code: string;
  readonly detail: string;
  readonly errors: Record<string, string[]> | null;
  /** Seconds to wait (rate_limited, unavailable). */
  readonly retryAfter: number | null;
  /** The HTTP status of a REST error. */
  readonly status: number | null;
  /** On an `error` event from an error frame: the kind of frame it refused ("typing", "watch", "ping"...). */
  readonly frame?: string | null;
  static fromBody(body: unknown, status?: number | null, retryAfterHeader?: string | null): ChatError;
}

/** An upload the server refused, or that the client refused or abandoned itself (`status` null). */
export class UploadError extends ChatError {}

/** 413 payload_too_large from the server, or refused before a byte was sent (`status` null). */
export class AttachmentTooLarge extends UploadError {
  constructor(detail?: string, extra?: { size?: number | null; limit?: number | null; status?: number | null });
  readonly code: "payload_too_large";
  /** The file's size in bytes. */
  readonly size: number | null;
  /** The limit it broke, when the client knew it (maxUploadBytes). */
  readonly limit: number | null;
}

/** validation_error on `file` (errors.file): an empty file, an image that does not decode whole, too many pixels. */
export class InvalidAttachment extends UploadError {
  constructor(detail?: string, extra?: { errors?: Record<string, string[]> | null; status?: number | null });
  readonly code: "validation_error";
}

/** 415 unsupported_media_type: the body was not the multipart form the server reads. */
export class UnsupportedMediaType extends UploadError {
  constructor(detail?: string, extra?: { status?: number | null });
  readonly code: "unsupported_media_type";
}

/** Aborted by its AbortSignal or client.cancel(); the server stores nothing of it. */
export class UploadCancelled extends UploadError {
  constructor(detail?: string);
  readonly code: "cancelled";
}

/** Three async calls on JSON values; `get` answers undefined for a missing key. */
export interface Storage {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

/** localStorage, or React Native's AsyncStorage. */
export interface ItemStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

export class MemoryStorage implements Storage {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

export class WebStorage implements Storage {
  constructor(backend: ItemStorage);
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

export class IndexedDBStorage implements Storage {
  constructor(name?: string, indexedDB?: unknown);
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** What the client needs of a WebSocket constructor (browsers, React Native, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ChatClientOptions {
  /** The server, e.g. "https://chat.example.com" ("" or a path: this page's origin, in browsers). */
  baseUrl: string;
  /** The API token; without one, browsers use the session cookie. */
  token?: string | null;
  WebSocket?: WebSocketConstructor | typeof globalThis.WebSocket;
  fetch?: typeof globalThis.fetch;
  XMLHttpRequest?: unknown;
  /** Where the cursor and the outbox survive a restart (default: memory only). */
  storage?: Storage | ItemStorage;
  /** Uniform in [0, 1): the backoff's jitter. */
  random?: () => number;
  timers?: Partial<Timers>;
  /**
   * The largest file to upload, replacing the limit the server publishes (GET attachments/limits,
   * fetched before the first upload): a larger file is refused with AttachmentTooLarge before a byte is
   * sent. With neither (a server that does not publish it), the client still refuses a file at least
   * as large as one the server has answered 413 to.
   */
  maxUploadBytes?: number | null;
  /** Prefix of the storage keys (one per account on a shared storage). Default "chat". */
  storageKey?: string;
  /** Backoff floor and ceiling, ms (500, 20000). */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** A ping this often once ready (25000 ms); no pong within pongTimeout (10000 ms): reconnect. */
  pingInterval?: number;
  pongTimeout?: number;
  /** No `ready` frame within this (10000 ms) of opening: reconnect. */
  readyTimeout?: number;
  syncLimit?: number;
  /** The full-page rule's wait (1000 ms). */
  fullPageWait?: number;
  /** At most one typing frame per conversation this often (3000 ms). */
  typingInterval?: number;
  /**
   * After each catch-up, POST offline/ack per sender up to the newest message synced (false).
   * The offline list is the user's, shared by every device: turn this on only in a client that
   * is the user's one reader of it (the browser UI shows it as "while you were away").
   */
  ackOffline?: boolean;
}

export const ClientCode: Readonly<{
  CONNECT: 0;
  DISCONNECT: 1;
  TRANSPORT_CLOSED: 2;
  NO_PONG: 3;
  CATCH_UP_FAILED: 4;
  NO_READY: 5;
}>;

export interface Page<T> {
  results: T[];
}

export interface ConversationPage extends Page<Conversation> {
  next_before: number | null;
}

export interface HistoryPage extends Page<Message> {
  has_more: boolean;
}

export interface SearchPage extends Page<Message> {
  next_before: number | null;
}

export interface UploadProgress {
  loaded: number;
  total: number | null;
}

export interface UploadOptions {
  /** Bytes of the request body sent so far (XMLHttpRequest's upload events, or the streamed body in Node). */
  onProgress?: (progress: UploadProgress) => void;
  /** The file name to give (default: the File's name, or "file"). */
  name?: string;
  /** Aborts the upload: it rejects with UploadCancelled. */
  signal?: AbortSignal;
}

export interface SendOptions {
  replyTo?: number | null;
  /** Ids of files uploaded already. */
  attachments?: number[] | null;
  /** Files to upload first (after `attachments`, in order); the message is sent once they are up. */
  files?: Blob[] | null;
  /** Cancels the message while its files are still uploading (send() rejects with UploadCancelled). */
  signal?: AbortSignal;
}

export class ChatClient extends Emitter<ChatEvents> {
  constructor(options: ChatClientOptions);
  readonly state: ConnectionState;
  /** The user, once the first `ready` frame said who this is. */
  readonly userId: number | null;
  readonly cursor: number | null;

  connect(): void;
  disconnect(): void;
  /** Resolves once every write so far (cursor, outbox, what was emitted) reached the storage. */
  flush(): Promise<void>;
  ready(timeout?: number): Promise<void>;

  /** With files or attachments, `content` may be "". A file over the size check rejects at once. */
  send(to: number, content: string, options?: SendOptions): Promise<Message>;
  /** Give up a message whose files are still uploading; false once it was sent (recall it then). */
  cancel(clientMsgId: string): boolean;
  outbox(): OutboxEntry[];
  edit(msgId: number, content: string): Promise<Message>;
  recall(msgId: number): Promise<void>;
  react(msgId: number, emoji: string | null): Promise<Message>;
  markRead(conversationId: number, upTo?: number | null): Promise<{ conversation_id: number; unread: number }>;
  typing(conversationId: number): boolean;
  watch(userIds: number[]): void;

  conversations(options?: { limit?: number; before?: number; archived?: boolean }): Promise<ConversationPage>;
  conversation(conversationId: number): Promise<Conversation>;
  /** The conversation with that user (1.1); rejects with ChatError not_found before their first message. */
  conversationWith(userId: number): Promise<Conversation>;
  /** Change your own settings of a conversation (1.2); resolves with the Conversation. */
  updateConversation(conversationId: number, settings: ConversationSettings): Promise<Conversation>;
  history(conversationId: number, options?: { before?: number; after?: number; limit?: number }): Promise<HistoryPage>;
  search(q: string, options?: { conversationId?: number; before?: number; limit?: number }): Promise<SearchPage>;
  /** POST attachments. Rejects with AttachmentTooLarge, InvalidAttachment, UnsupportedMediaType, UploadCancelled or a ChatError. */
  upload(file: Blob, options?: UploadOptions): Promise<Attachment>;
  /** The absolute URL of an attachment's bytes or thumbnail (an id, or an Attachment); fetching it needs the token. */
  attachmentUrl(attachment: Attachment | number, options?: { thumbnail?: boolean }): string;
  /** The bytes (or the thumbnail, at most 320 px a side) with the token; ChatError not_found for a file's thumbnail or a recalled message's. */
  download(attachment: Attachment | number, options?: { thumbnail?: boolean; signal?: AbortSignal }): Promise<Blob>;
  /** The server's upload limits (an extension of 1.2), fetched once and kept; rejects while it cannot be asked. */
  attachmentLimits(): Promise<AttachmentLimits>;
  me(): Promise<Profile>;
  /** PATCH me: your Profile as changed (users watching you get a `profile` frame). */
  updateMe(changes: ProfileChanges): Promise<Profile>;
  user(userId: number): Promise<Profile>;
  users(q: string): Promise<{ results: Profile[] }>;
  unread(): Promise<{ total: number; conversations: Record<string, number> }>;
  /** The users you block (1.2). */
  blocks(): Promise<{ results: Profile[] }>;
  /** Block a user (1.2, idempotent). */
  block(userId: number): Promise<void>;
  /** Unblock a user (1.2, idempotent). */
  unblock(userId: number): Promise<void>;
  /** Messages that reached you while no socket of yours was connected, grouped by sender. */
  offline(): Promise<{ results: OfflineGroup[] }>;
  /** Clear one sender's offline messages up to upTo (a msg_id). */
  ackOffline(senderId: number, upTo: number): Promise<void>;
  /** The server's VAPID public key (base64url), the applicationServerKey of pushManager.subscribe (1.2). */
  pushKey(): Promise<string>;
  /** Have new messages pushed to this subscription while no socket of yours is connected (1.2). */
  subscribePush(subscription: PushSubscriptionData | { toJSON(): unknown }): Promise<void>;
  /** Stop pushing to that endpoint (1.2). */
  unsubscribePush(endpoint: string): Promise<void>;
}

export interface ListEvents<T> {
  change: T[];
}

export class ConversationList extends Emitter<ListEvents<Conversation>> {
  constructor(client: ChatClient);
  readonly items: Conversation[];
  /** The user's unread total, from the last `unread` frame (null before one came). */
  readonly total: number | null;
  load(options?: { limit?: number; before?: number }): Promise<ConversationPage>;
  get(conversationId: number): Conversation | undefined;
  dispose(): void;
}

/** A message sent or being sent; `message.msg_id` is null while pending. */
export interface MessageEntry {
  message: Omit<Message, "msg_id" | "conversation_id"> & { msg_id: number | null; conversation_id: number | null };
  status: "pending" | "sent" | "failed";
  error?: ChatError;
  /** A local echo's files still to upload. */
  uploads?: PendingUpload[];
  /** A local echo's last upload progress (null before its first). */
  progress?: UploadProgressEvent | null;
}

export class MessageList extends Emitter<ListEvents<MessageEntry>> {
  constructor(client: ChatClient, where: { peerId: number; conversationId?: number | null });
  readonly peerId: number;
  readonly conversationId: number | null;
  readonly items: MessageEntry[];
  readonly hasOlder: boolean;
  send(content: string, options?: SendOptions): Promise<Message>;
  loadOlder(options?: { limit?: number }): Promise<HistoryPage | undefined>;
  dispose(): void;
}

export function backoff(step: number, minDelay: number, maxDelay: number, random: () => number): number;
export function revOf(message: { msg_id: number; rev?: number }): number;
