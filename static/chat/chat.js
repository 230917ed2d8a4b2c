/*
 * The chat page's bootstrap (an ES module; the classic scripts before it in chat.html have
 * registered window.ChatModules). The JavaScript SDK's ChatClient (sdk/js/src, served as
 * /static/sdk/) owns the socket, its reconnects, the catch-up and the outbox; app/store.js keeps
 * what the page holds; the views in app/ render it and forward clicks. This file creates the
 * client, feeds its events to the store, schedules renders and starts the page.
 * docs/architecture.md ("The browser UI") draws the layers.
 */
import { canWrite, initChatWindow, openConversation, openPeer, refreshOpenChat, renderActive } from './app/chat-window.js';
import { initComposer, editAgain, saveDraft, switchTo } from './app/composer.js';
import { followConnection, showSignedOut } from './app/connection-status.js';
import { initConversationList, renderConversations, rowOf } from './app/conversation-list.js';
import { displayName, h, listTime, richText, svgIcon, timeFormat } from './app/dom.js';
import { featureHook, modules } from './app/features.js';
import { feedStore } from './app/live.js';
import { initMessageView } from './app/message-view.js';
import { alertIncoming, initNotifications } from './app/notifications.js';
import { initProfileDialog, renderMe } from './app/profile-dialog.js';
import { initReadTracker, maybeMarkRead, noteSeen, seenObserver, updateJump } from './app/read-tracker.js';
import { OUTBOX_KEY, createClient, followPageLife, forgetOnLogout } from './app/session.js';
import {
  S, changed, fetchOlderPage, historyOf, ingest, initStore, isMine, loadConversations, loadOffline, maxHeldRev,
  messagesOf, onChange, refreshUnreadTotal, upsertConversation,
} from './app/store.js';
import { errorText, showError, toast } from './app/toasts.js';
import { UPLOADING_KEY, initUnsent, saveUploadingNotes, wouldLoseSends } from './app/unsent.js';
import { userStorage } from './app/user-storage.js';

const CONFIG = JSON.parse(document.getElementById('chat-config').textContent);
const WATCH_MAX = 100; // the watch frame takes at most 100 user ids

let resolveStartCursor;
let resolveUserId;
// The user's unsent messages are kept in this browser under their id, known once GET me answered.
const kept = userStorage(
  new Promise((resolve) => {
    resolveUserId = resolve;
  }),
);
const client = createClient({
  startCursor: new Promise((resolve) => {
    resolveStartCursor = resolve;
  }),
  kept,
  onSignedOut: signOut,
});
initStore({ chatClient: client, onError: showError });

function signOut() {
  if (S.signedOut) return;
  S.signedOut = true;
  client.disconnect();
  showSignedOut();
  changed();
}

// --------------------------------------------------------------- rendering --

let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  Promise.resolve().then(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  if (!S.me) return; // nothing is drawn before the user is known
  watchPeers(renderConversations());
  renderActive();
  noteSeen();
  maybeMarkRead();
  updateJump();
  updateTitle();
  featureHook('render');
}

function updateTitle() {
  // A muted conversation's unread messages do not flash in the title.
  let total = S.totalUnread;
  for (const conv of S.convs.values()) if (conv.muted) total -= conv.unread || 0;
  total = Math.max(0, total);
  document.title = total > 0 ? `(${total > 99 ? '99+' : total}) Chat` : 'Chat';
}

let watched = null;

/** Watch the open chat's peer and the list's, newest first (the client sends it again on every reconnect). */
function watchPeers(sortedConvs) {
  const ids = [];
  if (S.active) ids.push(S.active.peer.user_id);
  for (const conv of sortedConvs) {
    if (ids.length >= WATCH_MAX) break;
    if (!ids.includes(conv.peer.user_id)) ids.push(conv.peer.user_id);
  }
  const sig = [...ids].sort((a, b) => a - b).join(',');
  if (sig === watched) return;
  watched = sig;
  client.watch(ids);
}

