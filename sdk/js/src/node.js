// Node-only parts: a storage adapter backed by one JSON file.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export class FileStorage {
  /** @param {string} path the JSON file (created on the first write) */
  constructor(path) {
    this.path = path;
    this._data = null;
    this._writing = Promise.resolve();
  }

  async _load() {
    if (this._data === null) {
      try {
        this._data = JSON.parse(await readFile(this.path, "utf8"));
      } catch (exc) {
        if (exc.code !== "ENOENT") throw exc;
        this._data = {};
      }
    }
    return this._data;
  }

  async get(key) {
    const data = await this._load();
    return data[key] === undefined ? undefined : structuredClone(data[key]);
  }

  async set(key, value) {
    const data = await this._load();
    data[key] = structuredClone(value);
    await this._flush();
  }

  async delete(key) {
    const data = await this._load();
    delete data[key];
    await this._flush();
  }

  // Writes are serialized, each to a temporary file renamed over the old one: a crash leaves
  // either the previous or the new state, never half a file.
  _flush() {
    const text = JSON.stringify(this._data);
    this._writing = this._writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, this.path);
    });
    return this._writing;
  }
}
