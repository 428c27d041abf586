// The queue side panel: running, pending (deletable) and recent history (status, thumbnails,
// deletable; a click loads the workflow that made it). Refreshed on websocket status events.

import { toast } from './toast.js';

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The UI workflow stored with a queue item or history entry, if any. */
export function itemWorkflow(item) {
  return item?.[3]?.extra_pnginfo?.workflow ?? null;
}

/** Image refs of a history entry's outputs, in node order. */
export function historyImages(entry) {
  const images = [];
  for (const output of Object.values(entry?.outputs || {})) {
    for (const image of output?.images || []) images.push(image);
  }
  return images;
}

/** Side panel listing the server's queue and history. */
export class QueuePanel {
  /**
   * @param {HTMLElement} root the #queue-panel element
   * @param {{api: import('./api.js').Api, onLoad: (workflow: object) => void}} options
   */
  constructor(root, { api, onLoad }) {
    this.root = root;
    this.api = api;
    this.onLoad = onLoad;
    this.timer = null;
    this.loading = false;
    this.build();
    api.on('status', () => this.refreshSoon());
    api.on('execution_success', () => this.refreshSoon());
    api.on('execution_error', () => this.refreshSoon());
    api.on('connection', ({ connected }) => { if (connected) this.refreshSoon(); });
  }

  build() {
    this.root.textContent = '';
    const head = el('header', 'panel-head');
    head.append(el('span', 'panel-title', 'Queue'));
    const clear = el('button', 'small', 'Clear pending');
    clear.id = 'queue-clear-button';
    clear.addEventListener('click', () => this.run(() => this.api.postJson('queue', { clear: true })));
    const close = el('button', 'small icon', '✕');
    close.title = 'Close';
    close.addEventListener('click', () => this.hide());
    head.append(clear, close);
    this.running = this.section('running', 'Running');
    this.pending = this.section('pending', 'Pending');
    this.history = this.section('history', 'History');
    const clearHistory = el('button', 'small', 'Clear');
    clearHistory.id = 'history-clear-button';
    clearHistory.addEventListener('click', () => this.run(() => this.api.postJson('history', { clear: true })));
    this.history.head.appendChild(clearHistory);
    this.root.append(head, this.running.box, this.pending.box, this.history.box);
  }

  section(name, title) {
    const box = el('section', `queue-section queue-${name}`);
    const head = el('h3', '', '');
    const label = el('span', '', title);
    const count = el('span', 'count', '');
    head.append(label, count);
    const list = el('div', 'queue-list');
    box.append(head, list);
    return { box, head, count, list };
  }

  get visible() {
    return !this.root.hidden;
  }

  /** Show or hide the panel. */
  toggle(force) {
    if (force ?? !this.visible) this.show();
    else this.hide();
  }

  show() {
    this.root.hidden = false;
    document.body.classList.add('queue-open');
    this.refresh();
  }

  hide() {
    this.root.hidden = true;
    document.body.classList.remove('queue-open');
  }

  async run(action) {
    try {
      await action();
    } catch (ex) {
      toast(String(ex.message || ex), 'error');
    }
    this.refresh();
  }

  refreshSoon() {
    if (!this.visible) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 150);
  }

  /** Reload queue and history from the server and redraw the lists. */
  async refresh() {
    if (!this.visible) return;
    let queue;
    let history;
    try {
      [queue, history] = await Promise.all([this.api.queue(), this.api.history(50)]);
    } catch (ex) {
      this.history.list.textContent = `Could not load the queue: ${ex.message}`;
      return;
    }
    this.renderQueue(this.running, queue.queue_running || [], false);
    const pending = [...(queue.queue_pending || [])].sort((a, b) => a[0] - b[0]);
    this.renderQueue(this.pending, pending, true);
    this.renderHistory(Object.entries(history || {}).reverse());
  }

  renderQueue(section, items, deletable) {
    section.count.textContent = items.length ? ` (${items.length})` : '';
    section.list.textContent = '';
    if (!items.length) section.list.append(el('div', 'queue-empty', 'Nothing'));
    for (const item of items) {
      const [number, promptId, prompt] = item;
      const row = el('div', 'queue-item');
      row.dataset.promptId = promptId;
      const text = el('div', 'queue-text');
      text.append(el('span', 'queue-number', `#${number}`),
        el('span', 'queue-id', String(promptId).slice(0, 8)),
        el('span', 'queue-nodes', `${Object.keys(prompt || {}).length} nodes`));
      row.appendChild(text);
      if (deletable) {
        const del = el('button', 'small queue-delete', 'Delete');
        del.title = 'Remove from the queue';
        del.addEventListener('click', (event) => {
          event.stopPropagation();
          this.run(() => this.api.deleteQueued([promptId]));
        });
        row.appendChild(del);
      } else {
        const stop = el('button', 'small queue-interrupt', 'Interrupt');
        stop.addEventListener('click', (event) => {
          event.stopPropagation();
          this.run(() => this.api.interrupt());
        });
        row.appendChild(stop);
      }
      this.makeLoadable(row, item);
      section.list.appendChild(row);
    }
  }

  renderHistory(entries) {
    const section = this.history;
    section.count.textContent = entries.length ? ` (${entries.length})` : '';
    section.list.textContent = '';
    if (!entries.length) section.list.append(el('div', 'queue-empty', 'Nothing yet'));
    for (const [promptId, entry] of entries) {
      const status = entry.status?.status_str || (entry.status?.completed ? 'success' : 'unknown');
      const interrupted = (entry.status?.messages || []).some((m) => m[0] === 'execution_interrupted');
      const row = el('div', `queue-item history-item status-${status}`);
      row.dataset.promptId = promptId;
      const text = el('div', 'queue-text');
      text.append(
        el('span', `queue-status ${status}`, interrupted ? 'interrupted' : status),
        el('span', 'queue-number', `#${entry.prompt?.[0] ?? ''}`),
        el('span', 'queue-id', promptId.slice(0, 8)),
      );
      const error = (entry.status?.messages || []).find((m) => m[0] === 'execution_error')?.[1];
      if (error) text.title = `${error.node_type} (#${error.node_id}): ${error.exception_message}`;
      row.appendChild(text);
      const del = el('button', 'small history-delete', 'Delete');
      del.title = 'Remove from the history';
      del.addEventListener('click', (event) => {
        event.stopPropagation();
        this.run(() => this.api.deleteHistory([promptId]));
      });
      row.appendChild(del);
      const images = historyImages(entry);
      if (images.length) {
        const thumbs = el('div', 'queue-thumbs');
        for (const image of images.slice(0, 4)) {
          const img = el('img', 'queue-thumb');
          img.loading = 'lazy';
          img.alt = image.filename;
          img.title = image.filename;
          img.src = this.api.viewUrl(image, { preview: 'webp;80' });
          img.addEventListener('click', (event) => {
            event.stopPropagation();
            window.open(this.api.viewUrl(image), '_blank');
          });
          thumbs.appendChild(img);
        }
        if (images.length > 4) thumbs.append(el('span', 'queue-more', `+${images.length - 4}`));
        row.appendChild(thumbs);
      }
      this.makeLoadable(row, entry.prompt);
      section.list.appendChild(row);
    }
  }

  makeLoadable(row, item) {
    const workflow = itemWorkflow(item);
    if (!workflow) return;
    row.classList.add('loadable');
    row.title = row.title || 'Click to load this workflow';
    row.addEventListener('click', () => this.onLoad(workflow));
  }
}
