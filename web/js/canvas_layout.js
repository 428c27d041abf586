// Geometry of nodes in canvas coordinates: where the title, sockets, widget rows and image area
// of a node are. Pure functions of the node, its definition and the runtime state, shared by
// drawing, hit testing and the test hooks, so what is drawn is exactly what is clickable.
// As in litegraph, node.pos is the top-left corner of the body; the title bar sits above it.

import { widgetSpecs } from './graph.js';

export const TITLE_H = 30;
export const SLOT_H = 20;
export const WIDGET_H = 20;
export const WIDGET_GAP = 4;
export const WIDGET_MARGIN = 12;
export const MULTILINE_MIN_H = 56;
export const MIN_W = 140;
export const REROUTE_NUB = 16;

const specCache = new WeakMap();

/** Widget specs of a definition, computed once per def object. */
export function specsOf(def) {
  if (!def) return [];
  let specs = specCache.get(def);
  if (!specs) {
    specs = widgetSpecs(def);
    specCache.set(def, specs);
  }
  return specs;
}

/** The [type, options] entry of an input in a definition (required, then optional). */
export function inputEntry(def, name) {
  const input = def?.input || {};
  return input.required?.[name] ?? input.optional?.[name] ?? null;
}

/** Choices of a combo input: a list type, or "COMBO" with options.options. */
export function comboChoices(def, name) {
  const spec = specsOf(def).find((s) => s.name === name);
  if (spec?.choices) return spec.choices;
  const entry = inputEntry(def, name);
  if (!entry) return [];
  if (Array.isArray(entry[0])) return entry[0];
  return entry[1]?.options || entry[1]?.values || [];
}

/** Kind of widget row to draw for a spec. */
export function widgetKind(spec) {
  const type = Array.isArray(spec.type) ? 'COMBO' : spec.type;
  if (type === 'INT' || type === 'FLOAT') return 'number';
  if (type === 'BOOLEAN') return 'toggle';
  if (type === 'COMBO') return 'combo';
  if (type === 'STRING') return spec.options?.multiline ? 'multiline' : 'text';
  return 'text';
}

/** Title shown for a node. */
export function nodeTitle(node, def) {
  return node.title || def?.display_name || node.type;
}

/** Whether node images (outputs, previews, the LoadImage selection) have an area below widgets. */
function imageSource(node, state) {
  if (state?.preview) return true;
  if (state?.images?.length) return true;
  return node.type === 'LoadImage' || node.type === 'LoadImageMask';
}

/**
 * Lay out a node.
 * @param {object} node UI workflow node
 * @param {object|undefined} def its /object_info entry (undefined when missing or frontend-only)
 * @param {object} [options] {forced: Set of converted widget names, state: runtime state,
 *   imageAspect: height/width of the first image when known}
 * @returns {object} {x, y, w, h, title:{x,y,w,h}, inputs:[{slot,x,y,shown,widget}],
 *   outputs:[{slot,x,y}], widgets:[{kind,name,spec,valueIndex,x,y,w,h}], image, minH, collapsed}
 */
export function layoutNode(node, def, options = {}) {
  const [x, y] = node.pos;
  if (node.type === 'Reroute') return layoutReroute(node);
  const forced = options.forced || new Set();
  const w = Math.max(node.size?.[0] || MIN_W, 60);
  if (node.flags?.collapsed) return layoutCollapsed(node, def, x, y);

  const specs = specsOf(def);
  const specByName = new Map(specs.map((s) => [s.name, s]));
  const inputs = node.inputs || [];
  const isSocket = (input) => {
    const widgetName = input.widget?.name ?? (specByName.has(input.name) ? input.name : null);
    if (!widgetName || !def) return true;
    return input.link != null || forced.has(widgetName);
  };
  const socketRows = [];
  inputs.forEach((input, slot) => { if (isSocket(input)) socketRows.push(slot); });
  const outputs = node.outputs || [];
  const rows = Math.max(socketRows.length, outputs.length);

  const layout = {
    x, y, w, h: 0, collapsed: false,
    title: { x, y: y - TITLE_H, w, h: TITLE_H },
    inputs: inputs.map((input, slot) => ({ slot, name: input.name, type: input.type, x, y: 0, shown: false, widget: null })),
    outputs: outputs.map((output, slot) => ({ slot, name: output.name, type: output.type, x: x + w, y: y + SLOT_H * (slot + 0.5) + 2 })),
    widgets: [],
    image: null,
  };
  socketRows.forEach((slot, row) => {
    Object.assign(layout.inputs[slot], { shown: true, y: y + SLOT_H * (row + 0.5) + 2 });
  });

  // Widget rows, in definition order, for widget inputs not shown as sockets.
  let cy = y + rows * SLOT_H + (rows ? 6 : 4);
  const rowW = w - WIDGET_MARGIN * 2;
  const addRow = (row, h = WIDGET_H) => {
    layout.widgets.push({ ...row, x: x + WIDGET_MARGIN, y: cy, w: rowW, h });
    cy += h + WIDGET_GAP;
  };
  const valueRows = widgetRowsFor(node, def, specs);
  for (const row of valueRows) {
    const slot = inputs.findIndex((i) => (i.widget?.name ?? i.name) === row.name);
    const asSocket = row.spec && slot >= 0 && isSocket(inputs[slot]);
    if (asSocket) continue;
    if (row.controlOf) {
      const owner = inputs.findIndex((i) => (i.widget?.name ?? i.name) === row.controlOf);
      if (owner >= 0 && isSocket(inputs[owner])) continue;
    }
    addRow(row, row.kind === 'multiline' ? MULTILINE_MIN_H : WIDGET_H);
    if (slot >= 0) {
      const r = layout.widgets[layout.widgets.length - 1];
      Object.assign(layout.inputs[slot], { y: r.y + r.h / 2, widget: row.name });
    }
  }
  const widgetsBottom = cy;

  // Extra height from the node's size goes to multiline widgets, or else to the image area.
  const minH = widgetsBottom - y + 2;
  const wantsImage = imageSource(node, options.state);
  const imageMin = wantsImage ? 60 : 0;
  const h = Math.max(node.size?.[1] || 0, minH + imageMin);
  const extra = h - minH;
  const multilines = layout.widgets.filter((r) => r.kind === 'multiline');
  if (!wantsImage && multilines.length && extra > 0) {
    const each = extra / multilines.length;
    let shift = 0;
    for (const r of layout.widgets) {
      r.y += shift;
      if (r.kind === 'multiline') { r.h += each; shift += each; }
    }
    for (const input of layout.inputs) {
      const r = input.widget ? layout.widgets.find((row) => row.name === input.widget) : null;
      if (r) input.y = r.y + r.h / 2;
    }
  } else if (wantsImage) {
    layout.image = { x: x + 6, y: widgetsBottom, w: w - 12, h: Math.max(0, y + h - widgetsBottom - 6) };
  }
  layout.h = h;
  layout.minH = minH + imageMin;
  layout.widgetsBottom = widgetsBottom;
  return layout;
}

