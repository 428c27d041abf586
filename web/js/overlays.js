// DOM overlays placed over the canvas: an inline text prompt and a searchable combo list.
// Only one overlay is open at a time; opening another commits/closes the previous one.

let current = null;

/** Close the open overlay (committing a text prompt unless cancel is true). */
export function closeOverlay(cancel = false) {
  const open = current;
  current = null;
  open?.close(cancel);
}

/** True while an overlay has the keyboard. */
export function overlayOpen() {
  return current !== null;
}

/**
 * Edit a value in place with a text input (or textarea) over a screen rectangle.
 * onCommit(text) runs on Enter or blur; Escape cancels.
 */
export function promptInput({ rect, value, fontSize = 12, multiline = false, label, onCommit, onCancel }) {
  closeOverlay();
  const wrap = document.createElement('div');
  wrap.className = 'prompt-overlay';
  wrap.style.left = `${rect.x}px`;
  wrap.style.top = `${rect.y}px`;
  wrap.style.width = `${Math.max(rect.w, 120)}px`;
  if (label) {
    const head = document.createElement('span');
    head.className = 'prompt-label';
    head.textContent = label;
    wrap.appendChild(head);
  }
  const input = document.createElement(multiline ? 'textarea' : 'input');
  input.className = 'prompt-input';
  input.value = value ?? '';
  input.style.fontSize = `${Math.max(11, Math.min(fontSize, 20))}px`;
  if (!multiline) input.style.height = `${Math.max(rect.h, 22)}px`;
  wrap.appendChild(input);
  document.body.appendChild(wrap);
  let done = false;
  const close = (cancel) => {
    if (done) return;
    done = true;
    wrap.remove();
    if (current?.wrap === wrap) current = null;
    if (cancel) onCancel?.();
    else onCommit(input.value);
  };
  current = { wrap, close };
  input.addEventListener('keydown', (event) => {
    event.stopPropagation();
    if (event.key === 'Escape') close(true);
    else if (event.key === 'Enter' && (!multiline || event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      close(false);
    }
  });
  // Focus after the pointer event that opened us has finished (its default action focuses
  // the canvas), and only then treat losing focus as "done".
  setTimeout(() => {
    if (done) return;
    input.focus();
    input.select();
    input.addEventListener('blur', () => setTimeout(() => close(false), 0));
  }, 0);
  return input;
}

/** Case-insensitive filter for combo lists: every word of the query must appear. */
export function filterChoices(choices, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return choices;
  return choices.filter((c) => {
    const text = String(c).toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/**
 * Searchable list of combo choices under a screen rectangle; onPick(value) on click/Enter.
 */
export function comboList({ rect, choices, value, onPick }) {
  closeOverlay();
  const wrap = document.createElement('div');
  wrap.className = 'combo-overlay';
  const filter = document.createElement('input');
  filter.className = 'combo-filter';
  filter.placeholder = `Filter ${choices.length} choices…`;
  const list = document.createElement('div');
  list.className = 'combo-list';
  wrap.append(filter, list);
  document.body.appendChild(wrap);
  let shown = choices;
  let active = Math.max(0, choices.indexOf(value));
  const render = () => {
    list.textContent = '';
    if (!shown.length) {
      list.appendChild(Object.assign(document.createElement('div'), {
        className: 'combo-empty',
        textContent: choices.length ? 'No match' : 'No choices (is the folder empty?)',
      }));
    }
    shown.forEach((choice, i) => {
      const item = document.createElement('div');
      item.className = 'combo-item';
      if (choice === value) item.classList.add('current');
      if (i === active) item.classList.add('active');
      item.textContent = String(choice);
      item.dataset.value = String(choice);
      item.addEventListener('pointerdown', (event) => {
        event.preventDefault();
        pick(choice);
      });
      list.appendChild(item);
    });
    list.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
  };
  let done = false;
  const close = () => {
    if (done) return;
    done = true;
    wrap.remove();
    document.removeEventListener('pointerdown', outside, true);
    if (current?.wrap === wrap) current = null;
  };
  const pick = (choice) => {
    close();
    onPick(choice);
  };
  const outside = (event) => {
    if (!wrap.contains(event.target)) close();
  };
  filter.addEventListener('input', () => {
    shown = filterChoices(choices, filter.value);
    active = 0;
    render();
  });
  filter.addEventListener('keydown', (event) => {
    event.stopPropagation();
    if (event.key === 'Escape') close();
    else if (event.key === 'ArrowDown') { active = Math.min(shown.length - 1, active + 1); render(); event.preventDefault(); }
    else if (event.key === 'ArrowUp') { active = Math.max(0, active - 1); render(); event.preventDefault(); }
    else if (event.key === 'Enter' && shown[active] !== undefined) pick(shown[active]);
  });
  document.addEventListener('pointerdown', outside, true);
  current = { wrap, close };
  render();
  // Place below the widget, or above when there is no room.
  const width = Math.max(rect.w, 180);
  wrap.style.width = `${width}px`;
  wrap.style.left = `${Math.max(4, Math.min(rect.x, window.innerWidth - width - 4))}px`;
  const height = wrap.offsetHeight;
  const below = rect.y + rect.h + 2;
  wrap.style.top = `${below + height > window.innerHeight && rect.y - height > 0 ? rect.y - height - 2 : below}px`;
  setTimeout(() => filter.focus(), 0);
  return wrap;
}
