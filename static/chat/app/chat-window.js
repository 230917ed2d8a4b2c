// The open chat: its header (who, online, typing), the history with its day separators, the
// unread divider and the pending sends, "Load older messages", and opening and leaving a chat.
import { clearSearch } from './conversation-list.js';
import { displayName, fillAvatarOnce, h, lastSeenText, sentence, startOfDay, syncChildren } from './dom.js';
import { modules } from './features.js';
import { shownOnline } from './labels.js';
import { dayNode, messageNode, pendingNode } from './message-view.js';
import { isAtBottom, updateJump } from './read-tracker.js';
import {
  S, changed, ensureConversation, fetchOlderPage, historyOf, isMine, isTyping, loadConversationWith, loadNewest,
  messagesOf, onAdopt, peerReadOf, upsertConversation,
} from './store.js';
import { showError } from './toasts.js';

const { navigation, scrollKeeper, unreadLanding } = modules;
const CONFIG = JSON.parse(document.getElementById('chat-config').textContent);
const RECALL_MS = CONFIG.recall_window_seconds * 1000;
const GROUP_GAP_MS = 5 * 60 * 1000;
const UNREAD_PAGES_MAX = 10; // opening a chat loads history back to its first unread message, this far at most

const $ = (id) => document.getElementById(id);
const ui = {
  layout: $('layout'),
  placeholder: $('placeholder'),
  conversation: $('conversation'),
  back: $('back'),
  peerAvatar: $('peer-avatar'),
  peerName: $('peer-name'),
  peerStatus: $('peer-status'),
  messages: $('messages'),
  loadOlder: $('load-older'),
  historyStart: $('history-start'),
  messageList: $('message-list'),
  peerDeactivated: $('peer-deactivated'),
  input: $('input'),
  sendButton: $('send'),
};
const unreadDivider = h('div', { class: 'unread-divider', role: 'separator' }, h('span', null, 'Unread messages'));

let composer = { switchTo: () => {}, save: () => {} };
let onLeave = () => {};

const blockedChat = () => Boolean(S.active && S.active.cid !== null && (S.convs.get(S.active.cid) || {}).blocked);
export const canWrite = () => Boolean(S.active && !S.signedOut && S.active.peer.is_active !== false && !blockedChat());

export function renderActive() {
  const active = S.active;
  ui.placeholder.hidden = Boolean(active);
  ui.conversation.hidden = !active;
  if (!active) return;
  const { cid, peer } = active;
  renderHeader(cid, peer);

  const hist = cid === null ? null : historyOf(cid);
  const wasAtBottom = isAtBottom();
  ui.loadOlder.hidden = !(hist && hist.loaded && hist.hasMore);
  // Never disabled: a disabled button loses keyboard focus to <body>. loadOlder ignores clicks meanwhile.
  ui.loadOlder.setAttribute('aria-disabled', String(Boolean(hist && hist.loadingOlder)));
  ui.loadOlder.textContent = hist && hist.loadingOlder ? 'Loading…' : 'Load older messages';
  const atStart = cid === null || (hist && hist.loaded && !hist.hasMore);
  ui.historyStart.hidden = !atStart;
  ui.historyStart.textContent = cid === null
    ? `${sentence(`This is the start of your conversation with ${displayName(peer)}`)} Say hello!`
    : sentence(`This is the beginning of your conversation with ${displayName(peer)}`);

  syncChildren(ui.messageList, messageNodes(cid, peer));

  const landing = S.landing && S.landing.cid === cid ? S.landing : null;
  if (landing) {
    // Opening with unread messages: the view stays put until the first unread one is loaded, then shows it at the top.
    if (landing.ready) {
      if (unreadDivider.isConnected) unreadLanding.scrollToTop(ui.messages, unreadDivider);
      else ui.messages.scrollTop = ui.messages.scrollHeight;
      S.landing = null;
      S.stickBottom = false;
    }
  } else if (S.keepScroll) {
    scrollKeeper.restore(ui.messages, S.keepScroll);
    S.keepScroll = null;
  } else if (S.stickBottom || wasAtBottom) {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    if (hist === null || hist.loaded) S.stickBottom = false;
  }
}

