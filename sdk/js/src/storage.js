// Storage adapters: where the client keeps its sync cursor and its outbox across restarts.
// The interface is three async calls on JSON values: get(key) (undefined when absent), set, delete.
// MemoryStorage (the default: nothing survives a restart), WebStorage (wraps localStorage, or React
// Native's AsyncStorage: anything with getItem/setItem/removeItem, sync or async) and IndexedDBStorage
// (browsers). FileStorage, for Node, is in ./node.js so that browsers never load `node:fs`.

export class MemoryStorage {
  constructor() {
    this._map = new Map();
  }

  async get(key) {
    const raw = this._map.get(key);
    return raw === undefined ? undefined : JSON.parse(raw);
  }

  async set(key, value) {
    this._map.set(key, JSON.stringify(value));
  }

  async delete(key) {
    this._map.delete(key);
  }
}

export class WebStorage {
  /** @param {{getItem(k: string): any, setItem(k: string, v: string): any, removeItem(k: string): any}} backend */
  constructor(backend) {
    this._backend = backend;
  }

  async get(key) {
    const raw = await this._backend.getItem(key);
    return raw == null ? undefined : JSON.parse(raw);
  }

  async set(key, value) {
    await this._backend.setItem(key, JSON.stringify(value));
  }

  async delete(key) {
    await this._backend.removeItem(key);
  }
}

export class IndexedDBStorage {
  /** @param {string} [name] the database name */
  constructor(name = "chat-sdk", indexedDB = globalThis.indexedDB) {
    this._name = name;
    this._idb = indexedDB;
    this._db = null;
  }

  _open() {
    if (!this._db) {
      this._db = new Promise((resolve, reject) => {
        const request = this._idb.open(this._name, 1);
        request.onupgradeneeded = () => request.result.createObjectStore("kv");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return this._db;
  }

  async _run(mode, action) {
    const db = await this._open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("kv", mode);
      const request = action(tx.objectStore("kv"));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async get(key) {
    return this._run("readonly", (store) => store.get(key));
  }

  async set(key, value) {
    await this._run("readwrite", (store) => store.put(value, key));
  }

  async delete(key) {
    await this._run("readwrite", (store) => store.delete(key));
  }
}

/** The adapter for whatever the app passed: nothing, one of ours, or a getItem/setItem store. */
export function toStorage(storage) {
  if (!storage) return new MemoryStorage();
  if (typeof storage.get === "function" && typeof storage.set === "function") return storage;
  if (typeof storage.getItem === "function") return new WebStorage(storage);
  throw new TypeError("storage needs get/set/delete or getItem/setItem/removeItem");
}
