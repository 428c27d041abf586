// The node search dialog (double-click on the canvas, or a link dropped on empty space):
// fuzzy matching over type, display name and category, ranked prefix > word start >
// substring > subsequence, optionally restricted to nodes that can take a dragged link.

import { canConnect, declaredInputs, FRONTEND_DEFS } from './graph.js';

const MAX_RESULTS = 80;

/** Word starts of a text: after a space, _, -, /, . or ( and at lower→upper case changes. */
function wordStarts(text) {
  const starts = [0];
  for (let i = 1; i < text.length; i++) {
    const prev = text[i - 1];
    const ch = text[i];
    if (/[\s_\-/.()]/.test(prev) || (prev >= 'a' && prev <= 'z' && ch >= 'A' && ch <= 'Z')) starts.push(i);
  }
  return starts;
}

/**
 * Score how well a query matches a text (0 = no match). Prefix beats word start beats
 * substring beats subsequence; shorter texts win ties.
 */
export function matchScore(query, text) {
  if (!query) return 1;
  const q = query.toLowerCase();
  const t = String(text || '');
  const lower = t.toLowerCase();
  if (!lower) return 0;
  if (lower === q) return 1000;
  if (lower.startsWith(q)) return 800 - Math.min(100, lower.length - q.length);
  const at = lower.indexOf(q);
  if (at >= 0) {
    if (wordStarts(t).includes(at)) return 600 - Math.min(100, at);
    return 400 - Math.min(100, at);
  }
  // Subsequence, preferring characters that fall on word starts ("ksa" → KSamplerAdvanced).
  const starts = new Set(wordStarts(t));
  let pos = 0;
  let bonus = 0;
  let gaps = 0;
  for (const ch of q) {
    const found = lower.indexOf(ch, pos);
    if (found < 0) return 0;
    if (starts.has(found)) bonus += 10;
    gaps += found - pos;
    pos = found + 1;
  }
  return Math.max(1, 200 + bonus - Math.min(150, gaps * 3));
}

/** Score a node definition: each query word must match type, display name or category. */
export function scoreNode(query, type, def) {
  const words = query.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return 1;
  const name = def.display_name || type;
  const category = def.category || '';
  let total = 0;
  for (const word of words) {
    const best = Math.max(
      matchScore(word, name),
      matchScore(word, type),
      matchScore(word, category) * 0.5,
    );
    if (best <= 0) return 0;
    total += best;
  }
  // A whole-query match of the name counts extra ("ksampler adv").
  return total + Math.max(matchScore(query.trim(), name), matchScore(query.trim(), type)) * 0.5;
}

/** Whether a node can take a link of `type` dragged from an output (or give one to an input). */
export function acceptsLink(def, type, direction) {
  if (direction === 'input') {
    return (def.output || []).some((out) => canConnect(Array.isArray(out) ? 'COMBO' : out, type));
  }
  if (def.frontend_only) return false;
  return declaredInputs(def).some((input) => canConnect(type, input.type));
}

/**
 * Rank node types for a query. filter: {type, direction} restricts to compatible nodes.
 * Returns [{type, def, score}] best first.
 */
export function searchNodes(defs, query, filter) {
  const results = [];
  const all = { ...FRONTEND_DEFS, ...defs };
  for (const [type, def] of Object.entries(all)) {
    if (def.dev_only) continue;
    if (filter?.type && !acceptsLink(def, filter.type, filter.direction)) continue;
    const score = scoreNode(query, type, def) - (def.deprecated ? 50 : 0);
    if (score > 0) results.push({ type, def, score });
  }
  results.sort((a, b) => b.score - a.score
    || String(a.def.category).localeCompare(String(b.def.category))
    || (a.def.display_name || a.type).localeCompare(b.def.display_name || b.type));
  return results;
}

let openDialog = null;

/** Close the search dialog if open. */
export function closeSearch() {
  openDialog?.close();
}

/** True while the search dialog is shown. */
export function searchOpen() {
  return openDialog !== null;
}

/**
 * Show the search dialog near a client position (or centred).
 * @param {{defs: object, clientX?: number, clientY?: number, filterType?: string,
 *   direction?: 'output'|'input', onPick: (type: string) => void}} options
 */