function renderHeader(cid, peer) {
  fillAvatarOnce(ui.peerAvatar, peer);
  ui.peerName.textContent = displayName(peer);
  ui.peerName.title = displayName(peer);
  const deactivated = peer.is_active === false;
  const typing = !deactivated && cid !== null && isTyping(cid);
  const online = shownOnline(peer);
  const known = S.connected;
  ui.peerStatus.className = 'peer-status' + (typing ? ' typing' : online ? ' online' : '');
  ui.peerStatus.dataset.state = deactivated ? 'deactivated' : !known ? 'unknown' : typing ? 'typing' : online ? 'online' : 'offline';
  ui.peerStatus.textContent = deactivated
    ? `Deactivated · @${peer.username}`
    : !known ? `${S.signedOut ? 'Signed out' : 'Connecting…'} · @${peer.username}`
      : typing ? 'typing…' : online ? 'Online' : `${lastSeenText(peer.last_seen)} · @${peer.username}`;

  // A deactivated peer can be read but not written to; neither can anyone once signed out.
  ui.peerDeactivated.hidden = !deactivated;
  const writable = canWrite();
  if (ui.input.disabled === writable) {
    ui.input.disabled = !writable;
    ui.sendButton.disabled = !writable;
    ui.input.placeholder = writable ? 'Write a message…' : deactivated ? 'This account is deactivated'
      : blockedChat() ? 'You can’t send messages in this chat' : 'Signed out';
  }
}

function messageNodes(cid, peer) {
  const messages = cid === null ? [] : [...messagesOf(cid).values()].sort((a, b) => a.msg_id - b.msg_id);
  const pending = [...S.pending.values()].filter((p) => p.to === peer.user_id);
  // "Read" goes under the newest own message the peer has read.
  const readUpTo = cid === null ? 0 : peerReadOf(cid);
  let readId = 0;
  for (const m of messages) if (isMine(m) && m.msg_id <= readUpTo && m.status !== 'recalled') readId = m.msg_id;

  const now = Date.now();
  const nodes = [];
  let prevDay = null;
  let prev = null;
  for (const m of messages) {
    const date = new Date(m.created_at);
    const day = startOfDay(date);
    if (day !== prevDay) {
      nodes.push(dayNode(day, date));
      prevDay = day;
      prev = null;
    }
    const grouped = Boolean(prev && prev.sender_id === m.sender_id && date - new Date(prev.created_at) < GROUP_GAP_MS);
    if (S.unreadMark && S.unreadMark.cid === cid && S.unreadMark.msgId === m.msg_id) nodes.push(unreadDivider);
    const canRecall = isMine(m) && m.status === 'normal' && now - date.getTime() < RECALL_MS;
    nodes.push(messageNode(m, { grouped, canRecall, read: m.msg_id === readId, seenByPeer: m.msg_id <= readUpTo, peer }));
    prev = m;
  }
  if (pending.length && prevDay !== startOfDay(new Date())) nodes.push(dayNode(startOfDay(new Date()), new Date()));
  for (const p of pending) nodes.push(pendingNode(p));
  return nodes;
}

// ------------------------------------------------------------ history --

async function loadOlder() {
  if (!S.active || S.active.cid === null) return;
  const cid = S.active.cid;
  const hist = historyOf(cid);
  if (!hist.loaded || !hist.hasMore || hist.loadingOlder || hist.before === null) return;
  hist.loadingOlder = true;
  changed();
  let anchor = null;
  let hadFocus = false;
  try {
    await fetchOlderPage(cid, () => {
      // The message in view stays where it is on screen once the older ones are in above it.
      anchor = scrollKeeper.anchorIn(ui.messages, ui.messageList);
      S.keepScroll = anchor;
      // Asked now: a render may hide the button (and drop its focus) before this function resumes.
      hadFocus = document.activeElement === ui.loadOlder;
    });
  } catch (err) {
    showError(err, loadOlder);
  } finally {
    hist.loadingOlder = false;
    renderActive();
    // The button keeps focus while more remain; when it goes, focus goes to what was the oldest message.
    if (hadFocus && ui.loadOlder.hidden) scrollKeeper.focusQuietly(scrollKeeper.firstOf(anchor), ui.messages);
  }
}

