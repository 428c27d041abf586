// Context menus as DOM overlays, with nested submenus opening on hover.
// Items: {label, action?, submenu?: items, disabled?, checked?, danger?} or null for a separator.

let openRoot = null;

/** Close any open context menu. */
export function closeMenu() {
  if (!openRoot) return;
  openRoot.forEach((el) => el.remove());
  openRoot = null;
  document.removeEventListener('pointerdown', outsideClose, true);
  document.removeEventListener('keydown', escapeClose, true);
}

function outsideClose(event) {
  if (openRoot && !openRoot.some((el) => el.contains(event.target))) closeMenu();
}

function escapeClose(event) {
  if (event.key === 'Escape') {
    event.stopPropagation();
    closeMenu();
  }
}

function place(el, x, y) {
  document.body.appendChild(el);
  const rect = el.getBoundingClientRect();
  const left = Math.max(4, Math.min(x, window.innerWidth - rect.width - 4));
  const top = Math.max(4, Math.min(y, window.innerHeight - rect.height - 4));
  el.style.left = `${left}px`;
  el.style.top = `${top}px`;
}

function build(items, x, y, level, title) {
  const el = document.createElement('div');
  el.className = 'context-menu';
  el.dataset.level = String(level);
  if (title) {
    const head = document.createElement('div');
    head.className = 'menu-title';
    head.textContent = title;
    el.appendChild(head);
  }
  for (const item of items) {
    if (!item) {
      el.appendChild(Object.assign(document.createElement('div'), { className: 'menu-separator' }));
      continue;
    }
    const row = document.createElement('div');
    row.className = 'menu-item';
    if (item.disabled) row.classList.add('disabled');
    if (item.danger) row.classList.add('danger');
    if (item.submenu) row.classList.add('has-submenu');
    row.textContent = (item.checked ? '✓ ' : '') + item.label;
    if (item.id) row.dataset.id = item.id;
    row.addEventListener('pointerenter', () => {
      // Close deeper menus, then open this item's submenu next to it.
      openRoot.slice(level + 1).forEach((m) => m.remove());
      openRoot.length = level + 1;
      el.querySelectorAll('.menu-item.open').forEach((r) => r.classList.remove('open'));
      if (item.submenu && !item.disabled) {
        row.classList.add('open');
        const rect = row.getBoundingClientRect();
        const sub = build(item.submenu, rect.right - 2, rect.top - 4, level + 1);
        openRoot.push(sub);
        // Keep opening leftwards once a menu had to flip, so submenus never cover parents.
        const flip = el.dataset.flipped === '1' || rect.right + sub.offsetWidth > window.innerWidth;
        if (flip) {
          sub.style.left = `${Math.max(4, rect.left - sub.offsetWidth + 2)}px`;
          sub.dataset.flipped = '1';
        }
      }
    });
    row.addEventListener('click', (event) => {
      event.stopPropagation();
      if (item.disabled || item.submenu) return;
      closeMenu();
      item.action?.();
    });
    el.appendChild(row);
  }
  place(el, x, y);
  return el;
}

/**
 * Open a context menu at client coordinates (closing any other).
 * @param {Array<object|null>} items
 * @param {number} x
 * @param {number} y
 * @param {string} [title] optional heading
 */
export function openMenu(items, x, y, title) {
  closeMenu();
  openRoot = [];
  openRoot.push(build(items, x, y, 0, title));
  document.addEventListener('pointerdown', outsideClose, true);
  document.addEventListener('keydown', escapeClose, true);
}

/** True while a context menu is shown (keyboard shortcuts stay quiet then). */
export function menuOpen() {
  return openRoot !== null;
}
