// The graph view: owns the <canvas>, the pan/zoom transform (wf.extra.ds), selection, runtime
// state of nodes and the redraw loop. Drawing lives in canvas_draw.js, pointer handling in
// canvas_input.js, context menus in canvas_menus.js; this file holds the shared state and the
// coordinate helpers that browser tests use to drive precise mouse drags.

import { copyNodes, FRONTEND_ONLY_TYPES, nodeDef, pasteNodes, removeNodes } from './graph.js';
import { layoutNode, nodeBounds } from './canvas_layout.js';
import { drawFrame } from './canvas_draw.js';
import { editGroupTitle, editTitle, hitTest, installInput } from './canvas_input.js';
import { widgetInputType } from './widgets.js';
import { TextareaLayer } from './textareas.js';
import { addNodeAt, tryConnect } from './canvas_links.js';

export const MIN_SCALE = 0.1;
export const MAX_SCALE = 4;

function emptyState() {
  return { running: false, progress: null, cached: false, error: null, images: [], preview: null };
}

/** Canvas view and interaction for a UI workflow object (see the shared data model). */
export class GraphCanvas {
  /**
   * @param {HTMLCanvasElement} el
   * @param {{getDefs: () => object, onEdit?: (description: string) => void,
   *   openSearch?: (request: {x: number, y: number, filterType?: string, fromLink?: object}) => void,
   *   onUploadImage?: (nodeId: number, file: File) => void,
   *   viewUrl: (ref: object, options?: object) => string, onViewChange?: () => void}} options
   */
  constructor(el, options) {
    this.el = el;
    this.ctx = el.getContext('2d');
    this.options = options;
    this.wf = null;
    this.selected = new Set();
    this.selectedGroup = null;
    this.runtime = new Map();
    this.forced = new Map();
    this.imageCache = new Map();
    this.flashes = [];
    this.mouse = [0, 0];
    this.mouseClient = null;
    this.drag = null;
    this.hover = null;
    this.dirty = true;
    this.frameRequested = false;
    const layer = document.createElement('div');
    layer.className = 'textarea-layer';
    el.parentElement.appendChild(layer);
    this.textareas = new TextareaLayer(this, layer);
    new ResizeObserver(() => this.resize()).observe(el);
    this.resize();
    installInput(this);
  }

  // -- graph and definitions -----------------------------------------------------------------

  /** Show another workflow object (load, undo/redo); selection and overlays are reset. */
  setGraph(wf) {
    this.wf = wf;
    wf.extra ??= {};
    wf.extra.ds ??= { scale: 1, offset: [0, 0] };
    wf.extra.ds.offset ??= [0, 0];
    wf.extra.ds.scale ??= 1;
    this.textareas.clear();
    const ids = new Set(wf.nodes.map((n) => n.id));
    this.selected = new Set([...this.selected].filter((id) => ids.has(id)));
    this.selectedGroup = null;
    this.drag = null;
    this.markDirty();
  }

  get defs() {
    return this.options.getDefs() || {};
  }

  /** Definition of a node: the server's, or a frontend pseudo definition (Note). */
  defOf(node) {
    return nodeDef(this.defs, node.type) || undefined;
  }

  /** A node whose type the server does not know (kept, drawn with a red "missing" header). */
  isMissing(node) {
    return !nodeDef(this.defs, node.type) && !FRONTEND_ONLY_TYPES.has(node.type);
  }

  nodeById(id) {
    return this.wf?.nodes.find((n) => n.id === Number(id) || String(n.id) === String(id)) || null;
  }

  linkById(id) {
    return this.wf?.links.find((l) => l[0] === id) || null;
  }

  /** Geometry of a node for this frame (see canvas_layout.js). */
  layoutOf(node) {
    const state = this.runtime.get(String(node.id));
    return layoutNode(node, this.defOf(node), { forced: this.forced.get(node.id), state });
  }

  // -- runtime state ---------------------------------------------------------------------------

  /** Runtime state of a node (not saved): running, progress, cached, error, images, preview. */
  stateOf(id) {
    return this.runtime.get(String(id)) || null;
  }

  /** Merge a patch into a node's runtime state and redraw. */
  setState(id, patch) {
    const key = String(id);
    const state = this.runtime.get(key) || emptyState();
    Object.assign(state, patch);
    this.runtime.set(key, state);
    this.markDirty();
    return state;
  }

  /** Reset run state of all nodes (execution start); images are kept unless asked. */
  clearRuntime({ images = false, errors = true } = {}) {
    for (const state of this.runtime.values()) {
      state.running = false;
      state.progress = null;
      state.cached = false;
      if (errors) state.error = null;
      if (images) state.images = [];
      state.preview = null;
    }
    this.markDirty();
  }

