// The editor application: loads /object_info, restores or creates the workflow, wires the
// canvas, toolbar, keyboard, search, queue panel and websocket together, and keeps history
// and localStorage up to date after every edit.

import { Api } from './api.js';
import { GraphCanvas } from './canvas.js';
import { copyNodes, emptyWorkflow, History, loadWorkflow, pasteNodes } from './graph.js';
import { defaultWorkflow } from './default_workflow.js';
import { closeSearch, openSearch, searchOpen } from './search.js';
import { QueuePanel } from './queue_panel.js';
import { Runner } from './app_run.js';
import { Files } from './app_files.js';
import { closeMenu, menuOpen } from './menu.js';
import { overlayOpen } from './overlays.js';
import { toast } from './toast.js';

const WORKFLOW_KEY = 'nodegraph.workflow';
const CLIPBOARD_KEY = 'nodegraph.clipboard';

function $(id) {
  return document.getElementById(id);
}

function isTyping(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

/** The editor: one per page, exposed as window.nodegraph.app. */
export class App {
  constructor() {
    this.api = new Api();
    this.defs = {};
    this.wf = emptyWorkflow();
    this.history = new History(100);
    this.clipboard = null;
    this.saveTimer = null;
  }

  async start() {
    this.canvas = new GraphCanvas($('graph-canvas'), {
      getDefs: () => this.defs,
      onEdit: (description) => this.onEdit(description),
      openSearch: (request) => this.openSearch(request),
      onUploadImage: (nodeId, file) => this.files.uploadImage(nodeId, file),
      viewUrl: (ref, options) => this.api.viewUrl(ref, options),
      onViewChange: () => this.saveSoon(),
    });
    this.runner = new Runner(this);
    this.files = new Files(this);
    this.queuePanel = new QueuePanel($('queue-panel'), { api: this.api, onLoad: (wf) => this.load(wf, { source: 'history' }) });
    this.installToolbar();
    this.installKeyboard();
    this.files.installDrop();
    // Only a started editor saves on leaving: a page left while still loading holds an empty
    // graph that must not overwrite the saved workflow.
    window.addEventListener('beforeunload', () => {
      if (!this.started) return;
      this.flushTyping();
      this.save();
    });
    this.updateStatus();
    try {
      this.defs = await this.api.objectInfo();
    } catch (ex) {
      toast(`Could not load node definitions: ${ex.message}`, 'error', 0);
    }
    this.restore();
    this.started = true;
    this.api.connect();
    document.body.classList.add('ready');
  }

  /** The saved workflow of the last session, else the default txt2img graph. */
  restore() {
    this.restoring = true;
    let saved = null;
    try { saved = localStorage.getItem(WORKFLOW_KEY); } catch { /* storage disabled */ }
    if (saved) {
      try {
        const { wf, missing } = loadWorkflow(saved, this.defs);
        this.setWorkflow(wf);
        if (missing.length) this.showMissing(missing);
        return;
      } catch (ex) {
        toast(`The saved workflow could not be restored (${ex.message}); starting from the default`, 'warn');
      }
    }
    this.loadDefault();
  }

  /** Replace the graph with the default workflow. */
  loadDefault() {
    let wf;
    try {
      wf = defaultWorkflow(this.defs);
    } catch (ex) {
      toast(ex.message, 'warn');
      wf = emptyWorkflow();
    }
    this.setWorkflow(wf, { fit: true });
    this.save();
  }

  /** Show a workflow, starting a fresh history. */
  setWorkflow(wf, { fit = false } = {}) {
    this.wf = wf;
    this.canvas.runtime.clear();
    this.canvas.forced.clear();
    this.canvas.selected.clear();
    this.canvas.setGraph(wf);
    if (fit) this.canvas.fitView();
    this.history.reset(wf);
    this.updateStatus();
  }

  /** Load a UI workflow object from a file, a PNG or the history; reports missing types. */
  load(json, { source = 'file' } = {}) {
    let result;
    try {
      result = loadWorkflow(json, this.defs);
    } catch (ex) {
      toast(`Cannot load ${source}: ${ex.message}`, 'error');
      return false;
    }
    const hadView = Boolean(json?.extra?.ds?.offset);
    this.setWorkflow(result.wf, { fit: !hadView });
    this.save();
    if (result.missing.length) this.showMissing(result.missing);
    else $('missing-summary')?.remove();
    return true;
  }

  /** List node types the server lacks; their nodes stay in the graph, drawn in red. */
  showMissing(types) {
    $('missing-summary')?.remove();
    const box = document.createElement('div');
    box.id = 'missing-summary';
    box.setAttribute('role', 'alertdialog');
    const title = document.createElement('h3');
    title.textContent = `Missing node types (${types.length})`;
    const text = document.createElement('p');
    text.textContent = 'The server does not know these node types. Their nodes are kept and drawn in red; '
      + 'the workflow cannot run until they are installed or removed.';
    const list = document.createElement('ul');
    for (const type of types) {
      const item = document.createElement('li');
      item.textContent = type;
      const count = this.wf.nodes.filter((n) => n.type === type).length;
      if (count > 1) item.textContent += ` ×${count}`;
      list.appendChild(item);
    }
    const close = document.createElement('button');
    close.textContent = 'OK';
    close.className = 'primary';
    close.addEventListener('click', () => box.remove());
    box.append(title, text, list, close);
    document.body.appendChild(box);
  }

  /** After every edit: record history and save. */
  onEdit() {
    this.history.push(this.wf);
    this.save();
    this.updateStatus();
  }

  /** Write the workflow to localStorage now. */
  save() {
    clearTimeout(this.saveTimer);
    if (!this.started && !this.restoring) return;
    try {
      localStorage.setItem(WORKFLOW_KEY, JSON.stringify(this.wf));
    } catch (ex) {
      console.warn('could not save the workflow', ex);
    }
  }

  /** Save shortly (view changes: pan and zoom are not history). */
  saveSoon() {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.save(), 300);
  }

  /** Record text still being typed into a multiline widget. */
  flushTyping() {
    this.canvas.textareas.flushAll();
  }

  undo() {
    this.flushTyping();
    this.restoreSnapshot(this.history.undo());
  }

  redo() {
    this.flushTyping();
    this.restoreSnapshot(this.history.redo());
  }

  restoreSnapshot(wf) {
    if (!wf) return;
    wf.extra ??= {};
    wf.extra.ds = this.wf.extra.ds;  // undo changes the graph, not the view
    this.wf = wf;
    this.canvas.setGraph(wf);
    this.save();
    this.updateStatus();
  }

  copy() {
    const ids = [...this.canvas.selected];
    if (!ids.length) return;
    this.clipboard = copyNodes(this.wf, ids);
    try { localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(this.clipboard)); } catch { /* full */ }
  }

  /** Paste the clipboard with its top-left node at the mouse position. */
  paste() {
    let clip = this.clipboard;
    try {
      const stored = localStorage.getItem(CLIPBOARD_KEY);
      if (stored) clip = JSON.parse(stored);
    } catch { /* use the in-memory copy */ }
    if (!clip?.nodes?.length) return;
    const x0 = Math.min(...clip.nodes.map((n) => n.pos?.[0] ?? 0));
    const y0 = Math.min(...clip.nodes.map((n) => n.pos?.[1] ?? 0));
    const [mx, my] = this.canvas.mouse;
    const ids = pasteNodes(this.wf, clip, [Math.round(mx - x0), Math.round(my - y0)]);
    this.canvas.selected = new Set(ids);
    this.canvas.edited(`Paste ${ids.length} node${ids.length > 1 ? 's' : ''}`);
  }

  clear() {
    const ds = this.wf.extra.ds;
    this.wf.nodes = [];
    this.wf.links = [];
    this.wf.groups = [];
    this.wf.extra.ds = ds;
    this.canvas.runtime.clear();
    this.canvas.setGraph(this.wf);
    this.onEdit('Clear');
  }

  /** Search dialog for adding a node at canvas point (x, y), optionally wired to a link. */
  openSearch({ x, y, filterType, fromLink }) {
    const [clientX, clientY] = this.canvas.canvasToScreen([x, y]);
    openSearch({
      defs: this.defs,
      clientX,
      clientY,
      filterType,
      direction: fromLink?.direction,
      onPick: (type) => this.canvas.addNodeAt(type, [x, y], fromLink),
    });
  }

  queue() {
    const count = Math.max(1, Math.min(100, Number($('batch-count')?.value) || 1));
    return this.runner.queue(count);
  }

  updateStatus() {
    const status = $('status');
    if (!status || !this.runner) return;
    const connected = this.api.connected;
    status.textContent = `Queue: ${this.runner.queueRemaining} · ${connected ? 'connected' : 'disconnected'}`;
    status.classList.toggle('offline', !connected);
    status.classList.toggle('busy', this.runner.queueRemaining > 0);
    const undo = $('undo-button');
    const redo = $('redo-button');
    if (undo) undo.disabled = !this.history.canUndo();
    if (redo) redo.disabled = !this.history.canRedo();
  }

  installToolbar() {
    const on = (id, fn) => $(id)?.addEventListener('click', fn);
    on('queue-button', () => this.queue());
    on('interrupt-button', () => this.api.interrupt().catch((ex) => toast(ex.message, 'error')));
    on('save-button', () => this.files.save());
    on('load-button', () => $('load-input').click());
    on('export-api-button', () => this.files.exportApi());
    on('clear-button', () => this.clear());
    on('default-button', () => { this.loadDefault(); });
    on('undo-button', () => this.undo());
    on('redo-button', () => this.redo());
    on('fit-button', () => { this.canvas.fitView(); this.saveSoon(); });
    on('queue-panel-button', () => this.queuePanel.toggle());
    $('load-input')?.addEventListener('change', (event) => {
      const file = event.target.files?.[0];
      event.target.value = '';
      if (file) this.files.open(file);
    });
  }

  installKeyboard() {
    window.addEventListener('keydown', (event) => {
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (ctrl && key === 'enter') {
        event.preventDefault();
        this.queue();
        return;
      }
      if (isTyping(event.target) || overlayOpen() || searchOpen()) return;
      if (menuOpen() && key === 'escape') { closeMenu(); return; }
      const handled = this.shortcut(key, ctrl, event.shiftKey);
      if (handled) event.preventDefault();
    });
  }

  shortcut(key, ctrl, shift) {
    const canvas = this.canvas;
    if (ctrl) {
      switch (key) {
        case 'z': if (shift) this.redo(); else this.undo(); return true;
        case 'y': this.redo(); return true;
        case 'c': this.copy(); return true;
        case 'v': this.paste(); return true;
        case 'a': canvas.selectAll(); return true;
        case 's': this.files.save(); return true;
        case 'o': $('load-input').click(); return true;
        case 'm': case 'b': {
          const nodes = this.wf.nodes.filter((n) => canvas.selected.has(n.id));
          if (!nodes.length) return true;
          const mode = key === 'm' ? 2 : 4;
          const next = nodes.every((n) => n.mode === mode) ? 0 : mode;
          nodes.forEach((n) => { n.mode = next; });
          canvas.edited(next === 2 ? 'Mute' : next === 4 ? 'Bypass' : 'Set mode always');
          return true;
        }
        default: return false;
      }
    }
    if (key === 'delete' || key === 'backspace') return canvas.deleteSelected();
    if (key === 'escape') {
      closeSearch();
      canvas.selected.clear();
      canvas.markDirty();
      return true;
    }
    if (key === 'q' && !shift) { this.queuePanel.toggle(); return true; }
    if (key === '.') { canvas.fitView(); this.saveSoon(); return true; }
    return false;
  }
}

const app = new App();
window.nodegraph = {
  app,
  get canvas() { return app.canvas; },
  api: app.api,
  graph: () => app.wf,
  /** Resolves once definitions are loaded and a workflow is shown. */
  ready: app.start().catch((ex) => {
    console.error(ex);
    toast(`The editor failed to start: ${ex.message}`, 'error', 0);
  }),
};
