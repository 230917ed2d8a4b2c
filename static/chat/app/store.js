// The page's stores: conversations, messages per conversation, the history held of each, the
// sends not yet answered, unread counts and read positions. Fed by the ChatClient's events and
// REST answers; no DOM and no socket. Views read `S` and call these functions; every change
// calls changed(), which schedules one render.

export const S = {
  me: null,
  convs: new Map(), // conversation_id -> Conversation (peer, last_message, unread)
  byPeer: new Map(), // peer user_id -> conversation_id
  nextBefore: undefined, // conversation list cursor: undefined = not loaded, null = no more
  msgs: new Map(), // conversation_id -> Map(msg_id -> Message)
  history: new Map(), // conversation_id -> {loaded, hasMore, before, loading, loadingOlder}
  pending: new Map(), // local id -> {id, to, content, createdAt, state, error, code, uploads, reply_to}
  peerRead: new Map(), // conversation_id -> newest msg_id the peer has read (peer_read_up_to, read events)
  readSent: new Map(), // conversation_id -> newest up_to we reported
  seen: new Map(), // conversation_id -> newest received msg_id that was on screen in a visible tab
  signedOut: false,
  typingUntil: new Map(), // conversation_id -> time the peer's typing indicator expires
  earlyUnread: new Map(), // unread counts for conversations not fetched yet
  convFetches: new Map(), // conversation_id -> in-flight fetch
  active: null, // {cid: conversation_id | null (new conversation), peer: Profile}
  connected: false, // the client is connected (presence and typing are live)
  totalUnread: 0,
  showArchived: false,
  stickBottom: true,
  keepScroll: null,
  unreadMark: null, // {cid, msgId}: the open chat's "Unread messages" divider goes above msgId
  landing: null, // {cid, ready}: opening a chat with unread messages; nothing counts as seen until it lands
};

const PAGE_SIZE = 50;
let client = null;
let reportError = (err) => console.warn(err);
const listeners = [];

/** ``chatClient``: the page's ChatClient (session.js); ``onError`` shows what failed in the background. */
export function initStore({ chatClient, onError }) {
  client = chatClient;
  reportError = onError;
}

export function onChange(listener) {
  listeners.push(listener);
}

export function changed() {
  for (const listener of listeners) listener();
}

export const isMine = (m) => Boolean(S.me && m.sender_id === S.me.user_id);

export function messagesOf(cid) {
  let map = S.msgs.get(cid);
  if (!map) S.msgs.set(cid, (map = new Map()));
  return map;
}

export function historyOf(cid) {
  let hist = S.history.get(cid);
  if (!hist) S.history.set(cid, (hist = { loaded: false, hasMore: false, before: null, loading: null, loadingOlder: false }));
  return hist;
}

/** The message to keep as a conversation's last one. */
function newer(a, b) {
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

let adoptHook = () => {};

/** ``fn(cid)`` runs when the open "new conversation" with a peer turns out to have a conversation id. */
export function onAdopt(fn) {
  adoptHook = fn;
}

export function upsertConversation(c) {
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
    if (S.active.cid === null) adoptHook(cid);
  }
  changed();
  return merged;
}

export function ensureConversation(cid) {
  if (S.convs.has(cid)) return Promise.resolve(S.convs.get(cid));
  if (!S.convFetches.has(cid)) {
    const fetching = client.conversation(cid)
      .then(upsertConversation)
      .finally(() => S.convFetches.delete(cid));
    S.convFetches.set(cid, fetching);
  }
  return S.convFetches.get(cid);
}

/** Store a Message from any source (REST page, the client's events, offline); one copy per msg_id. */
export function ingest(m) {
  if (!m || typeof m.msg_id !== 'number') return;
  const cid = m.conversation_id;
  const map = messagesOf(cid);
  const old = map.get(m.msg_id);
  const kept = old ? fresher(old, m) : m;
  map.set(m.msg_id, kept);
  const peerId = isMine(m) ? m.recipient_id : m.sender_id;
  if (!isMine(m)) S.typingUntil.delete(cid);
  if (!S.byPeer.has(peerId)) S.byPeer.set(peerId, cid);
  const conv = S.convs.get(cid);
  if (conv) conv.last_message = newer(conv.last_message, kept);
  else ensureConversation(cid).catch(reportError);
  if (S.active && S.active.cid === null && S.active.peer.user_id === peerId) adoptHook(cid);
  changed();
}

/** A changed message (changed event, sync by rev): one older than the history held is not put in (it would
 * stand alone above a gap); its new state comes with its page. */
export function ingestChange(m) {
  if (!m || typeof m.msg_id !== 'number') return;
  const hist = historyOf(m.conversation_id);
  const outside = hist.loaded && hist.hasMore && hist.before !== null && m.msg_id < hist.before;
  if (outside && !messagesOf(m.conversation_id).has(m.msg_id)) return;
  ingest(m);
}

export function applyRecall(cid, msgId, recalledBy) {
  const by = recalledBy === 'moderator' ? 'moderator' : 'sender';
  const map = S.msgs.get(cid);
  const m = map && map.get(msgId);
  if (m) map.set(msgId, { ...m, status: 'recalled', content: '', recalled_by: m.recalled_by || by });
  const conv = S.convs.get(cid);
  if (conv && conv.last_message && conv.last_message.msg_id === msgId) {
    conv.last_message = { ...conv.last_message, status: 'recalled', content: '', recalled_by: conv.last_message.recalled_by || by };
  }
  changed();
}

/** A live presence or profile change for a user: every copy of their Profile follows. */
export function updatePeer(userId, patch) {
  for (const conv of S.convs.values()) {
    if (conv.peer.user_id === userId) conv.peer = { ...conv.peer, ...patch };
  }
  if (S.active && S.active.peer.user_id === userId) S.active.peer = { ...S.active.peer, ...patch };
  changed();
}

