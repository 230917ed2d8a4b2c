import type { Storage } from "./index.js";

/** A Storage kept in one JSON file (written to a temporary file, then renamed over the old one). */
export class FileStorage implements Storage {
  constructor(path: string);
  readonly path: string;
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}
