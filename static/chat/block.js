/*
 * Blocking (protocol 1.2) from the chat header: Block asks first (a dialog), then PUT
 * users/{id}/block; Unblock is DELETE. A chat where either blocks the other (Conversation.blocked)
 * shows a notice and chat.js disables the composer. GET blocks says whom we block; the open
 * conversation is fetched again when opened, since the peer's block sends us no frame.
 */
(() => {
  'use strict';

  let ctx = null;
  const blocked = new Set(); // user ids we block
  let refreshed = null; // the conversation id last refreshed on opening
  const $ = (id) => document.getElementById(id);

  function init(context) {
    ctx = context;
    $('block-button').addEventListener('click', onClick);
    ctx.client.blocks()
      .then((data) => {
        for (const p of data.results) blocked.add(p.user_id);
        ctx.scheduleRender();
      })
      .catch(() => {});
  }

  const conversation = () => (ctx.S.active && ctx.S.active.cid !== null ? ctx.S.convs.get(ctx.S.active.cid) : null);
  const iBlock = (peer) => blocked.has(peer.user_id) || peer.blocked === true;

  function confirmBlock(name) {
    const dialog = $('block-dialog');
    $('block-title').textContent = `Block ${name}?`;
    return new Promise((resolve) => {
      dialog.returnValue = '';
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'block'), { once: true });
      dialog.showModal();
      $('block-cancel').focus();
    });
  }

  async function refresh(cid) {
    ctx.upsertConversation(await ctx.client.conversation(cid));
  }

  async function onClick() {
    const active = ctx.S.active;
    if (!active) return;
    const peer = active.peer;
    const button = $('block-button');
    try {
      if (iBlock(peer)) {
        await ctx.client.unblock(peer.user_id);
        blocked.delete(peer.user_id);
        ctx.toast(`${ctx.displayName(peer)} is unblocked.`, 'info', 3000);
      } else {
        const yes = await confirmBlock(ctx.displayName(peer));
        button.focus();
        if (!yes) return;
        await ctx.client.block(peer.user_id);
        blocked.add(peer.user_id);
        // The composer closes with the notice, before the conversation comes back from the server.
        const conv = conversation();
        if (conv) ctx.upsertConversation({ ...conv, blocked: true });
      }
      if (active.cid !== null) await refresh(active.cid);
    } catch (err) {
      ctx.showError(err);
    }
    ctx.scheduleRender();
    button.focus();
  }

  function render() {
    const active = ctx.S.active;
    if (!active) {
      refreshed = null;
      return;
    }
    if (active.cid !== null && refreshed !== active.cid) {
      refreshed = active.cid;
      refresh(active.cid).catch(() => {});
    }
    const mine = iBlock(active.peer);
    const conv = conversation();
    const button = $('block-button');
    const label = mine ? 'Unblock' : 'Block';
    if (button.textContent !== label) button.textContent = label;
    button.setAttribute('aria-label', `${label} ${ctx.displayName(active.peer)}`);
    const notice = $('blocked-notice');
    const shown = mine || Boolean(conv && conv.blocked);
    notice.hidden = !shown;
    const text = mine
      ? `You blocked ${ctx.displayName(active.peer)}. Unblock to send messages; the history stays readable.`
      : 'You can’t send messages in this chat. The history stays readable.';
    if (shown && notice.textContent !== text) notice.textContent = text;
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { block: { init, render } });
})();
