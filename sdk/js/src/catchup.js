// The catch-up (GET sync) and what it must remember: one cursor, always the last `next_since`,
// stored only after its page was emitted; and what was emitted above the cursor (a live message
// does not move the cursor, since a push can be lost and so proves nothing about what came before
// it), stored beside it so that the next run, whose sync returns those messages again, does not
// emit them twice. A new client starts from GET sync/position, not from the whole history.
import { Seen, revOf } from "./dedupe.js";

export class CatchUp {
  /**
   * @param {{rest: import("./rest.js").Rest, storage: any, storageKey: string, timers: any,
   *   limit: number, fullPageWait: number, onError: (exc: unknown) => void}} options
   */
  constructor({ rest, storage, storageKey, timers, limit, fullPageWait, onError }) {
    this.seen = new Seen();
    /** @type {number | null} */
    this.cursor = null;
    this._rest = rest;
    this._storage = storage;
    this._cursorKey = `${storageKey}:cursor`;
    this._seenKey = `${storageKey}:seen`;
    this._timers = timers;
    this._limit = limit;
    this._fullPageWait = fullPageWait;
    this._onError = onError;
    this._aboveCursor = new Map(); // msg_id -> rev, emitted with rev > cursor
    this._synced = new Map(); // sender -> the newest msg_id synced from them (for offline/ack)
    this._writes = Promise.resolve();
    this._seenSaveQueued = false;
  }

  async load() {
    const cursor = await this._storage.get(this._cursorKey);
    this.cursor = typeof cursor === "number" ? cursor : null;
    for (const [msgId, rev] of (await this._storage.get(this._seenKey)) || []) {
      this._aboveCursor.set(msgId, rev);
      this.seen.restore(msgId, rev);
    }
  }

  /**
   * Sync from the cursor until the server has nothing more, handing each Message to `accept`
   * (which emits it) before the page's `next_since` is stored. `stopped()` true: give up.
   */
  async run({ accept, userId, stopped }) {
    let since = this.cursor;
    if (since === null) {
      since = (await this._rest.request("GET", "sync/position")).position;
      await this._saveCursor(since);
    }
    for (;;) {
      if (stopped()) return;
      const page = await this._rest.request("GET", "sync", { query: { since, limit: this._limit } });
      for (const message of page.results) {
        accept(message);
        if (message.recipient_id === userId && message.msg_id > (this._synced.get(message.sender_id) ?? 0)) {
          this._synced.set(message.sender_id, message.msg_id);
        }
      }
      if (page.has_more && page.next_since === since) {
        // The full-page rule (1.1): keep the page, wait, ask again from the same place.
        await new Promise((resolve) => this._timers.setTimeout(resolve, this._fullPageWait));
        continue;
      }
      since = page.next_since;
      await this._saveCursor(since); // only now: the page was emitted
      if (!page.has_more) return;
    }
  }

  /** A message was emitted (pushed, synced, acked): remember it while it is above the cursor. */
  emitted(message) {
    const rev = revOf(message);
    if (this.cursor !== null && rev <= this.cursor) return;
    this._aboveCursor.set(message.msg_id, rev);
    this._saveSeen();
  }

  /** Senders and the newest msg_id synced from each since the last call. */
  takeSynced() {
    const synced = this._synced;
    this._synced = new Map();
    return synced;
  }

  /** Every write so far has reached the storage. */
  flushed() {
    return this._writes;
  }

  async _saveCursor(cursor) {
    this.cursor = cursor;
    let pruned = false;
    for (const [msgId, rev] of this._aboveCursor) {
      if (rev <= cursor) {
        this._aboveCursor.delete(msgId);
        pruned = true;
      }
    }
    this._write(() => this._storage.set(this._cursorKey, cursor));
    if (pruned) this._saveSeen();
    await this._writes;
  }

  /** One write for everything emitted in the same turn of the event loop. */
  _saveSeen() {
    if (this._seenSaveQueued) return;
    this._seenSaveQueued = true;
    this._write(() => {
      this._seenSaveQueued = false;
      return this._storage.set(this._seenKey, [...this._aboveCursor]);
    });
  }

  /** Storage writes run one after the other; a failed one is reported, the next ones still run. */
  _write(fn) {
    this._writes = this._writes.then(fn).catch(this._onError);
  }
}
