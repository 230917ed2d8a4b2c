// The toast: one at a time in one aria-live region (#toasts); a repeated message counts up ("×3")
// instead of stacking. Errors offer Retry only when the same request can succeed later.
import { h } from './dom.js';

// Worth retrying: never validation_error, not_found, forbidden.
export const RETRYABLE = new Set(['network_error', 'unavailable', 'rate_limited']);

const region = document.getElementById('toasts');
const current = { node: null, key: '', count: 0, timer: null, retry: null };

export function dismissToast() {
  clearTimeout(current.timer);
  if (current.node) current.node.remove();
  current.node = null;
  current.key = '';
  current.retry = null;
}

/** Show ``text``; ``retry`` (a function) adds a Retry button: only for what can succeed later. */
export function toast(text, kind = 'error', ms = 7000, retry = null) {
  const key = `${kind}|${text}`;
  clearTimeout(current.timer);
  if (current.node && current.node.isConnected && current.key === key) {
    current.count += 1;
    const counter = current.node.querySelector('.toast-count');
    counter.textContent = `×${current.count}`;
    counter.hidden = false;
  } else {
    current.count = 1;
    current.key = key;
    current.node = h(
      'div',
      { class: `toast toast-${kind}`, dataset: { kind } },
      h('span', { class: 'toast-text' }, text),
      h('span', { class: 'toast-count', hidden: true }),
      h('button', {
        type: 'button',
        class: 'toast-retry',
        hidden: true,
        onclick: () => {
          const again = current.retry;
          dismissToast();
          if (again) again();
        },
      }, 'Retry'),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: dismissToast }, h('span', { 'aria-hidden': 'true' }, '×')),
    );
    region.replaceChildren(current.node);
  }
  current.retry = retry;
  current.node.querySelector('.toast-retry').hidden = !retry;
  current.timer = setTimeout(dismissToast, retry ? Math.max(ms, 12000) : ms);
}

/** One line from a ChatError (a REST error body or an error frame: {code, detail, errors?}). */
export function errorText(err) {
  if (err.code === 'network_error') return 'The server cannot be reached; check your connection.';
  if (err.status && err.detail === err.code) return `The server answered ${err.status}.`; // a body that was not JSON
  let text = err.detail || err.message || `Something went wrong (${err.code || 'error'}).`;
  if (err.errors && typeof err.errors === 'object') {
    const extra = [];
    for (const [field, messages] of Object.entries(err.errors)) {
      for (const message of [].concat(messages)) {
        if (message !== text) extra.push(field === 'non_field_errors' ? message : `${field}: ${message}`);
      }
    }
    if (extra.length) text += ' ' + extra.join(' ');
  }
  return text;
}

/** Toast an error; a Retry button only when ``retry`` is given and the error can clear up by itself. */
export function showError(err, retry = null) {
  console.warn(err);
  const e = err || {};
  toast(errorText(e), 'error', 7000, retry && RETRYABLE.has(e.code) ? retry : null);
}
