// Sends that outlive the page. The client keeps its outbox in the user's storage (session.js,
// user-storage.js: IndexedDB) and, once connected, sends what it restored with the client_msg_id
// each message got when written, so the server stores it once. This module shows those restored
// messages in their chat as pending ("Waiting for connection…", then "Sending…") until the server
// answers them, and marks one "Not sent" when the server refuses it. No DOM.
//
// Files: the page uploads them itself (attachments.js) before it hands the message to the client,
// and a File cannot be stored across a reload. A message left while its files upload is therefore
// not sent after the reload (without its files it would say something else): a note of it is kept
// while they upload, and after the reload it shows "Not sent" with why, Edit (its text back in the
// composer, to attach the files again) and Discard. A message whose files were uploaded keeps their
// ids in the outbox and goes out with them.
import { S, changed } from './store.js';

export const UPLOADING_KEY = 'chat:uploading';
const INTERRUPTED = {
  code: 'upload_interrupted',
  detail: 'The page was closed before its files were uploaded. Attach them again.',
};

let kept = null;
let notesLoaded = false;
let savedNotes = '';

const restoredWith = (clientMsgId) =>
  clientMsgId ? [...S.pending.values()].find((p) => p.clientMsgId === clientMsgId) : undefined;

/** ``client``: the page's ChatClient; ``userStorage``: where its outbox lives (user-storage.js). */
export async function initUnsent(client, userStorage) {
  kept = userStorage;
  client.on('message', (m) => {
    const p = restoredWith(m.client_msg_id);
    if (!p) return;
    S.pending.delete(p.id); // the message itself is in the store now (live.js)
    changed();
  });
  client.on('failed', ({ client_msg_id: clientMsgId, error }) => {
    const p = restoredWith(clientMsgId);
    if (!p) return;
    p.state = 'failed';
    p.error = error;
    changed();
  });

  const notes = (await kept.get(UPLOADING_KEY)) || [];
  await client.flush(); // the outbox is loaded
  // Read now, with no await before the pending entries go in: an entry answered meanwhile is gone.
  for (const entry of client.outbox()) {
    const id = `kept-${entry.client_msg_id}`;
    S.pending.set(id, {
      id,
      clientMsgId: entry.client_msg_id,
      to: entry.to,
      content: entry.content,
      createdAt: Date.parse(entry.created_at) || Date.now(),
      state: 'sending',
      error: null,
      uploads: null,
      attachments: entry.attachments,
      reply_to: entry.reply_to,
    });
  }
  for (const note of notes) {
    S.pending.set(note.id, { ...note, state: 'failed', error: INTERRUPTED, uploads: null, interrupted: true });
  }
  savedNotes = JSON.stringify(notes);
  notesLoaded = true;
  changed();
}

/** Keep the notes of messages whose files upload (and of those interrupted, until discarded). */
export function saveUploadingNotes() {
  if (!notesLoaded) return; // not before the stored ones are shown: they would be written over
  const notes = [...S.pending.values()]
    .filter((p) => (p.uploads && p.state === 'sending') || p.interrupted)
    .map(({ id, to, content, createdAt, reply_to }) => ({ id, to, content, createdAt, reply_to }));
  const json = JSON.stringify(notes);
  if (json === savedNotes) return;
  savedNotes = json;
  (notes.length ? kept.set(UPLOADING_KEY, notes) : kept.delete(UPLOADING_KEY)).catch((err) => console.warn(err));
}

/**
 * Whether leaving now loses a message: one whose files are still uploading, or any unanswered one
 * when the outbox is in memory only. Messages in a stored outbox go out the next time Chat opens,
 * so the browser does not ask about them.
 */
export function wouldLoseSends() {
  return [...S.pending.values()].some((p) => p.state === 'sending' && (p.uploads || !kept || !kept.durable));
}
