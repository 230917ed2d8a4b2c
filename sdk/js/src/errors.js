// ChatError: every failure the SDK reports, from REST, from an `error` frame, or from the client itself.
// Server codes are PROTOCOL.md's (validation_error, not_found, rate_limited, ...); the client adds
// network_error (no answer), timeout and disconnected.

export class ChatError extends Error {
  /**
   * @param {string} code
   * @param {string} [detail]
   * @param {{errors?: Record<string, string[]> | null, retryAfter?: number | null, status?: number | null}} [extra]
   */
  constructor(code, detail = code, { errors = null, retryAfter = null, status = null } = {}) {
    super(`${code}: ${detail}`);
    this.name = "ChatError";
    this.code = code;
    this.detail = detail;
    this.errors = errors;
    this.retryAfter = retryAfter;
    this.status = status;
  }

  /** An error frame or REST error body ({code, detail, errors?, retry_after?}). */
  static fromBody(body, status = null, retryAfterHeader = null) {
    const code = (body && typeof body.code === "string" && body.code) || (status ? `http_${status}` : "server_error");
    const detail = (body && typeof body.detail === "string" && body.detail) || code;
    let retryAfter = body && typeof body.retry_after === "number" ? body.retry_after : null;
    if (retryAfter === null && retryAfterHeader != null && retryAfterHeader !== "") {
      const seconds = Number(retryAfterHeader);
      if (Number.isFinite(seconds)) retryAfter = seconds;
    }
    return new ChatError(code, detail, { errors: (body && body.errors) || null, retryAfter, status });
  }
}

/** Codes after which the same send, unchanged, may succeed later (PROTOCOL.md 1.2 retry_after). */
export const RETRYABLE_CODES = new Set(["rate_limited", "unavailable"]);
