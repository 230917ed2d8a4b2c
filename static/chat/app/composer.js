// The composer: the text box (Enter sends, Shift+Enter a new line; composer-keys.js), a draft
// per peer, the typing signal, and the files of the next message (attachments.js's tray).
import { codePoints } from './dom.js';
import { canWrite } from './chat-window.js';
import { modules } from './features.js';
import { csrfToken } from './session.js';
import { S, addPending, changed } from './store.js';
import { toast } from './toasts.js';

const { attachments, composerKeys } = modules;
const CONFIG = JSON.parse(document.getElementById('chat-config').textContent);
const MAX_LENGTH = CONFIG.max_message_length;
const $ = (id) => document.getElementById(id);
const form = $('composer');
const input = $('input');
const drafts = new Map(); // peer user_id -> unsent composer text

let client = null;
let tray = null;

function autosize() {
  input.style.height = 'auto';
  const borders = input.offsetHeight - input.clientHeight;
  const wanted = input.scrollHeight + borders;
  input.style.height = Math.min(wanted, 160) + 'px';
  input.style.overflowY = wanted > 160 ? 'auto' : 'hidden';
}

function send() {
  if (!canWrite()) return;
  const withFiles = tray.hasUsable();
  let content = input.value;
  if (!content.trim() && !withFiles) return;
  if (!content.trim()) content = ''; // with files, white space alone is no text
  if (codePoints(content) > MAX_LENGTH) {
    toast(`A message is at most ${MAX_LENGTH} characters (this one has ${codePoints(content)}).`);
    return;
  }
  const to = S.active.peer.user_id;
  input.value = '';
  drafts.delete(to);
  autosize();
  S.stickBottom = true;
  addPending({
    to,
    content,
    // Sent once its uploads finished; a retry goes straight out with the same ids.
    uploads: withFiles ? tray.handOff() : null,
    replyTo: modules.reply ? modules.reply.take() : null,
  });
}

function onInput() {
  autosize();
  // The client sends at most one typing signal per conversation every 3 s.
  if (S.active && S.active.cid !== null && input.value.trim()) client.typing(S.active.cid);
}

/** Keep the open chat's unsent text (the chat is being left or switched). */
export function saveDraft() {
  if (!S.active) return;
  if (input.value) drafts.set(S.active.peer.user_id, input.value);
  else drafts.delete(S.active.peer.user_id);
}

/** The composer now writes to ``peerId``: its draft comes back, and the focus goes there. */
export function switchTo(peerId) {
  input.value = drafts.get(peerId) || '';
  autosize();
  setTimeout(() => input.focus(), 0);
}

/** Put ``text`` back into the composer to be edited (a send the server refused). */
export function editAgain(text) {
  input.value = text;
  autosize();
  input.focus();
  changed();
}

export function initComposer(chatClient) {
  client = chatClient;
  tray = attachments.createTray({
    container: $('attach-tray'),
    maxBytes: Number(form.dataset.attachmentMaxBytes),
    csrf: csrfToken,
  });
  $('attach-button').addEventListener('click', () => $('attach-file').click());
  $('attach-file').addEventListener('change', (event) => {
    tray.add(Array.from(event.target.files));
    event.target.value = '';
    input.focus();
  });
  attachments.bindDrop($('conversation'), (files) => canWrite() && tray.add(files));
  attachments.bindPaste(input, (files) => canWrite() && tray.add(files));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
    input.focus();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && composerKeys.enterSends() && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener('input', onInput);
  composerKeys.describeKeys($('composer-hint'), $('send'));
}
