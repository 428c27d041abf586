// Widget values of a node in a workflow: get/set (checked against the definition), the
// control_after_generate mode, and moving controlled widgets (seeds) on after a queue.

import {
  clampWidgetValue, CONTROL_MODES, isPlainObject, nodeDef, widgetSpec, widgetSpecs,
} from './graph_defs.js';
import { findLink, findNode } from './graph_edit.js';

// ---------------------------------------------------------------------------------------------
// Widgets

function widgetLocation(wf, nodeId, name, defs) {
  const node = findNode(wf, nodeId);
  if (!node) throw new Error(`node ${nodeId} does not exist`);
  const def = nodeDef(defs, node.type);
  const spec = def ? widgetSpec(def, name) : null;
  return { node, spec };
}

/** Current value of widget `name` (undefined when the node has no such widget). */
export function getWidget(wf, nodeId, name, defs) {
  const { node, spec } = widgetLocation(wf, nodeId, name, defs);
  const values = node.widgets_values;
  if (isPlainObject(values)) return values[name];
  if (!spec || !Array.isArray(values)) return undefined;
  return values[spec.valueIndex];
}

/**
 * Set widget `name`, checked against the def (see clampWidgetValue). Returns
 * {ok:true, value} with the value stored, or {ok:false, reason} leaving the node unchanged.
 */
export function setWidget(wf, nodeId, name, value, defs) {
  const { node, spec } = widgetLocation(wf, nodeId, name, defs);
  if (!spec) {
    if (isPlainObject(node.widgets_values)) {
      node.widgets_values[name] = value;
      return { ok: true, value };
    }
    return { ok: false, reason: `${node.type} has no widget "${name}"` };
  }
  const checked = clampWidgetValue(spec, value);
  if (!checked.ok) return checked;
  if (isPlainObject(node.widgets_values)) node.widgets_values[name] = checked.value;
  else {
    if (!Array.isArray(node.widgets_values)) node.widgets_values = [];
    node.widgets_values[spec.valueIndex] = checked.value;
  }
  return checked;
}

/** Control mode (fixed/increment/decrement/randomize) of widget `name`, or null. */
export function getControlMode(wf, nodeId, name, defs) {
  const { node, spec } = widgetLocation(wf, nodeId, name, defs);
  if (!spec?.control || !Array.isArray(node.widgets_values)) return null;
  return node.widgets_values[spec.controlIndex] ?? null;
}

/** Set the control mode of widget `name`; returns {ok} or {ok:false, reason}. */
export function setControlMode(wf, nodeId, name, mode, defs) {
  const { node, spec } = widgetLocation(wf, nodeId, name, defs);
  if (!spec?.control) return { ok: false, reason: `"${name}" has no control_after_generate` };
  if (!CONTROL_MODES.includes(mode)) return { ok: false, reason: `unknown control mode "${mode}"` };
  node.widgets_values[spec.controlIndex] = mode;
  return { ok: true, value: mode };
}

/** Next value of a controlled widget, as ComfyUI computes it after a queue. */
function controlledValue(spec, value, mode, random) {
  if (spec.type === 'COMBO') {
    const choices = spec.choices ?? [];
    if (!choices.length) return value;
    const at = Math.max(0, choices.indexOf(value));
    if (mode === 'increment') return choices[Math.min(choices.length - 1, at + 1)];
    if (mode === 'decrement') return choices[Math.max(0, at - 1)];
    if (mode === 'randomize') return choices[Math.floor(random() * choices.length)];
    return value;
  }
  if (typeof value !== 'number') return value;
  const opts = spec.options;
  const step = typeof opts.step === 'number' && opts.step > 0 ? opts.step : 1;
  const max = Math.min(Number.MAX_SAFE_INTEGER, typeof opts.max === 'number' ? opts.max : Infinity);
  const bounded = typeof opts.min === 'number';
  const min = bounded ? Math.max(-Number.MAX_SAFE_INTEGER, opts.min) : -Number.MAX_SAFE_INTEGER;
  let next = value;
  if (mode === 'increment') next = value + step;
  else if (mode === 'decrement') next = value - step;
  else if (mode === 'randomize') {
    const low = bounded ? min : 0;  // without a min, draw from [0, max] like a seed
    const slots = Math.floor((max - low) / step) + 1;
    next = low + Math.floor(random() * slots) * step;
    if (spec.type === 'INT') next = Math.round(next);
  } else return value;
  return Math.min(max, Math.max(min, next));
}

/**
 * After queueing: move every controlled widget (seeds) on by its mode, within min/max (max
 * capped to Number.MAX_SAFE_INTEGER). PrimitiveNodes with a control value are handled using the
 * widget they feed. Linked widgets are left alone. Returns the ids of the nodes changed.
 */
export function applyControlAfterGenerate(wf, defs, random = Math.random) {
  const changed = [];
  for (const node of wf.nodes) {
    const values = node.widgets_values;
    if (!Array.isArray(values)) continue;
    let touched = false;
    if (node.type === 'PrimitiveNode') {
      const spec = primitiveTargetSpec(wf, node, defs);
      const mode = values[1];
      if (spec && CONTROL_MODES.includes(mode)) {
        const next = controlledValue(spec, values[0], mode, random);
        if (next !== values[0]) { values[0] = next; touched = true; }
      }
    } else {
      const def = nodeDef(defs, node.type);
      for (const spec of def ? widgetSpecs(def) : []) {
        if (!spec.control) continue;
        const input = node.inputs?.find((i) => i.name === spec.name);
        if (input && input.link != null) continue;
        const value = values[spec.valueIndex];
        const next = controlledValue(spec, value, values[spec.controlIndex], random);
        if (next !== value) { values[spec.valueIndex] = next; touched = true; }
      }
    }
    if (touched) changed.push(node.id);
  }
  return changed;
}

/** The widget spec a PrimitiveNode drives: the widget input its first link lands on. */
function primitiveTargetSpec(wf, node, defs) {
  for (const linkId of node.outputs?.[0]?.links ?? []) {
    const link = findLink(wf, linkId);
    const target = link && findNode(wf, link[3]);
    const input = target?.inputs?.[link[4]];
    const def = target && nodeDef(defs, target.type);
    const name = input?.widget?.name ?? input?.name;
    const spec = def && name ? widgetSpec(def, name) : null;
    if (spec) return { ...spec, control: true };
  }
  return null;
}
