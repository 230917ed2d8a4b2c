// The classic scripts before chat.js in chat.html register themselves on window.ChatModules: the
// small helpers (navigation, composer keys, profile picture, scroll keeper, unread landing,
// attachments, web push) and the protocol 1.2 views (menu, message actions, reactions, reply, block,
// conversation menu, message search). This is the one place that reads it. Each 1.2 view gets
// ``ctx`` once (chat.js) and may decorate a message node, a list row, or render after the core views.
export const modules = window.ChatModules || {};

const FEATURES = ['messageActions', 'reactions', 'reply', 'block', 'conversationMenu', 'messageSearch']
  .map((name) => modules[name])
  .filter(Boolean);

export function featureHook(hook, ...args) {
  return FEATURES.map((f) => (f[hook] ? f[hook](...args) : null));
}