/** After a reconnect or a resync the catch-up brought every message; counts and the open chat follow. */
async function refreshAfterGap() {
  watched = null; // ask again for everyone's presence (a resync may follow lost registrations)
  try {
    await loadConversations();
    await refreshUnreadTotal();
    await refreshOpenChat();
    await showOffline();
  } catch (err) {
    showError(err, refreshAfterGap);
  }
  scheduleRender();
}

/** Take in what reached the user while no socket of theirs was connected, and say from whom. */
async function showOffline() {
  const notes = await loadOffline();
  if (notes.length) {
    toast(`While you were away: ${notes.map((n) => `${n.count} from ${displayName(n.sender)}`).join(', ')}.`, 'info', 9000);
  }
}

// ------------------------------------------------------------------ start --

function wire() {
  onChange(scheduleRender);
  onChange(saveUploadingNotes);
  initConversationList(client, { openConversation, openPeer });
  initChatWindow({
    drafts: { save: saveDraft, switchTo },
    leaving: (cid) => {
      // Focus where the chat was opened from, not <body>.
      const row = cid ? rowOf(cid) : null;
      if (row) setTimeout(() => row.focus({ preventScroll: true }), 0);
    },
  });
  initMessageView({
    chatClient: client,
    viewer: modules.attachments.createViewer(document.getElementById('attachment-viewer')),
    seenObserver,
    onEditText: editAgain,
  });
  initReadTracker(client);
  initComposer(client);
  initProfileDialog();
  followPageLife(client, () => S.signedOut);
  feedStore(client, { onLive: alertIncoming, onCaughtUpAgain: refreshAfterGap, onMe: renderMe });
  followConnection(client, {
    onChange: () => {
      S.connected = client.state === 'connected';
      changed(); // presence shown or hidden with the connection; pending sends say why they wait
    },
    onSignedOut: signOut,
  });
  document.addEventListener('visibilitychange', scheduleRender);
  window.addEventListener('focus', scheduleRender);
  // Only what a reload would lose: files still uploading (or any send while the outbox is in memory).
  window.addEventListener('beforeunload', (event) => {
    if (wouldLoseSends()) event.preventDefault();
  });
  forgetOnLogout(document.querySelector('.logout-form'), client, kept, [OUTBOX_KEY, UPLOADING_KEY]);
  // Recall buttons expire, day labels roll over, typing indicators fade, "last seen" ages.
  // Presence itself is pushed (watch / presence / profile events): no polling.
  setInterval(scheduleRender, 5000);
}

// What the 1.2 views (classic scripts) may use: the stores, the client, the builders and a few navigation steps.
const $ = (id) => document.getElementById(id);
const ctx = {
  S,
  ui: { input: $('input'), messageList: $('message-list'), conversations: $('conversations'), emptyList: $('empty-list'), moreConversations: $('more-conversations') },
  CONFIG, client, h, svgIcon, toast, showError, errorText, scheduleRender, render, ingest, messagesOf, historyOf,
  fetchOlderPage, openConversation, upsertConversation, isMine, displayName, richText, listTime, timeFormat, canWrite,
};

async function start() {
  featureHook('init', ctx);
  wire();
  // The profile and the first page of the list at once; the first render waits for both (a
  // preview of one's own message starts with "You:"). The socket waits for the list (its cursor).
  const me = client.me();
  const listLoaded = loadConversations().then(
    () => true,
    (err) => {
      showError(err, () => loadConversations().catch(showError));
      return false;
    },
  );
  client.connect();
  try {
    S.me = await me;
  } catch (err) {
    showError(err);
    client.disconnect();
    resolveUserId(null);
    resolveStartCursor(null);
    return;
  }
  resolveUserId(S.me.user_id);
  initUnsent(client, kept).catch(showError);
  renderMe();
  initNotifications(client, openConversation);
  scheduleRender();
  const listed = await listLoaded;
  resolveStartCursor(listed ? maxHeldRev() : null);
  refreshUnreadTotal().catch(showError);
  showOffline().catch(showError);
  const linked = modules.navigation.chatInAddress();
  if (linked !== null) {
    // The list becomes this entry and the chat one pushed over it: Back leads to the list.
    modules.navigation.showList();
    openConversation(linked);
  }
  scheduleRender();
}

start();
