// The connection as the user sees it: the status line under their name (#conn-status, also
// body[data-ws]), the banner over an open chat while the connection is down, and the
// "signed out" notice. Driven by the ChatClient's state and retry events.
import { ClientCode } from '../../sdk/index.js';
import { dismissToast } from './toasts.js';

const status = document.getElementById('conn-status');
const banner = document.getElementById('banner');
const sessionEnded = document.getElementById('session-ended');

let connectedOnce = false;
let countdown = null;

function show(state, text) {
  document.body.dataset.ws = state;
  status.dataset.state = state;
  status.textContent = text;
  status.title = text; // one line, cut off with an ellipsis when the sidebar is narrow
  if (state === 'ready') {
    banner.hidden = true;
  } else if (connectedOnce) {
    banner.hidden = false;
    banner.textContent = state === 'connecting' ? 'Reconnecting…' : text;
  }
}

function stopCountdown() {
  clearInterval(countdown);
  countdown = null;
}

/** "Offline · retrying in N s", counting down to the next attempt, then "Reconnecting…". */
function retryIn(delay) {
  stopCountdown();
  const until = Date.now() + delay;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    if (left > 0) {
      show('offline', `Offline · retrying in ${left} s`);
    } else {
      stopCountdown();
      show('connecting', connectedOnce ? 'Reconnecting…' : 'Connecting…');
    }
  };
  tick();
  countdown = setInterval(tick, 1000);
}

/**
 * Follow ``client``; ``onChange`` runs when it connects or loses the connection (presence and
 * typing are shown only while connected); ``onSignedOut`` on a 4401 close.
 */
export function followConnection(client, { onChange, onSignedOut }) {
  client.on('state', ({ state, code }) => {
    if (state === 'connected') {
      stopCountdown();
      connectedOnce = true;
      show('ready', 'Online');
    } else if (state === 'connecting' && code === ClientCode.CONNECT) {
      stopCountdown();
      show('connecting', connectedOnce ? 'Reconnecting…' : 'Connecting…');
    } else if (state === 'disconnected' && code === 4401) {
      // Deactivated, token revoked or logged out elsewhere: reconnecting cannot help.
      onSignedOut();
    }
    // disconnected by the page itself (leaving it, or reconnecting at once): the next state says more.
    onChange();
  });
  client.on('retry', ({ delay }) => retryIn(delay));
}

/** Signed out (4401 on the socket, 401 from REST): say so and offer to log in again. */
export function showSignedOut() {
  stopCountdown();
  const link = sessionEnded.querySelector('a');
  link.href = '/login/?next=' + encodeURIComponent('/' + window.location.hash);
  sessionEnded.hidden = false;
  dismissToast();
  show('closed', 'Signed out');
  link.focus();
}
