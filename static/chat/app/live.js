// The ChatClient's events into the store: messages (new, changed, recalled), unread counts, the
// peer's read receipts and typing, presence and profiles. No DOM: the views render what changed.
import { ChatError } from '../../sdk/index.js';
import {
  S, applyRecall, changed, ingestChange, isMine, messagesOf, setPeerRead, setUnread, updatePeer,
} from './store.js';
import { errorText, toast } from './toasts.js';

const TYPING_SHOW_MS = 4000; // the peer's client repeats its typing signal every 3 s while typing

/**
 * ``onLive(message)``: a new message from the peer arrived live (not by a catch-up, which brings
 * what was missed); ``onCaughtUpAgain()``: a catch-up after a reconnect or a resync finished;
 * ``onMe()``: the user's own profile changed (edited on another device).
 */
export function feedStore(client, { onLive, onCaughtUpAgain, onMe }) {
  client.on('message', (m) => {
    const fresh = !messagesOf(m.conversation_id).has(m.msg_id);
    // Like a change: a catch-up may bring an old message first seen now, kept only next to its page.
    ingestChange(m);
    if (fresh && !isMine(m) && client.state === 'connected') onLive(m);
  });
  client.on('changed', ingestChange); // kept when its rev is larger than the copy held
  client.on('recalled', (f) => applyRecall(f.conversation_id, f.msg_id, f.recalled_by));
  client.on('unread', (f) => {
    if (typeof f.total === 'number') S.totalUnread = f.total;
    setUnread(f.conversation_id, f.unread);
  });
  client.on('read', (f) => {
    if (S.me && f.reader_id !== S.me.user_id) {
      setPeerRead(f.conversation_id, typeof f.up_to === 'number' ? f.up_to : Number.MAX_SAFE_INTEGER);
    }
  });
  client.on('typing', (f) => {
    if (!S.me || f.user_id === S.me.user_id) return;
    S.typingUntil.set(f.conversation_id, Date.now() + TYPING_SHOW_MS);
    changed();
    setTimeout(changed, TYPING_SHOW_MS + 50); // the indicator fades
  });
  client.on('presence', (f) => {
    if (typeof f.user_id === 'number') updatePeer(f.user_id, { online: Boolean(f.online), last_seen: f.online ? null : f.last_seen || null });
  });
  client.on('profile', (f) => {
    if (!f.profile || typeof f.profile.user_id !== 'number') return;
    if (S.me && f.profile.user_id === S.me.user_id) {
      S.me = { ...S.me, ...f.profile };
      onMe();
    } else {
      updatePeer(f.profile.user_id, f.profile);
    }
  });
  let caughtUpBefore = false;
  client.on('caughtUp', () => {
    if (caughtUpBefore) onCaughtUpAgain();
    caughtUpBefore = true;
  });
  client.on('error', (err) => {
    console.warn(err);
    // A refused frame (typing, watch...) says why, as every error frame did; the client recovers
    // from the rest (a failed catch-up, a lost socket) by itself.
    if (err instanceof ChatError && 'frame' in err) toast(errorText(err), 'error');
  });
}
