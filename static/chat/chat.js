/*
 * The chat UI. Vanilla JS over the public contract only (PROTOCOL.md):
 * REST /api/v1/ with the Django session (+ X-CSRFToken) and the WebSocket
 * /ws/chat/ with the session cookie.
 *
 * Safety rule: every piece of user text reaches the DOM through text nodes
 * (textContent / append(string)); nothing here ever assigns innerHTML.
 * Avatar and link URLs are used only when they parse as http(s).
 */
(() => {
  'use strict';

  // navigation.js, composer-keys.js, profile-picture.js, scroll-keeper.js, unread-landing.js
  const { navigation, composerKeys, profilePicture, scrollKeeper, unreadLanding, attachments } = window.ChatModules;
  // Protocol 1.2 views (menu.js, message-actions.js, reactions.js, reply.js, block.js, conversation-menu.js,
  // message-search.js): each gets ``ctx`` once and may decorate a message node, a list row or render after us.
  const FEATURES = ['messageActions', 'reactions', 'reply', 'block', 'conversationMenu', 'messageSearch']
    .map((name) => window.ChatModules[name])
    .filter(Boolean);
  const featureHook = (hook, ...args) => FEATURES.map((f) => (f[hook] ? f[hook](...args) : null));
  const CONFIG = JSON.parse(document.getElementById('chat-config').textContent);
  const API = '/api/v1/';
  const RECALL_MS = CONFIG.recall_window_seconds * 1000;
  const MAX_LENGTH = CONFIG.max_message_length;
  const PAGE_SIZE = 50;
  const UNREAD_PAGES_MAX = 10; // opening a chat loads history back to its first unread message, this far at most
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_SHOW_MS = 4000;
  const PING_EVERY_MS = 25000;
  const PONG_TIMEOUT_MS = 10000;
  const GROUP_GAP_MS = 5 * 60 * 1000;
  const WATCH_MAX = 100; // the watch frame takes at most 100 user ids
  const READ_SEND_GAP_MS = 400; // read frames count against the frame rate: coalesce bursts
  const AVATAR_PREVIEW_MS = 450; // no image request per keystroke in the profile dialog
  // Errors worth retrying: the same request can succeed later. Never validation_error, not_found, forbidden.
  const RETRYABLE = new Set(['network_error', 'unavailable', 'rate_limited']);

  const $ = (id) => document.getElementById(id);
  const ui = {
    layout: $('layout'),
    meButton: $('me-button'),
    meAvatar: $('me-avatar'),
    meName: $('me-name'),
    connStatus: $('conn-status'),
    notifyToggle: $('notify-toggle'),
    soundToggle: $('sound-toggle'),
    sessionEnded: $('session-ended'),
    search: $('search'),
    searchResults: $('search-results'),
    conversations: $('conversations'),
    emptyList: $('empty-list'),
    moreConversations: $('more-conversations'),
    placeholder: $('placeholder'),
    conversation: $('conversation'),
    back: $('back'),
    peerAvatar: $('peer-avatar'),
    peerName: $('peer-name'),
    peerStatus: $('peer-status'),
    banner: $('banner'),
    messages: $('messages'),
    loadOlder: $('load-older'),
    historyStart: $('history-start'),
    messageList: $('message-list'),
    jumpNew: $('jump-new'),
    peerDeactivated: $('peer-deactivated'),
    composer: $('composer'),
    input: $('input'),
    sendButton: $('send'),
    confirmDialog: $('confirm-dialog'),
    toasts: $('toasts'),
    dialog: $('profile-dialog'),
    profileForm: $('profile-form'),
    profileAvatar: $('profile-avatar'),
    profileName: $('profile-name'),
    profileUsername: $('profile-username'),
    profileNickname: $('profile-nickname'),
    profileAvatarUrl: $('profile-avatar-url'),
    avatarFile: $('avatar-file'),
    profileError: $('profile-error'),
    profileCancel: $('profile-cancel'),
    profileSave: $('profile-save'),
  };

  // ---------------------------------------------------------------- state --

  const S = {
    me: null,
    convs: new Map(), // conversation_id -> Conversation (peer, last_message, unread)
    byPeer: new Map(), // peer user_id -> conversation_id
    nextBefore: undefined, // conversation list cursor: undefined = not loaded, null = no more
    msgs: new Map(), // conversation_id -> Map(msg_id -> Message)
    history: new Map(), // conversation_id -> {loaded, hasMore, before, loading, loadingOlder}
    pending: new Map(), // client_msg_id -> {client_msg_id, to, content, createdAt, state, error}
    peerRead: new Map(), // conversation_id -> newest msg_id the peer has read (peer_read_up_to, read frames)
    readSent: new Map(), // conversation_id -> newest up_to we reported
    seen: new Map(), // conversation_id -> newest received msg_id that was on screen in a visible tab
    lastReadFrame: 0,
    readTimer: null,
    watchSig: null, // the user ids last sent in a watch frame (null: send again)
    signedOut: false,
    typingUntil: new Map(), // conversation_id -> time the peer's typing indicator expires
    earlyUnread: new Map(), // unread counts for conversations not fetched yet
    convFetches: new Map(), // conversation_id -> in-flight fetch
    drafts: new Map(), // peer user_id -> unsent composer text
    active: null, // {cid: conversation_id | null (new conversation), peer: Profile}
    cursor: null, // sync cursor: always the server's next_since
    totalUnread: 0,
    lastTypingSent: 0,
    searchSeq: 0,
    ws: null,
    wsReady: false,
    attempt: 0,
    reconnectTimer: null,
    connectedOnce: false,
    pingTimer: null,
    pongTimer: null,
    listLoaded: null,
    syncing: null,
    syncAgain: false,
    stickBottom: true,
    keepScroll: null,
    unreadMark: null, // {cid, msgId}: the open chat's "Unread messages" divider goes above msgId
    landing: null, // {cid, ready}: opening a chat with unread messages; nothing counts as seen until it lands
  };

  // -------------------------------------------------------------- helpers --

  /** Build an element. Strings among the children become text nodes, never HTML. */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function svgIcon(path) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', path);
    svg.append(p);
    return svg;
  }

  /** Text ending in exactly one sentence mark: "with Dave D." stays "with Dave D.", never "D..". */
  function sentence(text) {
    return /[.!?…]$/.test(text) ? text : text + '.';
  }

  /** The URL if it is an absolute http(s) URL, else null. */
  function safeHttpUrl(value) {
    if (typeof value !== 'string' || !value) return null;
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  }

  /** An avatar address worth loading: an http(s) URL with a plausible host, or a /media/ path here. */
  function safeAvatarUrl(value) {
    if (typeof value !== 'string' || !value) return null;
    if (value.startsWith('/media/') && !value.startsWith('/media//')) return new URL(value, window.location.origin).href;
    const href = safeHttpUrl(value);
    if (!href) return null;
    const host = new URL(href).hostname;
    return host === 'localhost' || host.includes('.') || host.startsWith('[') ? href : null;
  }

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    // randomUUID needs a secure context; plain http on a LAN address has only getRandomValues.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  function getCookie(name) {
    for (const part of document.cookie.split(';')) {
      const [key, ...rest] = part.trim().split('=');
      if (key === name) return decodeURIComponent(rest.join('='));
    }
    return '';
  }

  const displayName = (p) => (p && (p.nickname || p.username)) || 'Unknown';
  const isMine = (m) => S.me && m.sender_id === S.me.user_id;
  const codePoints = (text) => [...text].length;

  function initials(p) {
    // First letters of the first two words that start with a letter or digit (no emoji halves).
    const words = displayName(p).split(/\s+/).filter((word) => /^[\p{L}\p{N}]/u.test(word));
    return words.slice(0, 2).map((word) => [...word][0]).join('').toUpperCase() || '?';
  }

  function fillAvatar(box, p) {
    box.replaceChildren();
    box.style.setProperty('--hue', String(((p && p.user_id) || 0) * 47 % 360));
    const fallback = () => {
      box.classList.remove('has-img');
      box.replaceChildren(h('span', { class: 'initials' }, initials(p)));
    };
    const url = safeAvatarUrl(p && p.avatar_url);
    if (url) {
      const img = h('img', { alt: '', src: url, referrerpolicy: 'no-referrer', decoding: 'async' });
      img.addEventListener('error', fallback, { once: true });
      box.classList.add('has-img');
      box.append(img);
    } else {
      fallback();
    }
  }

  function avatar(p, extraClass) {
    const box = h('span', { class: 'avatar' + (extraClass ? ' ' + extraClass : ''), 'aria-hidden': 'true' });
    fillAvatar(box, p);
    return box;
  }

  const isOnline = (p) => Boolean(p && p.online && p.is_active !== false);
  // Presence is pushed over the socket: while it is down, nobody is shown online (it may no longer be true).
  const shownOnline = (p) => S.wsReady && isOnline(p);

  function avatarWithDot(p) {
    return h(
      'span',
      { class: 'avatar-wrap' + (p && p.is_active === false ? ' inactive' : '') },
      avatar(p),
      shownOnline(p) ? h('span', { class: 'online-dot', title: 'Online' }, h('span', { class: 'sr-only' }, 'online')) : null,
    );
  }

  /** "Last seen 5 min ago" from a Profile's last_seen (null: never connected, or unknown). */
  function lastSeenText(iso) {
    const date = iso ? new Date(iso) : null;
    if (!date || Number.isNaN(date.getTime())) return 'Offline';
    const minutes = Math.floor((Date.now() - date.getTime()) / 60000);
    if (minutes < 1) return 'Last seen just now';
    if (minutes < 60) return `Last seen ${minutes} min ago`;
    const days = Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);
    if (days === 0) return `Last seen today at ${timeFormat.format(date)}`;
    if (days === 1) return `Last seen yesterday at ${timeFormat.format(date)}`;
    return `Last seen ${shortDateFormat.format(date)}`;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
  const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const longDateFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function listTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const days = Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);
    if (days <= 0) return timeFormat.format(date);
    if (days === 1) return 'Yesterday';
    if (days < 7) return weekdayFormat.format(date);
    return shortDateFormat.format(date);
  }

  function dayLabel(date) {
    const days = Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);
    if (days === 0) return 'Today';
    if (days === 1) return 'Yesterday';
    return longDateFormat.format(date);
  }

  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;

  /** Text with http(s) links as <a> elements; everything else stays plain text nodes. */
  function richText(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const raw = match[0].replace(/[.,!?;:)\]}]+$/, '');
      const href = safeHttpUrl(raw);
      if (!href) continue;
      if (match.index > last) parts.push(text.slice(last, match.index));
      parts.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, raw));
      last = match.index + raw.length;
    }
    if (last < text.length) parts.push(text.slice(last));
    return parts;
  }

  // ---------------------------------------------------------------- toasts --

  // One toast at a time in one aria-live region: a repeated message counts up ("×3") instead of stacking.
  const current = { node: null, key: '', count: 0, timer: null, retry: null };

  function dismissToast() {
    clearTimeout(current.timer);
    if (current.node) current.node.remove();
    current.node = null;
    current.key = '';
    current.retry = null;
  }

  /** Show ``text``; ``retry`` (a function) adds a Retry button: only for what can succeed later. */
  function toast(text, kind = 'error', ms = 7000, retry = null) {
    const key = `${kind}|${text}`;
    clearTimeout(current.timer);
    if (current.node && current.node.isConnected && current.key === key) {
      current.count += 1;
      const counter = current.node.querySelector('.toast-count');
      counter.textContent = `×${current.count}`;
      counter.hidden = false;
    } else {
      current.count = 1;
      current.key = key;
      current.node = h(
        'div',
        { class: `toast toast-${kind}`, dataset: { kind } },
        h('span', { class: 'toast-text' }, text),
        h('span', { class: 'toast-count', hidden: true }),
        h('button', {
          type: 'button',
          class: 'toast-retry',
          hidden: true,
          onclick: () => {
            const again = current.retry;
            dismissToast();
            if (again) again();
          },
        }, 'Retry'),
        h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: dismissToast }, h('span', { 'aria-hidden': 'true' }, '×')),
      );
      ui.toasts.replaceChildren(current.node);
    }
    current.retry = retry;
    current.node.querySelector('.toast-retry').hidden = !retry;
    current.timer = setTimeout(dismissToast, retry ? Math.max(ms, 12000) : ms);
  }

  /** One line from a REST error body or an error frame ({code, detail, errors?}). */
  function errorText(err) {
    let text = err.detail || err.message || `Something went wrong (${err.code || 'error'}).`;
    if (err.errors && typeof err.errors === 'object') {
      const extra = [];
      for (const [field, messages] of Object.entries(err.errors)) {
        for (const message of [].concat(messages)) {
          if (message !== text) extra.push(field === 'non_field_errors' ? message : `${field}: ${message}`);
        }
      }
      if (extra.length) text += ' ' + extra.join(' ');
    }
    return text;
  }

  /** Toast an error; a Retry button only when ``retry`` is given and the error can clear up by itself. */
  function showError(err, retry = null) {
    console.warn(err);
    const e = err || {};
    toast(errorText(e), 'error', 7000, retry && RETRYABLE.has(e.code) ? retry : null);
  }

  // ------------------------------------------------------------------ REST --

  class ApiError extends Error {
    constructor(status, body) {
      const detail = (body && body.detail) || `The server answered ${status}.`;
      super(detail);
      this.status = status;
      this.code = (body && body.code) || `http_${status}`;
      this.detail = detail;
      this.errors = body && body.errors;
    }
  }

  async function api(method, path, body) {
    const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD') options.headers['X-CSRFToken'] = getCookie('csrftoken');
    let response;
    try {
      response = await fetch(API + path, options);
    } catch {
      throw new ApiError(0, { code: 'network_error', detail: 'The server cannot be reached; check your connection.' });
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 401) endSession();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  /** Signed out (4401 on the socket, 401 from REST): say so and offer to log in again; no more retries. */
  function endSession() {
    if (S.signedOut) return;
    S.signedOut = true;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    const link = ui.sessionEnded.querySelector('a');
    link.href = '/login/?next=' + encodeURIComponent('/' + window.location.hash);
    ui.sessionEnded.hidden = false;
    dismissToast();
    setConn('closed', 'Signed out');
    scheduleRender();
    link.focus();
  }

  // ----------------------------------------------------------------- store --

  function messagesOf(cid) {
    let map = S.msgs.get(cid);
    if (!map) S.msgs.set(cid, (map = new Map()));
    return map;
  }

  function historyOf(cid) {
    let hist = S.history.get(cid);
    if (!hist) S.history.set(cid, (hist = { loaded: false, hasMore: false, before: null, loading: null, loadingOlder: false }));
    return hist;
  }

  function newer(a, b) {
    // The message to keep as a conversation's last one; a recall is final.
    if (!a) return b;
    if (!b) return a;
    if (a.msg_id !== b.msg_id) return a.msg_id > b.msg_id ? a : b;
    return fresher(a, b);
  }

  /** Two copies of one message: the one with the larger rev (1.2); without revs, a recall is final. */
  function fresher(a, b) {
    const ra = a.rev || 0;
    const rb = b.rev || 0;
    if (ra !== rb) return ra > rb ? a : b;
    return a.status === 'recalled' ? a : b;
  }

  function upsertConversation(c) {
    const cid = c.conversation_id;
    const prev = S.convs.get(cid);
    const merged = { ...prev, ...c, last_message: newer(prev && prev.last_message, c.last_message) };
    if (S.earlyUnread.has(cid)) {
      merged.unread = S.earlyUnread.get(cid);
      S.earlyUnread.delete(cid);
    }
    S.convs.set(cid, merged);
    S.byPeer.set(merged.peer.user_id, cid);
    if (typeof c.peer_read_up_to === 'number') setPeerRead(cid, c.peer_read_up_to);
    if (S.active && S.active.peer.user_id === merged.peer.user_id) {
      S.active.peer = merged.peer;
      if (S.active.cid === null) adoptConversation(cid);
    }
    scheduleRender();
    return merged;
  }

  /** The open "new conversation" with a peer turns out to have a conversation id. */
  function adoptConversation(cid) {
    S.active.cid = cid;
    navigation.openedChat(cid);
    loadNewest(cid);
  }

  function ensureConversation(cid) {
    if (S.convs.has(cid)) return Promise.resolve(S.convs.get(cid));
    if (!S.convFetches.has(cid)) {
      const fetching = api('GET', `conversations/${cid}`)
        .then(upsertConversation)
        .finally(() => S.convFetches.delete(cid));
      S.convFetches.set(cid, fetching);
    }
    return S.convFetches.get(cid);
  }

  /** Store a Message from any source (REST page, push, ack, sync, offline); one copy per msg_id. */
  function ingest(m) {
    if (!m || typeof m.msg_id !== 'number') return;
    const cid = m.conversation_id;
    const map = messagesOf(cid);
    const old = map.get(m.msg_id);
    const kept = old ? fresher(old, m) : m;
    map.set(m.msg_id, kept);
    if (isMine(m) && m.client_msg_id) S.pending.delete(m.client_msg_id);
    const peerId = isMine(m) ? m.recipient_id : m.sender_id;
    if (!isMine(m)) S.typingUntil.delete(cid);
    if (!S.byPeer.has(peerId)) S.byPeer.set(peerId, cid);
    const conv = S.convs.get(cid);
    if (conv) conv.last_message = newer(conv.last_message, kept);
    else ensureConversation(cid).catch(showError);
    if (S.active && S.active.cid === null && S.active.peer.user_id === peerId) adoptConversation(cid);
    scheduleRender();
  }

  /** A changed message (changed frame, sync by rev): one older than the history held is not put in (it would stand
   * alone above a gap); its new state comes with its page. */
  function ingestChange(m) {
    if (!m || typeof m.msg_id !== 'number') return;
    const hist = historyOf(m.conversation_id);
    const outside = hist.loaded && hist.hasMore && hist.before !== null && m.msg_id < hist.before;
    if (outside && !messagesOf(m.conversation_id).has(m.msg_id)) return;
    ingest(m);
  }

  function applyRecall(cid, msgId, recalledBy) {
    const by = recalledBy === 'moderator' ? 'moderator' : 'sender';
    const map = S.msgs.get(cid);
    const m = map && map.get(msgId);
    if (m) map.set(msgId, { ...m, status: 'recalled', content: '', recalled_by: m.recalled_by || by });
    const conv = S.convs.get(cid);
    if (conv && conv.last_message && conv.last_message.msg_id === msgId) {
      conv.last_message = { ...conv.last_message, status: 'recalled', content: '', recalled_by: conv.last_message.recalled_by || by };
    }
    scheduleRender();
  }

  /** A live presence or profile change for a user: every copy of their Profile follows. */
  function updatePeer(userId, patch) {
    for (const conv of S.convs.values()) {
      if (conv.peer.user_id === userId) conv.peer = { ...conv.peer, ...patch };
    }
    if (S.active && S.active.peer.user_id === userId) S.active.peer = { ...S.active.peer, ...patch };
    scheduleRender();
  }

  function setUnread(cid, unread) {
    const conv = S.convs.get(cid);
    if (conv) {
      conv.unread = unread;
    } else {
      S.earlyUnread.set(cid, unread);
      ensureConversation(cid).catch(showError);
    }
    scheduleRender();
  }

  function maxHeldId() {
    let max = 0;
    // Sync runs by rev (1.2): a message's rev is at least its msg_id.
    for (const conv of S.convs.values()) {
      const m = conv.last_message;
      if (m) max = Math.max(max, m.msg_id, m.rev || 0);
    }
    return max;
  }

  // The peer's read position: the Conversation's peer_read_up_to after a reload, then read frames.
  const peerReadOf = (cid) => S.peerRead.get(cid) || 0;

  function setPeerRead(cid, upTo) {
    if (upTo <= peerReadOf(cid)) return;
    S.peerRead.set(cid, upTo);
    scheduleRender();
  }

  // ------------------------------------------------------------- loading --

  async function loadConversations(older = false) {
    const query = older && S.nextBefore ? `conversations?limit=20&before=${S.nextBefore}` : 'conversations?limit=20';
    const page = await api('GET', query);
    for (const c of page.results) upsertConversation(c);
    if (older || S.nextBefore === undefined) S.nextBefore = page.next_before;
    scheduleRender();
  }

  function loadNewest(cid, refresh = false) {
    const hist = historyOf(cid);
    if (hist.loading) return hist.loading;
    if (hist.loaded && !refresh) return Promise.resolve();
    hist.loading = api('GET', `conversations/${cid}/messages?limit=${PAGE_SIZE}`)
      .then((page) => {
        const map = messagesOf(cid);
        if (!hist.loaded) {
          const oldest = page.results.length ? page.results[0].msg_id : null;
          // Anything held from pushes older than this page would leave a gap: page it in again later.
          if (page.has_more && oldest !== null) for (const id of [...map.keys()]) if (id < oldest) map.delete(id);
          hist.hasMore = page.has_more;
          hist.before = oldest;
          hist.loaded = true;
          if (S.active && S.active.cid === cid) S.stickBottom = true;
        }
        for (const m of page.results) ingest(m);
        scheduleRender();
      })
      .catch((err) => showError(err, () => loadNewest(cid, refresh)))
      .finally(() => {
        hist.loading = null;
      });
    return hist.loading;
  }

  async function loadOlder() {
    if (!S.active || S.active.cid === null) return;
    const cid = S.active.cid;
    const hist = historyOf(cid);
    if (!hist.loaded || !hist.hasMore || hist.loadingOlder || hist.before === null) return;
    hist.loadingOlder = true;
    scheduleRender();
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
      render();
      // The button keeps focus while more remain; when it goes, focus goes to what was the oldest message.
      if (hadFocus && ui.loadOlder.hidden) scrollKeeper.focusQuietly(scrollKeeper.firstOf(anchor), ui.messages);
    }
  }

  /** One page of history older than what is held; ``beforeIngest`` runs once it arrived, before it is stored. */
  async function fetchOlderPage(cid, beforeIngest) {
    const hist = historyOf(cid);
    const page = await api('GET', `conversations/${cid}/messages?limit=${PAGE_SIZE}&before=${hist.before}`);
    if (beforeIngest) beforeIngest();
    for (const m of page.results) ingest(m);
    hist.hasMore = page.has_more && page.results.length > 0;
    if (page.results.length) hist.before = page.results[0].msg_id;
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
      scheduleRender();
    }
  }

  /** Gap-free catch-up: always continue from the server's next_since, loop while has_more. */
  async function catchUp() {
    if (S.syncing) {
      S.syncAgain = true;
      return S.syncing;
    }
    S.syncing = (async () => {
      try {
        do {
          S.syncAgain = false;
          let more = true;
          for (let round = 0; more && round < 100; round += 1) {
            const since = S.cursor;
            const page = await api('GET', `sync?since=${since}&limit=500`);
            for (const m of page.results) ingestChange(m);
            S.cursor = page.next_since;
            more = page.has_more;
            // A full page beyond the visible point: wait a moment, then ask again from the same cursor.
            if (more && page.next_since === since) await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        } while (S.syncAgain);
      } finally {
        S.syncing = null;
      }
    })();
    return S.syncing;
  }

  /** Messages that arrived while no socket was connected: take them in, mention the new ones, acknowledge them. */
  async function loadOffline() {
    for (let round = 0; round < 20; round += 1) {
      const data = await api('GET', 'offline');
      const groups = data.results.filter((group) => group.messages && group.messages.length);
      if (!groups.length) return;
      const notes = [];
      for (const group of groups) {
        const messages = group.messages;
        const fresh = messages.filter((m) => !messagesOf(m.conversation_id).has(m.msg_id)).length;
        for (const m of messages) ingest(m);
        if (fresh) notes.push(`${fresh} from ${displayName(group.sender)}`);
        await api('POST', 'offline/ack', { sender_id: group.sender.user_id, up_to: messages[messages.length - 1].msg_id });
      }
      if (notes.length) toast(`While you were away: ${notes.join(', ')}.`, 'info', 9000);
    }
  }

  async function refreshUnreadTotal() {
    const data = await api('GET', 'unread');
    S.totalUnread = data.total;
    updateTitle();
  }

  // ------------------------------------------------------------ WebSocket --

  function setConn(state, text) {
    document.body.dataset.ws = state;
    ui.connStatus.dataset.state = state;
    ui.connStatus.textContent = text;
    ui.connStatus.title = text; // one line, cut off with an ellipsis when the sidebar is narrow
    if (state === 'ready') {
      ui.banner.hidden = true;
    } else if (S.connectedOnce) {
      ui.banner.hidden = false;
      ui.banner.textContent = state === 'connecting' ? 'Reconnecting…' : text;
    }
    scheduleRender(); // presence shown or hidden with the socket
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    if (S.ws || S.signedOut) return;
    setConn('connecting', S.connectedOnce ? 'Reconnecting…' : 'Connecting…');
    const url = (window.location.protocol === 'https:' ? 'wss://' : 'ws://') + window.location.host + '/ws/chat/';
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      scheduleReconnect();
      return;
    }
    S.ws = socket;
    socket.addEventListener('message', (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') handleFrame(frame);
    });
    socket.addEventListener('close', (event) => {
      if (S.ws !== socket) return;
      S.ws = null;
      S.wsReady = false;
      clearInterval(S.pingTimer);
      clearTimeout(S.pongTimer);
      if (event.code === 4401) {
        // Deactivated, token revoked or logged out elsewhere: reconnecting cannot help.
        endSession();
        return;
      }
      scheduleReconnect();
      scheduleRender();
    });
  }

  function scheduleReconnect() {
    if (S.reconnectTimer || S.signedOut) return;
    // Exponential back-off with jitter: 1, 2, 4 … 30 s.
    const base = Math.min(30000, 1000 * 2 ** S.attempt);
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    S.attempt = Math.min(S.attempt + 1, 10);
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('offline', left > 0 ? `Offline · retrying in ${left} s` : 'Reconnecting…');
    };
    tick();
    const countdown = setInterval(tick, 1000);
    S.reconnectTimer = setTimeout(() => {
      clearInterval(countdown);
      S.reconnectTimer = null;
      connect();
    }, delay);
  }

  function reconnectNow() {
    if (S.ws || S.signedOut) return;
    S.attempt = 0;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    connect();
  }

  function wsSend(frame) {
    if (!S.wsReady || !S.ws) return false;
    try {
      S.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  function startPing() {
    clearInterval(S.pingTimer);
    S.pingTimer = setInterval(() => {
      if (!wsSend({ type: 'ping' })) return;
      clearTimeout(S.pongTimer);
      // No pong: the connection is half-open; close it and reconnect.
      S.pongTimer = setTimeout(() => S.ws && S.ws.close(), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  async function onReady() {
    const reconnected = S.connectedOnce;
    S.wsReady = true;
    S.connectedOnce = true;
    S.attempt = 0;
    S.watchSig = null; // a new socket watches nobody yet: render sends the watch list
    setConn('ready', 'Online');
    startPing();
    // Unacknowledged sends go out again with the same client_msg_id: the server answers a duplicate with the first ack.
    for (const p of S.pending.values()) if (p.state === 'sending') transmit(p);
    try {
      await S.listLoaded;
      if (S.cursor === null) S.cursor = maxHeldId();
      await catchUp();
      if (reconnected) {
        await loadConversations();
        await refreshUnreadTotal();
        if (S.active && S.active.cid !== null) await loadNewest(S.active.cid, true);
        await loadOffline();
      }
    } catch (err) {
      showError(err, () => catchUp().catch(showError));
    }
    scheduleRender();
  }

  /** The server may have dropped events for this socket: catch up from the cursor, as after a reconnect. */
  async function onResync() {
    try {
      await catchUp();
      await loadConversations();
      await refreshUnreadTotal();
    } catch (err) {
      showError(err, onResync);
    }
    S.watchSig = null;
    scheduleRender();
  }

  /** Send the watch list (the peers in the list, newest first, and the open chat's) when it changed. */
  function syncWatch(sortedConvs) {
    if (!S.wsReady) return;
    const ids = [];
    if (S.active) ids.push(S.active.peer.user_id);
    for (const conv of sortedConvs) {
      if (ids.length >= WATCH_MAX) break;
      if (!ids.includes(conv.peer.user_id)) ids.push(conv.peer.user_id);
    }
    const sig = [...ids].sort((a, b) => a - b).join(',');
    if (sig === S.watchSig) return;
    if (wsSend({ type: 'watch', user_ids: ids })) S.watchSig = sig;
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'ready':
        onReady();
        break;
      case 'ack':
        if (f.client_msg_id) S.pending.delete(f.client_msg_id);
        ingest(f.message);
        break;
      case 'message': {
        const m = f.message;
        const fresh = m && typeof m.msg_id === 'number' && !messagesOf(m.conversation_id).has(m.msg_id);
        ingest(m);
        if (fresh && !isMine(m)) alertIncoming(m, f.sender);
        break;
      }
      case 'unread':
        setUnread(f.conversation_id, f.unread);
        if (typeof f.total === 'number') {
          S.totalUnread = f.total;
          updateTitle();
        }
        break;
      case 'read':
        if (S.me && f.reader_id !== S.me.user_id) {
          setPeerRead(f.conversation_id, typeof f.up_to === 'number' ? f.up_to : Number.MAX_SAFE_INTEGER);
        }
        break;
      case 'typing':
        if (S.me && f.user_id !== S.me.user_id) {
          S.typingUntil.set(f.conversation_id, Date.now() + TYPING_SHOW_MS);
          scheduleRender();
          setTimeout(scheduleRender, TYPING_SHOW_MS + 50);
        }
        break;
      case 'recalled':
        applyRecall(f.conversation_id, f.msg_id, f.recalled_by);
        break;
      case 'changed':
        ingestChange(f.message); // kept when its rev is larger than the copy held
        break;
      case 'presence':
        if (typeof f.user_id === 'number') {
          updatePeer(f.user_id, { online: Boolean(f.online), last_seen: f.online ? null : f.last_seen || null });
        }
        break;
      case 'profile':
        if (f.profile && typeof f.profile.user_id === 'number') {
          if (S.me && f.profile.user_id === S.me.user_id) {
            S.me = { ...S.me, ...f.profile };
            renderMe();
          } else {
            updatePeer(f.profile.user_id, f.profile);
          }
        }
        break;
      case 'resync':
        onResync();
        break;
      case 'pong':
        clearTimeout(S.pongTimer);
        break;
      case 'error':
        onErrorFrame(f);
        break;
      default:
        break;
    }
  }

  function onErrorFrame(f) {
    const p = f.client_msg_id ? S.pending.get(f.client_msg_id) : null;
    if (p) {
      p.state = 'failed';
      p.error = errorText(f);
      p.code = f.code;
      scheduleRender();
    }
    // A failed send shows Retry beside the message itself; the toast only tells.
    toast(errorText(f), 'error');
  }

  // --------------------------------------------------------------- actions --

  function transmit(p) {
    p.state = 'sending';
    p.error = null;
    p.code = null;
    const frame = { type: 'send', to: p.to, content: p.content, client_msg_id: p.client_msg_id };
    if (p.reply_to) frame.reply_to = p.reply_to;
    if (p.uploads) {
      // Sent once its uploads finished (attachments.js); a retry goes straight out with the same ids.
      p.uploads.then((done) => {
        p.uploads = null;
        p.attachments = done.map((a) => a.attachment_id);
        if (!p.attachments.length && !p.content.trim()) {
          p.state = 'failed';
          p.error = 'The files could not be uploaded.';
          scheduleRender();
          return;
        }
        transmit(p);
        scheduleRender();
      });
      return;
    }
    if (p.attachments && p.attachments.length) frame.attachments = p.attachments;
    wsSend(frame);
  }

  const blockedChat = () => Boolean(S.active && S.active.cid !== null && (S.convs.get(S.active.cid) || {}).blocked);
  const canWrite = () => Boolean(S.active && !S.signedOut && S.active.peer.is_active !== false && !blockedChat());

  function sendFromComposer() {
    if (!canWrite()) return;
    const withFiles = tray.hasUsable();
    let content = ui.input.value;
    if (!content.trim() && !withFiles) return;
    if (!content.trim()) content = ''; // with files, white space alone is no text
    if (codePoints(content) > MAX_LENGTH) {
      toast(`A message is at most ${MAX_LENGTH} characters (this one has ${codePoints(content)}).`);
      return;
    }
    const p = { client_msg_id: uuid(), to: S.active.peer.user_id, content, createdAt: Date.now(), state: 'sending', error: null };
    if (withFiles) p.uploads = tray.handOff();
    if (window.ChatModules.reply) p.reply_to = window.ChatModules.reply.take();
    S.pending.set(p.client_msg_id, p);
    ui.input.value = '';
    S.drafts.delete(p.to);
    autosize();
    S.stickBottom = true;
    transmit(p);
    scheduleRender();
  }

  /** The confirm dialog: resolves true for "Recall"; Esc or Cancel resolve false. Focus goes back to ``opener``. */
  function confirmRecall(opener) {
    const dialog = ui.confirmDialog;
    return new Promise((resolve) => {
      dialog.returnValue = '';
      dialog.addEventListener(
        'close',
        () => {
          const target = opener && opener.isConnected ? opener : ui.input;
          target.focus();
          resolve(dialog.returnValue === 'recall');
        },
        { once: true },
      );
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  async function recall(m, opener) {
    if (!(await confirmRecall(opener))) return;
    try {
      await api('DELETE', `messages/${m.msg_id}`);
      applyRecall(m.conversation_id, m.msg_id, 'sender');
    } catch (err) {
      showError(err, () => recall(m, opener));
    }
  }

  function onComposerInput() {
    autosize();
    if (!S.active || S.active.cid === null || !ui.input.value.trim()) return;
    const now = Date.now();
    if (now - S.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    if (wsSend({ type: 'typing', conversation_id: S.active.cid })) S.lastTypingSent = now;
  }

  function autosize() {
    const input = ui.input;
    input.style.height = 'auto';
    const borders = input.offsetHeight - input.clientHeight;
    const wanted = input.scrollHeight + borders;
    input.style.height = Math.min(wanted, 160) + 'px';
    input.style.overflowY = wanted > 160 ? 'auto' : 'hidden';
  }

  // ---- read means seen: a received message counts as read once it was on screen in a visible tab.

  const onScreen = new Map(); // msg_id -> node of a received message at least half in view
  const seenObserver = 'IntersectionObserver' in window
    ? new IntersectionObserver(onIntersect, { root: ui.messages, threshold: [0, 0.25, 0.5, 0.75, 1] })
    : null;

  function onIntersect(entries) {
    for (const entry of entries) {
      const id = Number(entry.target.dataset.msgId);
      const tall = entry.rootBounds && entry.intersectionRect.height >= entry.rootBounds.height / 2;
      if (entry.isIntersecting && (entry.intersectionRatio >= 0.5 || tall)) onScreen.set(id, entry.target);
      else onScreen.delete(id);
    }
    noteSeen();
  }

  /** Move the open conversation's "seen" mark to the newest received message on screen, if the tab is visible. */
  function noteSeen() {
    if (!S.active || S.active.cid === null || document.visibilityState !== 'visible') return;
    const cid = S.active.cid;
    if (S.landing && S.landing.cid === cid) return; // the view has not landed on the first unread yet
    const map = messagesOf(cid);
    const before = S.seen.get(cid) || 0;
    let max = before;
    // The observer's last report may predate a scroll made since: check the geometry now.
    for (const [id, node] of onScreen) {
      if (id > max && node.isConnected && map.has(id) && unreadLanding.mostlyInView(ui.messages, node)) max = id;
    }
    if (max > before) {
      S.seen.set(cid, max);
      scheduleRender();
    }
  }

  /** Received messages of the open conversation newer than the newest one seen (at most the server's unread). */
  function unseenCount(cid) {
    const seen = Math.max(S.seen.get(cid) || 0, S.readSent.get(cid) || 0);
    let count = 0;
    for (const m of messagesOf(cid).values()) if (!isMine(m) && m.status === 'normal' && m.msg_id > seen) count += 1;
    const conv = S.convs.get(cid);
    return conv ? Math.min(count, conv.unread || 0) : count;
  }

  /** Send `read` up to the newest message actually seen (WS read frame), at most every READ_SEND_GAP_MS. */
  function maybeMarkRead() {
    if (!S.active || S.active.cid === null || document.visibilityState !== 'visible' || !S.wsReady) return;
    const cid = S.active.cid;
    const upTo = S.seen.get(cid) || 0;
    const conv = S.convs.get(cid);
    if (!upTo || upTo <= (S.readSent.get(cid) || 0) || !conv || !conv.unread) return;
    const wait = S.lastReadFrame + READ_SEND_GAP_MS - Date.now();
    if (wait > 0) {
      if (!S.readTimer) {
        S.readTimer = setTimeout(() => {
          S.readTimer = null;
          maybeMarkRead();
        }, wait);
      }
      return;
    }
    if (wsSend({ type: 'read', conversation_id: cid, up_to: upTo })) {
      S.readSent.set(cid, upTo);
      S.lastReadFrame = Date.now();
      scheduleRender();
    }
  }

  function isAtBottom() {
    return ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
  }

  /** "N new messages ↓" while scrolled up and something newer than what was seen came in. */
  function updateJump() {
    const cid = S.active && S.active.cid;
    const count = cid === null || cid === undefined || isAtBottom() ? 0 : unseenCount(cid);
    ui.jumpNew.hidden = count === 0;
    if (count) {
      const label = `${count} new message${count === 1 ? '' : 's'}`;
      if (ui.jumpNew.dataset.count !== String(count)) {
        ui.jumpNew.dataset.count = String(count);
        ui.jumpNew.replaceChildren(label + ' ', h('span', { 'aria-hidden': 'true' }, '↓'));
      }
    }
  }

  function jumpToNewest() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.jumpNew.hidden = true;
    ui.input.focus();
  }

  function saveDraft() {
    if (S.active) {
      if (ui.input.value) S.drafts.set(S.active.peer.user_id, ui.input.value);
      else S.drafts.delete(S.active.peer.user_id);
    }
  }

  function showChat(active) {
    saveDraft();
    S.active = active;
    S.unreadMark = null;
    S.landing = null;
    S.stickBottom = true;
    S.lastTypingSent = 0;
    ui.input.value = S.drafts.get(active.peer.user_id) || '';
    autosize();
    ui.layout.classList.add('show-chat');
    scheduleRender();
    setTimeout(() => ui.input.focus(), 0);
  }

  async function openConversation(cid) {
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
      await loadNewest(cid);
    } finally {
      // With unread messages it lands on the first of them, not at the bottom (a failed load: at the bottom).
      if (unread > 0) await findFirstUnread(cid, unread);
    }
  }

  async function openPeer(profile) {
    clearSearch();
    let cid = S.byPeer.get(profile.user_id);
    if (cid === undefined && S.nextBefore !== null) {
      // The conversation may be on a page of the list not loaded yet: ask for it directly
      // (404: none yet). With the whole list loaded, not being in it already says so.
      try {
        cid = upsertConversation(await api('GET', `conversations/with/${profile.user_id}`)).conversation_id;
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
    saveDraft();
    S.active = null;
    S.unreadMark = null;
    S.landing = null;
    ui.layout.classList.remove('show-chat');
    scheduleRender();
    // Focus where the chat was opened from, not <body>.
    const item = left ? ui.conversations.querySelector(`.conv[data-conversation-id="${left}"]`) : null;
    if (item) setTimeout(() => item.focus({ preventScroll: true }), 0);
  }

  // ---------------------------------------------------------------- search --

  let searchTimer = null;

  function onSearchInput() {
    clearTimeout(searchTimer);
    const q = ui.search.value.trim();
    if (!q) {
      S.searchSeq += 1;
      ui.searchResults.hidden = true;
      ui.searchResults.replaceChildren();
      renderConversations();
      return;
    }
    searchTimer = setTimeout(() => runSearch(q), 200);
  }

  async function runSearch(q) {
    const seq = ++S.searchSeq;
    let data;
    try {
      data = await api('GET', 'users?q=' + encodeURIComponent(q));
    } catch (err) {
      showError(err, () => {
        if (ui.search.value.trim() === q) runSearch(q);
      });
      return;
    }
    if (seq !== S.searchSeq) return;
    const people = data.results.filter((p) => !S.me || p.user_id !== S.me.user_id);
    const items = people.map((p) =>
      h(
        'button',
        { type: 'button', class: 'item person', dataset: { userId: String(p.user_id), username: p.username }, onclick: () => openPeer(p) },
        avatarWithDot(p),
        h(
          'span',
          { class: 'item-body' },
          h('span', { class: 'item-top' }, h('span', { class: 'item-name' }, displayName(p))),
          h('span', { class: 'item-bottom' }, h('span', { class: 'item-preview' }, '@' + p.username)),
        ),
      ),
    );
    ui.searchResults.replaceChildren(
      h('div', { class: 'list-title' }, 'People'),
      ...(items.length ? items : [h('p', { class: 'empty-search' }, 'No one found for “', q, '”.')]),
    );
    ui.searchResults.hidden = false;
    renderConversations();
  }

  function clearSearch() {
    ui.search.value = '';
    onSearchInput();
  }

  // --------------------------------------------------------------- profile --

  function renderMe() {
    fillAvatar(ui.meAvatar, S.me);
    // Cut off with an ellipsis when long: the title shows it whole (the text itself stays whole for screen readers).
    ui.meName.textContent = displayName(S.me);
    ui.meName.title = displayName(S.me);
    ui.meButton.title = `${displayName(S.me)} (@${S.me.username}) · edit your profile`;
  }

  function fieldError(name, text) {
    const node = $(`profile-${name}-error`);
    node.textContent = text || '';
    node.hidden = !text;
  }

  // The avatar preview follows the URL field only after typing pauses, and only for a plausible address;
  // a chosen file (profile-picture.js) is previewed from the file and uploaded only by Save.
  let previewUrl = '';
  let previewTimer = null;
  const picture = profilePicture.pictureDraft(ui.avatarFile, $('avatar-file-status'), () => {
    fieldError('avatar-file', '');
    if (picture.file()) {
      // The file replaces any address: the field empties, and typing one drops the file again.
      clearTimeout(previewTimer);
      ui.profileAvatarUrl.value = '';
    }
    previewProfile();
  });

  function previewProfile() {
    const draft = { ...S.me, nickname: ui.profileNickname.value.trim(), avatar_url: previewUrl };
    const local = picture.previewUrl();
    // Same picture: keep the <img> (no new request); initials follow the nickname at once.
    const url = local || safeAvatarUrl(previewUrl);
    const sig = url ? `img:${url}` : `initials:${initials(draft)}`;
    if (ui.profileAvatar.dataset.sig !== sig) {
      ui.profileAvatar.dataset.sig = sig;
      if (local) {
        ui.profileAvatar.classList.add('has-img');
        ui.profileAvatar.replaceChildren(h('img', { alt: '', src: local }));
      } else {
        fillAvatar(ui.profileAvatar, draft);
      }
    }
    ui.profileName.textContent = displayName(draft);
    ui.profileUsername.textContent = '@' + S.me.username;
  }

  function onAvatarUrlInput() {
    if (picture.file()) picture.clear();
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => {
      const value = ui.profileAvatarUrl.value.trim();
      previewUrl = safeAvatarUrl(value) ? value : '';
      previewProfile();
    }, AVATAR_PREVIEW_MS);
  }

  function openProfile() {
    if (!S.me) return;
    ui.profileNickname.value = S.me.nickname || '';
    // An uploaded picture (/media/…) shows as its full http(s) address, as the field's help says.
    ui.profileAvatarUrl.value = profilePicture.absoluteAvatarUrl(S.me.avatar_url);
    clearTimeout(previewTimer);
    picture.clear();
    previewUrl = S.me.avatar_url || '';
    fieldError('nickname', '');
    fieldError('avatar-url', '');
    fieldError('avatar-file', '');
    ui.profileError.hidden = true;
    previewProfile();
    ui.dialog.showModal();
  }

  async function saveProfile(event) {
    event.preventDefault();
    fieldError('nickname', '');
    fieldError('avatar-url', '');
    fieldError('avatar-file', '');
    ui.profileError.hidden = true;
    const body = { nickname: ui.profileNickname.value.trim() };
    const address = ui.profileAvatarUrl.value.trim();
    const file = picture.file();
    // The current picture's address, as shown, is no change (an uploaded one stays uploaded).
    if (!file && address !== profilePicture.absoluteAvatarUrl(S.me.avatar_url)) {
      if (address && !safeHttpUrl(address)) {
        fieldError('avatar-url', 'Must be an http(s) URL.');
        return;
      }
      body.avatar_url = address;
    }
    ui.profileSave.disabled = true;
    try {
      if (file) {
        const uploaded = await profilePicture.uploadPicture(file, getCookie('csrftoken'));
        if (uploaded.error) {
          fieldError('avatar-file', uploaded.error);
          return;
        }
        S.me = uploaded.profile;
      }
      S.me = await api('PATCH', 'me', body);
      renderMe();
      ui.dialog.close();
      toast('Profile saved.', 'info', 3000);
    } catch (err) {
      renderMe(); // an uploaded picture stays even when the nickname is refused
      const errors = err.errors || {};
      if (errors.nickname) fieldError('nickname', [].concat(errors.nickname).join(' '));
      if (errors.avatar_url) fieldError('avatar-url', [].concat(errors.avatar_url).join(' '));
      if (!errors.nickname && !errors.avatar_url) {
        ui.profileError.textContent = errorText(err);
        ui.profileError.hidden = false;
      }
    } finally {
      ui.profileSave.disabled = false;
    }
  }

  // --------------------------------------------------------- notifications --

  // Desktop notifications and a sound for messages that arrive while the tab is hidden. Permission
  // is asked only from a click on the bell; the choices are kept per user in localStorage.
  const prefKey = (name) => `chat:${S.me ? S.me.user_id : 0}:${name}`;
  const prefs = { notify: false, sound: false };
  let audio = null;

  function loadPrefs() {
    try {
      prefs.notify = localStorage.getItem(prefKey('notify')) === '1';
      prefs.sound = localStorage.getItem(prefKey('sound')) === '1';
    } catch {
      /* storage disabled: both stay off */
    }
    renderToggles();
  }

  function savePref(name) {
    try {
      localStorage.setItem(prefKey(name), prefs[name] ? '1' : '0');
    } catch {
      /* the choice just lasts this page */
    }
    renderToggles();
  }

  function notificationsGranted() {
    return 'Notification' in window && window.Notification.permission === 'granted';
  }

  function renderToggles() {
    const notifyOn = prefs.notify && notificationsGranted();
    ui.notifyToggle.setAttribute('aria-pressed', String(notifyOn));
    ui.notifyToggle.title = notifyOn ? 'Desktop notifications: on' : 'Desktop notifications: off';
    ui.soundToggle.setAttribute('aria-pressed', String(prefs.sound));
    ui.soundToggle.title = prefs.sound ? 'Sound for new messages: on' : 'Sound for new messages: off';
  }

  async function toggleNotifications() {
    if (!('Notification' in window)) {
      toast('This browser cannot show notifications.', 'info', 5000);
      return;
    }
    if (prefs.notify && notificationsGranted()) {
      prefs.notify = false;
      savePref('notify');
      return;
    }
    let permission = window.Notification.permission;
    if (permission === 'default') {
      try {
        permission = await window.Notification.requestPermission();
      } catch {
        permission = 'denied';
      }
    }
    prefs.notify = permission === 'granted';
    savePref('notify');
    if (!prefs.notify) toast('Notifications are blocked for this site: allow them in the browser’s site settings.', 'info', 8000);
  }

  function toggleSound() {
    prefs.sound = !prefs.sound;
    savePref('sound');
    if (prefs.sound) beep(); // a sample, and the click lets the AudioContext start
  }

  /** A short generated tone (WebAudio); no sound file. */
  function beep() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audio = audio || new Context();
      if (audio.state === 'suspended') audio.resume();
      const t = audio.currentTime;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1175, t + 0.09);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.12, t + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.32);
    } catch {
      /* no audio output: stay silent */
    }
  }

  /** A new message from someone else arrived live: notify if the tab is hidden, beep if wanted. */
  function alertIncoming(m, sender) {
    const hidden = document.visibilityState !== 'visible';
    const open = S.active && S.active.cid === m.conversation_id;
    if ((S.convs.get(m.conversation_id) || {}).muted) return; // muted: no sound, no notification
    if (prefs.sound && (hidden || !open)) beep();
    if (!hidden || !prefs.notify || !notificationsGranted()) return;
    const conv = S.convs.get(m.conversation_id);
    const who = displayName(sender || (conv && conv.peer));
    const icon = document.querySelector('link[rel="icon"]');
    try {
      const note = new window.Notification(who, {
        body: m.content.length > 140 ? m.content.slice(0, 139) + '…' : m.content,
        tag: `chat-c${m.conversation_id}`,
        icon: icon ? icon.href : undefined,
      });
      note.onclick = () => {
        window.focus();
        openConversation(m.conversation_id);
        note.close();
      };
    } catch {
      /* some browsers only notify from a service worker: the title count still tells */
    }
  }

  // ------------------------------------------------------------- rendering --

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
    syncWatch(renderConversations());
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

  /** Replace a container's children only when the node sequence changed (keeps nodes, focus and selection). */
  function syncChildren(container, nodes) {
    const current = container.children;
    let same = current.length === nodes.length;
    for (let i = 0; same && i < nodes.length; i += 1) same = current[i] === nodes[i];
    if (!same) container.replaceChildren(...nodes);
  }

  function isTyping(cid) {
    return (S.typingUntil.get(cid) || 0) > Date.now();
  }

  const convNodes = new Map(); // conversation_id -> {sig, node}

  function previewOf(conv) {
    const m = conv.last_message;
    if (isTyping(conv.conversation_id)) return { text: 'typing…', cls: 'typing' };
    if (!m) return { text: 'No messages yet', cls: 'muted' };
    if (m.status === 'recalled') return { text: recalledText(m, conv.peer, false), cls: 'recalled' };
    const text = m.content ? m.content.replace(/\s+/g, ' ').slice(0, 120) : attachments.previewText(m);
    return { text: isMine(m) ? `You: ${text}` : text, cls: '' };
  }

  /** What stands in place of a recalled message (in the chat: ``inChat``; else the list preview). */
  function recalledText(m, peer, inChat) {
    if (m.recalled_by === 'moderator') return 'Removed by a moderator';
    if (isMine(m)) return inChat ? 'You recalled this message' : 'You recalled a message';
    return `${displayName(peer)} recalled a message`;
  }

  function renderConversations() {
    const searching = !ui.searchResults.hidden || !$('message-results').hidden;
    ui.conversations.hidden = searching;
    // Pinned first (1.2), then newest; the archived ones only in the Archived view.
    const list = [...S.convs.values()].filter((c) => Boolean(c.archived) === Boolean(S.showArchived)).sort(
      (a, b) => Boolean(b.pinned) - Boolean(a.pinned)
        || ((b.last_message && b.last_message.msg_id) || 0) - ((a.last_message && a.last_message.msg_id) || 0),
    );
    const nodes = list.map((conv) => {
      const cid = conv.conversation_id;
      const active = Boolean(S.active && S.active.cid === cid);
      // The open conversation: what was seen on screen counts at once, before the server's unread frame.
      const unread = active && historyOf(cid).loaded ? unseenCount(cid) : conv.unread || 0;
      const preview = previewOf(conv);
      const time = conv.last_message ? listTime(conv.last_message.created_at) : '';
      const p = conv.peer;
      const sig = JSON.stringify([active, unread, preview, time, p.nickname, p.username, p.avatar_url, shownOnline(p), p.is_active, conv.pinned, conv.muted]);
      const cached = convNodes.get(cid);
      if (cached && cached.sig === sig) return cached.node;
      const node = (cached && cached.node) || h('button', { type: 'button', class: 'item conv', dataset: { conversationId: String(cid) }, onclick: () => openConversation(cid) });
      node.className = 'item conv' + (active ? ' active' : '') + (unread ? ' has-unread' : '');
      node.dataset.peer = p.username;
      node.dataset.online = String(shownOnline(p));
      if (active) node.setAttribute('aria-current', 'page');
      else node.removeAttribute('aria-current');
      node.replaceChildren(
        avatarWithDot(p),
        h(
          'span',
          { class: 'item-body' },
          h(
            'span',
            { class: 'item-top' },
            h('span', { class: 'item-name', title: displayName(p) }, displayName(p)),
            p.is_active === false ? h('span', { class: 'item-flag' }, 'deactivated') : null,
            featureHook('conversationFlags', conv).flat(),
            h('span', { class: 'item-time' }, time),
          ),
          h(
            'span',
            { class: 'item-bottom' },
            h('span', { class: 'item-preview ' + preview.cls }, preview.text),
            unread
              ? h(
                  'span',
                  { class: 'badge', dataset: { count: String(unread) } },
                  h('span', { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)),
                  h('span', { class: 'sr-only' }, `${unread} unread message${unread === 1 ? '' : 's'}`),
                )
              : null,
          ),
        ),
      );
      convNodes.set(cid, { sig, node });
      return node;
    });
    const rows = window.ChatModules.conversationMenu
      ? nodes.map((node, i) => window.ChatModules.conversationMenu.row(list[i], node))
      : nodes;
    syncChildren(ui.conversations, rows);
    ui.emptyList.hidden = searching || list.length > 0 || S.nextBefore === undefined;
    ui.moreConversations.hidden = searching || !S.nextBefore;
    return list;
  }

  const msgNodes = new Map(); // key -> {sig, node}
  const unreadDivider = h('div', { class: 'unread-divider', role: 'separator' }, h('span', null, 'Unread messages'));

  function renderActive() {
    const active = S.active;
    ui.placeholder.hidden = Boolean(active);
    ui.conversation.hidden = !active;
    if (!active) return;
    const { cid, peer } = active;

    fillAvatarOnce(ui.peerAvatar, peer);
    ui.peerName.textContent = displayName(peer);
    ui.peerName.title = displayName(peer);
    const deactivated = peer.is_active === false;
    const typing = !deactivated && cid !== null && isTyping(cid);
    const online = shownOnline(peer);
    const known = S.wsReady;
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
    syncChildren(ui.messageList, nodes);

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

  function fillAvatarOnce(box, p) {
    const sig = JSON.stringify([p.user_id, p.nickname, p.username, p.avatar_url]);
    if (box.dataset.sig !== sig) {
      box.dataset.sig = sig;
      fillAvatar(box, p);
    }
  }

  function dayNode(day, date) {
    const key = 'day:' + day;
    const label = dayLabel(date);
    const cached = msgNodes.get(key);
    if (cached && cached.sig === label) return cached.node;
    const node = h('div', { class: 'day-separator', role: 'separator' }, h('span', null, label));
    msgNodes.set(key, { sig: label, node });
    return node;
  }

  function messageNode(m, { grouped, canRecall, read, seenByPeer, peer }) {
    const key = 'm:' + m.msg_id;
    const mine = isMine(m);
    const recalled = m.status === 'recalled';
    const recalledLabel = recalled ? recalledText(m, peer, true) : '';
    const sig = [m.status, recalledLabel, grouped, canRecall, (m.attachments || []).length, m.rev, featureHook('messageSig', m).join('/')].join('|');
    const cached = msgNodes.get(key);
    if (cached && cached.sig === sig) {
      setReceipt(cached.node, mine && !recalled, seenByPeer, read);
      return cached.node;
    }
    if (cached && seenObserver) seenObserver.unobserve(cached.node);
    const time = h('time', { class: 'msg-time', datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, timeFormat.format(new Date(m.created_at)));
    const tick = mine && !recalled ? h('span', { class: 'tick' }) : null;
    const meta = h('span', { class: 'msg-meta' }, time, tick);
    const bubble = recalled
      ? h('div', { class: 'bubble recalled' }, h('span', { class: 'msg-text' }, recalledLabel), meta)
      : h(
          'div',
          { class: 'bubble' },
          attachments.attachmentNodes(m.attachments, openAttachment),
          m.content ? h('span', { class: 'msg-text' }, richText(m.content)) : null,
          meta,
        );
    const actions = canRecall
      ? h(
          'button',
          {
            type: 'button',
            class: 'msg-action recall',
            title: 'Recall this message for everyone',
            onclick: (event) => recall(m, event.currentTarget),
          },
          // A visible word, not just an icon: touch screens never show the title.
          svgIcon('M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11'),
          h('span', { class: 'msg-action-label' }, 'Recall'),
        )
      : null;
    const node = h(
      'div',
      {
        class: `msg ${mine ? 'out' : 'in'}${grouped ? ' grouped' : ''}${recalled ? ' is-recalled' : ''}`,
        dataset: { msgId: String(m.msg_id), state: recalled ? 'recalled' : 'sent', recalledBy: m.recalled_by || undefined },
      },
      h('div', { class: 'msg-row' }, actions, bubble),
    );
    featureHook('decorateMessage', node, m, { mine, recalled });
    setReceipt(node, mine && !recalled, seenByPeer, read);
    msgNodes.set(key, { sig, node });
    if (!mine && seenObserver) seenObserver.observe(node);
    return node;
  }

  /** ✓ once the server acknowledged a message, ✓✓ once the peer read it; "Read" under the newest read one.
   * Updated in place, so a focused recall button keeps its focus. */
  function setReceipt(node, hasTick, seenByPeer, read) {
    const tick = node.querySelector('.tick');
    const state = seenByPeer ? 'Read' : 'Sent';
    if (hasTick && tick && tick.title !== state) {
      tick.title = state;
      tick.classList.toggle('read', seenByPeer);
      tick.replaceChildren(h('span', { 'aria-hidden': 'true' }, seenByPeer ? '✓✓' : '✓'), h('span', { class: 'sr-only' }, state));
    }
    const receipt = node.querySelector(':scope > .receipt');
    if (read && !receipt) node.append(h('div', { class: 'receipt' }, 'Read'));
    else if (!read && receipt) receipt.remove();
  }

  function pendingNode(p) {
    const key = 'p:' + p.client_msg_id;
    const sig = [p.state, p.error, p.code, p.state === 'failed' || S.wsReady, Boolean(p.uploads)].join('|');
    const cached = msgNodes.get(key);
    if (cached && cached.sig === sig) return cached.node;
    const failed = p.state === 'failed';
    // Retry only what can succeed later; a refused message can be edited instead.
    const retryable = RETRYABLE.has(p.code);
    const status = failed
      ? h(
          'div',
          { class: 'pending-status failed' },
          h('span', null, 'Not sent', p.error ? ` — ${p.error}` : ''),
          retryable ? h('button', { type: 'button', class: 'link-button', onclick: () => { transmit(p); scheduleRender(); } }, 'Retry') : null,
          retryable
            ? null
            : h('button', {
                type: 'button',
                class: 'link-button',
                onclick: () => {
                  S.pending.delete(p.client_msg_id);
                  ui.input.value = p.content;
                  autosize();
                  ui.input.focus();
                  scheduleRender();
                },
              }, 'Edit'),
          h('button', { type: 'button', class: 'link-button', onclick: () => { S.pending.delete(p.client_msg_id); scheduleRender(); } }, 'Discard'),
        )
      : h(
          'div',
          { class: 'pending-status' },
          svgIcon('M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 2'),
          p.uploads ? 'Uploading files…' : S.wsReady ? 'Sending…' : 'Waiting for connection…',
        );
    const node = h(
      'div',
      { class: 'msg out pending' + (failed ? ' failed' : ''), dataset: { clientMsgId: p.client_msg_id, state: p.state } },
      h('div', { class: 'msg-row' }, h('div', { class: 'bubble' }, h('span', { class: 'msg-text' }, richText(p.content)))),
      status,
    );
    msgNodes.set(key, { sig, node });
    return node;
  }

  // ----------------------------------------------------------------- wiring --

  // attachments.js: the composer's uploads and the full-size view.
  const tray = attachments.createTray({
    container: $('attach-tray'),
    maxBytes: Number(ui.composer.dataset.attachmentMaxBytes),
    csrf: () => getCookie('csrftoken'),
  });
  const openAttachment = attachments.createViewer($('attachment-viewer'));

  function bind() {
    $('attach-button').addEventListener('click', () => $('attach-file').click());
    $('attach-file').addEventListener('change', (event) => {
      tray.add(Array.from(event.target.files));
      event.target.value = '';
      ui.input.focus();
    });
    attachments.bindDrop($('conversation'), (files) => canWrite() && tray.add(files));
    attachments.bindPaste(ui.input, (files) => canWrite() && tray.add(files));
    ui.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      sendFromComposer();
      ui.input.focus();
    });
    ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && composerKeys.enterSends() && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        sendFromComposer();
      }
    });
    ui.input.addEventListener('input', onComposerInput);
    ui.search.addEventListener('input', onSearchInput);
    ui.search.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') clearSearch();
      if (event.key === 'Enter') {
        const first = ui.searchResults.querySelector('button.person');
        if (first) first.click();
      }
    });
    ui.moreConversations.addEventListener('click', () => loadConversations(true).catch(showError));
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
    ui.jumpNew.addEventListener('click', jumpToNewest);
    ui.back.addEventListener('click', closeChat);
    navigation.onNavigate((cid) => openConversation(cid), leaveChat);
    composerKeys.describeKeys($('composer-hint'), ui.sendButton);
    ui.meButton.addEventListener('click', openProfile);
    ui.profileForm.addEventListener('submit', saveProfile);
    ui.profileCancel.addEventListener('click', () => ui.dialog.close());
    ui.dialog.addEventListener('close', () => {
      clearTimeout(previewTimer);
      picture.clear(); // Cancel or Esc: the chosen file is forgotten, never uploaded
      ui.meButton.focus();
    });
    ui.profileNickname.addEventListener('input', previewProfile);
    ui.profileAvatarUrl.addEventListener('input', onAvatarUrlInput);
    ui.notifyToggle.addEventListener('click', toggleNotifications);
    ui.soundToggle.addEventListener('click', toggleSound);
    document.addEventListener('visibilitychange', () => {
      scheduleRender();
      if (document.visibilityState === 'visible' && !S.ws) reconnectNow();
    });
    window.addEventListener('focus', scheduleRender);
    window.addEventListener('online', reconnectNow);
    // Leaving the page (even into the back/forward cache) closes the socket: peers see us go offline
    // at once; coming back from the cache reconnects (and syncs, as after any reconnect).
    window.addEventListener('pagehide', () => {
      const socket = S.ws;
      if (!socket) return;
      S.ws = null;
      S.wsReady = false;
      clearInterval(S.pingTimer);
      clearTimeout(S.pongTimer);
      socket.close(1000, 'page left');
    });
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) reconnectNow();
    });
    window.addEventListener('beforeunload', (event) => {
      if ([...S.pending.values()].some((p) => p.state === 'sending')) event.preventDefault();
    });
    // Recall buttons expire, day labels roll over, typing indicators fade, "last seen" ages.
    // Presence itself is pushed (watch / presence / profile frames): no polling.
    setInterval(scheduleRender, 5000);
  }

  // What the 1.2 views may use: the stores, REST, the builders and a few navigation steps. No socket.
  const ctx = {
    S, ui, CONFIG, api, h, svgIcon, toast, showError, errorText, scheduleRender, render, ingest, messagesOf, historyOf,
    fetchOlderPage, openConversation, upsertConversation, isMine, displayName, richText, listTime, timeFormat, canWrite,
  };

  async function start() {
    featureHook('init', ctx);
    bind();
    try {
      S.me = await api('GET', 'me');
    } catch (err) {
      showError(err);
      return;
    }
    renderMe();
    loadPrefs();
    S.listLoaded = loadConversations().catch((err) => showError(err, () => loadConversations().catch(showError)));
    connect();
    await S.listLoaded;
    refreshUnreadTotal().catch(showError);
    loadOffline().catch(showError);
    const linked = navigation.chatInAddress();
    if (linked !== null) {
      // The list becomes this entry and the chat one pushed over it: Back leads to the list.
      navigation.showList();
      openConversation(linked);
    }
    scheduleRender();
  }

  start();
})();
