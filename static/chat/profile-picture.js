/*
 * The picture chosen in the profile dialog. Choosing a file changes nothing yet: the dialog
 * previews it from the file itself (an object URL, never sent anywhere), and only Save uploads
 * it (POST /api/v1/me/avatar), so Cancel leaves the profile as it was and peers never see a
 * picture before it is saved. No socket here; the DOM only through the nodes it is given.
 */
(() => {
  'use strict';

  /** ``fileInput`` the dialog's <input type=file>; ``status`` a node saying what was chosen; ``onChange`` re-renders the preview. */
  function pictureDraft(fileInput, status, onChange) {
    let previewUrl = null;

    const file = () => fileInput.files[0] || null;

    function release() {
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = null;
    }

    function describe() {
      const chosen = file();
      status.textContent = chosen ? `${chosen.name}: becomes your picture when you save.` : '';
      status.hidden = !chosen;
    }

    fileInput.addEventListener('change', () => {
      release();
      if (file()) previewUrl = URL.createObjectURL(file());
      describe();
      onChange();
    });

    /** Forget the chosen file (the dialog opens, closes, or an address is typed instead). */
    function clear() {
      fileInput.value = '';
      release();
      describe();
    }

    return { file, clear, previewUrl: () => previewUrl };
  }

  /** Upload ``file`` as the user's avatar: ``{profile}`` or ``{error}`` (a sentence for the dialog). */
  async function uploadPicture(file, csrfToken) {
    const form = new FormData();
    form.append('avatar', file);
    let response;
    try {
      response = await fetch('/api/v1/me/avatar', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-CSRFToken': csrfToken },
        body: form,
      });
    } catch {
      return { error: 'The server cannot be reached; check your connection.' };
    }
    const data = await response.json().catch(() => null);
    if (response.ok) return { profile: data };
    const errors = (data && data.errors && data.errors.avatar) || [];
    return { error: [].concat(errors).join(' ') || (data && data.detail) || 'The picture could not be uploaded.' };
  }

  /** An uploaded picture's address (/media/…) as the absolute http(s) URL the address field shows. */
  const absoluteAvatarUrl = (value) => (value && value.startsWith('/media/') ? new URL(value, window.location.origin).href : value || '');

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    profilePicture: { pictureDraft, uploadPicture, absoluteAvatarUrl },
  });
})();