export function setUnread(cid, unread) {
  const conv = S.convs.get(cid);
  if (conv) {
    conv.unread = unread;
  } else {
    S.earlyUnread.set(cid, unread);
    ensureConversation(cid).catch(reportError);
  }
  changed();
}

/** The newest rev held (sync runs by rev, 1.2: a message's rev is at least its msg_id). */
export function maxHeldRev() {
  let max = 0;
  for (const conv of S.convs.values()) {
    const m = conv.last_message;
    if (m) max = Math.max(max, m.msg_id, m.rev || 0);
  }
  return max;
}

// The peer's read position: the Conversation's peer_read_up_to after a reload, then read events.
export const peerReadOf = (cid) => S.peerRead.get(cid) || 0;

export function setPeerRead(cid, upTo) {
  if (upTo <= peerReadOf(cid)) return;
  S.peerRead.set(cid, upTo);
  changed();
}

export const isTyping = (cid) => (S.typingUntil.get(cid) || 0) > Date.now();

// ---------------------------------------------------------------- loading --

export async function loadConversations(older = false) {
  const page = await client.conversations({ limit: 20, before: older && S.nextBefore ? S.nextBefore : undefined });
  for (const c of page.results) upsertConversation(c);
  if (older || S.nextBefore === undefined) S.nextBefore = page.next_before;
  changed();
}

/** The newest page of a conversation (once; ``refresh``: again, after a reconnect). */
/** The conversation with that user, fetched and stored; rejects with not_found before their first message. */
export async function loadConversationWith(userId) {
  return upsertConversation(await client.conversationWith(userId));
}

export function loadNewest(cid, refresh = false) {
  const hist = historyOf(cid);
  if (hist.loading) return hist.loading;
  if (hist.loaded && !refresh) return Promise.resolve();
  hist.loading = client.history(cid, { limit: PAGE_SIZE })
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
      changed();
    })
    .finally(() => {
      hist.loading = null;
    });
  return hist.loading;
}

/** One page of history older than what is held; ``beforeIngest`` runs once it arrived, before it is stored. */
export async function fetchOlderPage(cid, beforeIngest) {
  const hist = historyOf(cid);
  const page = await client.history(cid, { limit: PAGE_SIZE, before: hist.before });
  if (beforeIngest) beforeIngest();
  for (const m of page.results) ingest(m);
  hist.hasMore = page.has_more && page.results.length > 0;
  if (page.results.length) hist.before = page.results[0].msg_id;
}

/** Save the user's nickname and/or avatar_url; S.me becomes the Profile the server answers. */
export async function updateMe(changes) {
  S.me = await client.updateMe(changes);
  return S.me;
}

export async function refreshUnreadTotal() {
  const data = await client.unread();
  S.totalUnread = data.total;
  changed();
}

/**
 * Messages that reached the user while no socket of theirs was connected: take them in and
 * acknowledge them. Answers "1 from Alice"-style notes for the ones new to this page.
 */
export async function loadOffline() {
  const notes = [];
  for (let round = 0; round < 20; round += 1) {
    const data = await client.offline();
    const groups = data.results.filter((group) => group.messages && group.messages.length);
    if (!groups.length) break;
    for (const group of groups) {
      const messages = group.messages;
      const fresh = messages.filter((m) => !messagesOf(m.conversation_id).has(m.msg_id)).length;
      for (const m of messages) ingest(m);
      if (fresh) notes.push({ count: fresh, sender: group.sender });
      await client.ackOffline(group.sender.user_id, messages[messages.length - 1].msg_id);
    }
  }
  return notes;
}

// ------------------------------------------------------------ sending --

/**
 * A message from the composer: shown at once (pending), sent by the client once its uploads
 * (attachments.js) finished. The client keeps one client_msg_id for it and sends it again after
 * every reconnect until the server answers; a refusal marks it failed.
 */
export function addPending({ to, content, uploads, replyTo }) {
  const id = `local-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const p = { id, to, content, createdAt: Date.now(), state: 'sending', error: null, uploads: uploads || null, reply_to: replyTo || null };
  S.pending.set(id, p);
  transmit(p);
  changed();
  return p;
}

export function transmit(p) {
  p.state = 'sending';
  p.error = null;
  if (p.uploads) {
    // A retry goes straight out with the same attachment ids.
    p.uploads.then((done) => {
      p.uploads = null;
      p.attachments = done.map((a) => a.attachment_id);
      if (!p.attachments.length && !p.content.trim()) {
        p.state = 'failed';
        p.error = { code: 'upload_failed', detail: 'The files could not be uploaded.' };
        changed();
        return;
      }
      transmit(p);
      changed();
    });
    return;
  }
  const attachments = p.attachments && p.attachments.length ? p.attachments : null;
  client.send(p.to, p.content, { replyTo: p.reply_to, attachments }).then(
    (message) => {
      S.pending.delete(p.id);
      ingest(message);
    },
    (err) => {
      if (!S.pending.has(p.id)) return;
      p.state = 'failed';
      p.error = err;
      changed();
      // A failed send shows its reason and what to do beside the message; the toast only tells.
      reportError(err);
    },
  );
}

export function dropPending(p) {
  S.pending.delete(p.id);
  changed();
}

/** Received messages of a conversation newer than the newest one seen (at most the server's unread). */
export function unseenCount(cid) {
  const seen = Math.max(S.seen.get(cid) || 0, S.readSent.get(cid) || 0);
  let count = 0;
  for (const m of messagesOf(cid).values()) if (!isMine(m) && m.status === 'normal' && m.msg_id > seen) count += 1;
  const conv = S.convs.get(cid);
  return conv ? Math.min(count, conv.unread || 0) : count;
}
