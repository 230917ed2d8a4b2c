// Compiled by `tsc --noEmit` (make lint), never run: a third-party app's use of the declarations,
// through the package's own `exports` map.
import {
  AttachmentTooLarge,
  ChatClient,
  ChatError,
  InvalidAttachment,
  UploadCancelled,
  UploadError,
  ConversationList,
  MemoryStorage,
  MessageList,
  WebStorage,
  backoff,
  revOf,
  type Attachment,
  type AttachmentLimits,
  type Conversation,
  type Message,
  type OfflineGroup,
  type Profile,
  type StateEvent,
} from "@chat/sdk";
import { FileStorage } from "@chat/sdk/node";

declare const WS: new (url: string) => {
  readyState: number;
  send(data: string): void;
  close(code?: number): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
};

export async function example(): Promise<number> {
  const client = new ChatClient({ baseUrl: "http://127.0.0.1:8000", token: "t", WebSocket: WS, storage: new MemoryStorage() });
  new ChatClient({ baseUrl: "", storage: new WebStorage({ getItem: () => null, setItem() {}, removeItem() {} }) });
  new ChatClient({ baseUrl: "x", storage: new FileStorage("/tmp/chat.json"), random: () => 0.5 });
  const off = client.on("state", (event: StateEvent) => {
    const code: number | null = event.code;
    void code;
  });
  off();
  client.on("message", (m) => {
    const id: number = m.msg_id;
    const rev: number = revOf(m);
    void [id, rev];
  });
  client.on("unread", (f) => void f.total);
  client.on("typing", (f) => void f.user_id);
  client.on("presence", (f) => void f.online);
  client.on("recalled", (f) => void f.msg_id);
  client.on("retry", ({ delay, code }) => void (delay + code));
  client.on("error", (e) => void (e instanceof ChatError && e.retryAfter));
  client.connect();
  await client.ready(5000);
  const sent: Message = await client.send(9, "hi", { replyTo: 1, attachments: [2] });
  await client.edit(sent.msg_id, "hi!");
  await client.react(sent.msg_id, "👍");
  await client.react(sent.msg_id, null);
  await client.recall(sent.msg_id);
  const read = await client.markRead(sent.conversation_id, sent.msg_id);
  const typed: boolean = client.typing(sent.conversation_id);
  client.watch([9]);
  const conversations = await client.conversations({ limit: 20 });
  const page = await client.history(sent.conversation_id, { before: sent.msg_id, limit: 50 });
  const found = await client.search("hello");
  const attachment = await client.upload(new Blob(["x"]), { onProgress: (p) => void p.loaded, name: "a.txt" });
  const aborting = new AbortController();
  client.on("uploadProgress", (p) => void (p.client_msg_id, p.index, p.loaded, p.total));
  try {
    const withFiles: Message = await client.send(9, "", { files: [new Blob(["y"])], attachments: [attachment.attachment_id], signal: aborting.signal });
    const first: Attachment | undefined = withFiles.attachments?.[0];
    const thumbnail: Blob | null = first?.thumbnail_url ? await client.download(first, { thumbnail: true }) : null;
    const href: string = client.attachmentUrl(attachment.attachment_id, { thumbnail: false });
    void [thumbnail, href, first?.kind === "image" && first.width];
  } catch (error) {
    if (error instanceof AttachmentTooLarge) void [error.size, error.limit, error.status];
    else if (error instanceof InvalidAttachment) void error.errors?.file;
    else if (error instanceof UploadCancelled || error instanceof UploadError) void error.code;
  }
  const cancelled: boolean = client.cancel("some-client-msg-id");
  const uploads = client.outbox().map((entry) => entry.uploads?.map((u) => u.size));
  new ChatClient({ baseUrl: "x", maxUploadBytes: 25 * 1024 * 1024 });
  void [cancelled, uploads];
  const limits: AttachmentLimits = await client.attachmentLimits();
  const withBob: Conversation = await client.conversationWith(9);
  const muted: boolean | undefined = (await client.updateConversation(withBob.conversation_id, { muted: true, archived: false })).muted;
  const renamed: Profile = await client.updateMe({ nickname: "Al", avatar_url: "" });
  const blocked: Profile[] = (await client.blocks()).results;
  await client.block(9);
  await client.unblock(9);
  const away: OfflineGroup[] = (await client.offline()).results;
  for (const group of away) await client.ackOffline(group.sender.user_id, group.messages[group.messages.length - 1].msg_id);
  const key: string = await client.pushKey();
  await client.subscribePush({ endpoint: "https://push.example/1", keys: { p256dh: "p", auth: "a" } });
  await client.subscribePush({ toJSON: () => ({ endpoint: "https://push.example/2" }) });
  await client.unsubscribePush("https://push.example/1");
  void [limits.max_bytes, limits.max_image_pixels, limits.max_per_message, muted, renamed.nickname, blocked, key];
  const list = new ConversationList(client);
  list.on("change", (items) => void items[0]?.peer.nickname);
  const messages = new MessageList(client, { peerId: 9 });
  messages.on("change", (items) => void items.map((e) => [e.status, e.progress?.loaded, e.uploads?.length]));
  client.disconnect();
  void [read.unread, typed, conversations.next_before, page.has_more, found.results, attachment.kind];
  return backoff(3, 500, 20000, Math.random);
}