/** Load history back to the first of ``unread`` messages, put the divider above it, and land there (renderActive). */
async function findFirstUnread(cid, unread) {
  const hist = historyOf(cid);
  let first = null;
  hist.loadingOlder = true; // no scroll-triggered page meanwhile
  try {
    for (let page = 0; hist.loaded; page += 1) {
      const more = hist.hasMore && page < UNREAD_PAGES_MAX;
      first = unreadLanding.firstUnreadId([...messagesOf(cid).values()], unread, isMine, more);
      if (first !== null || !more) break;
      await fetchOlderPage(cid);
    }
  } catch (err) {
    showError(err);
  } finally {
    hist.loadingOlder = false;
    if (S.landing && S.landing.cid === cid) {
      if (first !== null) S.unreadMark = { cid, msgId: first };
      S.landing.ready = true;
    }
    changed();
  }
}

function loadNewestShown(cid, refresh = false) {
  return loadNewest(cid, refresh).catch((err) => showError(err, () => loadNewestShown(cid, refresh)));
}

// ------------------------------------------------------ open and leave --

function showChat(active) {
  composer.save();
  S.active = active;
  S.unreadMark = null;
  S.landing = null;
  S.stickBottom = true;
  composer.switchTo(active.peer.user_id);
  ui.layout.classList.add('show-chat');
  changed();
}

export async function openConversation(cid) {
  let conv = S.convs.get(cid);
  if (!conv) {
    try {
      conv = await ensureConversation(cid);
    } catch (err) {
      if (err.code === 'not_found') navigation.showList();
      showError(err);
      return;
    }
  }
  navigation.openedChat(cid);
  const unread = conv.unread || 0;
  showChat({ cid, peer: conv.peer });
  if (unread > 0) S.landing = { cid, ready: false };
  try {
    await loadNewestShown(cid);
  } finally {
    // With unread messages it lands on the first of them, not at the bottom (a failed load: at the bottom).
    if (unread > 0) await findFirstUnread(cid, unread);
  }
}

export async function openPeer(profile) {
  clearSearch();
  let cid = S.byPeer.get(profile.user_id);
  if (cid === undefined && S.nextBefore !== null) {
    // The conversation may be on a page of the list not loaded yet: ask for it directly
    // (404: none yet). With the whole list loaded, not being in it already says so.
    try {
      cid = (await loadConversationWith(profile.user_id)).conversation_id;
    } catch (err) {
      if (err.code !== 'not_found') {
        showError(err, () => openPeer(profile));
        return undefined;
      }
    }
  }
  if (cid !== undefined) return openConversation(cid);
  navigation.openedChat(null);
  showChat({ cid: null, peer: profile });
  return undefined;
}

/** The back arrow: the same as the browser's Back when the chat has its history entry. */
function closeChat() {
  if (navigation.backToList()) return; // popstate then calls leaveChat
  navigation.showList();
  leaveChat();
}

function leaveChat() {
  const left = S.active && S.active.cid;
  composer.save();
  S.active = null;
  S.unreadMark = null;
  S.landing = null;
  ui.layout.classList.remove('show-chat');
  changed();
  onLeave(left);
}

/** Refresh the open chat's newest page (after a reconnect: what the push missed). */
export function refreshOpenChat() {
  if (S.active && S.active.cid !== null) return loadNewestShown(S.active.cid, true);
  return Promise.resolve();
}

/**
 * ``drafts``: the composer's {save(), switchTo(peerId)}; ``leaving(cid)``: a chat was left (focus
 * goes back to its row).
 */
export function initChatWindow({ drafts, leaving }) {
  composer = drafts;
  onLeave = leaving;
  onAdopt((cid) => {
    S.active.cid = cid;
    navigation.openedChat(cid);
    loadNewestShown(cid);
  });
  ui.loadOlder.addEventListener('click', loadOlder);
  // Scrolling to the top loads older messages, but not the scroll a focus change makes (Tab onto
  // "Load older messages" or a message near the top): only activating the button loads then.
  let focusedAt = 0;
  ui.messages.addEventListener('focusin', () => {
    focusedAt = performance.now();
  });
  ui.messages.addEventListener('scroll', () => {
    const byFocus = performance.now() - focusedAt < 250 || ui.loadOlder.matches(':focus-visible');
    if (ui.messages.scrollTop < 40 && !byFocus) loadOlder();
    updateJump();
  });
  ui.back.addEventListener('click', closeChat);
  navigation.onNavigate((cid) => openConversation(cid), leaveChat);
}
