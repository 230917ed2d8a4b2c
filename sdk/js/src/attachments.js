// Attachments (PROTOCOL.md 1.2) on the client side: the upload, the size check before it, and
// downloads that send the token to the server's own origin only.
//
// The upload is multipart/form-data with the one field `file`. In browsers it goes through
// XMLHttpRequest, whose upload events tell the progress (a streamed fetch body needs HTTP/2 there).
// Without XMLHttpRequest (Node, Deno) the body is a stream of the multipart head, the file's own
// stream and the tail, counted as fetch pulls it, with the Content-Length the server reads.
//
// The check before uploading uses the limit the server publishes (GET attachments/limits, an extension
// of 1.2), fetched before the first upload and kept; a maxUploadBytes given to the client replaces it.
// A server that does not publish it (or could not be asked) leaves the decision to its 413, and the
// client then refuses the smallest size the server has refused so far (a 413 for n bytes means n is
// too many).
import {
  AttachmentTooLarge,
  ChatError,
  InvalidAttachment,
  UploadCancelled,
  uploadError,
} from "./errors.js";

const CHUNK = 64 * 1024;

export class SizeCheck {
  /** @param {number | null} maxBytes */
  constructor(maxBytes = null) {
    this.maxBytes = maxBytes;
    /** @type {number | null} the smallest size the server answered 413 to */
    this.refusedAt = null;
  }

  check(size) {
    if (size === 0) throw new InvalidAttachment("The file is empty.");
    if (this.maxBytes != null && size > this.maxBytes) {
      throw new AttachmentTooLarge(`The file has ${size} bytes, over the limit of ${this.maxBytes}.`, {
        size,
        limit: this.maxBytes,
      });
    }
    if (this.refusedAt != null && size >= this.refusedAt) {
      throw new AttachmentTooLarge(`The file has ${size} bytes; the server refused ${this.refusedAt} as too large.`, {
        size,
      });
    }
  }

  refused(size) {
    this.refusedAt = this.refusedAt == null ? size : Math.min(this.refusedAt, size);
  }
}

export class Attachments {
  /** @param {import("./rest.js").Rest} rest */
  constructor(rest, { maxUploadBytes = null } = {}) {
    this.rest = rest;
    this.sizeCheck = new SizeCheck(maxUploadBytes);
    this._told = maxUploadBytes != null; // the app's limit wins over the published one
    this._limits = null; // the promise of GET attachments/limits, once asked (dropped when it failed)
    this._unpublished = false; // the server does not publish its limits (an older one)
  }

  /** GET attachments/limits, asked once and kept; a failure is not kept (the next call asks again). */
  limits() {
    if (!this._limits) {
      this._limits = this.rest.request("GET", "attachments/limits").catch((error) => {
        this._limits = null;
        throw error;
      });
    }
    return this._limits;
  }

  /**
   * Before an upload: the published max_bytes becomes the size check's limit, unless the app gave one.
   * Never fails: without an answer the upload goes, and the server's 413 decides.
   */
  async learnLimit() {
    if (this._told || this._unpublished || this.sizeCheck.maxBytes != null) return;
    try {
      const limits = await this.limits();
      if (Number.isSafeInteger(limits?.max_bytes)) this.sizeCheck.maxBytes = limits.max_bytes;
      else this._unpublished = true; // an answer this client cannot read
    } catch (error) {
      // A server without the endpoint never publishes them; a network error or a 5xx may pass.
      if (error instanceof ChatError && ["not_found", "method_not_allowed"].includes(error.code)) {
        this._unpublished = true;
      }
    }
  }

  /** POST attachments; resolves with the Attachment, rejects with a ChatError (UploadError subclasses). */
  async upload(file, { name, onProgress, signal } = {}) {
    if (typeof file?.size !== "number" || typeof file?.slice !== "function") {
      throw new TypeError("upload takes a Blob or a File (in Node: fs.openAsBlob(path))");
    }
    const size = file.size;
    this.sizeCheck.check(size); // what is known already refuses without a request
    await this.learnLimit();
    this.sizeCheck.check(size);
    if (signal?.aborted) throw new UploadCancelled();
    const fileName = name ?? (typeof file.name === "string" && file.name ? file.name : "file");
    try {
      return this.rest._XMLHttpRequest
        ? await this._viaXhr(file, fileName, onProgress, signal)
        : await this._viaFetch(file, fileName, onProgress, signal);
    } catch (error) {
      if (signal?.aborted) throw new UploadCancelled();
      if (!(error instanceof ChatError)) throw error;
      const typed = uploadError(error, size);
      if (typed instanceof AttachmentTooLarge && typed.status === 413) this.sizeCheck.refused(size);
      throw typed;
    }
  }

