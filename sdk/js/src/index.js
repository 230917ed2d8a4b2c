// @chat/sdk: plain ES modules, no build step. The Node-only FileStorage is in "@chat/sdk/node".
export { backoff } from "./backoff.js";
export { ChatClient, ClientCode } from "./client.js";
export { revOf } from "./dedupe.js";
export { Emitter } from "./emitter.js";
export {
  AttachmentTooLarge,
  ChatError,
  InvalidAttachment,
  UnsupportedMediaType,
  UploadCancelled,
  UploadError,
} from "./errors.js";
export { ConversationList, MessageList } from "./lists.js";
export { IndexedDBStorage, MemoryStorage, WebStorage } from "./storage.js";
