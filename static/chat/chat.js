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

  const CONFIG = JSON.parse(document.getElementById('chat-config').textContent);
  const API = '/api/v1/';
  const RECALL_MS = CONFIG.recall_window_seconds * 1000;
  const MAX_LENGTH = CONFIG.max_message_length;
  const PAGE_SIZE = 50;
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_SHOW_MS = 4000;
  const PING_EVERY_MS = 25000;
  const PONG_TIMEOUT_MS = 10000;
  const REFRESH_EVERY_MS = 30000;
  const GROUP_GAP_MS = 5 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    layout: $('layout'),
    meButton: $('me-button'),
    meAvatar: $('me-avatar'),
    meName: $('me-name'),
    connStatus: $('conn-status'),
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
    composer: $('composer'),
    input: $('input'),
    toasts: $('toasts'),
    dialog: $('profile-dialog'),
    profileForm: $('profile-form'),
    profileAvatar: $('profile-avatar'),
    profileName: $('profile-name'),
    profileUsername: $('profile-username'),
    profileNickname: $('profile-nickname'),
    profileAvatarUrl: $('profile-avatar-url'),
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
    peerRead: new Map(), // conversation_id -> newest msg_id the peer has read
    readSent: new Map(), // conversation_id -> newest up_to we reported
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
    const url = safeHttpUrl(p && p.avatar_url);
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

  function avatarWithDot(p) {
    return h('span', { class: 'avatar-wrap' }, avatar(p), p && p.online ? h('span', { class: 'online-dot', title: 'Online' }) : null);
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

  function toast(text, kind = 'error', ms = 7000) {
    const node = h(
      'div',
      { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', { class: 'toast-text' }, text),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => node.remove() }, '×'),
    );
    ui.toasts.append(node);
    while (ui.toasts.children.length > 4) ui.toasts.firstElementChild.remove();
    setTimeout(() => node.remove(), ms);
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

  function showError(err) {
    console.warn(err);
    toast(errorText(err || {}), 'error');
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
      if (response.status === 401) goToLogin();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  function goToLogin() {
    window.location.assign('/login/?next=' + encodeURIComponent('/' + window.location.hash));
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
    setHash(cid);
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
    const kept = old && old.status === 'recalled' ? old : m;
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

  function applyRecall(cid, msgId) {
    const map = S.msgs.get(cid);
    const m = map && map.get(msgId);
    if (m) map.set(msgId, { ...m, status: 'recalled', content: '' });
    const conv = S.convs.get(cid);
    if (conv && conv.last_message && conv.last_message.msg_id === msgId) {
      conv.last_message = { ...conv.last_message, status: 'recalled', content: '' };
    }
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
    for (const conv of S.convs.values()) if (conv.last_message && conv.last_message.msg_id > max) max = conv.last_message.msg_id;
    return max;
  }

  // The peer's read position survives a reload (the contract only pushes it live).
  const readKey = (cid) => `chat:${S.me.user_id}:peer-read:${cid}`;

  function peerReadOf(cid) {
    if (!S.peerRead.has(cid)) {
      let stored = 0;
      try {
        stored = Number(localStorage.getItem(readKey(cid))) || 0;
      } catch {
        stored = 0;
      }
      S.peerRead.set(cid, stored);
    }
    return S.peerRead.get(cid);
  }

  function setPeerRead(cid, upTo) {
    if (upTo <= peerReadOf(cid)) return;
    S.peerRead.set(cid, upTo);
    try {
      localStorage.setItem(readKey(cid), String(upTo));
    } catch {
      /* storage may be disabled: the receipt just does not survive a reload */
    }
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
      .catch(showError)
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
    try {
      const page = await api('GET', `conversations/${cid}/messages?limit=${PAGE_SIZE}&before=${hist.before}`);
      S.keepScroll = { height: ui.messages.scrollHeight, top: ui.messages.scrollTop };
      for (const m of page.results) ingest(m);
      hist.hasMore = page.has_more && page.results.length > 0;
      if (page.results.length) hist.before = page.results[0].msg_id;
    } catch (err) {
      showError(err);
    } finally {
      hist.loadingOlder = false;
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
            const page = await api('GET', `sync?since=${S.cursor}&limit=500`);
            for (const m of page.results) ingest(m);
            S.cursor = page.next_since;
            more = page.has_more;
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
    if (state === 'ready') {
      ui.banner.hidden = true;
    } else if (S.connectedOnce) {
      ui.banner.hidden = false;
      ui.banner.textContent = state === 'connecting' ? 'Reconnecting…' : text;
    }
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    if (S.ws) return;
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
        setConn('closed', 'Signed out');
        goToLogin();
        return;
      }
      scheduleReconnect();
      scheduleRender();
    });
  }

  function scheduleReconnect() {
    if (S.reconnectTimer) return;
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
    if (S.ws) return;
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
      showError(err);
    }
    scheduleRender();
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
      case 'message':
        ingest(f.message);
        break;
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
        applyRecall(f.conversation_id, f.msg_id);
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
      scheduleRender();
    }
    toast(errorText(f), 'error');
  }

  // --------------------------------------------------------------- actions --

  function transmit(p) {
    p.state = 'sending';
    p.error = null;
    wsSend({ type: 'send', to: p.to, content: p.content, client_msg_id: p.client_msg_id });
  }

  function sendFromComposer() {
    if (!S.active) return;
    const content = ui.input.value;
    if (!content.trim()) return;
    if (codePoints(content) > MAX_LENGTH) {
      toast(`A message is at most ${MAX_LENGTH} characters (this one has ${codePoints(content)}).`);
      return;
    }
    const p = { client_msg_id: uuid(), to: S.active.peer.user_id, content, createdAt: Date.now(), state: 'sending', error: null };
    S.pending.set(p.client_msg_id, p);
    ui.input.value = '';
    S.drafts.delete(p.to);
    autosize();
    S.stickBottom = true;
    transmit(p);
    scheduleRender();
  }

  async function recall(m) {
    try {
      await api('DELETE', `messages/${m.msg_id}`);
      applyRecall(m.conversation_id, m.msg_id);
    } catch (err) {
      showError(err);
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

  /** Report reading while the open conversation is visible (WS read frame). */
  function maybeMarkRead() {
    if (!S.active || S.active.cid === null || document.visibilityState !== 'visible' || !S.wsReady) return;
    const cid = S.active.cid;
    if (!historyOf(cid).loaded) return;
    let upTo = 0;
    for (const m of messagesOf(cid).values()) if (!isMine(m) && m.msg_id > upTo) upTo = m.msg_id;
    if (!upTo || upTo <= (S.readSent.get(cid) || 0)) return;
    if (wsSend({ type: 'read', conversation_id: cid, up_to: upTo })) {
      S.readSent.set(cid, upTo);
      const conv = S.convs.get(cid);
      if (conv && conv.unread) conv.unread = 0; // the unread frame confirms it
      scheduleRender();
    }
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
        if (err.code === 'not_found') setHash(null);
        showError(err);
        return;
      }
    }
    setHash(cid);
    showChat({ cid, peer: conv.peer });
    await loadNewest(cid);
  }

  async function openPeer(profile) {
    clearSearch();
    let cid = S.byPeer.get(profile.user_id);
    // The conversation may sit on a page of the list not loaded yet.
    for (let round = 0; cid === undefined && S.nextBefore && round < 25; round += 1) {
      try {
        await loadConversations(true);
      } catch (err) {
        showError(err);
        break;
      }
      cid = S.byPeer.get(profile.user_id);
    }
    if (cid !== undefined) return openConversation(cid);
    setHash(null);
    showChat({ cid: null, peer: profile });
  }

  function closeChat() {
    saveDraft();
    S.active = null;
    setHash(null);
    ui.layout.classList.remove('show-chat');
    scheduleRender();
  }

  function setHash(cid) {
    const target = cid === null ? window.location.pathname : `#c${cid}`;
    if ((cid === null && window.location.hash) || (cid !== null && window.location.hash !== target)) {
      window.history.replaceState(null, '', target);
    }
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
      showError(err);
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
    ui.meName.textContent = displayName(S.me);
    ui.meButton.title = `@${S.me.username} · edit your profile`;
  }

  function fieldError(name, text) {
    const node = $(`profile-${name}-error`);
    node.textContent = text || '';
    node.hidden = !text;
  }

  function previewProfile() {
    const draft = { ...S.me, nickname: ui.profileNickname.value.trim(), avatar_url: ui.profileAvatarUrl.value.trim() };
    fillAvatar(ui.profileAvatar, draft);
    ui.profileName.textContent = displayName(draft);
    ui.profileUsername.textContent = '@' + S.me.username;
  }

  function openProfile() {
    if (!S.me) return;
    ui.profileNickname.value = S.me.nickname || '';
    ui.profileAvatarUrl.value = S.me.avatar_url || '';
    fieldError('nickname', '');
    fieldError('avatar-url', '');
    ui.profileError.hidden = true;
    previewProfile();
    ui.dialog.showModal();
  }

  async function saveProfile(event) {
    event.preventDefault();
    fieldError('nickname', '');
    fieldError('avatar-url', '');
    ui.profileError.hidden = true;
    const body = { nickname: ui.profileNickname.value.trim(), avatar_url: ui.profileAvatarUrl.value.trim() };
    if (body.avatar_url && !safeHttpUrl(body.avatar_url)) {
      fieldError('avatar-url', 'Must be an http(s) URL.');
      return;
    }
    ui.profileSave.disabled = true;
    try {
      S.me = await api('PATCH', 'me', body);
      renderMe();
      ui.dialog.close();
      toast('Profile saved.', 'info', 3000);
    } catch (err) {
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
    renderConversations();
    renderActive();
    maybeMarkRead();
    updateTitle();
  }

  function updateTitle() {
    const total = S.totalUnread;
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
    if (m.status === 'recalled') return { text: isMine(m) ? 'You recalled a message' : 'Message recalled', cls: 'recalled' };
    const text = m.content.replace(/\s+/g, ' ').slice(0, 120);
    return { text: isMine(m) ? `You: ${text}` : text, cls: '' };
  }

  function renderConversations() {
    const searching = !ui.searchResults.hidden;
    ui.conversations.hidden = searching;
    const list = [...S.convs.values()].sort(
      (a, b) => ((b.last_message && b.last_message.msg_id) || 0) - ((a.last_message && a.last_message.msg_id) || 0),
    );
    const openVisible = document.visibilityState === 'visible';
    const nodes = list.map((conv) => {
      const cid = conv.conversation_id;
      const active = S.active && S.active.cid === cid;
      // The open conversation is being read: no badge flicker while the read frame travels.
      const unread = active && openVisible ? 0 : conv.unread || 0;
      const preview = previewOf(conv);
      const time = conv.last_message ? listTime(conv.last_message.created_at) : '';
      const p = conv.peer;
      const sig = JSON.stringify([active, unread, preview, time, p.nickname, p.username, p.avatar_url, p.online]);
      const cached = convNodes.get(cid);
      if (cached && cached.sig === sig) return cached.node;
      const node = (cached && cached.node) || h('button', { type: 'button', class: 'item conv', dataset: { conversationId: String(cid) }, onclick: () => openConversation(cid) });
      node.className = 'item conv' + (active ? ' active' : '') + (unread ? ' has-unread' : '');
      node.dataset.peer = p.username;
      node.replaceChildren(
        avatarWithDot(p),
        h(
          'span',
          { class: 'item-body' },
          h('span', { class: 'item-top' }, h('span', { class: 'item-name' }, displayName(p)), h('span', { class: 'item-time' }, time)),
          h(
            'span',
            { class: 'item-bottom' },
            h('span', { class: 'item-preview ' + preview.cls }, preview.text),
            unread ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : String(unread)) : null,
          ),
        ),
      );
      convNodes.set(cid, { sig, node });
      return node;
    });
    syncChildren(ui.conversations, nodes);
    ui.emptyList.hidden = searching || list.length > 0 || S.nextBefore === undefined;
    ui.moreConversations.hidden = searching || !S.nextBefore;
  }

  const msgNodes = new Map(); // key -> {sig, node}

  function renderActive() {
    const active = S.active;
    ui.placeholder.hidden = Boolean(active);
    ui.conversation.hidden = !active;
    if (!active) return;
    const { cid, peer } = active;

    fillAvatarOnce(ui.peerAvatar, peer);
    ui.peerName.textContent = displayName(peer);
    const typing = cid !== null && isTyping(cid);
    ui.peerStatus.className = 'peer-status' + (typing ? ' typing' : peer.online ? ' online' : '');
    ui.peerStatus.textContent = typing ? 'typing…' : peer.online ? 'Online' : `Offline · @${peer.username}`;

    const hist = cid === null ? null : historyOf(cid);
    const wasAtBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;

    ui.loadOlder.hidden = !(hist && hist.loaded && hist.hasMore);
    ui.loadOlder.disabled = Boolean(hist && hist.loadingOlder);
    ui.loadOlder.textContent = hist && hist.loadingOlder ? 'Loading…' : 'Load older messages';
    const atStart = cid === null || (hist && hist.loaded && !hist.hasMore);
    ui.historyStart.hidden = !atStart;
    ui.historyStart.textContent = cid === null
      ? `This is the start of your conversation with ${displayName(peer)}. Say hello!`
      : `This is the beginning of your conversation with ${displayName(peer)}.`;

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
      const canRecall = isMine(m) && m.status === 'normal' && now - date.getTime() < RECALL_MS;
      nodes.push(messageNode(m, { grouped, canRecall, read: m.msg_id === readId }));
      prev = m;
    }
    if (pending.length && prevDay !== startOfDay(new Date())) nodes.push(dayNode(startOfDay(new Date()), new Date()));
    for (const p of pending) nodes.push(pendingNode(p));
    syncChildren(ui.messageList, nodes);

    if (S.keepScroll) {
      ui.messages.scrollTop = ui.messages.scrollHeight - S.keepScroll.height + S.keepScroll.top;
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

  function messageNode(m, { grouped, canRecall, read }) {
    const key = 'm:' + m.msg_id;
    const sig = [m.status, grouped, canRecall, read].join('|');
    const cached = msgNodes.get(key);
    if (cached && cached.sig === sig) return cached.node;
    const mine = isMine(m);
    const recalled = m.status === 'recalled';
    const time = h('time', { class: 'msg-time', datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, timeFormat.format(new Date(m.created_at)));
    const bubble = recalled
      ? h('div', { class: 'bubble recalled' }, h('span', { class: 'msg-text' }, mine ? 'You recalled this message' : 'Message recalled'), time)
      : h('div', { class: 'bubble' }, h('span', { class: 'msg-text' }, richText(m.content)), time);
    const actions = canRecall
      ? h(
          'button',
          {
            type: 'button',
            class: 'msg-action recall',
            title: 'Recall this message for everyone',
            'aria-label': 'Recall this message',
            onclick: () => recall(m),
          },
          svgIcon('M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11'),
        )
      : null;
    const node = h(
      'div',
      {
        class: `msg ${mine ? 'out' : 'in'}${grouped ? ' grouped' : ''}${recalled ? ' is-recalled' : ''}`,
        dataset: { msgId: String(m.msg_id), state: recalled ? 'recalled' : 'sent' },
      },
      h('div', { class: 'msg-row' }, actions, bubble),
      read ? h('div', { class: 'receipt' }, 'Read') : null,
    );
    msgNodes.set(key, { sig, node });
    return node;
  }

  function pendingNode(p) {
    const key = 'p:' + p.client_msg_id;
    const sig = [p.state, p.error, p.state === 'failed' || S.wsReady].join('|');
    const cached = msgNodes.get(key);
    if (cached && cached.sig === sig) return cached.node;
    const failed = p.state === 'failed';
    const status = failed
      ? h(
          'div',
          { class: 'pending-status failed' },
          h('span', null, 'Not sent', p.error ? ` — ${p.error}` : ''),
          h('button', { type: 'button', class: 'link-button', onclick: () => { transmit(p); scheduleRender(); } }, 'Retry'),
          h('button', { type: 'button', class: 'link-button', onclick: () => { S.pending.delete(p.client_msg_id); scheduleRender(); } }, 'Discard'),
        )
      : h('div', { class: 'pending-status' }, S.wsReady ? 'Sending…' : 'Waiting for connection…');
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

  function bind() {
    ui.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      sendFromComposer();
      ui.input.focus();
    });
    ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
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
    ui.messages.addEventListener('scroll', () => {
      if (ui.messages.scrollTop < 40) loadOlder();
    });
    ui.back.addEventListener('click', closeChat);
    ui.meButton.addEventListener('click', openProfile);
    ui.profileForm.addEventListener('submit', saveProfile);
    ui.profileCancel.addEventListener('click', () => ui.dialog.close());
    ui.profileNickname.addEventListener('input', previewProfile);
    ui.profileAvatarUrl.addEventListener('input', previewProfile);
    document.addEventListener('visibilitychange', () => {
      scheduleRender();
      if (document.visibilityState === 'visible' && !S.ws) reconnectNow();
    });
    window.addEventListener('focus', scheduleRender);
    window.addEventListener('online', reconnectNow);
    window.addEventListener('beforeunload', (event) => {
      if ([...S.pending.values()].some((p) => p.state === 'sending')) event.preventDefault();
    });
    // Recall buttons expire, day labels roll over, typing indicators fade.
    setInterval(scheduleRender, 5000);
    // Online dots: the contract has no presence frames, so refresh the first page now and then.
    setInterval(() => {
      if (document.visibilityState === 'visible' && S.wsReady) loadConversations().catch(() => {});
    }, REFRESH_EVERY_MS);
  }

  async function start() {
    bind();
    try {
      S.me = await api('GET', 'me');
    } catch (err) {
      showError(err);
      return;
    }
    renderMe();
    S.listLoaded = loadConversations().catch(showError);
    connect();
    await S.listLoaded;
    refreshUnreadTotal().catch(showError);
    loadOffline().catch(showError);
    const match = /^#c(\d+)$/.exec(window.location.hash);
    if (match) openConversation(Number(match[1]));
    scheduleRender();
  }

  start();
})();