  /** Remove every node error mark (before queueing again). */
  clearErrors() {
    for (const state of this.runtime.values()) state.error = null;
    this.markDirty();
  }

  /** A loaded Image for a URL; redraws when it arrives. */
  image(url) {
    let img = this.imageCache.get(url);
    if (!img) {
      img = new Image();
      img.onload = () => this.markDirty();
      img.onerror = () => { img.failed = true; this.markDirty(); };
      img.src = url;
      this.imageCache.set(url, img);
      if (this.imageCache.size > 200) this.imageCache.delete(this.imageCache.keys().next().value);
    }
    return img;
  }

  /** Widgets shown as sockets though unlinked ("convert widget to input"). */
  forcedOf(nodeId) {
    let set = this.forced.get(nodeId);
    if (!set) {
      set = new Set();
      this.forced.set(nodeId, set);
    }
    return set;
  }

  // -- transform -------------------------------------------------------------------------------

  get ds() {
    return this.wf.extra.ds;
  }

  get scale() {
    return this.wf ? this.ds.scale : 1;
  }

  /** Client (viewport) coordinates → canvas coordinates. */
  toCanvas(clientX, clientY) {
    const box = this.el.getBoundingClientRect();
    const { scale, offset } = this.ds;
    return [(clientX - box.left) / scale - offset[0], (clientY - box.top) / scale - offset[1]];
  }

  /** Canvas coordinates → pixels relative to the canvas element. */
  toScreenLocal([x, y]) {
    const { scale, offset } = this.ds;
    return [(x + offset[0]) * scale, (y + offset[1]) * scale];
  }

  /** Canvas coordinates → client (viewport) coordinates, as page.mouse uses. */
  canvasToScreen(point) {
    const box = this.el.getBoundingClientRect();
    const [x, y] = this.toScreenLocal(point);
    return [box.left + x, box.top + y];
  }

  /** Client position of a node's socket ('input' | 'output', slot index). */
  nodeSocketPos(nodeId, direction, slot) {
    const node = this.nodeById(nodeId);
    if (!node) return null;
    const layout = this.layoutOf(node);
    const socket = (direction === 'input' ? layout.inputs : layout.outputs)[slot];
    return socket ? this.canvasToScreen([socket.x, socket.y]) : null;
  }

  /** Client rectangle {x, y, w, h} of a widget row by widget name (or control/upload row). */
  widgetRect(nodeId, name) {
    const node = this.nodeById(nodeId);
    if (!node) return null;
    const row = this.layoutOf(node).widgets.find((r) => r.name === name);
    return row ? this.rowScreenRect(row) : null;
  }

  /** Client rectangle of a node's title bar. */
  titleRect(nodeId) {
    const node = this.nodeById(nodeId);
    if (!node) return null;
    const layout = this.layoutOf(node);
    const box = layout.title || nodeBounds(layout);
    return this.rowScreenRect(box);
  }

  /** What lies under a client position (see canvas_input.hitTest); for tests and tools. */
  hitAt(clientX, clientY) {
    const hit = hitTest(this, this.toCanvas(clientX, clientY));
    const { row, group, ...plain } = hit;
    return { ...plain, ...(row ? { name: row.name } : {}), ...(group ? { group: group.title } : {}) };
  }

  /** Client position of a link's midpoint (where its menu opens). */
  linkMidpoint(linkId) {
    const link = this.linkById(linkId);
    if (!link) return null;
    const a = this.nodeSocketPos(link[1], 'output', link[2]);
    const b = this.nodeSocketPos(link[3], 'input', link[4]);
    return a && b ? [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] : null;
  }

  /** Client rectangle of a canvas-space rectangle. */
  rowScreenRect(r) {
    const [x, y] = this.canvasToScreen([r.x, r.y]);
    return { x, y, w: r.w * this.scale, h: r.h * this.scale };
  }

