/*
 * The installable app and Web Push (PROTOCOL.md 1.2), in the browser: registers the service
 * worker (/sw.js, scope /) and runs the header's push button (#push-toggle), which subscribes
 * this browser with the server's VAPID key (GET push/key, POST push/subscriptions) or
 * unsubscribes it (DELETE push/subscriptions). A click on a notification comes here as a message
 * from the service worker and opens that conversation. Own REST calls (session + CSRF), no
 * socket, nothing of chat.js.
 */
(() => {
  'use strict';

  const API = '/api/v1/';
  const button = document.getElementById('push-toggle');
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  let busy = false;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
    const response = await fetch(API + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        /* not JSON */
      }
      throw new Error(detail);
    }
    return response.status === 204 || response.status === 201 ? null : response.json();
  }

  /** base64url (the server's key) to the bytes pushManager.subscribe takes. */
  function keyBytes(base64url) {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function show(on, note) {
    if (!button) return;
    button.setAttribute('aria-pressed', String(on));
    const state = on ? 'on' : 'off';
    button.title = `Notifications while Chat is closed: ${state}${note ? ` (${note})` : ''}`;
  }

  async function registration() {
    return navigator.serviceWorker.ready;
  }

  async function subscribe() {
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      show(false, 'notifications are blocked for this site');
      return;
    }
    const { public_key: publicKey } = await api('GET', 'push/key');
    const reg = await registration();
    const subscription = await reg.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(publicKey),
    });
    await api('POST', 'push/subscriptions', subscription.toJSON());
    show(true);
  }

  async function unsubscribe() {
    const reg = await registration();
    const subscription = await reg.pushManager.getSubscription();
    if (subscription) {
      await api('DELETE', 'push/subscriptions', { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    show(false);
  }

  async function toggle() {
    if (busy) return;
    busy = true;
    button.setAttribute('aria-busy', 'true');
    try {
      if (button.getAttribute('aria-pressed') === 'true') await unsubscribe();
      else await subscribe();
    } catch (error) {
      show(button.getAttribute('aria-pressed') === 'true', `failed: ${error.message}`);
    } finally {
      busy = false;
      button.removeAttribute('aria-busy');
    }
  }

  async function start() {
    if (!('serviceWorker' in navigator)) return;
    try {
      await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    } catch {
      return; // no app shell and no push; the page works as before
    }
    navigator.serviceWorker.addEventListener('message', (event) => {
      const data = event.data || {};
      if (data.type === 'open-conversation' && data.conversation_id) {
        window.location.hash = `c${data.conversation_id}`;
        window.location.reload();
      }
    });
    if (!button) return;
    if (!supported) {
      button.hidden = true;
      return;
    }
    button.addEventListener('click', toggle);
    const reg = await registration();
    const subscription = await reg.pushManager.getSubscription().catch(() => null);
    show(Boolean(subscription));
    button.hidden = false;
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { webPush: { keyBytes } });
  start();
})();
