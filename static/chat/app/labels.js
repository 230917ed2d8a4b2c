// Words shared by the conversation list and the chat: previews, recalls, presence.
import { displayName } from './dom.js';
import { modules } from './features.js';
import { S, isMine, isTyping } from './store.js';

const isOnline = (p) => Boolean(p && p.online && p.is_active !== false);
// Presence is pushed over the socket: while it is down, nobody is shown online (it may no longer be true).
export const shownOnline = (p) => S.connected && isOnline(p);

/** What stands in place of a recalled message (in the chat: ``inChat``; else the list preview). */
export function recalledText(m, peer, inChat) {
  if (m.recalled_by === 'moderator') return 'Removed by a moderator';
  if (isMine(m)) return inChat ? 'You recalled this message' : 'You recalled a message';
  return `${displayName(peer)} recalled a message`;
}

export function previewOf(conv) {
  const m = conv.last_message;
  if (isTyping(conv.conversation_id)) return { text: 'typing…', cls: 'typing' };
  if (!m) return { text: 'No messages yet', cls: 'muted' };
  if (m.status === 'recalled') return { text: recalledText(m, conv.peer, false), cls: 'recalled' };
  const text = m.content ? m.content.replace(/\s+/g, ' ').slice(0, 120) : modules.attachments.previewText(m);
  return { text: isMine(m) ? `You: ${text}` : text, cls: '' };
}
