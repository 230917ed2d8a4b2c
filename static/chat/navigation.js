/*
 * Chat and list as browser history: opening a chat from the list adds one history entry
 * (pushState), switching chats replaces it, so Back (a phone's above all) returns to the list
 * inside the page: no reload, no trip through /login/, the socket stays up.
 * No DOM and no socket here; chat.js says what to do on popstate.
 */
(() => {
  'use strict';

  const listUrl = () => window.location.pathname + window.location.search;
  const chatOf = (state) => (state && state.chat !== undefined ? state.chat : null);

  /** Is the current history entry a chat (one this page pushed)? */
  const inChat = () => chatOf(window.history.state) !== null;

  /** A chat is open: ``cid`` a conversation id, or null for a new conversation with no id yet. */
  function openedChat(cid) {
    const state = { chat: cid === null ? 'new' : cid };
    const url = cid === null ? listUrl() : `#c${cid}`;
    if (inChat()) window.history.replaceState(state, '', url);
    else window.history.pushState(state, '', url);
  }

  /** Leave the chat the way Back does (the popstate handler closes it); false if no entry was pushed. */
  function backToList() {
    if (!inChat()) return false;
    window.history.back();
    return true;
  }

  /** The list's own entry: no chat in the address. */
  function showList() {
    if (inChat() || window.location.hash) window.history.replaceState(null, '', listUrl());
  }

  /** The conversation id in the address (#c123) when the page loads, or null. */
  function chatInAddress() {
    const match = /^#c(\d+)$/.exec(window.location.hash);
    return match ? Number(match[1]) : null;
  }

  /** Back and Forward: ``openChat(cid)`` for a chat entry, ``closeChat()`` for the list. */
  function onNavigate(openChat, closeChat) {
    window.addEventListener('popstate', (event) => {
      const chat = chatOf(event.state);
      if (typeof chat === 'number') openChat(chat);
      else closeChat();
    });
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    navigation: { openedChat, backToList, showList, chatInAddress, onNavigate },
  });
})();