  /** Zoom by factor keeping the canvas point under the client position fixed. */
  zoomAt(clientX, clientY, factor) {
    const before = this.toCanvas(clientX, clientY);
    const ds = this.ds;
    ds.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, ds.scale * factor));
    const after = this.toCanvas(clientX, clientY);
    ds.offset[0] += after[0] - before[0];
    ds.offset[1] += after[1] - before[1];
    this.markDirty();
    this.options.onViewChange?.();
  }

  onWheel(event) {
    if (!this.wf) return;
    const delta = event.deltaMode === 1 ? event.deltaY * 30 : event.deltaY;
    this.zoomAt(event.clientX, event.clientY, Math.exp(-delta * 0.0015));
  }

  /** Pan/zoom so that every node is visible. */
  fitView() {
    if (!this.wf?.nodes.length) return;
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    for (const node of this.wf.nodes) {
      const b = nodeBounds(this.layoutOf(node));
      x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
      x1 = Math.max(x1, b.x + b.w); y1 = Math.max(y1, b.y + b.h);
    }
    const box = this.el.getBoundingClientRect();
    const margin = 40;
    const scale = Math.min(1.2, Math.max(MIN_SCALE,
      Math.min((box.width - margin * 2) / (x1 - x0), (box.height - margin * 2) / (y1 - y0))));
    this.ds.scale = scale;
    this.ds.offset = [
      (box.width / scale - (x1 - x0)) / 2 - x0,
      (box.height / scale - (y1 - y0)) / 2 - y0,
    ];
    this.markDirty();
  }

  // -- edits -----------------------------------------------------------------------------------

  /** Report a finished edit: redraw, and let the app save and record history. */
  edited(description) {
    this.markDirty();
    this.options.onEdit?.(description);
  }

  selectOnly(id) {
    if (!this.selected.has(id) || this.selected.size > 1) {
      this.selected = new Set([id]);
      this.selectedGroup = null;
      this.markDirty();
    }
  }

  selectAll() {
    this.selected = new Set(this.wf.nodes.map((n) => n.id));
    this.markDirty();
  }

  /** Delete the selected nodes (and their links), or the selected group. */
  deleteSelected() {
    if (this.selected.size) {
      const ids = [...this.selected];
      removeNodes(this.wf, ids);
      ids.forEach((id) => { this.runtime.delete(String(id)); this.forced.delete(id); });
      this.selected.clear();
      this.edited(ids.length === 1 ? 'Remove node' : `Remove ${ids.length} nodes`);
      return true;
    }
    if (this.selectedGroup) {
      this.wf.groups = this.wf.groups.filter((g) => g !== this.selectedGroup);
      this.selectedGroup = null;
      this.edited('Remove group');
      return true;
    }
    return false;
  }

  /** Duplicate nodes (with the links among them) a little below-right; selects the copies. */
  cloneNodes(ids) {
    const fresh = pasteNodes(this.wf, copyNodes(this.wf, ids), [30, 30]);
    this.selected = new Set(fresh);
    this.edited('Clone');
    return fresh;
  }

  /** Rename a node in place (overlay over its title). */
  editTitle(node) {
    editTitle(this, node);
  }

  /** Rename a group in place. */
  editGroupTitle(group) {
    editGroupTitle(this, group);
  }

  /** Briefly outline a node (or a point) in red: a refused connection. */
  flash(nodeId, point) {
    this.flashes.push({ nodeId, point, until: performance.now() + 600 });
    this.markDirty();
  }

  /** Type of a node input as a link target (widget inputs: their widget type). */
  inputType(node, slot) {
    const input = node.inputs?.[slot];
    if (!input) return null;
    if (input.widget) return input.type || widgetInputType(this.defOf(node), input.widget.name);
    return input.type;
  }

  /**
   * Connect an output to an input, refusing incompatible types with a visible hint
   * (a warning toast and a red flash). Returns true when connected; the caller records it.
   */
  tryConnect(originId, originSlot, targetId, targetSlot) {
    return tryConnect(this, originId, originSlot, targetId, targetSlot);
  }

  /**
   * Add a node of a type at a canvas position; with fromLink ({nodeId, slot, direction:
   * 'output'|'input'}) connect its first compatible socket. Records one edit.
   */
  addNodeAt(type, pos, fromLink) {
    return addNodeAt(this, type, pos, fromLink);
  }

  /** Node under a canvas point (topmost), title bar included. */
  nodeAt(point) {
    const nodes = this.wf?.nodes || [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      const b = nodeBounds(this.layoutOf(nodes[i]));
      if (point[0] >= b.x && point[0] <= b.x + b.w && point[1] >= b.y && point[1] <= b.y + b.h) return nodes[i];
    }
    return null;
  }

  /** Put a node on top of the others (drawn last, hit first). */
  raise(node) {
    const nodes = this.wf.nodes;
    const index = nodes.indexOf(node);
    if (index >= 0 && index !== nodes.length - 1) {
      nodes.splice(index, 1);
      nodes.push(node);
    }
  }

  // -- drawing ---------------------------------------------------------------------------------

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const box = this.el.getBoundingClientRect();
    const w = Math.max(1, Math.round(box.width * dpr));
    const h = Math.max(1, Math.round(box.height * dpr));
    if (this.el.width !== w || this.el.height !== h) {
      this.el.width = w;
      this.el.height = h;
    }
    this.markDirty();
  }

  /** Schedule a redraw on the next animation frame. */
  markDirty() {
    this.dirty = true;
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      if (this.dirty) this.draw();
    });
  }

  /** Draw now. */
  draw() {
    this.dirty = false;
    if (!this.wf) return;
    drawFrame(this);
    const now = performance.now();
    this.flashes = this.flashes.filter((f) => f.until > now);
    if (this.flashes.length) this.markDirty();
  }
}
