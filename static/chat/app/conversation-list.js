// The sidebar: the conversation list (pinned first, then newest; archived ones in their own view),
// "Show older conversations", and the people search above it.
import { avatarWithDot, displayName, h, listTime, syncChildren } from './dom.js';
import { featureHook, modules } from './features.js';
import { previewOf, shownOnline } from './labels.js';
import { S, historyOf, loadConversations, unseenCount } from './store.js';
import { showError } from './toasts.js';

const $ = (id) => document.getElementById(id);
const ui = {
  search: $('search'),
  searchResults: $('search-results'),
  messageResults: $('message-results'),
  conversations: $('conversations'),
  emptyList: $('empty-list'),
  moreConversations: $('more-conversations'),
};

let actions = { openConversation: () => {}, openPeer: () => {} };
let client = null;
const convNodes = new Map(); // conversation_id -> {sig, node}

/** Render the list; answers the conversations shown, in order (the watch list follows them). */
export function renderConversations() {
  const searching = !ui.searchResults.hidden || !ui.messageResults.hidden;
  ui.conversations.hidden = searching;
  const list = [...S.convs.values()].filter((c) => Boolean(c.archived) === Boolean(S.showArchived)).sort(
    (a, b) => Boolean(b.pinned) - Boolean(a.pinned)
      || ((b.last_message && b.last_message.msg_id) || 0) - ((a.last_message && a.last_message.msg_id) || 0),
  );
  const nodes = list.map((conv) => {
    const cid = conv.conversation_id;
    const active = Boolean(S.active && S.active.cid === cid);
    // The open conversation: what was seen on screen counts at once, before the server's unread event.
    const unread = active && historyOf(cid).loaded ? unseenCount(cid) : conv.unread || 0;
    const preview = previewOf(conv);
    const time = conv.last_message ? listTime(conv.last_message.created_at) : '';
    const p = conv.peer;
    const online = shownOnline(p);
    const sig = JSON.stringify([active, unread, preview, time, p.nickname, p.username, p.avatar_url, online, p.is_active, conv.pinned, conv.muted]);
    const cached = convNodes.get(cid);
    if (cached && cached.sig === sig) return cached.node;
    const node = (cached && cached.node) || h('button', { type: 'button', class: 'item conv', dataset: { conversationId: String(cid) }, onclick: () => actions.openConversation(cid) });
    node.className = 'item conv' + (active ? ' active' : '') + (unread ? ' has-unread' : '');
    node.dataset.peer = p.username;
    node.dataset.online = String(online);
    if (active) node.setAttribute('aria-current', 'page');
    else node.removeAttribute('aria-current');
    node.replaceChildren(
      avatarWithDot(p, online),
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
  const rows = modules.conversationMenu ? nodes.map((node, i) => modules.conversationMenu.row(list[i], node)) : nodes;
  syncChildren(ui.conversations, rows);
  ui.emptyList.hidden = searching || list.length > 0 || S.nextBefore === undefined;
  ui.moreConversations.hidden = searching || !S.nextBefore;
  return list;
}

/** The row of a conversation, to give focus back to when its chat closes. */
export const rowOf = (cid) => ui.conversations.querySelector(`.conv[data-conversation-id="${cid}"]`);

// ---------------------------------------------------------------- people search --

let searchTimer = null;
let searchSeq = 0;

function onSearchInput() {
  clearTimeout(searchTimer);
  const q = ui.search.value.trim();
  if (!q) {
    searchSeq += 1;
    ui.searchResults.hidden = true;
    ui.searchResults.replaceChildren();
    renderConversations();
    return;
  }
  searchTimer = setTimeout(() => runSearch(q), 200);
}

async function runSearch(q) {
  const seq = ++searchSeq;
  let data;
  try {
    data = await client.users(q);
  } catch (err) {
    showError(err, () => {
      if (ui.search.value.trim() === q) runSearch(q);
    });
    return;
  }
  if (seq !== searchSeq) return;
  const people = data.results.filter((p) => !S.me || p.user_id !== S.me.user_id);
  const items = people.map((p) =>
    h(
      'button',
      { type: 'button', class: 'item person', dataset: { userId: String(p.user_id), username: p.username }, onclick: () => actions.openPeer(p) },
      avatarWithDot(p, shownOnline(p)),
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

export function clearSearch() {
  ui.search.value = '';
  onSearchInput();
}

/** ``openConversation(cid)`` and ``openPeer(profile)``: what a click on a row or a person does. */
export function initConversationList(chatClient, opening) {
  client = chatClient;
  actions = opening;
  ui.search.addEventListener('input', onSearchInput);
  ui.search.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') clearSearch();
    if (event.key === 'Enter') {
      const first = ui.searchResults.querySelector('button.person');
      if (first) first.click();
    }
  });
  ui.moreConversations.addEventListener('click', () => loadConversations(true).catch(showError));
}
