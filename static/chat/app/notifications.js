// Telling the user about new messages: one bell (#notify-toggle) and the sound toggle.
//
// The bell turns notifications on or off as a whole: while the tab is open but hidden, the page
// shows them itself; where the browser can do Web Push, the same click subscribes it
// (web-push.js, push/subscriptions), so they also come while Chat is closed. Permission is
// asked only from a click on the bell; the choices are kept per user in localStorage.
import { displayName } from './dom.js';
import { modules } from './features.js';
import { S, ensureConversation } from './store.js';
import { toast } from './toasts.js';

const { webPush } = modules;
const bell = document.getElementById('notify-toggle');
const soundToggle = document.getElementById('sound-toggle');
const prefs = { notify: false, sound: false };
const prefKey = (name) => `chat:${S.me ? S.me.user_id : 0}:${name}`;
let permission = 'Notification' in window ? window.Notification.permission : 'denied';
let pushNote = ''; // why notifications do not come while Chat is closed, when they do not
let busy = false;
let audio = null;
let openChat = () => {};
let client = null;

function savePref(name) {
  try {
    localStorage.setItem(prefKey(name), prefs[name] ? '1' : '0');
  } catch {
    /* the choice just lasts this page */
  }
  renderToggles();
}

const notifying = () => prefs.notify && permission === 'granted';

function renderToggles() {
  const on = notifying();
  bell.setAttribute('aria-pressed', String(on));
  bell.title = on ? `Notifications: on${pushNote ? ` (${pushNote})` : ''}` : 'Notifications: off';
  soundToggle.setAttribute('aria-pressed', String(prefs.sound));
  soundToggle.title = prefs.sound ? 'Sound for new messages: on' : 'Sound for new messages: off';
}

/** Subscribe this browser to Web Push; a failure leaves the in-tab notifications on and says why. */
async function startPush() {
  if (!webPush || !webPush.supported) {
    pushNote = 'only while Chat is open';
    return;
  }
  try {
    const subscription = await webPush.subscribe(await client.pushKey());
    await client.subscribePush(subscription);
    pushNote = '';
  } catch (error) {
    pushNote = `only while Chat is open: ${error.detail || error.message}`;
  }
}

async function stopPush() {
  if (!webPush) return;
  try {
    const endpoint = await webPush.unsubscribe();
    if (endpoint) await client.unsubscribePush(endpoint);
  } catch {
    /* the push service drops a subscription the browser gave up, and the server then forgets it */
  }
}

async function toggleNotifications() {
  if (busy) return;
  if (!('Notification' in window)) {
    toast('This browser cannot show notifications.', 'info', 5000);
    return;
  }
  busy = true;
  bell.setAttribute('aria-busy', 'true');
  try {
    if (notifying()) {
      prefs.notify = false;
      await stopPush();
      savePref('notify');
      return;
    }
    if (permission !== 'granted') {
      try {
        permission = await window.Notification.requestPermission();
      } catch {
        permission = 'denied';
      }
    }
    prefs.notify = permission === 'granted';
    savePref('notify');
    if (!prefs.notify) {
      toast('Notifications are blocked for this site: allow them in the browser’s site settings.', 'info', 8000);
      return;
    }
    await startPush();
    renderToggles();
  } finally {
    busy = false;
    bell.removeAttribute('aria-busy');
  }
}

function toggleSound() {
  prefs.sound = !prefs.sound;
  savePref('sound');
  if (prefs.sound) beep(); // a sample, and the click lets the AudioContext start
}

/** A short generated tone (WebAudio); no sound file. */
function beep() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = audio || new Context();
    if (audio.state === 'suspended') audio.resume();
    const t = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1175, t + 0.09);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.12, t + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.32);
  } catch {
    /* no audio output: stay silent */
  }
}

/** A new message from someone else arrived live: notify if the tab is hidden, beep if wanted. */
export async function alertIncoming(m) {
  const conv = await ensureConversation(m.conversation_id).catch(() => null);
  if (conv && conv.muted) return; // muted: no sound, no notification
  const hidden = document.visibilityState !== 'visible';
  const open = S.active && S.active.cid === m.conversation_id;
  if (prefs.sound && (hidden || !open)) beep();
  if (!hidden || !notifying()) return;
  const icon = document.querySelector('link[rel="icon"]');
  const text = m.content || (modules.attachments ? modules.attachments.previewText(m) : '');
  try {
    const note = new window.Notification(displayName(conv && conv.peer), {
      body: text.length > 140 ? text.slice(0, 139) + '…' : text,
      tag: `chat-c${m.conversation_id}`,
      icon: icon ? icon.href : undefined,
    });
    note.onclick = () => {
      window.focus();
      openChat(m.conversation_id);
      note.close();
    };
  } catch {
    /* some browsers only notify from a service worker: the title count still tells */
  }
}

/** Read the user's choices (S.me is known); a push subscription this browser already has counts as on. */
export async function initNotifications(chatClient, openConversation) {
  client = chatClient;
  openChat = openConversation;
  bell.addEventListener('click', toggleNotifications);
  soundToggle.addEventListener('click', toggleSound);
  try {
    prefs.notify = localStorage.getItem(prefKey('notify')) === '1';
    prefs.sound = localStorage.getItem(prefKey('sound')) === '1';
  } catch {
    /* storage disabled: both stay off */
  }
  renderToggles();
  if (webPush && permission === 'granted' && (await webPush.current())) {
    prefs.notify = true;
    renderToggles();
  }
}
