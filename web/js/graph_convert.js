// UI -> API conversion: toPrompt turns a UI workflow into the API prompt the server runs
// (a faithful port of nodegraph/ui_workflow.py), including the pairing of widget inputs with
// widgets_values that loading reuses (MISSING and consumeWidgetValues, not re-exported).

import {
  canConnect, CONTROL_MODES, declaredInputs, FRONTEND_ONLY_TYPES, hasOwn, isPlainObject,
  isWildcard, LEGACY_SEED_NAMES, MODE_BYPASS, MODE_MUTED, truthy, UPLOAD_FLAGS, WIDGET_TYPES,
} from './graph_defs.js';

const UPLOAD_BUTTON_VALUES = new Set(['image', 'video', 'audio', 'upload']);
export const MISSING = Symbol('missing');

// ---------------------------------------------------------------------------------------------
// UI -> API conversion (a faithful port of nodegraph/ui_workflow.py)

/** Wrap list literals, because the server reads every list as a link. */
function wrap(value) {
  return Array.isArray(value) ? { __value__: value } : value;
}

/** litegraph's isValidConnection as the Python converter implements it. */
function typesMatch(a, b) {
  return canConnect(a, b);
}

function isWidgetInput(type, opts, uiInput) {
  const hasWidgetEntry = uiInput != null && isPlainObject(uiInput.widget);
  const standard = Array.isArray(type) || (typeof type === 'string' && WIDGET_TYPES.has(type));
  if (!standard || truthy(opts.forceInput)) return hasWidgetEntry;
  return true;
}

/** How many non-serialised values (control mode, upload button) follow an input's value. */
function extraWidgetValues(name, type, opts, following) {
  const controlled = truthy(opts.control_after_generate)
    || (type === 'INT' && LEGACY_SEED_NAMES.has(name));
  if (controlled && (following === null || typeof following === 'boolean'
      || (typeof following === 'string' && CONTROL_MODES.includes(following)))) {
    return 1;
  }
  const uploads = Object.keys(UPLOAD_FLAGS).some((flag) => truthy(opts[flag]));
  if (uploads && (following === null
      || (typeof following === 'string' && UPLOAD_BUTTON_VALUES.has(following)))) {
    return 1;
  }
  return 0;
}

/**
 * Walk a node's widget inputs as the converter does, pairing them with widgets_values.
 * Returns Map name -> {value, extra} (value MISSING when none was stored; extra is the
 * control/upload value consumed after it, if any).
 */
export function consumeWidgetValues(node, def) {
  const uiInputs = new Map((node.inputs ?? []).map((i) => [i.name, i]));
  const values = node.widgets_values;
  const positional = Array.isArray(values) ? values : null;
  const byName = isPlainObject(values) ? values : {};
  const result = new Map();
  let cursor = 0;
  for (const { name, rawType, options } of declaredInputs(def)) {
    if (!isWidgetInput(rawType, options, uiInputs.get(name))) continue;
    let value = MISSING;
    let extra;
    if (positional !== null && cursor < positional.length) {
      value = positional[cursor];
      cursor += 1;
      if (cursor < positional.length) {
        const skip = extraWidgetValues(name, rawType, options, positional[cursor]);
        if (skip) extra = positional[cursor];
        cursor += skip;
      }
    } else if (hasOwn(byName, name)) {
      value = byName[name];
    }
    result.set(name, { value, extra });
  }
  return result;
}

function parseLink(raw) {
  if (Array.isArray(raw)) {
    return { id: Number(raw[0]), originId: String(raw[1]), originSlot: Number(raw[2]),
             type: raw.length > 5 ? raw[5] : null };
  }
  return { id: Number(raw.id), originId: String(raw.origin_id), originSlot: Number(raw.origin_slot),
           type: raw.type ?? null };
}

class Converter {
  constructor(wf, defs) {
    this.defs = defs ?? {};
    this.errors = [];
    this.nodes = new Map();
    for (const node of wf.nodes ?? []) {
      const key = String(node.id);
      if (this.nodes.has(key)) {
        this.errors.push({ nodeId: node.id, message: `node id ${node.id} appears more than once` });
      }
      this.nodes.set(key, node);
    }
    this.links = new Map();
    for (const raw of wf.links ?? []) {
      const link = parseLink(raw);
      this.links.set(link.id, link);
    }
    this.subgraphIds = new Set(
      (wf.definitions?.subgraphs ?? []).filter((s) => s && s.id != null).map((s) => String(s.id)));
  }

  convert() {
    const output = {};
    const ordered = [...this.nodes.values()]
      .map((node, index) => ({ node, index }))
      .sort((a, b) => orderKey(a.node) - orderKey(b.node) || a.index - b.index);
    for (const { node } of ordered) {
      const classType = node.type;
      if (this.subgraphIds.has(classType)) {
        this.errors.push({ nodeId: node.id, message:
          `node ${node.id} is an instance of subgraph ${classType}: subgraphs are not supported yet` });
        continue;
      }
      if (FRONTEND_ONLY_TYPES.has(classType) || node.mode === MODE_MUTED
          || node.mode === MODE_BYPASS) continue;
      const info = hasOwn(this.defs, classType) ? this.defs[classType] : null;
      const inputs = truthy(info) ? this.knownInputs(node, info) : this.unknownInputs(node);
      let title = node.title;
      if (typeof title !== 'string' || !title) title = info?.display_name || classType;
      output[String(node.id)] = { class_type: classType, inputs, _meta: { title } };
    }
    for (const entry of Object.values(output)) {
      for (const [name, value] of Object.entries(entry.inputs)) {
        if (Array.isArray(value) && value.length === 2 && !hasOwn(output, value[0])) {
          delete entry.inputs[name];
        }
      }
    }
    return output;
  }

