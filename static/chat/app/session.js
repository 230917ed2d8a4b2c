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

/**
 * A client for this page's session. ``startCursor``: a promise of where its first catch-up starts
 * (the newest rev the page holds once its conversation list came; null: the server's position), so
 * nothing between the page's first REST answers and its socket is missed; the socket waits for it.
 * ``onSignedOut`` runs on a 401 from any REST call (the socket's 4401 comes as a state event).
 */
export function createClient({ startCursor, onSignedOut }) {
  // The cursor and the outbox live as long as the page: a reload starts from its fresh REST answers
  // (and the browser warns before leaving with a send unanswered).
  const memory = new MemoryStorage();
  const storage = {
    async get(key) {
      if (key === CURSOR_KEY) {
        const cursor = await startCursor;
        if (typeof cursor === 'number' && (await memory.get(key)) === undefined) await memory.set(key, cursor);
      }
      return memory.get(key);
    },
    set: (key, value) => memory.set(key, value),
    delete: (key) => memory.delete(key),
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
