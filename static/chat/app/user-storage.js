// The signed-in user's storage in this browser: what must outlive the page (the SDK's outbox, and
// the page's note of a message whose files were still uploading). IndexedDB, one database for the
// site, every key prefixed with the user's id: two accounts in one browser never read each other's
// queue. Where IndexedDB is missing, refuses (some private modes) or stops answering, everything
// stays in memory for the page's life instead, as before: the page works, a reload forgets.
import { IndexedDBStorage, MemoryStorage } from '../../sdk/index.js';

export const DATABASE = 'chat-kept';
// Opening can wait behind another tab (a pending upgrade or delete of the database): after this
// long the page goes on in memory rather than leaving its socket waiting for the outbox.
const OPEN_WAIT_MS = 5000;

function within(ms, promise) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`IndexedDB did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Storage (get/set/delete of JSON values, as the SDK takes it) for the user ``userId`` resolves to
 * (null: not known, memory only). Every value is also kept in memory, so a failure of IndexedDB
 * half-way loses nothing the page holds; ``durable`` says whether writes still reach the disk.
 */
export function userStorage(userId) {
  const memory = new MemoryStorage();
  let disk = null; // {store, prefix} once IndexedDB answered; null again after a failure
  const ready = Promise.resolve(userId).then(async (id) => {
    if (id === null || id === undefined || !globalThis.indexedDB) return;
    const store = new IndexedDBStorage(DATABASE);
    const prefix = `u${id}:`;
    try {
      await within(OPEN_WAIT_MS, store.get(`${prefix}probe`));
      disk = { store, prefix };
    } catch (err) {
      console.warn('IndexedDB is not available: unsent messages last as long as the page.', err);
    }
  });

  function lost(err) {
    if (!disk) return;
    disk = null;
    console.warn('IndexedDB failed: unsent messages last as long as the page from now on.', err);
  }

  return {
    get durable() {
      return disk !== null;
    },
    async get(key) {
      await ready;
      if (disk) {
        try {
          const value = await disk.store.get(disk.prefix + key);
          if (value !== undefined) await memory.set(key, value);
          return value;
        } catch (err) {
          lost(err);
        }
      }
      return memory.get(key);
    },
    async set(key, value) {
      await ready;
      await memory.set(key, value);
      if (!disk) return;
      try {
        await disk.store.set(disk.prefix + key, value);
      } catch (err) {
        lost(err); // a full disk: in memory from now on, and the send goes on
      }
    },
    async delete(key) {
      await ready;
      await memory.delete(key);
      if (!disk) return;
      try {
        await disk.store.delete(disk.prefix + key);
      } catch (err) {
        lost(err);
      }
    },
  };
}
