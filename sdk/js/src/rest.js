// REST under /api/v1/: one request function that turns every failure into a ChatError,
// and the upload, which reports progress through XMLHttpRequest where there is one.
import { ChatError } from "./errors.js";

export class Rest {
  /**
   * @param {{baseUrl: string, token?: string | null, fetch?: typeof fetch, XMLHttpRequest?: any}} options
   */
  constructor({ baseUrl, token = null, fetch: fetchImpl, XMLHttpRequest: xhr }) {
    this.apiUrl = `${baseUrl.replace(/\/+$/, "")}/api/v1/`;
    this.token = token;
    this._fetch = fetchImpl || globalThis.fetch?.bind(globalThis);
    this._XMLHttpRequest = xhr === undefined ? globalThis.XMLHttpRequest : xhr;
    if (!this._fetch) throw new TypeError("no fetch: pass one in the options");
  }

  _headers(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (this.token) headers.Authorization = `Token ${this.token}`;
    return headers;
  }

  _url(path, query) {
    const url = this.apiUrl + path;
    if (!query) return url;
    const params = Object.entries(query)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    return params.length ? `${url}?${params.join("&")}` : url;
  }

  /** The parsed JSON answer (null for 204), or a rejected ChatError. */
  async request(method, path, { query, body } = {}) {
    const init = { method, headers: this._headers(), credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return this._answer(() => this._fetch(this._url(path, query), init));
  }

  async _answer(call) {
    let response;
    try {
      response = await call();
    } catch (exc) {
      throw new ChatError("network_error", String(exc?.message || exc));
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw ChatError.fromBody(body, response.status, response.headers?.get?.("Retry-After"));
    }
    return body;
  }

  /** POST attachments (multipart, field `file`): XMLHttpRequest with progress in browsers, else fetch. */
  async upload(file, { onProgress, name } = {}) {
    const form = new FormData();
    if (name) form.append("file", file, name);
    else form.append("file", file);
    const url = this._url("attachments");
    const Xhr = this._XMLHttpRequest;
    if (!Xhr) {
      const size = file?.size;
      const answer = await this._answer(() =>
        this._fetch(url, { method: "POST", headers: this._headers(), body: form, credentials: "same-origin" }),
      );
      if (onProgress && typeof size === "number") onProgress({ loaded: size, total: size });
      return answer;
    }
    return new Promise((resolve, reject) => {
      const xhr = new Xhr();
      xhr.open("POST", url);
      xhr.withCredentials = false;
      for (const [k, v] of Object.entries(this._headers())) xhr.setRequestHeader(k, v);
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : null });
      }
      xhr.onerror = () => reject(new ChatError("network_error", "upload failed"));
      xhr.onload = () => {
        let body = null;
        try {
          body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(ChatError.fromBody(body, xhr.status, xhr.getResponseHeader("Retry-After")));
      };
      xhr.send(form);
    });
  }
}
