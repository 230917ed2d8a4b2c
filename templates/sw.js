{% load static %}/*
 * The installable app's service worker, served at /sw.js (scope /; chat_project/ui/web.py).
 *
 * - App shell: the chat page and its scripts, styles and icons are cached, so the UI opens
 *   without a network. The page is fetched from the network first (it carries the session's
 *   CSRF token and the user's name) and the cached copy is used only when that fails.
 * - Data: the last answers of GET me, conversations and unread are kept (network first), so
 *   an offline start shows the cached conversation list. Logging out deletes them.
 *   Unsent messages are not here: the page keeps its outbox in IndexedDB, per user, and
 *   deletes it itself on logout (static/chat/app/user-storage.js, session.js).
 * - Web Push (PROTOCOL.md 1.2): a push shows a notification per conversation (tag), with the
 *   sender's nickname and a preview when the server sends them; a click focuses the app (or
 *   opens it) on that conversation.
 */
'use strict';

const VERSION = '{{ version }}';
const SHELL_CACHE = `chat-shell-${VERSION}`;
const DATA_CACHE = 'chat-data';
const SHELL = [
  '/',
  {% for url in shell %}'{{ url|escapejs }}',
  {% endfor %}
];
const CACHED_API = /^\/api\/v1\/(me|conversations|unread)\/?$/;
const ICON = '{% static "chat/icon-192.png" %}';

/** GET ``url`` into ``cacheName`` under ``key`` if it answers 200 (not a redirect to /login/). */
function keep(cacheName, url, key) {
  return fetch(url, { credentials: 'same-origin', headers: { Accept: url.startsWith('/api/') ? 'application/json' : '*/*' } })
    .then((response) => (response.ok && !response.redirected ? caches.open(cacheName).then((c) => c.put(key, response)) : null))
    .catch(() => null);
}

self.addEventListener('install', (event) => {
  // The first visit already leaves what an offline start needs: the shell and the user's data
  // as the page loaded them just before this worker took over.
  event.waitUntil(
    Promise.all([
      ...SHELL.map((url) => keep(SHELL_CACHE, url, url)),
      keep(DATA_CACHE, '/api/v1/me', '/api/v1/me'),
      keep(DATA_CACHE, '/api/v1/conversations?limit=20', '/api/v1/conversations'),
      keep(DATA_CACHE, '/api/v1/unread', '/api/v1/unread'),
    ]).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith('chat-shell-') && n !== SHELL_CACHE).map((n) => caches.delete(n)),
      ))
      .then(() => self.clients.claim()),
  );
});

/** The network's answer, kept in ``cacheName`` under ``key`` when it is a 200; the cached one when the network fails. */
async function networkFirst(request, cacheName, key) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request);
  return cached || fetch(request);
}

async function forgetUserData() {
  await caches.delete(DATA_CACHE);
  const shell = await caches.open(SHELL_CACHE);
  await shell.delete('/');
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === 'POST' && url.pathname === '/logout/') {
    event.waitUntil(forgetUserData());
    return;
  }
  if (request.method !== 'GET') return;
  if (request.mode === 'navigate' && url.pathname === '/') {
    event.respondWith(networkFirst(request, SHELL_CACHE, '/'));
  } else if (CACHED_API.test(url.pathname)) {
    // One entry per path: the last conversation list answered, whatever its query.
    event.respondWith(networkFirst(request, DATA_CACHE, url.pathname));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = data.sender_nickname || 'New message';
  const options = {
    body: data.preview || 'You have a new message.',
    icon: ICON,
    badge: ICON,
    // One notification per conversation: a newer message replaces the older one.
    tag: data.conversation_id ? `conversation-${data.conversation_id}` : 'chat',
    renotify: true,
    data: { conversation_id: data.conversation_id || null, msg_id: data.msg_id || null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const cid = event.notification.data && event.notification.data.conversation_id;
  const target = cid ? `/#c${cid}` : '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (!open) return self.clients.openWindow(target);
      // The page goes to the conversation itself (web-push.js).
      open.postMessage({ type: 'open-conversation', conversation_id: cid });
      return open.focus();
    }),
  );
});
