// The <textarea>s of multiline STRING widgets (and notes), kept positioned over their rows in
// the nodes as the view pans and zooms. Typing writes the node at once; one history entry is
// recorded when typing pauses or the textarea loses focus.

import { rowValue, writeRow } from './widgets.js';

/** Textareas over the multiline widget rows of a GraphCanvas. */
export class TextareaLayer {
  constructor(canvas, container) {
    this.canvas = canvas;
    this.container = container;
    this.areas = new Map();
    this.pending = new Map();
  }

  /** Position/create/remove textareas for the rows visible this frame. */
  sync(rows) {
    const canvas = this.canvas;
    const seen = new Set();
    const visible = canvas.scale >= 0.45;
    const box = canvas.el.getBoundingClientRect();
    const parentBox = this.container.getBoundingClientRect();
    for (const { node, row } of visible ? rows : []) {
      const key = `${node.id}:${row.name}`;
      seen.add(key);
      let area = this.areas.get(key);
      if (!area) {
        area = this.create(node, row, key);
        this.areas.set(key, area);
      }
      area.row = row;
      area.node = node;
      const [sx, sy] = canvas.toScreenLocal([row.x, row.y]);
      const el = area.el;
      el.style.left = `${sx + box.left - parentBox.left}px`;
      el.style.top = `${sy + box.top - parentBox.top}px`;
      el.style.width = `${row.w}px`;
      el.style.height = `${row.h}px`;
      el.style.transform = `scale(${canvas.scale})`;
      el.classList.toggle('muted', node.mode === 2 || node.mode === 4);
      el.classList.toggle('error', Boolean(canvas.stateOf(node.id)?.error?.inputs?.[row.name]));
      const value = String(rowValue(node, row) ?? '');
      if (document.activeElement !== el && el.value !== value) el.value = value;
    }
    for (const [key, area] of this.areas) {
      if (!seen.has(key)) {
        this.flush(key);
        area.el.remove();
        this.areas.delete(key);
      }
    }
  }

  create(node, row, key) {
    const el = document.createElement('textarea');
    el.className = 'node-textarea';
    el.spellcheck = false;
    el.dataset.nodeId = String(node.id);
    el.dataset.widget = row.name;
    el.placeholder = row.spec?.options?.placeholder || row.name;
    const area = { el, node, row };
    el.addEventListener('input', () => {
      writeRow(this.canvas, area.node, area.row, el.value);
      clearTimeout(this.pending.get(key));
      this.pending.set(key, setTimeout(() => this.flush(key), 600));
    });
    el.addEventListener('blur', () => this.flush(key));
    el.addEventListener('keydown', (event) => {
      // Typing stays in the textarea (native text undo too); Ctrl+Enter still queues.
      if (!((event.ctrlKey || event.metaKey) && event.key === 'Enter')) event.stopPropagation();
    });
    el.addEventListener('wheel', (event) => {
      // Scroll the text when it overflows; otherwise zoom the canvas as usual.
      if (el.scrollHeight <= el.clientHeight) {
        event.preventDefault();
        this.canvas.onWheel(event);
      }
    }, { passive: false });
    el.addEventListener('pointerdown', (event) => {
      if (event.button === 0) this.canvas.selectOnly?.(area.node.id, event);
    });
    this.container.appendChild(el);
    return area;
  }

  /** Record pending typing as one edit. */
  flush(key) {
    if (!this.pending.has(key)) return;
    clearTimeout(this.pending.get(key));
    this.pending.delete(key);
    const area = this.areas.get(key);
    this.canvas.edited(`Edit ${area?.row.name ?? 'text'}`);
  }

  /** Record all pending typing now (before undo, queue, save). */
  flushAll() {
    for (const key of [...this.pending.keys()]) this.flush(key);
  }

  /** Drop every textarea (graph replaced); pending typing belonged to the old graph. */
  clear() {
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    for (const area of this.areas.values()) area.el.remove();
    this.areas.clear();
  }
}
