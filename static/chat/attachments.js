/*
 * Attachments in the browser (PROTOCOL.md 1.2): the composer's upload tray and the files in messages.
 *
 * The tray takes files from the attach button, a drop on the chat or a pasted screenshot; a file
 * over the server's limit is refused here, before any byte is sent. Each upload is an
 * XMLHttpRequest to POST /api/v1/attachments (XHR, not fetch: upload progress) with a progress bar
 * and a Cancel button. A send takes the tray's uploads (handOff) and waits for them.
 *
 * In a message, an image is its thumbnail, a button that opens the full-size view (a dialog: Esc or
 * Close shut it, focus returns to the thumbnail); a file is a card with its name, size and a
 * download link. Every text is set as text (textContent, attributes): never as HTML.
 */
(() => {
  'use strict';

  const UPLOAD_URL = '/api/v1/attachments';

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) if (child) node.append(child);
    return node;
  }

  /** "183 KB", "2.4 MB": decimal units, as file managers show them. */
  function formatSize(bytes) {
    if (bytes < 1000) return `${bytes} B`;
    const units = ['KB', 'MB', 'GB'];
    let value = bytes / 1000;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
  }

  /** The list preview of a message without text: "📷 Photo", "📷 3 photos", "📎 minutes.pdf". */
  function previewText(m) {
    const files = m.attachments || [];
    if (!files.length) return '';
    const images = files.filter((a) => a.kind === 'image').length;
    if (images === files.length) return images === 1 ? '📷 Photo' : `📷 ${images} photos`;
    const first = files.find((a) => a.kind !== 'image');
    return files.length === 1 ? `📎 ${first.name}` : `📎 ${first.name} and ${files.length - 1} more`;
  }

  // ----------------------------------------------------------------- the tray --

  /**
   * ``container``: where the uploads are listed; ``maxBytes``: the server's limit; ``csrf()``: the
   * token; ``onChange()``: the tray changed (the composer may enable Send).
   */
  function createTray({ container, maxBytes, csrf, onChange }) {
    let items = [];
    let nextId = 1;

    function changed() {
      container.hidden = items.length === 0;
      if (onChange) onChange();
    }

    function remove(item) {
      items = items.filter((i) => i !== item);
      item.node.remove();
      changed();
    }

    function add(files) {
      for (const file of files) {
        const name = file.name || 'pasted image.png';
        const item = { id: nextId++, name, file, state: 'uploading', attachment: null, error: null, xhr: null };
        unsettle(item);
        const label = el('span', { class: 'upload-name', text: `${name} · ${formatSize(file.size)}` });
        const status = el('span', { class: 'upload-status', text: '' });
        const bar = el('progress', { class: 'upload-progress', max: '100', value: '0', 'aria-label': `Uploading ${name}` });
        const cancel = el(
          'button',
          { type: 'button', class: 'link-button upload-cancel', 'aria-label': `Cancel ${name}`, onclick: () => cancelItem(item) },
          'Cancel',
        );
        item.node = el('li', { class: 'upload', 'data-state': 'uploading' }, label, status, cancel, bar);
        item.bar = bar;
        item.status = status;
        item.cancel = cancel;
        container.querySelector('ul').append(item.node);
        items.push(item);
        if (file.size > maxBytes) {
          // Refused before uploading: the server would answer 413 after the whole body.
          fail(item, `Too big to send: ${formatSize(file.size)}; the limit is ${formatSize(maxBytes)}.`);
        } else if (file.size === 0) {
          fail(item, 'The file is empty.');
        } else {
          upload(item, file, name);
        }
      }
      changed();
    }

    /** A new promise for the item's outcome (a retried upload settles again). */
    function unsettle(item) {
      item.settled = new Promise((resolve) => {
        item.resolve = resolve;
      });
    }

    function upload(item, file, name) {
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open('POST', UPLOAD_URL);
      xhr.setRequestHeader('X-CSRFToken', csrf());
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.responseType = 'json';
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) item.bar.value = Math.round((event.loaded / event.total) * 100);
      });
      xhr.addEventListener('load', () => {
        if (xhr.status === 201 && xhr.response) {
          item.state = 'done';
          item.attachment = xhr.response;
          item.bar.value = 100;
          item.node.dataset.state = 'done';
          item.status.textContent = 'Ready';
          item.cancel.textContent = 'Remove';
          item.cancel.setAttribute('aria-label', `Remove ${item.name}`);
          item.resolve(item);
          changed();
        } else {
          const body = xhr.response || {};
          const detail = xhr.status === 413 ? 'Too big to send.' : body.detail || `Upload failed (${xhr.status}).`;
          // The server's trouble (5xx) or a rate limit may pass: those can be tried again.
          fail(item, detail, xhr.status >= 500 || xhr.status === 429);
        }
      });
      xhr.addEventListener('error', () => fail(item, 'Upload failed: the server cannot be reached.', true));
      xhr.addEventListener('abort', () => {
        item.state = 'cancelled';
        item.resolve(item);
      });
      const form = new FormData();
      form.append('file', file, name);
      xhr.send(form);
    }

    /** A failed upload says why; one that may pass (the network, the server's 5xx) offers Retry. */
    function fail(item, message, retryable = false) {
      item.state = 'failed';
      item.error = message;
      item.node.dataset.state = 'failed';
      item.bar.hidden = true;
      item.status.textContent = message;
      item.status.setAttribute('role', 'alert');
      item.cancel.textContent = 'Dismiss';
      item.cancel.setAttribute('aria-label', `Dismiss ${item.name}`);
      if (retryable) {
        item.retry = el(
          'button',
          { type: 'button', class: 'link-button upload-retry', 'aria-label': `Retry ${item.name}`, onclick: () => retryItem(item) },
          'Retry',
        );
        item.cancel.before(item.retry);
      }
      item.resolve(item);
      changed();
    }

    /** The same file uploaded again; it can go with the next send (a send that gave up on it went without). */
    function retryItem(item) {
      item.retry.remove();
      item.retry = null;
      item.state = 'uploading';
      item.error = null;
      item.node.dataset.state = 'uploading';
      delete item.node.dataset.handed;
      item.bar.hidden = false;
      item.bar.value = 0;
      item.status.textContent = '';
      item.status.removeAttribute('role');
      item.cancel.textContent = 'Cancel';
      item.cancel.setAttribute('aria-label', `Cancel ${item.name}`);
      item.cancel.focus(); // the Retry button that had the focus is gone
      unsettle(item);
      upload(item, item.file, item.name);
      changed();
    }

    function cancelItem(item) {
      if (item.state === 'uploading' && item.xhr) item.xhr.abort();
      item.state = 'cancelled';
      item.resolve(item);
      remove(item);
    }

    /** Uploads a send may carry: uploading or done. */
    function usable() {
      return items.filter((i) => i.state === 'uploading' || i.state === 'done');
    }

    /**
     * The uploads go with a message: a promise of their Attachments once every one finished
     * (a cancelled or failed one left out); they leave the tray once settled.
     */
    function handOff() {
      const taken = usable();
      for (const item of taken) {
        item.node.dataset.handed = 'true';
        if (item.state === 'uploading') item.status.textContent = 'Sending when uploaded…';
      }
      return Promise.all(taken.map((i) => i.settled)).then((settled) => {
        for (const item of taken) if (item.state !== 'failed') remove(item);
        return settled.filter((i) => i.state === 'done').map((i) => i.attachment);
      });
    }

    container.hidden = true;
    return { add, handOff, hasUsable: () => usable().some((i) => !i.node.dataset.handed) };
  }

  // -------------------------------------------------------- files into the tray --

  /** Files dropped anywhere on ``target`` (a class while a drag is over it). */
  function bindDrop(target, onFiles) {
    let depth = 0;
    const hasFiles = (event) => Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes('Files');
    target.addEventListener('dragenter', (event) => {
      if (!hasFiles(event)) return;
      depth += 1;
      target.classList.add('drop-target');
    });
    target.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) target.classList.remove('drop-target');
    });
    target.addEventListener('dragover', (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
    target.addEventListener('drop', (event) => {
      depth = 0;
      target.classList.remove('drop-target');
      const files = Array.from((event.dataTransfer && event.dataTransfer.files) || []);
      if (!files.length) return;
      event.preventDefault();
      onFiles(files);
    });
  }

  /** Files pasted into ``target`` (a screenshot from the clipboard); text pastes as text. */
  function bindPaste(target, onFiles) {
    target.addEventListener('paste', (event) => {
      const data = event.clipboardData;
      if (!data) return;
      const files = Array.from(data.files || []);
      if (!files.length) {
        for (const entry of Array.from(data.items || [])) {
          if (entry.kind === 'file') {
            const file = entry.getAsFile();
            if (file) files.push(file);
          }
        }
      }
      if (!files.length) return;
      event.preventDefault();
      onFiles(files);
    });
  }

  // ------------------------------------------------------------ in a message --

  function createViewer(dialog) {
    const image = dialog.querySelector('img');
    const caption = dialog.querySelector('.viewer-caption');
    const download = dialog.querySelector('a');
    let opener = null;
    dialog.addEventListener('close', () => {
      image.removeAttribute('src');
      if (opener && opener.isConnected) opener.focus();
      opener = null;
    });
    dialog.querySelector('.viewer-close').addEventListener('click', () => dialog.close());
    // A click on the backdrop (the dialog itself, outside its content) closes it too.
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
    return function open(attachment, from) {
      opener = from;
      image.src = attachment.url;
      image.alt = attachment.name;
      caption.textContent = `${attachment.name} · ${attachment.width}×${attachment.height}`;
      download.href = attachment.url;
      download.setAttribute('download', attachment.name);
      dialog.showModal();
      dialog.querySelector('.viewer-close').focus();
    };
  }

  /** The nodes of a message's attachments; ``openImage(attachment, button)`` shows one full size. */
  function attachmentNodes(attachments, openImage) {
    if (!attachments || !attachments.length) return null;
    const list = el('div', { class: 'msg-attachments' });
    for (const a of attachments) {
      if (a.kind === 'image' && a.thumbnail_url) {
        const button = el(
          'button',
          { type: 'button', class: 'attachment-thumb', 'aria-label': `Open ${a.name} full size`, 'data-attachment-id': a.attachment_id },
          el('img', { src: a.thumbnail_url, alt: a.name, loading: 'lazy', width: thumbSize(a)[0], height: thumbSize(a)[1] }),
        );
        button.addEventListener('click', () => openImage(a, button));
        list.append(button);
      } else {
        list.append(
          el(
            'div',
            { class: 'attachment-file', 'data-attachment-id': a.attachment_id },
            el('span', { class: 'attachment-icon', 'aria-hidden': 'true', text: '📎' }),
            el(
              'span',
              { class: 'attachment-meta' },
              el('span', { class: 'attachment-name', text: a.name }),
              el('span', { class: 'attachment-size', text: formatSize(a.size) }),
            ),
            el('a', { class: 'attachment-download', href: a.url, download: a.name, 'aria-label': `Download ${a.name}` }, 'Download'),
          ),
        );
      }
    }
    return list;
  }

  /** The thumbnail's box (at most 240 px a side on screen), so the list does not jump as it loads. */
  function thumbSize(a) {
    const side = 240;
    const w = a.width || side;
    const hgt = a.height || side;
    const scale = Math.min(1, side / Math.max(w, hgt));
    return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(hgt * scale))];
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, {
    attachments: { createTray, bindDrop, bindPaste, createViewer, attachmentNodes, previewText, formatSize },
  });
})();
