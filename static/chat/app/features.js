// The protocol 1.2 views (menu.js, message-actions.js, reactions.js, reply.js, block.js,
// conversation-menu.js, message-search.js) are classic scripts on window.ChatModules: each gets
// ``ctx`` once and may decorate a message node, a list row, or render after the core views.
const FEATURES = ['messageActions', 'reactions', 'reply', 'block', 'conversationMenu', 'messageSearch']
  .map((name) => (window.ChatModules || {})[name])
  .filter(Boolean);

export const modules = window.ChatModules || {};

export function featureHook(hook, ...args) {
  return FEATURES.map((f) => (f[hook] ? f[hook](...args) : null));
}
