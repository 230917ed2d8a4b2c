/*
 * Keeping the reader's place in the message pane while older messages are put in above it, and
 * keeping keyboard focus off <body> when the control that had it goes away. Pure DOM helpers.
 */
(() => {
  'use strict';

  // Messages are found again by id: a re-render may replace a message's node (its grouping changed).
  const byId = (list, id) => (id ? list.querySelector(`.msg[data-msg-id="${id}"]`) : null);

  /** The first message at least partly in view in ``pane`` (and the first of all in ``list``), with its position. */
  function anchorIn(pane, list) {
    const paneTop = pane.getBoundingClientRect().top;
    const nodes = list.querySelectorAll('.msg[data-msg-id]');
    for (const node of nodes) {
      const rect = node.getBoundingClientRect();
      if (rect.bottom > paneTop) return { list, id: node.dataset.msgId, top: rect.top, firstId: nodes[0].dataset.msgId };
    }
    return null;
  }

  /** Scroll ``pane`` so the anchor's message is where it was on screen before the DOM changed. */
  function restore(pane, anchor) {
    const node = anchor && byId(anchor.list, anchor.id);
    if (node) pane.scrollTop += node.getBoundingClientRect().top - anchor.top;
  }

  /** The message that was the oldest shown when the anchor was taken (now re-rendered), or null. */
  const firstOf = (anchor) => (anchor ? byId(anchor.list, anchor.firstId) : null);

  /** Focus ``node`` (made focusable from script only) without scrolling, or ``fallback`` when it is gone. */
  function focusQuietly(node, fallback) {
    const target = node && node.isConnected ? node : fallback;
    if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
    target.focus({ preventScroll: true });
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { scrollKeeper: { anchorIn, restore, firstOf, focusQuietly } });
})();