/** Rows for widget values: from the definition, or read-only rows for unknown types. */
function widgetRowsFor(node, def, specs) {
  const rows = [];
  if (!def) {
    (Array.isArray(node.widgets_values) ? node.widgets_values : []).forEach((value, i) => {
      rows.push({ kind: 'readonly', name: `value ${i}`, spec: null, valueIndex: i });
    });
    return rows;
  }
  for (const spec of specs) {
    rows.push({ kind: widgetKind(spec), name: spec.name, spec, valueIndex: spec.valueIndex });
    if (spec.control) {
      rows.push({ kind: 'control', name: 'control_after_generate', spec: null, valueIndex: spec.controlIndex, controlOf: spec.name });
    }
    if (spec.upload) {
      rows.push({ kind: 'upload', name: 'upload', spec: null, valueIndex: spec.uploadIndex, controlOf: spec.name, uploadFor: spec.name });
    }
  }
  return rows;
}

/** A reroute: a dot in the middle of its box, with small input/output nubs either side. */
function layoutReroute(node) {
  const [x, y] = node.pos;
  const [w, h] = node.size?.length === 2 ? node.size : [75, 26];
  const cx = x + w / 2;
  const cy = y + h / 2;
  return {
    x, y, w, h, reroute: true, cx, cy, collapsed: false,
    title: null,
    inputs: [{ slot: 0, x: cx - REROUTE_NUB, y: cy, shown: true, widget: null, name: '', type: node.inputs?.[0]?.type }],
    outputs: [{ slot: 0, x: cx + REROUTE_NUB, y: cy, name: '', type: node.outputs?.[0]?.type }],
    widgets: [], image: null, minH: h,
  };
}

/** A collapsed node: only a title pill; links attach to its ends. */
function layoutCollapsed(node, def, x, y) {
  const w = Math.max(80, nodeTitle(node, def).length * 8 + 50);
  const midY = y - TITLE_H / 2;
  return {
    x, y, w, h: 0, collapsed: true,
    title: { x, y: y - TITLE_H, w, h: TITLE_H },
    inputs: (node.inputs || []).map((input, slot) => ({ slot, x, y: midY, shown: true, widget: null, name: input.name, type: input.type })),
    outputs: (node.outputs || []).map((output, slot) => ({ slot, x: x + w, y: midY, name: output.name, type: output.type })),
    widgets: [], image: null, minH: 0,
  };
}

/** Bounding box (title included) of a laid-out node, for selection and culling. */
export function nodeBounds(layout) {
  if (layout.reroute) return { x: layout.x, y: layout.y, w: layout.w, h: layout.h };
  return { x: layout.x, y: layout.y - TITLE_H, w: layout.w, h: layout.h + TITLE_H };
}

/** Point on a link's bezier curve at t (0..1), for midpoints and hit tests. */
export function bezierPoint(a, b, t) {
  const d = Math.max(Math.abs(b[0] - a[0]) * 0.5, 40);
  const p1 = [a[0] + d, a[1]];
  const p2 = [b[0] - d, b[1]];
  const u = 1 - t;
  return [
    u * u * u * a[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * b[0],
    u * u * u * a[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * b[1],
  ];
}

/** Control points of a link curve from output a to input b. */
export function bezierControls(a, b) {
  const d = Math.max(Math.abs(b[0] - a[0]) * 0.5, 40);
  return [[a[0] + d, a[1]], [b[0] - d, b[1]]];
}
