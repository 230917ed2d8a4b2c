/*
 * The per-message "⋯" menu (Reply, React, Edit) and editing in place (protocol 1.2): Enter saves
 * (ctx.client.edit: the SDK's PATCH messages/{id}), Escape cancels, an "edited" label follows the
 * time. Uses the stores and the client through ctx; no socket.
 *
 * Keyboard: the "⋯" buttons are not Tab stops (fifty of them would stand between the composer and
 * "Load older messages"); ArrowUp in an empty composer reaches the newest message's, ArrowUp and
 * ArrowDown move between messages, ArrowDown past the newest or Escape goes back to the composer.
 */
(() => {
  'use strict';

  let ctx = null;
  const modules = () => window.ChatModules;

  function init(context) {
    ctx = context;
    ctx.ui.input.addEventListener('keydown', (event) => {
      if (event.key !== 'ArrowUp' || ctx.ui.input.value || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
      const buttons = menuButtons();
      if (!buttons.length) return;
      event.preventDefault();
      buttons[buttons.length - 1].focus();
    });
  }

  const menuButtons = () => [...ctx.ui.messageList.querySelectorAll('.msg[data-msg-id] .msg-menu-button')];

  function onButtonKey(event) {
    const buttons = menuButtons();
    const at = buttons.indexOf(event.currentTarget);
    if (event.key === 'ArrowUp' && at > 0) buttons[at - 1].focus();
    else if (event.key === 'ArrowDown' && at >= 0 && at < buttons.length - 1) buttons[at + 1].focus();
    else if ((event.key === 'ArrowDown' || event.key === 'Escape') && !ctx.ui.input.disabled) ctx.ui.input.focus();
    else if (event.key === 'Home' && buttons.length) buttons[0].focus();
    else if (event.key === 'End' && buttons.length) buttons[buttons.length - 1].focus();
    else return;
    event.preventDefault();
    const focused = document.activeElement;
    if (focused && focused.classList.contains('msg-menu-button')) focused.scrollIntoView({ block: 'nearest' });
  }

  const canEdit = (m) => ctx.isMine(m) && m.status === 'normal'
    && Date.now() - new Date(m.created_at).getTime() < (ctx.CONFIG.edit_window_seconds || 172800) * 1000;

  /** The edited label in the meta line; the menu button beside the bubble. */
  function decorateMessage(node, m, { recalled }) {
    const meta = node.querySelector('.msg-meta');
    if (m.edited_at && !recalled && meta) {
      meta.prepend(ctx.h('span', { class: 'msg-edited', title: `Edited ${new Date(m.edited_at).toLocaleString()}` }, 'edited'));
    }
    if (recalled) return;
    const row = node.querySelector('.msg-row');
    const button = modules().menu.menuButton('Message actions', 'msg-menu-button', (b) => openActions(b, m.conversation_id, m.msg_id));
    button.tabIndex = -1;
    button.setAttribute('aria-keyshortcuts', 'ArrowUp ArrowDown');
    button.addEventListener('keydown', onButtonKey);
    row.append(button);
  }

  const current = (cid, id) => ctx.messagesOf(cid).get(id);

  function openActions(button, cid, id) {
    const m = current(cid, id);
    if (!m) return;
    const items = [{ text: 'Reply', onSelect: () => modules().reply.start(m) }];
    if (modules().reactions) items.push({ text: 'React…', onSelect: () => modules().reactions.openPicker(button, m) });
    if (canEdit(m) && ctx.canWrite()) items.push({ text: 'Edit', onSelect: () => startEdit(cid, id) });
    modules().menu.openMenu(button, items, { label: 'Message actions' });
  }

  function nodeOf(id) {
    return ctx.ui.messageList.querySelector(`.msg[data-msg-id="${id}"]`);
  }

  function focusMenuButton(id) {
    ctx.render();
    const node = nodeOf(id);
    const button = node && node.querySelector('.msg-menu-button');
    if (button) button.focus();
    else ctx.ui.input.focus();
  }

  function startEdit(cid, id) {
    const m = current(cid, id);
    const node = nodeOf(id);
    if (!m || !node) return;
    const text = node.querySelector('.bubble .msg-text');
    const kept = [...text.childNodes];
    const field = ctx.h('textarea', { class: 'edit-field', rows: '2', 'aria-label': 'Edit message', 'aria-describedby': `edit-hint-${id}` });
    field.value = m.content;
    const hint = ctx.h('span', { class: 'edit-hint', id: `edit-hint-${id}` }, 'Enter to save · Esc to cancel');
    text.replaceChildren(field, hint);
    node.classList.add('editing');
    const finish = () => {
      node.classList.remove('editing');
      if (text.isConnected) text.replaceChildren(...kept);
      focusMenuButton(id);
    };
    field.addEventListener('keydown', async (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        finish();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        const content = field.value;
        if (!content.trim()) return;
        if (content === m.content) {
          finish();
          return;
        }
        field.disabled = true;
        try {
          ctx.ingest(await ctx.client.edit(id, content));
          node.classList.remove('editing');
          focusMenuButton(id);
        } catch (err) {
          field.disabled = false;
          field.focus();
          ctx.showError(err);
        }
      }
    });
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    messageActions: { init, decorateMessage, messageSig: (m) => m.edited_at || '' },
  });
})();
