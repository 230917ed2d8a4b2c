// A tiny typed event emitter (no Node `events`, so the same file runs in browsers and React Native).
// A listener that throws never breaks the client: the exception goes to the `error` event.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  on(type, listener) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(listener);
    return () => this.off(type, listener);
  }

  once(type, listener) {
    const off = this.on(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  off(type, listener) {
    this._listeners.get(type)?.delete(listener);
  }

  emit(type, event) {
    const listeners = this._listeners.get(type);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (exc) {
        if (type === "error") {
          // Nowhere left to report it without looping.
          globalThis.console?.error?.(exc);
        } else {
          this.emit("error", exc);
        }
      }
    }
  }
}
