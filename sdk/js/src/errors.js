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

// Upload failures, one class per reason an app handles differently (all are ChatErrors with the
// server's code): `instanceof AttachmentTooLarge` rather than comparing strings.

/** An upload the server refused, or that the client refused or abandoned itself (status null). */
export class UploadError extends ChatError {
  constructor(code, detail, extra = {}) {
    super(code, detail, extra);
    this.name = this.constructor.name;
  }
}

/** Over the server's limit: its 413 payload_too_large, or the client's check before uploading. */
export class AttachmentTooLarge extends UploadError {
  /** @param {{size?: number | null, limit?: number | null, status?: number | null, errors?: any, retryAfter?: number | null}} [extra] */
  constructor(detail = "payload_too_large", { size = null, limit = null, ...extra } = {}) {
    super("payload_too_large", detail, extra);
    this.size = size;
    this.limit = limit;
  }
}

/** validation_error on `file`: empty, an image that does not decode whole, too many pixels. */
export class InvalidAttachment extends UploadError {
  constructor(detail = "validation_error", extra = {}) {
    super("validation_error", detail, extra);
  }
}

/** 415: the body was not the multipart form the server reads. */
export class UnsupportedMediaType extends UploadError {
  constructor(detail = "unsupported_media_type", extra = {}) {
    super("unsupported_media_type", detail, extra);
  }
}

/** The upload was aborted (its AbortSignal, or client.cancel()): the server stores nothing of it. */
export class UploadCancelled extends UploadError {
  constructor(detail = "the upload was cancelled", extra = {}) {
    super("cancelled", detail, extra);
  }
}

/** The typed error for an upload's refusal; other codes (rate_limited, network_error) stay as they are. */
export function uploadError(error, size = null) {
  const extra = { errors: error.errors, retryAfter: error.retryAfter, status: error.status };
  if (error.code === "payload_too_large" || error.status === 413) {
    return new AttachmentTooLarge(error.detail, { ...extra, size });
  }
  if (error.code === "unsupported_media_type" || error.status === 415) return new UnsupportedMediaType(error.detail, extra);
  if (error.code === "validation_error") return new InvalidAttachment(error.detail, extra);
  return error;
}

/** Failures after which the same upload may succeed later. */
export function retryableUpload(error) {
  return error.code === "network_error" || RETRYABLE_CODES.has(error.code) || (error.status ?? 0) >= 500;
}
