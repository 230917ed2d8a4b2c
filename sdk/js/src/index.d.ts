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
  reactions?: Reaction[];
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

/** A send waiting for the server's answer (also one restored from storage after a restart). */
export interface OutboxEntry {
  client_msg_id: string;
  to: number;
  content: string;
  reply_to: number | null;
  attachments: number[] | null;
  created_at: string;
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

  send(to: number, content: string, options?: { replyTo?: number | null; attachments?: number[] | null }): Promise<Message>;
  outbox(): OutboxEntry[];
  edit(msgId: number, content: string): Promise<Message>;
  recall(msgId: number): Promise<void>;
  react(msgId: number, emoji: string | null): Promise<Message>;
  markRead(conversationId: number, upTo?: number | null): Promise<{ conversation_id: number; unread: number }>;
  typing(conversationId: number): boolean;
  watch(userIds: number[]): void;

  conversations(options?: { limit?: number; before?: number; archived?: boolean }): Promise<ConversationPage>;
  conversation(conversationId: number): Promise<Conversation>;
  history(conversationId: number, options?: { before?: number; after?: number; limit?: number }): Promise<HistoryPage>;
  search(q: string, options?: { conversationId?: number; before?: number; limit?: number }): Promise<SearchPage>;
  upload(file: Blob, options?: { onProgress?: (progress: UploadProgress) => void; name?: string }): Promise<Attachment>;
  me(): Promise<Profile>;
  user(userId: number): Promise<Profile>;
  users(q: string): Promise<{ results: Profile[] }>;
  unread(): Promise<{ total: number; conversations: Record<string, number> }>;
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
}

export class MessageList extends Emitter<ListEvents<MessageEntry>> {
  constructor(client: ChatClient, where: { peerId: number; conversationId?: number | null });
  readonly peerId: number;
  readonly conversationId: number | null;
  readonly items: MessageEntry[];
  readonly hasOlder: boolean;
  send(content: string, options?: { replyTo?: number | null; attachments?: number[] | null }): Promise<Message>;
  loadOlder(options?: { limit?: number }): Promise<HistoryPage | undefined>;
  dispose(): void;
}

export function backoff(step: number, minDelay: number, maxDelay: number, random: () => number): number;
export function revOf(message: { msg_id: number; rev?: number }): number;
