// REST under /api/v1/: one request function that turns every failure into a ChatError. Uploads and
// downloads (attachments.js) use its fetch, XMLHttpRequest and headers.
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
}
