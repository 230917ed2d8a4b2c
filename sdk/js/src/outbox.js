// The outbox: every message send() accepted and the server has not yet answered. Each entry keeps
// the one client_msg_id minted for it for its whole life, across reconnects and restarts
// (element-web#10273: a new id on resend is a duplicate). Stored whole under one key after each change.

export class Outbox {
  /** @param {{get(k: string): Promise<any>, set(k: string, v: any): Promise<void>}} storage */
  constructor(storage, key) {
    this._storage = storage;
    this._key = key;
    /** @type {Map<string, object>} client_msg_id -> entry, in the order sent */
    this._entries = new Map();
    this._saving = Promise.resolve();
  }

  async load() {
    const stored = (await this._storage.get(this._key)) || [];
    for (const entry of stored) this._entries.set(entry.client_msg_id, { ...entry });
  }

  get(clientMsgId) {
    return this._entries.get(clientMsgId);
  }

  entries() {
    return [...this._entries.values()];
  }

  add(entry) {
    this._entries.set(entry.client_msg_id, entry);
    return this._save();
  }

  /** Forget an answered entry; false when it was not (or no longer) here. */
  remove(clientMsgId) {
    const entry = this._entries.get(clientMsgId);
    if (!entry) return false;
    this._entries.delete(clientMsgId);
    this._save();
    return true;
  }

  /** Store the entries as they are now (after an entry changed in place). */
  save() {
    return this._save();
  }

  _save() {
    // An entry whose files are still uploading stays in memory only: its Blobs cannot be stored,
    // and stored without them it would be sent without its files. It is stored once they are up.
    const ready = this.entries().filter((entry) => !entry.uploads?.length);
    const plain = ready.map(({ client_msg_id, to, content, reply_to, attachments, created_at }) => ({
      client_msg_id,
      to,
      content,
      reply_to,
      attachments,
      created_at,
    }));
    // Serialized: a slow write never lands after a newer one.
    this._saving = this._saving.then(() => this._storage.set(this._key, plain));
    return this._saving;
  }

  /** Every write so far has reached the storage. */
  flushed() {
    return this._saving;
  }
}

/** A UUID v4: crypto.randomUUID where there is one (browsers, Node 19+), else from random bytes. */
export function mintClientMsgId(random) {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
