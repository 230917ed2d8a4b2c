/*
 * The installable app and Web Push (PROTOCOL.md 1.2), the browser's side: registers the service
 * worker (/sw.js, scope /), opens the conversation a notification's click names (a message from
 * the worker), and subscribes this browser with the push service or unsubscribes it. The header's
 * bell (app/notifications.js) decides when, and tells the server (push/key, push/subscriptions).
 */
(() => {
  'use strict';

  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  let registered = null;

  /** base64url (the server's key) to the bytes pushManager.subscribe takes. */
  function keyBytes(base64url) {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  /** This browser's push subscription, or null (also when there is no worker or no push). */
  async function current() {
    if (!supported || !(await registered)) return null;
    const reg = await navigator.serviceWorker.ready;
    return reg.pushManager.getSubscription().catch(() => null);
  }

  /** Subscribe with the server's VAPID key (base64url); answers the PushSubscription. */
  async function subscribe(publicKey) {
    if (!supported || !(await registered)) throw new Error('this browser cannot receive pushes');
    const reg = await navigator.serviceWorker.ready;
    return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  }

  /** Unsubscribe this browser; answers the endpoint it had (null: none). */
  async function unsubscribe() {
    const subscription = await current();
    if (!subscription) return null;
    await subscription.unsubscribe();
    return subscription.endpoint;
  }

  async function register() {
    if (!('serviceWorker' in navigator)) return false;
    try {
      await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    } catch {
      return false; // no app shell and no push; the page works as before
    }
    navigator.serviceWorker.addEventListener('message', (event) => {
      const data = event.data || {};
      if (data.type === 'open-conversation' && data.conversation_id) {
        window.location.hash = `c${data.conversation_id}`;
        window.location.reload();
      }
    });
    return true;
  }

  registered = register();
  window.ChatModules = Object.assign(window.ChatModules || {}, {
    webPush: { supported, keyBytes, current, subscribe, unsubscribe },
  });
})();
