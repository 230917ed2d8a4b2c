/*
 * Opening a chat with unread messages: where the first unread one is, and what "seen" means on
 * screen. The view puts an "Unread messages" divider above that message and lands with it in view;
 * only the messages then actually on screen count as read (chat.js sends `read` up to the newest
 * of them). Pure functions over messages and DOM geometry: no state, no socket.
 */
(() => {
  'use strict';

  /**
   * The msg_id of the first unread message among ``messages`` (a conversation's, any order): the
   * ``unread``-th newest received message that is not recalled (recalled ones never count as unread).
   * null while older history not loaded yet (``hasMore``) may hold it; the oldest received one when
   * the count says more than there are.
   */
  function firstUnreadId(messages, unread, isMine, hasMore) {
    if (unread <= 0) return null;
    const received = messages.filter((m) => !isMine(m) && m.status === 'normal').sort((a, b) => b.msg_id - a.msg_id);
    if (received.length >= unread) return received[unread - 1].msg_id;
    if (hasMore) return null;
    return received.length ? received[received.length - 1].msg_id : null;
  }

  /** Scroll ``pane`` so ``node`` sits just below its top edge (as far as the pane can scroll). */
  function scrollToTop(pane, node, margin = 8) {
    pane.scrollTop += node.getBoundingClientRect().top - pane.getBoundingClientRect().top - margin;
  }

  /** Is ``node`` on screen now: at least half of it in ``pane``, or filling half the pane (a tall one)? */
  function mostlyInView(pane, node) {
    const view = pane.getBoundingClientRect();
    const rect = node.getBoundingClientRect();
    const shown = Math.min(rect.bottom, view.bottom) - Math.max(rect.top, view.top);
    return shown > 0 && (shown >= rect.height / 2 - 0.5 || shown >= view.height / 2);
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    unreadLanding: { firstUnreadId, scrollToTop, mostlyInView },
  });
})();
