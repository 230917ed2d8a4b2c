// Building blocks of every view: elements, avatars, names, times and linked text. No state.
//
// Safety rule: every piece of user text reaches the DOM through text nodes (textContent /
// append(string)); nothing here ever assigns innerHTML. Avatar and link URLs are used only when
// they parse as http(s).

/** Build an element. Strings among the children become text nodes, never HTML. */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function svgIcon(path) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', path);
  svg.append(p);
  return svg;
}

/** Replace a container's children only when the node sequence changed (keeps nodes, focus and selection). */
export function syncChildren(container, nodes) {
  const current = container.children;
  let same = current.length === nodes.length;
  for (let i = 0; same && i < nodes.length; i += 1) same = current[i] === nodes[i];
  if (!same) container.replaceChildren(...nodes);
}

/** Text ending in exactly one sentence mark: "with Dave D." stays "with Dave D.", never "D..". */
export function sentence(text) {
  return /[.!?…]$/.test(text) ? text : text + '.';
}

/** The URL if it is an absolute http(s) URL, else null. */
export function safeHttpUrl(value) {
  if (typeof value !== 'string' || !value) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** An avatar address worth loading: an http(s) URL with a plausible host, or a /media/ path here. */
export function safeAvatarUrl(value) {
  if (typeof value !== 'string' || !value) return null;
  if (value.startsWith('/media/') && !value.startsWith('/media//')) return new URL(value, window.location.origin).href;
  const href = safeHttpUrl(value);
  if (!href) return null;
  const host = new URL(href).hostname;
  return host === 'localhost' || host.includes('.') || host.startsWith('[') ? href : null;
}

export const displayName = (p) => (p && (p.nickname || p.username)) || 'Unknown';
export const codePoints = (text) => [...text].length;

export function initials(p) {
  // First letters of the first two words that start with a letter or digit (no emoji halves).
  const words = displayName(p).split(/\s+/).filter((word) => /^[\p{L}\p{N}]/u.test(word));
  return words.slice(0, 2).map((word) => [...word][0]).join('').toUpperCase() || '?';
}

export function fillAvatar(box, p) {
  box.replaceChildren();
  box.style.setProperty('--hue', String(((p && p.user_id) || 0) * 47 % 360));
  const fallback = () => {
    box.classList.remove('has-img');
    box.replaceChildren(h('span', { class: 'initials' }, initials(p)));
  };
  const url = safeAvatarUrl(p && p.avatar_url);
  if (url) {
    const img = h('img', { alt: '', src: url, referrerpolicy: 'no-referrer', decoding: 'async' });
    img.addEventListener('error', fallback, { once: true });
    box.classList.add('has-img');
    box.append(img);
  } else {
    fallback();
  }
}

/** fillAvatar, only when the picture or the name changed (no new image request per render). */
export function fillAvatarOnce(box, p) {
  const sig = JSON.stringify([p.user_id, p.nickname, p.username, p.avatar_url]);
  if (box.dataset.sig !== sig) {
    box.dataset.sig = sig;
    fillAvatar(box, p);
  }
}

export function avatar(p, extraClass) {
  const box = h('span', { class: 'avatar' + (extraClass ? ' ' + extraClass : ''), 'aria-hidden': 'true' });
  fillAvatar(box, p);
  return box;
}

/** An avatar with the green dot when ``online`` (what the socket says: see presence.js). */
export function avatarWithDot(p, online) {
  return h(
    'span',
    { class: 'avatar-wrap' + (p && p.is_active === false ? ' inactive' : '') },
    avatar(p),
    online ? h('span', { class: 'online-dot', title: 'Online' }, h('span', { class: 'sr-only' }, 'online')) : null,
  );
}

export const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const longDateFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

export function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

const daysAgo = (date) => Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);

/** "Last seen 5 min ago" from a Profile's last_seen (null: never connected, or unknown). */
export function lastSeenText(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return 'Offline';
  const minutes = Math.floor((Date.now() - date.getTime()) / 60000);
  if (minutes < 1) return 'Last seen just now';
  if (minutes < 60) return `Last seen ${minutes} min ago`;
  const days = daysAgo(date);
  if (days === 0) return `Last seen today at ${timeFormat.format(date)}`;
  if (days === 1) return `Last seen yesterday at ${timeFormat.format(date)}`;
  return `Last seen ${shortDateFormat.format(date)}`;
}

export function listTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const days = daysAgo(date);
  if (days <= 0) return timeFormat.format(date);
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekdayFormat.format(date);
  return shortDateFormat.format(date);
}

export function dayLabel(date) {
  const days = daysAgo(date);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return longDateFormat.format(date);
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;

/** Text with http(s) links as <a> elements; everything else stays plain text nodes. */
export function richText(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = match[0].replace(/[.,!?;:)\]}]+$/, '');
    const href = safeHttpUrl(raw);
    if (!href) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, raw));
    last = match.index + raw.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
