// The nodes of the chat: day separators, messages (with receipts and the recall button) and the
// sends not answered yet (Sending…, Waiting for connection…, Not sent with what to do). Each node
// is kept while its signature is unchanged, so focus and selection survive a render.
import { dayLabel, h, richText, svgIcon, timeFormat } from './dom.js';
import { featureHook, modules } from './features.js';
import { recalledText } from './labels.js';
import { S, applyRecall, dropPending, isMine, transmit } from './store.js';
import { RETRYABLE, errorText, showError } from './toasts.js';

const confirmDialog = document.getElementById('confirm-dialog');
const input = document.getElementById('input');
const msgNodes = new Map(); // key -> {sig, node}

let client = null;
let openAttachment = () => {};
let observer = null;
let editText = () => {};

/** ``observe``: the read tracker's IntersectionObserver for received messages (read-tracker.js). */
export function initMessageView({ chatClient, viewer, seenObserver, onEditText }) {
  client = chatClient;
  openAttachment = viewer;
  observer = seenObserver;
  editText = onEditText;
}

export function dayNode(day, date) {
  const key = 'day:' + day;
  const label = dayLabel(date);
  const cached = msgNodes.get(key);
  if (cached && cached.sig === label) return cached.node;
  const node = h('div', { class: 'day-separator', role: 'separator' }, h('span', null, label));
  msgNodes.set(key, { sig: label, node });
  return node;
}

export function messageNode(m, { grouped, canRecall, read, seenByPeer, peer }) {
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
  if (cached && observer) observer.unobserve(cached.node);
  const time = h('time', { class: 'msg-time', datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, timeFormat.format(new Date(m.created_at)));
  const tick = mine && !recalled ? h('span', { class: 'tick' }) : null;
  const meta = h('span', { class: 'msg-meta' }, time, tick);
  const bubble = recalled
    ? h('div', { class: 'bubble recalled' }, h('span', { class: 'msg-text' }, recalledLabel), meta)
    : h(
        'div',
        { class: 'bubble' },
        modules.attachments.attachmentNodes(m.attachments, openAttachment),
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
  if (!mine && observer) observer.observe(node);
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

export function pendingNode(p) {
  const key = 'p:' + p.id;
  const code = p.error && p.error.code;
  const sig = [p.state, code, p.error && p.error.detail, p.state === 'failed' || S.connected, Boolean(p.uploads)].join('|');
  const cached = msgNodes.get(key);
  if (cached && cached.sig === sig) return cached.node;
  const failed = p.state === 'failed';
  // Retry only what can succeed later; a refused message can be edited instead.
  const retryable = RETRYABLE.has(code);
  const status = failed
    ? h(
        'div',
        { class: 'pending-status failed' },
        h('span', null, 'Not sent', p.error ? ` — ${errorText(p.error)}` : ''),
        retryable ? h('button', { type: 'button', class: 'link-button', onclick: () => transmit(p) }, 'Retry') : null,
        retryable
          ? null
          : h('button', {
              type: 'button',
              class: 'link-button',
              onclick: () => {
                dropPending(p);
                editText(p.content);
              },
            }, 'Edit'),
        h('button', { type: 'button', class: 'link-button', onclick: () => dropPending(p) }, 'Discard'),
      )
    : h(
        'div',
        { class: 'pending-status' },
        svgIcon('M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 2'),
        p.uploads ? 'Uploading files…' : S.connected ? 'Sending…' : 'Waiting for connection…',
      );
  const node = h(
    'div',
    { class: 'msg out pending' + (failed ? ' failed' : ''), dataset: { pendingId: p.id, state: p.state } },
    h('div', { class: 'msg-row' }, h('div', { class: 'bubble' }, h('span', { class: 'msg-text' }, richText(p.content)))),
    status,
  );
  msgNodes.set(key, { sig, node });
  return node;
}

/** The confirm dialog: resolves true for "Recall"; Esc or Cancel resolve false. Focus goes back to ``opener``. */
function confirmRecall(opener) {
  return new Promise((resolve) => {
    confirmDialog.returnValue = '';
    confirmDialog.addEventListener(
      'close',
      () => {
        const target = opener && opener.isConnected ? opener : input;
        target.focus();
        resolve(confirmDialog.returnValue === 'recall');
      },
      { once: true },
    );
    confirmDialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

async function recall(m, opener) {
  if (!(await confirmRecall(opener))) return;
  try {
    await client.recall(m.msg_id);
    applyRecall(m.conversation_id, m.msg_id, 'sender');
  } catch (err) {
    showError(err, () => recall(m, opener));
  }
}
