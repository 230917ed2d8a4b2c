/*
 * Conversation settings (protocol 1.2) in the list: each row gets a "⋯" menu with Pin, Mute and
 * Archive (PATCH conversations/{id}); pinned rows show a pin, muted ones a muted bell (chat.js
 * keeps them quiet). The "Archived" view lists GET conversations?archived=true and leads back.
 */
(() => {
  'use strict';

  let ctx = null;
  const rows = new Map(); // conversation_id -> {row, button}
  const $ = (id) => document.getElementById(id);

  function init(context) {
    ctx = context;
    ctx.S.showArchived = false;
    $('archived-open').addEventListener('click', () => showArchived(true));
    $('archived-back').addEventListener('click', () => showArchived(false));
  }

  async function showArchived(on) {
    ctx.S.showArchived = on;
    if (on) {
      try {
        const page = await ctx.client.conversations({ archived: true, limit: 100 });
        for (const c of page.results) ctx.upsertConversation(c);
      } catch (err) {
        ctx.showError(err);
      }
    }
    ctx.render();
    (on ? $('archived-back') : $('archived-open')).focus();
  }

  async function patch(cid, change, done) {
    try {
      const conv = await ctx.client.updateConversation(cid, change);
      ctx.upsertConversation(conv);
      ctx.toast(done, 'info', 3000);
    } catch (err) {
      ctx.showError(err);
    }
    ctx.render();
    const entry = rows.get(cid);
    // An archived (or unarchived) row leaves this view: focus goes to the list's own button.
    if (entry && entry.row.isConnected) entry.button.focus();
    else (ctx.S.showArchived ? $('archived-back') : $('archived-open')).focus();
  }

  function openSettings(button, cid) {
    const conv = ctx.S.convs.get(cid);
    if (!conv) return;
    const name = ctx.displayName(conv.peer);
    window.ChatModules.menu.openMenu(button, [
      { text: conv.pinned ? 'Unpin' : 'Pin', onSelect: () => patch(cid, { pinned: !conv.pinned }, `${name}: ${conv.pinned ? 'unpinned' : 'pinned'}.`) },
      { text: conv.muted ? 'Unmute' : 'Mute', onSelect: () => patch(cid, { muted: !conv.muted }, `${name}: ${conv.muted ? 'unmuted' : 'muted'}.`) },
      { text: conv.archived ? 'Unarchive' : 'Archive', onSelect: () => patch(cid, { archived: !conv.archived }, `${name}: ${conv.archived ? 'back in the list' : 'archived'}.`) },
    ], { label: `Conversation with ${name}` });
  }

  /** The list row: the conversation's button and its menu button side by side (a button cannot hold a button). */
  function row(conv, node) {
    const cid = conv.conversation_id;
    let entry = rows.get(cid);
    if (!entry) {
      const button = window.ChatModules.menu.menuButton('', 'conv-menu-button', (b) => openSettings(b, cid));
      entry = { row: ctx.h('div', { class: 'conv-row', dataset: { conversationId: String(cid) } }), button };
      rows.set(cid, entry);
    }
    const label = `Settings for the conversation with ${ctx.displayName(conv.peer)}`;
    if (entry.button.getAttribute('aria-label') !== label) {
      entry.button.setAttribute('aria-label', label);
      entry.button.title = 'Pin, mute or archive';
    }
    if (entry.row.firstChild !== node || entry.row.children.length !== 2) entry.row.replaceChildren(node, entry.button);
    entry.row.classList.toggle('pinned', Boolean(conv.pinned));
    return entry.row;
  }

  /** Icons in a row's top line: a pin, a muted bell. */
  function conversationFlags(conv) {
    const flags = [];
    if (conv.muted) flags.push(ctx.h('span', { class: 'conv-flag muted-flag', title: 'Muted' }, ctx.svgIcon('M6 8a6 6 0 0 1 9.3-5M18 8c0 7 3 9 3 9H9M3 17s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0M2 2l20 20'), ctx.h('span', { class: 'sr-only' }, 'muted')));
    if (conv.pinned) flags.push(ctx.h('span', { class: 'conv-flag pin-flag', title: 'Pinned' }, ctx.svgIcon('M12 17v5M9 3h6l-1 7 4 3v2H6v-2l4-3z'), ctx.h('span', { class: 'sr-only' }, 'pinned')));
    return flags;
  }

  function render() {
    const archived = Boolean(ctx.S.showArchived);
    const searching = ctx.ui.conversations.hidden;
    $('archived-header').hidden = !archived || searching;
    $('archived-open').hidden = archived || searching;
    if (archived) {
      ctx.ui.moreConversations.hidden = true;
      ctx.ui.emptyList.hidden = true;
      const none = ![...ctx.S.convs.values()].some((c) => c.archived);
      $('archived-empty').hidden = searching || !none;
    } else {
      $('archived-empty').hidden = true;
    }
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { conversationMenu: { init, row, conversationFlags, render } });
})();
