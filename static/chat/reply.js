/*
 * Reply (protocol 1.2): "Reply" puts a quote bar above the composer (Esc or × cancels), the next
 * send carries reply_to, a message shows its quote, and a click on a quote (or a search result)
 * jumps to that message: older history is paged in until it is there, then it is highlighted.
 */
(() => {
  'use strict';

  let ctx = null;
  let replying = null; // {cid, msgId}
  const $ = (id) => document.getElementById(id);

  function init(context) {
    ctx = context;
    $('reply-cancel').addEventListener('click', () => {
      cancel();
      ctx.ui.input.focus();
    });
    ctx.ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && replying) {
        event.preventDefault();
        cancel();
      }
    });
  }

  const quotedText = (m) => (m.status === 'recalled' ? 'Recalled message' : m.content.replace(/\s+/g, ' ').slice(0, 100));
  const whoWrote = (senderId) => (senderId === ctx.S.me.user_id ? 'You' : ctx.displayName(ctx.S.active ? ctx.S.active.peer : null));

  function start(m) {
    replying = { cid: m.conversation_id, msgId: m.msg_id };
    $('reply-name').textContent = `Replying to ${whoWrote(m.sender_id)}`;
    $('reply-preview').textContent = quotedText(m);
    $('reply-bar').hidden = false;
    ctx.ui.input.focus();
  }

  function cancel() {
    replying = null;
    $('reply-bar').hidden = true;
  }

  /** The msg_id the next send replies to (then the bar goes), or null. */
  function take() {
    const active = ctx.S.active;
    const id = replying && active && active.cid === replying.cid ? replying.msgId : null;
    cancel();
    return id;
  }

  /** A chat switched: a quote belongs to its own chat. */
  function render() {
    const active = ctx.S.active;
    if (replying && (!active || active.cid !== replying.cid)) cancel();
  }

  // The quote shows our own copy of the quoted message when we hold it (it may have been edited since).
  function quoteOf(m) {
    const ref = m.reply_to;
    if (!ref) return null;
    const held = ctx.messagesOf(m.conversation_id).get(ref.msg_id);
    return {
      msgId: ref.msg_id,
      senderId: held ? held.sender_id : ref.sender_id,
      text: held ? quotedText(held) : ref.status === 'recalled' ? 'Recalled message' : ref.preview,
    };
  }

  function messageSig(m) {
    const q = quoteOf(m);
    return q ? q.text : '';
  }

  function decorateMessage(node, m, { recalled }) {
    const q = !recalled && quoteOf(m);
    if (!q) return;
    const quote = ctx.h(
      'button',
      {
        type: 'button',
        class: 'quote',
        dataset: { replyTo: String(q.msgId) },
        'aria-label': `Reply to ${whoWrote(q.senderId)}: ${q.text}. Show that message`,
        onclick: () => jumpTo(m.conversation_id, q.msgId),
      },
      ctx.h('span', { class: 'quote-name' }, whoWrote(q.senderId)),
      ctx.h('span', { class: 'quote-text' }, q.text),
    );
    node.querySelector('.bubble').prepend(quote);
  }

  /** Open the chat (if needed), page in older history until ``msgId`` is held, scroll to it, highlight and focus it. */
  async function jumpTo(cid, msgId) {
    const S = ctx.S;
    if (!S.active || S.active.cid !== cid) await ctx.openConversation(cid);
    const hist = ctx.historyOf(cid);
    if (hist.loading) await hist.loading;
    hist.loadingOlder = true; // no scroll-triggered page meanwhile
    try {
      for (let page = 0; !ctx.messagesOf(cid).has(msgId) && hist.hasMore && page < 50; page += 1) {
        await ctx.fetchOlderPage(cid);
      }
    } catch (err) {
      ctx.showError(err);
    } finally {
      hist.loadingOlder = false;
    }
    S.landing = null;
    S.stickBottom = false;
    ctx.render();
    const node = ctx.ui.messageList.querySelector(`.msg[data-msg-id="${msgId}"]`);
    if (!node) {
      ctx.toast('That message is no longer available.', 'info', 4000);
      return;
    }
    node.scrollIntoView({ block: 'center' });
    node.classList.remove('highlight');
    void node.offsetWidth; // restart the highlight's animation
    node.classList.add('highlight');
    setTimeout(() => node.classList.remove('highlight'), 2500);
    if (!node.hasAttribute('tabindex')) node.setAttribute('tabindex', '-1');
    node.focus({ preventScroll: true });
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    reply: { init, start, take, render, decorateMessage, messageSig, jumpTo },
  });
})();
