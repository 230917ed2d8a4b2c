/*
 * Reactions (protocol 1.2): counts under a message, one chip per emoji, the reader's own pressed;
 * a chip toggles the reader's reaction, the picker (from the message menu) sets one
 * (PUT / DELETE messages/{id}/reaction). The answer, a Message with a new rev, goes to the store.
 */
(() => {
  'use strict';

  const COMMON = [
    ['👍', 'Thumbs up'], ['❤️', 'Heart'], ['😂', 'Laughing'], ['😮', 'Surprised'], ['😢', 'Sad'], ['🙏', 'Thank you'],
  ];
  let ctx = null;

  function init(context) {
    ctx = context;
  }

  const mineOf = (m) => (m.reactions || []).find((r) => r.user_id === ctx.S.me.user_id);

  async function react(m, emoji) {
    const mine = mineOf(m);
    try {
      const changed = await ctx.client.react(m.msg_id, mine && mine.emoji === emoji ? null : emoji);
      ctx.ingest(changed);
    } catch (err) {
      ctx.showError(err);
    }
  }

  /** After a re-render the chip (or the menu button) of that message gets focus again. */
  function refocus(msgId, emoji) {
    ctx.render();
    const node = ctx.ui.messageList.querySelector(`.msg[data-msg-id="${msgId}"]`);
    if (!node) return;
    const chip = [...node.querySelectorAll('.reaction')].find((c) => c.dataset.emoji === emoji);
    (chip || node.querySelector('.msg-menu-button') || ctx.ui.input).focus();
  }

  function openPicker(opener, m) {
    const mine = mineOf(m);
    const items = COMMON.map(([emoji, name]) => ({
      text: emoji,
      label: name,
      pressed: Boolean(mine && mine.emoji === emoji),
      onSelect: async () => {
        await react(ctx.messagesOf(m.conversation_id).get(m.msg_id) || m, emoji);
        refocus(m.msg_id, emoji);
      },
    }));
    window.ChatModules.menu.openMenu(opener, items, { label: 'React with', className: 'emoji-menu', horizontal: true });
  }

  function decorateMessage(node, m, { recalled }) {
    const reactions = m.reactions || [];
    if (recalled || !reactions.length) return;
    const counts = new Map();
    for (const r of reactions) counts.set(r.emoji, (counts.get(r.emoji) || 0) + 1);
    const mine = mineOf(m);
    const chips = [...counts].map(([emoji, count]) => {
      const pressed = Boolean(mine && mine.emoji === emoji);
      return ctx.h(
        'button',
        {
          type: 'button',
          class: 'reaction' + (pressed ? ' mine' : ''),
          'aria-pressed': String(pressed),
          'aria-label': `${emoji} ${count}${pressed ? ', yours: remove' : ': react with it'}`,
          dataset: { emoji, count: String(count) },
          onclick: async () => {
            await react(ctx.messagesOf(m.conversation_id).get(m.msg_id) || m, emoji);
            refocus(m.msg_id, emoji);
          },
        },
        ctx.h('span', { 'aria-hidden': 'true' }, emoji),
        ctx.h('span', { class: 'reaction-count', 'aria-hidden': 'true' }, String(count)),
      );
    });
    node.querySelector('.msg-row').after(ctx.h('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' }, chips));
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    reactions: { init, decorateMessage, openPicker, messageSig: (m) => JSON.stringify(m.reactions || []) },
  });
})();
