// One copy per (msg_id, rev): a message may come by push, by sync and in an ack (PROTOCOL.md 1.2,
// "One copy per msg_id"). A Message without `rev` (a server before 1.2) counts as rev = msg_id.

export function revOf(message) {
  return typeof message.rev === "number" ? message.rev : message.msg_id;
}

export class Seen {
  constructor() {
    /** @type {Map<number, number>} msg_id -> the largest rev emitted */
    this._revs = new Map();
    /** @type {Set<number>} msg_ids whose recall was emitted */
    this._recalled = new Set();
  }

  /**
   * "new" the first time a msg_id is seen, "changed" for a larger rev (or, from a server without
   * revisions, the first copy that shows it recalled), null for a copy already emitted.
   */
  classify(message) {
    const rev = revOf(message);
    const held = this._revs.get(message.msg_id);
    if (held === undefined) {
      this._revs.set(message.msg_id, rev);
      if (message.status === "recalled") this._recalled.add(message.msg_id);
      return "new";
    }
    if (rev > held) {
      this._revs.set(message.msg_id, rev);
      return "changed";
    }
    if (message.status === "recalled" && !this._recalled.has(message.msg_id)) {
      this._recalled.add(message.msg_id);
      return "changed";
    }
    return null;
  }

  /** Take back what an earlier run emitted (persisted by the client above its cursor). */
  restore(msgId, rev) {
    if (!(rev <= (this._revs.get(msgId) ?? -1))) this._revs.set(msgId, rev);
  }

  /** True the first time a recall of msg_id is seen. */
  recall(msgId) {
    if (this._recalled.has(msgId)) return false;
    this._recalled.add(msgId);
    return true;
  }

  has(msgId) {
    return this._revs.has(msgId);
  }
}
