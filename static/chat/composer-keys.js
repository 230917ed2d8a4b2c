/*
 * What Enter does in the composer. With a keyboard (a fine pointer) Enter sends and Shift+Enter
 * starts a new line; on a touch screen (a coarse pointer) a phone keyboard has no Shift+Enter, so
 * Enter starts a new line and the send button sends. No DOM beyond the hint it is given.
 */
(() => {
  'use strict';

  const coarse = window.matchMedia('(pointer: coarse)');

  const enterSends = () => !coarse.matches;

  /** Keep the composer's hint and the send button's title true to the device (it can change: a tablet's keyboard). */
  function describeKeys(hint, sendButton) {
    const apply = () => {
      hint.textContent = enterSends() ? 'Enter to send · Shift+Enter for a new line' : 'Enter for a new line · the arrow button sends';
      sendButton.title = enterSends() ? 'Send (Enter)' : 'Send';
    };
    apply();
    coarse.addEventListener('change', apply);
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { composerKeys: { enterSends, describeKeys } });
})();
