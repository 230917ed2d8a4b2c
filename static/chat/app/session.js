// The page's ChatClient (the JavaScript SDK, sdk/js/src, served as /static/sdk/): the socket with
// the session cookie, REST with the session and its CSRF token. Everything the UI learns from the
// server comes through this client; no view opens a socket or calls fetch for chat data.
import { ChatClient, MemoryStorage } from '../../sdk/index.js';

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return '';
}

export const csrfToken = () => cookie('csrftoken');

const STORAGE_KEY = 'chat';
const CURSOR_KEY = `${STORAGE_KEY}:cursor`; // the SDK's key for its sync cursor (catchup.js)
export const OUTBOX_KEY = `${STORAGE_KEY}:outbox`; // the SDK's key for its outbox (client.js)

/**
 * A client for this page's session. ``startCursor``: a promise of where its first catch-up starts
 * (the newest rev the page holds once its conversation list came; null: the server's position), so
 * nothing between the page's first REST answers and its socket is missed; the socket waits for it.
 * ``kept``: the signed-in user's storage in this browser (user-storage.js), where the outbox lives.
 * ``onSignedOut`` runs on a 401 from any REST call (the socket's 4401 comes as a state event).
 */
export function createClient({ startCursor, kept, onSignedOut }) {
  // The outbox outlives the page (kept: IndexedDB): a message written offline goes out after a
  // reload, a closed tab or an offline start, with its one client_msg_id (the server stores it once).
  // The cursor (and what was emitted above it) lives as long as the page: a reload loads the list
  // and the open chat's history again from REST, so a stored cursor would only skip what the page
  // no longer holds; the first catch-up starts from those fresh answers instead (startCursor).
  const memory = new MemoryStorage();
  const outbox = sharedOutbox(kept);
  const storeOf = (key) => (key === OUTBOX_KEY ? outbox : memory);
  const storage = {
    async get(key) {
      if (key === CURSOR_KEY) {
        const cursor = await startCursor;
        if (typeof cursor === 'number' && (await memory.get(key)) === undefined) await memory.set(key, cursor);
      }
      return storeOf(key).get(key);
    },
    set: (key, value) => storeOf(key).set(key, value),
    delete: (key) => storeOf(key).delete(key),
  };
  const sessionFetch = async (url, init = {}) => {
    const method = (init.method || 'GET').toUpperCase();
    const headers = { ...init.headers };
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken();
    const response = await fetch(url, { ...init, headers, credentials: 'same-origin' });
    if (response.status === 401) onSignedOut();
    return response;
  };
  return new ChatClient({
    baseUrl: '',
    fetch: sessionFetch,
    storage,
    storageKey: STORAGE_KEY,
    // "Offline · retrying in N s" stays readable: the first retries come after 1 to 2 s, not 0.5.
    minReconnectDelay: 1000,
  });
}

/**
 * The outbox as the tabs of one user share it. The SDK writes its whole outbox at each change, so
 * a second tab would write over the first one's messages: each write here keeps the stored entries
 * this page never held (another tab's) and drops only those it held and saw answered. Two writes
 * at once can bring an answered entry back; it then goes out again with its client_msg_id, and the
 * server answers with the message it stored the first time (one message per client_msg_id).
 */
function sharedOutbox(kept) {
  const held = new Set(); // client_msg_ids this page loaded or wrote
  return {
    async get(key) {
      const entries = await kept.get(key);
      for (const entry of entries || []) held.add(entry.client_msg_id);
      return entries;
    },
    async set(key, entries) {
      for (const entry of entries) held.add(entry.client_msg_id);
      const others = ((await kept.get(key)) || []).filter((entry) => !held.has(entry.client_msg_id));
      await kept.set(key, [...entries, ...others]);
    },
    delete: (key) => kept.delete(key),
  };
}

/**
 * The page's life and the socket: leaving the page (even into the back/forward cache) closes it,
 * so peers see us go offline at once; coming back, the network returning or the tab showing again
 * reconnects at once instead of waiting out the backoff (and catches up, as after any reconnect).
 */
export function followPageLife(client, signedOut) {
  const reconnectNow = () => {
    if (signedOut() || client.state === 'connected') return;
    client.disconnect();
    client.connect();
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && client.state !== 'connected') reconnectNow();
  });
  window.addEventListener('online', reconnectNow);
  window.addEventListener('pagehide', () => client.disconnect());
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) reconnectNow();
  });
}

/**
 * Logging out forgets the user's unsent messages in this browser, as the service worker forgets
 * the cached conversations (templates/sw.js): the socket closes first, so no late answer writes
 * the outbox again, then ``keys`` of ``kept`` are deleted, then the form is posted. A storage that
 * does not answer within two seconds does not keep anyone from logging out.
 */
export function forgetOnLogout(form, client, kept, keys) {
  let forgotten = false;
  form.addEventListener('submit', (event) => {
    if (forgotten) return;
    event.preventDefault();
    client.disconnect();
    const forget = client.flush().then(() => Promise.all(keys.map((key) => kept.delete(key))));
    const late = new Promise((resolve) => setTimeout(resolve, 2000));
    Promise.race([forget, late])
      .catch((err) => console.warn(err))
      .then(() => {
        forgotten = true;
        form.submit();
      });
  });
}
