/*
 * A small popup menu for the 1.2 views (message actions, the emoji picker, a conversation's
 * settings): role="menu" with menuitem buttons, arrow keys (both axes), Home/End, Escape and a
 * click outside close it, and focus goes back to the button that opened it. Text only via
 * textContent; the caller says what each item does.
 */
(() => {
  'use strict';

  let open = null; // {menu, opener, onKey, onPointer}

  function close(returnFocus = true) {
    if (!open) return;
    const { menu, opener, onPointer } = open;
    open = null;
    document.removeEventListener('pointerdown', onPointer, true);
    menu.remove();
    opener.setAttribute('aria-expanded', 'false');
    if (returnFocus && opener.isConnected) opener.focus();
  }

  /**
   * Open a menu under ``opener``. ``items``: [{text, label?, pressed?, onSelect, className?}];
   * ``options``: {label, className}. onSelect runs after the menu closed and focus went back.
   */
  function openMenu(opener, items, options = {}) {
    const wasOpen = open && open.opener === opener;
    close(false);
    if (wasOpen) {
      opener.focus();
      return null;
    }
    const menu = document.createElement('div');
    menu.className = 'popup-menu' + (options.className ? ' ' + options.className : '');
    menu.setAttribute('role', 'menu');
    menu.setAttribute('aria-label', options.label || 'Actions');
    if (options.horizontal) menu.setAttribute('aria-orientation', 'horizontal');
    const buttons = items.map((item) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'popup-item' + (item.className ? ' ' + item.className : '');
      button.setAttribute('role', item.pressed === undefined ? 'menuitem' : 'menuitemcheckbox');
      if (item.pressed !== undefined) button.setAttribute('aria-checked', String(Boolean(item.pressed)));
      if (item.label) button.setAttribute('aria-label', item.label);
      if (item.label) button.title = item.label;
      button.tabIndex = -1;
      button.textContent = item.text;
      button.addEventListener('click', () => {
        close(true);
        item.onSelect();
      });
      return button;
    });
    menu.append(...buttons);
    menu.addEventListener('keydown', (event) => {
      const at = buttons.indexOf(document.activeElement);
      let next = null;
      if (event.key === 'ArrowDown' || event.key === 'ArrowRight') next = (at + 1) % buttons.length;
      else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') next = (at - 1 + buttons.length) % buttons.length;
      else if (event.key === 'Home') next = 0;
      else if (event.key === 'End') next = buttons.length - 1;
      else if (event.key === 'Escape' || event.key === 'Tab') {
        event.preventDefault();
        event.stopPropagation();
        close(true);
        return;
      }
      if (next !== null) {
        event.preventDefault();
        buttons[next].focus();
      }
    });
    document.body.append(menu);
    const rect = opener.getBoundingClientRect();
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
    const below = rect.bottom + 4 + height < window.innerHeight;
    menu.style.left = `${left}px`;
    menu.style.top = `${below ? rect.bottom + 4 : Math.max(8, rect.top - height - 4)}px`;
    const onPointer = (event) => {
      if (!menu.contains(event.target) && event.target !== opener && !opener.contains(event.target)) close(false);
    };
    document.addEventListener('pointerdown', onPointer, true);
    open = { menu, opener, onPointer };
    opener.setAttribute('aria-expanded', 'true');
    buttons[0].focus();
    return menu;
  }

  /** A button that opens a menu (aria-haspopup), labelled for screen readers, with a "⋯" face. */
  function menuButton(label, className, onOpen) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = className;
    button.setAttribute('aria-haspopup', 'menu');
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-label', label);
    button.title = label;
    const face = document.createElement('span');
    face.setAttribute('aria-hidden', 'true');
    face.textContent = '⋯';
    button.append(face);
    button.addEventListener('click', () => onOpen(button));
    return button;
  }

  window.ChatModules = Object.assign(window.ChatModules || {}, { menu: { openMenu, menuButton, close } });
})();