export function openSearch({ defs, clientX, clientY, filterType, direction = 'output', onPick }) {
  closeSearch();
  const dialog = document.createElement('div');
  dialog.id = 'search-dialog';
  dialog.setAttribute('role', 'dialog');
  const head = document.createElement('div');
  head.className = 'search-head';
  const input = document.createElement('input');
  input.id = 'search-input';
  input.type = 'text';
  input.autocomplete = 'off';
  input.spellcheck = false;
  input.placeholder = 'Search nodes by name, type or category…';
  head.appendChild(input);
  if (filterType) {
    const badge = document.createElement('span');
    badge.className = 'search-filter';
    badge.textContent = direction === 'input' ? `outputs ${filterType}` : `takes ${filterType}`;
    head.appendChild(badge);
  }
  const list = document.createElement('div');
  list.className = 'search-results';
  dialog.append(head, list);
  document.body.appendChild(dialog);

  const filter = filterType ? { type: filterType, direction } : null;
  let results = [];
  let active = 0;
  const render = () => {
    list.textContent = '';
    results.slice(0, MAX_RESULTS).forEach(({ type, def }, i) => {
      const item = document.createElement('div');
      item.className = 'search-result';
      if (i === active) item.classList.add('active');
      item.dataset.type = type;
      const name = document.createElement('span');
      name.className = 'search-name';
      name.textContent = def.display_name || type;
      item.appendChild(name);
      if (def.display_name && def.display_name !== type) {
        const cls = document.createElement('span');
        cls.className = 'search-type';
        cls.textContent = type;
        item.appendChild(cls);
      }
      const cat = document.createElement('span');
      cat.className = 'search-category';
      cat.textContent = def.category || '';
      item.appendChild(cat);
      if (def.description) item.title = def.description;
      item.addEventListener('pointerdown', (event) => {
        event.preventDefault();
        pick(type);
      });
      item.addEventListener('pointermove', () => {
        if (active === i) return;
        active = i;
        list.querySelectorAll('.search-result.active').forEach((el) => el.classList.remove('active'));
        item.classList.add('active');
      });
      list.appendChild(item);
    });
    if (!results.length) {
      const none = document.createElement('div');
      none.className = 'search-empty';
      none.textContent = filter ? `No node matches (compatible with ${filterType})` : 'No node matches';
      list.appendChild(none);
    }
    list.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
  };
  const update = () => {
    results = searchNodes(defs, input.value, filter);
    active = 0;
    render();
  };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    dialog.remove();
    document.removeEventListener('pointerdown', outside, true);
    if (openDialog?.dialog === dialog) openDialog = null;
  };
  const pick = (type) => {
    close();
    onPick(type);
  };
  const outside = (event) => {
    if (!dialog.contains(event.target)) close();
  };
  input.addEventListener('input', update);
  input.addEventListener('keydown', (event) => {
    event.stopPropagation();
    const count = Math.min(results.length, MAX_RESULTS);
    if (event.key === 'Escape') close();
    else if (event.key === 'ArrowDown') { active = Math.min(count - 1, active + 1); render(); event.preventDefault(); }
    else if (event.key === 'ArrowUp') { active = Math.max(0, active - 1); render(); event.preventDefault(); }
    else if (event.key === 'Enter') {
      event.preventDefault();
      if (results[active]) pick(results[active].type);
    }
  });
  document.addEventListener('pointerdown', outside, true);
  openDialog = { dialog, close };
  update();
  // Near the pointer, kept inside the window.
  const width = dialog.offsetWidth;
  const height = Math.max(dialog.offsetHeight, 320);
  const x = clientX ?? (window.innerWidth - width) / 2;
  const y = clientY ?? window.innerHeight * 0.2;
  dialog.style.left = `${Math.max(8, Math.min(x - 20, window.innerWidth - width - 8))}px`;
  dialog.style.top = `${Math.max(8, Math.min(y - 20, window.innerHeight - height - 8))}px`;
  input.focus();
  setTimeout(() => input.focus(), 0);
  return dialog;
}