  _viaFetch(file, fileName, onProgress, signal) {
    const boundary = `chat-sdk-${randomHex()}`;
    const encoder = new TextEncoder();
    const head = encoder.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${headerName(fileName)}"\r\n` +
        `Content-Type: ${headerName(file.type || "application/octet-stream")}\r\n\r\n`,
    );
    const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
    const total = head.byteLength + file.size + tail.byteLength;
    let sent = 0;
    let step = 0; // 0: the head, 1: the file, slice by slice, 2: the tail
    const body = new ReadableStream({
      async pull(controller) {
        let chunk;
        if (step === 0) {
          chunk = head;
          step = file.size ? 1 : 2;
        } else if (step === 1) {
          // Slices read one at a time: a File on disk (fs.openAsBlob) is never read whole into memory.
          const offset = sent - head.byteLength;
          chunk = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
          if (!chunk.byteLength) throw new InvalidAttachment("the file changed while it was uploaded");
          if (offset + chunk.byteLength >= file.size) step = 2;
        } else if (step === 2) {
          chunk = tail;
          step = 3;
        } else {
          controller.close();
          return;
        }
        controller.enqueue(chunk);
        sent += chunk.byteLength;
        onProgress?.({ loaded: sent, total });
      },
    });
    const headers = this.rest._headers({
      "Content-Type": `multipart/form-data; boundary=${boundary}`,
      "Content-Length": String(total),
    });
    /** @type {any} `duplex` is not in every RequestInit type yet */
    const init = { method: "POST", headers, body, duplex: "half", signal, credentials: "same-origin" };
    return this.rest._answer(() => this.rest._fetch(this.rest._url("attachments"), init));
  }

  _viaXhr(file, fileName, onProgress, signal) {
    const form = new FormData();
    form.append("file", file, fileName);
    return new Promise((resolve, reject) => {
      const xhr = new this.rest._XMLHttpRequest();
      const onAbort = () => xhr.abort();
      const done = () => signal?.removeEventListener("abort", onAbort);
      xhr.open("POST", this.rest._url("attachments"));
      xhr.withCredentials = false;
      for (const [k, v] of Object.entries(this.rest._headers())) xhr.setRequestHeader(k, v);
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : null });
      }
      xhr.onerror = () => {
        done();
        reject(new ChatError("network_error", "upload failed"));
      };
      xhr.onabort = () => {
        done();
        reject(new UploadCancelled());
      };
      xhr.onload = () => {
        done();
        let body = null;
        try {
          body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(ChatError.fromBody(body, xhr.status, xhr.getResponseHeader("Retry-After")));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      xhr.send(form);
    });
  }

  /**
   * The absolute URL of an attachment's bytes (or its thumbnail's). A URL on another origin than the
   * server's is refused: download() would send the token there.
   */
  url(attachment, { thumbnail = false } = {}) {
    let path;
    if (typeof attachment === "number") path = `attachments/${attachment}${thumbnail ? "/thumbnail" : ""}`;
    else {
      path = thumbnail ? attachment.thumbnail_url : attachment.url;
      if (!path) {
        throw new ChatError("not_found", `attachment ${attachment.attachment_id} (${attachment.kind}) has no thumbnail`);
      }
    }
    const url = new URL(path, this.rest.apiUrl);
    if (url.origin !== new URL(this.rest.apiUrl).origin) {
      throw new ChatError("invalid_url", `${url.href} is not on the server: its token is not sent there`);
    }
    return url.href;
  }

  /** The bytes of an attachment (or its thumbnail) as a Blob, fetched with the token. */
  async download(attachment, { thumbnail = false, signal } = {}) {
    const url = this.url(attachment, { thumbnail });
    let response;
    try {
      response = await this.rest._fetch(url, {
        headers: this.rest._headers({ Accept: "*/*" }),
        credentials: "same-origin",
        signal,
      });
      if (response.ok) return await response.blob();
    } catch (exc) {
      if (signal?.aborted) throw new ChatError("cancelled", "the download was cancelled");
      throw new ChatError("network_error", String(exc?.message || exc));
    }
    let body = null;
    try {
      body = JSON.parse(await response.text());
    } catch {
      body = null;
    }
    throw ChatError.fromBody(body, response.status, response.headers?.get?.("Retry-After"));
  }
}

// A quoted-string in a part's header: no quote, backslash or line break can end it early.
function headerName(name) {
  return String(name).replace(/["\\\r\n]/g, "_");
}

function randomHex() {
  const bytes = new Uint8Array(12);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
