/*
 * Message search (protocol 1.2, GET search?q=): a field of its own under the people search.
 * Results (sender, a snippet with the matching words marked, time) replace the list while the
 * field has text; choosing one opens the chat at that message (reply.js jumpTo). The marks are
 * <mark> elements around text nodes: message text never becomes HTML.
 */
(() => {
  'use strict';

  let ctx = null;
  let timer = null;
  let seq = 0;
  const $ = (id) => document.getElementById(id);

  function init(context) {
    ctx = context;
    const field = $('message-search');
    field.addEventListener('input', () => {
      clearTimeout(timer);
      const q = field.value.trim();
      if (!q) {
        clear(false);
        return;
      }
      timer = setTimeout(() => run(q), 250);
    });
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') clear(true);
      if (event.key === 'ArrowDown' || event.key === 'Enter') {
        const first = $('message-results').querySelector('button.found');
        if (first) {
          event.preventDefault();
          if (event.key === 'Enter') first.click();
          else first.focus();
        }
      }
    });
    $('message-results').addEventListener('keydown', (event) => {
      const buttons = [...$('message-results').querySelectorAll('button.found')];
      const at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      if (event.key === 'ArrowDown' && at < buttons.length - 1) buttons[at + 1].focus();
      else if (event.key === 'ArrowUp') (at > 0 ? buttons[at - 1] : field).focus();
      else if (event.key === 'Escape') clear(true);
      else return;
      event.preventDefault();
    });
  }

  function clear(focusField) {
    seq += 1;
    clearTimeout(timer);
    $('message-search').value = '';
    $('message-results').hidden = true;
    $('message-results').replaceChildren();
    ctx.render();
    if (focusField) $('message-search').focus();
  }

  /** ``text`` as nodes with every case-insensitive occurrence of the words in <mark>, cut around the first. */
  function snippet(text, words) {
    const flat = text.replace(/\s+/g, ' ');
    const lower = flat.toLowerCase();
    const hits = [];
    for (const word of words) {
      const w = word.toLowerCase();
      for (let at = lower.indexOf(w); at >= 0 && w; at = lower.indexOf(w, at + w.length)) hits.push([at, at + w.length]);
    }
    hits.sort((a, b) => a[0] - b[0]);
    const first = hits.length ? hits[0][0] : 0;
    const start = first > 40 ? first - 30 : 0;
    const end = Math.min(flat.length, start + 140);
    const parts = start ? ['…'] : [];
    let at = start;
    for (const [from, to] of hits) {
      if (from < at || to > end) continue;
      if (from > at) parts.push(flat.slice(at, from));
      parts.push(ctx.h('mark', null, flat.slice(from, to)));
      at = to;
    }
    parts.push(flat.slice(at, end) + (end < flat.length ? '…' : ''));
    return parts;
  }

  function senderName(m) {
    if (ctx.isMine(m)) return 'You';
    const conv = ctx.S.convs.get(m.conversation_id);
    return conv ? ctx.displayName(conv.peer) : 'Someone';
  }

  function chatName(m) {
    const conv = ctx.S.convs.get(m.conversation_id);
    return conv ? ctx.displayName(conv.peer) : '';
  }

  async function run(q) {
    const mine = ++seq;
    let data;
    try {
      data = await ctx.client.search(q, { limit: 30 });
    } catch (err) {
      ctx.showError(err);
      return;
    }
    if (mine !== seq) return;
    // Unknown conversations first, so every result can name its chat.
    const unknown = [...new Set(data.results.map((m) => m.conversation_id))].filter((cid) => !ctx.S.convs.has(cid));
    await Promise.all(unknown.map((cid) => ctx.client.conversation(cid).then(ctx.upsertConversation).catch(() => null)));
    if (mine !== seq) return;
    const words = q.split(/\s+/).filter(Boolean);
    const items = data.results.map((m) => {
      const who = senderName(m);
      const chat = chatName(m);
      return ctx.h(
        'button',
        {
          type: 'button',
          class: 'item found',
          dataset: { msgId: String(m.msg_id), conversationId: String(m.conversation_id) },
          onclick: () => window.ChatModules.reply.jumpTo(m.conversation_id, m.msg_id),
        },
        ctx.h(
          'span',
          { class: 'item-body' },
          ctx.h(
            'span',
            { class: 'item-top' },
            ctx.h('span', { class: 'item-name' }, who === 'You' && chat ? `You → ${chat}` : who),
            ctx.h('time', { class: 'item-time', datetime: m.created_at }, ctx.listTime(m.created_at)),
          ),
          ctx.h('span', { class: 'item-bottom' }, ctx.h('span', { class: 'item-preview found-snippet' }, snippet(m.content, words))),
        ),
      );
    });
    $('message-results').replaceChildren(
      ctx.h('div', { class: 'list-title', id: 'message-results-title' }, 'Messages'),
      ...(items.length ? items : [ctx.h('p', { class: 'empty-search' }, 'No messages found for “', q, '”.')]),
    );
    $('message-results').hidden = false;
    ctx.render();
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { messageSearch: { init } });
})();