  knownInputs(node, info) {
    const uiInputs = new Map((node.inputs ?? []).map((i) => [i.name, i]));
    const values = consumeWidgetValues(node, info);
    const inputs = {};
    for (const { name } of declaredInputs(info)) {
      const value = values.has(name) ? values.get(name).value : MISSING;
      this.store(inputs, name, this.resolveInput(node, uiInputs.get(name)), value);
    }
    const declared = new Set();
    for (const section of Object.values(info.input ?? {})) {
      if (isPlainObject(section)) for (const name of Object.keys(section)) declared.add(name);
    }
    for (const [name, uiInput] of uiInputs) {
      if (!declared.has(name)) this.store(inputs, name, this.resolveInput(node, uiInput), MISSING);
    }
    return inputs;
  }

  unknownInputs(node) {
    const values = node.widgets_values;
    const inputs = {};
    if (isPlainObject(values)) for (const [k, v] of Object.entries(values)) inputs[k] = wrap(v);
    for (const uiInput of node.inputs ?? []) {
      const name = uiInput.name;
      this.store(inputs, name, this.resolveInput(node, uiInput),
                 hasOwn(inputs, name) ? inputs[name] : MISSING);
    }
    return inputs;
  }

  store(inputs, name, resolved, value) {
    if (resolved.kind === 'link') inputs[name] = [resolved.originId, resolved.originSlot];
    else if (resolved.kind === 'literal') inputs[name] = wrap(resolved.value);
    else if (resolved.kind === 'unlinked' && value !== MISSING) inputs[name] = wrap(value);
    else delete inputs[name];
  }

  resolveInput(node, uiInput) {
    if (uiInput == null || uiInput.link == null) return UNLINKED;
    return this.resolveLink(Number(uiInput.link), node);
  }

  resolveLink(linkId, consumer) {
    const seen = new Set();
    for (;;) {
      if (seen.has(linkId)) {
        this.errors.push({ nodeId: consumer.id, message:
          `link ${linkId} into node ${consumer.id} loops through Reroute or bypassed nodes` });
        return DROPPED;
      }
      seen.add(linkId);
      const link = this.links.get(linkId);
      const origin = link ? this.nodes.get(link.originId) : undefined;
      if (!link || !origin) return UNLINKED;
      let nextId;
      if (origin.type === 'Reroute') {
        nextId = inputLink(origin, 0);
      } else if (origin.type === 'PrimitiveNode') {
        const values = origin.widgets_values;
        if (Array.isArray(values) && values.length) return { kind: 'literal', value: values[0] };
        return UNLINKED;
      } else if (origin.mode === MODE_BYPASS) {
        const slot = bypassInputSlot(origin, link);
        if (slot === null) return DROPPED;
        nextId = inputLink(origin, slot);
        if (nextId === null) return DROPPED;
      } else {
        return { kind: 'link', originId: link.originId, originSlot: link.originSlot };
      }
      if (nextId === null) return UNLINKED;
      linkId = nextId;
    }
  }
}

const UNLINKED = { kind: 'unlinked' };
const DROPPED = { kind: 'dropped' };

function orderKey(node) {
  return typeof node.order === 'number' ? node.order : Infinity;
}

function inputLink(node, slot) {
  const input = (node.inputs ?? [])[slot];
  if (!input || input.link == null) return null;
  return Number(input.link);
}

/** The input a bypassed node passes through to output `link.originSlot` (see Python). */
function bypassInputSlot(node, link) {
  const inputs = node.inputs ?? [];
  const outputs = node.outputs ?? [];
  const slot = link.originSlot;
  let outType = link.type;
  if (slot >= 0 && slot < outputs.length) {
    outType = hasOwn(outputs[slot], 'type') ? outputs[slot].type : link.type;
  }
  if (!inputs.length) return null;
  if (isWildcard(outType)) return slot < inputs.length ? slot : 0;
  if (slot < inputs.length && typesMatch(inputs[slot].type, outType)) return slot;
  const index = inputs.findIndex((i) => i.type === outType);
  return index >= 0 ? index : null;
}

/**
 * Convert the UI workflow into the API prompt the server runs, exactly as
 * nodegraph/ui_workflow.py (and ComfyUI's graphToPrompt) do. Unknown classes are kept so the
 * server's validation can name them. `errors` lists structural problems ([{nodeId, message}]:
 * duplicate ids, reroute/bypass loops, subgraphs); the prompt should not be queued when any.
 */
export function toPrompt(wf, defs) {
  const converter = new Converter(wf, defs);
  const prompt = converter.convert();
  return { prompt, errors: converter.errors };
}
