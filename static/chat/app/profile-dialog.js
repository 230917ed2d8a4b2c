// The user's own profile: the header button (avatar, name) and the dialog that edits the nickname
// and the picture (an address, or a file previewed here and uploaded by Save: profile-picture.js).
import { displayName, fillAvatar, h, initials, safeAvatarUrl, safeHttpUrl } from './dom.js';
import { modules } from './features.js';
import { csrfToken } from './session.js';
import { S, updateMe } from './store.js';
import { errorText, toast } from './toasts.js';

const { profilePicture } = modules;
const AVATAR_PREVIEW_MS = 450; // no image request per keystroke
const $ = (id) => document.getElementById(id);
const ui = {
  meButton: $('me-button'),
  meAvatar: $('me-avatar'),
  meName: $('me-name'),
  dialog: $('profile-dialog'),
  form: $('profile-form'),
  avatar: $('profile-avatar'),
  name: $('profile-name'),
  username: $('profile-username'),
  nickname: $('profile-nickname'),
  avatarUrl: $('profile-avatar-url'),
  avatarFile: $('avatar-file'),
  error: $('profile-error'),
  cancel: $('profile-cancel'),
  save: $('profile-save'),
};

export function renderMe() {
  fillAvatar(ui.meAvatar, S.me);
  // Cut off with an ellipsis when long: the title shows it whole (the text itself stays whole for screen readers).
  ui.meName.textContent = displayName(S.me);
  ui.meName.title = displayName(S.me);
  ui.meButton.title = `${displayName(S.me)} (@${S.me.username}) · edit your profile`;
}

function fieldError(name, text) {
  const node = $(`profile-${name}-error`);
  node.textContent = text || '';
  node.hidden = !text;
}

// The avatar preview follows the URL field only after typing pauses, and only for a plausible address;
// a chosen file is previewed from the file and uploaded only by Save.
let previewUrl = '';
let previewTimer = null;
const picture = profilePicture.pictureDraft(ui.avatarFile, $('avatar-file-status'), () => {
  fieldError('avatar-file', '');
  if (picture.file()) {
    // The file replaces any address: the field empties, and typing one drops the file again.
    clearTimeout(previewTimer);
    ui.avatarUrl.value = '';
  }
  preview();
});

function preview() {
  const draft = { ...S.me, nickname: ui.nickname.value.trim(), avatar_url: previewUrl };
  const local = picture.previewUrl();
  // Same picture: keep the <img> (no new request); initials follow the nickname at once.
  const url = local || safeAvatarUrl(previewUrl);
  const sig = url ? `img:${url}` : `initials:${initials(draft)}`;
  if (ui.avatar.dataset.sig !== sig) {
    ui.avatar.dataset.sig = sig;
    if (local) {
      ui.avatar.classList.add('has-img');
      ui.avatar.replaceChildren(h('img', { alt: '', src: local }));
    } else {
      fillAvatar(ui.avatar, draft);
    }
  }
  ui.name.textContent = displayName(draft);
  ui.username.textContent = '@' + S.me.username;
}

function onAvatarUrlInput() {
  if (picture.file()) picture.clear();
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => {
    const value = ui.avatarUrl.value.trim();
    previewUrl = safeAvatarUrl(value) ? value : '';
    preview();
  }, AVATAR_PREVIEW_MS);
}

function open() {
  if (!S.me) return;
  ui.nickname.value = S.me.nickname || '';
  // An uploaded picture (/media/…) shows as its full http(s) address, as the field's help says.
  ui.avatarUrl.value = profilePicture.absoluteAvatarUrl(S.me.avatar_url);
  clearTimeout(previewTimer);
  picture.clear();
  previewUrl = S.me.avatar_url || '';
  fieldError('nickname', '');
  fieldError('avatar-url', '');
  fieldError('avatar-file', '');
  ui.error.hidden = true;
  preview();
  ui.dialog.showModal();
}

async function save(event) {
  event.preventDefault();
  fieldError('nickname', '');
  fieldError('avatar-url', '');
  fieldError('avatar-file', '');
  ui.error.hidden = true;
  const body = { nickname: ui.nickname.value.trim() };
  const address = ui.avatarUrl.value.trim();
  const file = picture.file();
  // The current picture's address, as shown, is no change (an uploaded one stays uploaded).
  if (!file && address !== profilePicture.absoluteAvatarUrl(S.me.avatar_url)) {
    if (address && !safeHttpUrl(address)) {
      fieldError('avatar-url', 'Must be an http(s) URL.');
      return;
    }
    body.avatar_url = address;
  }
  ui.save.disabled = true;
  try {
    if (file) {
      const uploaded = await profilePicture.uploadPicture(file, csrfToken());
      if (uploaded.error) {
        fieldError('avatar-file', uploaded.error);
        return;
      }
      S.me = uploaded.profile;
    }
    await updateMe(body);
    renderMe();
    ui.dialog.close();
    toast('Profile saved.', 'info', 3000);
  } catch (err) {
    renderMe(); // an uploaded picture stays even when the nickname is refused
    const errors = err.errors || {};
    if (errors.nickname) fieldError('nickname', [].concat(errors.nickname).join(' '));
    if (errors.avatar_url) fieldError('avatar-url', [].concat(errors.avatar_url).join(' '));
    if (!errors.nickname && !errors.avatar_url) {
      ui.error.textContent = errorText(err);
      ui.error.hidden = false;
    }
  } finally {
    ui.save.disabled = false;
  }
}

export function initProfileDialog() {
  ui.meButton.addEventListener('click', open);
  ui.form.addEventListener('submit', save);
  ui.cancel.addEventListener('click', () => ui.dialog.close());
  ui.dialog.addEventListener('close', () => {
    clearTimeout(previewTimer);
    picture.clear(); // Cancel or Esc: the chosen file is forgotten, never uploaded
    ui.meButton.focus();
  });
  ui.nickname.addEventListener('input', preview);
  ui.avatarUrl.addEventListener('input', onAvatarUrlInput);
}
