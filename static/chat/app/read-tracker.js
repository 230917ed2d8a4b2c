// Read means seen: a received message counts as read once it was on screen in a visible tab. This
// module watches the open chat's received messages, reports them read (coalesced: each report is a
// request) and runs the "N new messages ↓" button while the view is scrolled up.
import { h } from './dom.js';
import { modules } from './features.js';
import { S, changed, messagesOf, unseenCount } from './store.js';
import { showError } from './toasts.js';

const READ_SEND_GAP_MS = 400; // each report is a request: coalesce a scroll's bursts
const { unreadLanding } = modules;
const messages = document.getElementById('messages');
const jumpNew = document.getElementById('jump-new');
const input = document.getElementById('input');

const onScreen = new Map(); // msg_id -> node of a received message at least half in view
let client = null;
let lastRead = 0;
let readTimer = null;

function onIntersect(entries) {
  for (const entry of entries) {
    const id = Number(entry.target.dataset.msgId);
    const tall = entry.rootBounds && entry.intersectionRect.height >= entry.rootBounds.height / 2;
    if (entry.isIntersecting && (entry.intersectionRatio >= 0.5 || tall)) onScreen.set(id, entry.target);
    else onScreen.delete(id);
  }
  noteSeen();
}

export const seenObserver = 'IntersectionObserver' in window
  ? new IntersectionObserver(onIntersect, { root: messages, threshold: [0, 0.25, 0.5, 0.75, 1] })
  : null;

export function initReadTracker(chatClient) {
  client = chatClient;
  jumpNew.addEventListener('click', jumpToNewest);
}

/** Move the open conversation's "seen" mark to the newest received message on screen, if the tab is visible. */
export function noteSeen() {
  if (!S.active || S.active.cid === null || document.visibilityState !== 'visible') return;
  const cid = S.active.cid;
  if (S.landing && S.landing.cid === cid) return; // the view has not landed on the first unread yet
  const map = messagesOf(cid);
  const before = S.seen.get(cid) || 0;
  let max = before;
  // The observer's last report may predate a scroll made since: check the geometry now.
  for (const [id, node] of onScreen) {
    if (id > max && node.isConnected && map.has(id) && unreadLanding.mostlyInView(messages, node)) max = id;
  }
  if (max > before) {
    S.seen.set(cid, max);
    changed();
  }
}

/** Mark read up to the newest message actually seen, at most every READ_SEND_GAP_MS. */
export function maybeMarkRead() {
  if (!S.active || S.active.cid === null || document.visibilityState !== 'visible' || !S.connected) return;
  const cid = S.active.cid;
  const upTo = S.seen.get(cid) || 0;
  const conv = S.convs.get(cid);
  if (!upTo || upTo <= (S.readSent.get(cid) || 0) || !conv || !conv.unread) return;
  const wait = lastRead + READ_SEND_GAP_MS - Date.now();
  if (wait > 0) {
    if (!readTimer) {
      readTimer = setTimeout(() => {
        readTimer = null;
        maybeMarkRead();
      }, wait);
    }
    return;
  }
  S.readSent.set(cid, upTo);
  lastRead = Date.now();
  client.markRead(cid, upTo).catch((err) => {
    // Not reported: a later look at the chat sends it again.
    if ((S.readSent.get(cid) || 0) === upTo) S.readSent.delete(cid);
    if (err.code !== 'network_error') showError(err);
  });
  changed();
}

export function isAtBottom() {
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
}

/** "N new messages ↓" while scrolled up and something newer than what was seen came in. */
export function updateJump() {
  const cid = S.active && S.active.cid;
  const count = cid === null || cid === undefined || isAtBottom() ? 0 : unseenCount(cid);
  jumpNew.hidden = count === 0;
  if (count) {
    const label = `${count} new message${count === 1 ? '' : 's'}`;
    if (jumpNew.dataset.count !== String(count)) {
      jumpNew.dataset.count = String(count);
      jumpNew.replaceChildren(label + ' ', h('span', { 'aria-hidden': 'true' }, '↓'));
    }
  }
}

function jumpToNewest() {
  messages.scrollTop = messages.scrollHeight;
  jumpNew.hidden = true;
  input.focus();
}
