// Deterministic stand-ins for the unit tests: timers that run only when told, a WebSocket the test
// drives frame by frame, a fetch that answers sync from a list of messages, a seeded random.

export class FakeTimers {
  constructor() {
    this.time = 0;
    this._next = 1;
    this._due = new Map();
  }

  setTimeout = (fn, ms) => {
    const id = this._next++;
    this._due.set(id, { at: this.time + ms, fn });
    return id;
  };

  clearTimeout = (id) => {
    this._due.delete(id);
  };

  now = () => this.time;

  /** Delays of the timers now waiting, soonest first. */
  pending() {
    return [...this._due.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Move the clock, running every timer that falls due (and those they set), in order. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = [...this._due.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at);
      if (!due.length) break;
      const [id, timer] = due[0];
      this._due.delete(id);
      this.time = timer.at;
      timer.fn();
    }
    this.time = end;
    await settle();
  }
}

/** Let pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A Park-Miller generator: the same numbers for the same seed. */
export function seeded(seed) {
  let state = seed % 2147483647;
  if (state <= 0) state += 2147483646;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

export function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      sockets.push(this);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("not open");
      this.sent.push(JSON.parse(data));
    }

    close(code) {
      this.closedWith = code ?? 1000;
      this.readyState = 3;
    }

    // --- the test plays the server ---
    open() {
      this.readyState = 1;
    }

    receive(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }

    frames(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { FakeWebSocket, sockets };
}

/**
 * A fetch serving sync/position and sync from `server.messages` (ascending msg_id), and recording calls;
 * attachments/limits answers `limits` when given (else 404: a server that does not publish them).
 */
export function fakeServer({ position = 0, limits = null } = {}) {
  const server = {
    messages: [],
    calls: [],
    acks: [],
    position,
    limits,
    pages: null, // a list of canned sync answers, used first when set
    async fetch(url, init = {}) {
      const parsed = new URL(url);
      const path = parsed.pathname.replace("/api/v1/", "");
      server.calls.push({ method: init.method || "GET", path, query: Object.fromEntries(parsed.searchParams) });
      let body;
      if (path === "sync/position") body = { position: server.position };
      else if (path === "attachments/limits" && server.limits) body = server.limits;
      else if (path === "sync") {
        if (server.pages?.length) body = server.pages.shift();
        else {
          const since = Number(parsed.searchParams.get("since"));
          const limit = Number(parsed.searchParams.get("limit"));
          const after = server.messages.filter((m) => (m.rev ?? m.msg_id) > since);
          const results = after.slice(0, limit);
          body = {
            results,
            has_more: after.length > limit,
            next_since: results.length ? results.at(-1).rev ?? results.at(-1).msg_id : since,
          };
        }
      } else if (path === "offline/ack") {
        server.acks.push(JSON.parse(init.body));
        return new Response(null, { status: 204 });
      } else return new Response(JSON.stringify({ code: "not_found", detail: "no" }), { status: 404 });
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    },
    syncCalls() {
      return server.calls.filter((c) => c.path === "sync");
    },
  };
  return server;
}

export function message(msgId, extra = {}) {
  return {
    msg_id: msgId,
    conversation_id: 1,
    sender_id: 9,
    recipient_id: 7,
    content: `m${msgId}`,
    client_msg_id: null,
    created_at: "2026-12-06T00:00:00Z",
    status: "normal",
    ...extra,
  };
}
