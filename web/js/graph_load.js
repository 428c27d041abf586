// Loading: loadWorkflow validates a UI workflow (schema 0.4 or 1) and normalises it into the
// editor's schema 0.4 model.

import {
  CONTROL_MODES, declaredInputs, deepCopy, defaultValue, FRONTEND_DEFS, FRONTEND_ONLY_TYPES,
  hasOwn, isPlainObject, MODE_ALWAYS, socketType, widgetSpecs,
} from './graph_defs.js';
import { emptyWorkflow, updateRerouteTypes } from './graph_edit.js';
import { consumeWidgetValues, MISSING } from './graph_convert.js';

// ---------------------------------------------------------------------------------------------
// Loading

function fail(where, message) {
  throw new Error(`invalid UI workflow at ${where}: ${message}`);
}

function isId(value) {
  return Number.isInteger(value) || typeof value === 'string';
}

function validateNode(node, index) {
  if (!isPlainObject(node)) fail(`nodes[${index}]`, 'must be an object');
  const where = isId(node.id) ? `nodes[${index}] (node ${JSON.stringify(node.id)})` : `nodes[${index}]`;
  if (!isId(node.id)) fail(where, '"id" must be an integer or a string');
  if (typeof node.type !== 'string' || !node.type) fail(where, '"type" must be a non-empty string');
  if (node.title !== undefined && typeof node.title !== 'string') fail(`${where}.title`, 'must be a string');
  if (node.mode !== undefined && !Number.isInteger(node.mode)) fail(`${where}.mode`, 'must be an integer');
  if (node.inputs !== undefined && node.inputs !== null) {
    if (!Array.isArray(node.inputs)) fail(`${where}.inputs`, 'must be a list');
    node.inputs.forEach((input, i) => {
      if (!isPlainObject(input)) fail(`${where}.inputs[${i}]`, 'must be an object');
      if (typeof input.name !== 'string') fail(`${where}.inputs[${i}].name`, 'must be a string');
      if (input.link !== undefined && input.link !== null && !Number.isInteger(input.link)) {
        fail(`${where}.inputs[${i}].link`, 'must be an integer or null');
      }
      if (input.widget !== undefined && !isPlainObject(input.widget)) {
        fail(`${where}.inputs[${i}].widget`, 'must be an object');
      }
    });
  }
  if (node.outputs !== undefined && node.outputs !== null) {
    if (!Array.isArray(node.outputs)) fail(`${where}.outputs`, 'must be a list');
    node.outputs.forEach((output, i) => {
      if (!isPlainObject(output)) fail(`${where}.outputs[${i}]`, 'must be an object');
      const links = output.links;
      if (links != null && (!Array.isArray(links) || !links.every(Number.isInteger))) {
        fail(`${where}.outputs[${i}].links`, 'must be a list of link ids');
      }
    });
  }
  const values = node.widgets_values;
  if (values !== undefined && values !== null && typeof values !== 'object') {
    fail(`${where}.widgets_values`, 'must be a list or an object');
  }
  if (node.properties !== undefined && !isPlainObject(node.properties)) {
    fail(`${where}.properties`, 'must be an object');
  }
}

function normaliseLink(raw, index) {
  const where = `links[${index}]`;
  let link;
  if (Array.isArray(raw)) {
    if (raw.length < 5) fail(where, 'must have at least 5 items [id, origin, slot, target, slot]');
    link = [raw[0], raw[1], raw[2], raw[3], raw[4], raw.length > 5 ? raw[5] : '*'];
  } else if (isPlainObject(raw)) {
    link = [raw.id, raw.origin_id, raw.origin_slot, raw.target_id, raw.target_slot, raw.type ?? '*'];
  } else {
    fail(where, 'must be a list or an object');
  }
  if (!Number.isInteger(link[0])) fail(where, 'link id must be an integer');
  if (!isId(link[1]) || !isId(link[3])) fail(where, 'node ids must be integers or strings');
  if (!Number.isInteger(link[2]) || !Number.isInteger(link[4])) fail(where, 'slots must be integers');
  return link;
}

/**
 * Rebuild a known node's inputs in def order (every declared input, widget inputs marked)
 * and its widgets_values in the canonical layout, reading the saved values exactly as the
 * converter does; links into re-ordered inputs get their target slot fixed.
 */
function normaliseKnownNode(node, def, linksById) {
  const values = consumeWidgetValues(node, def);
  const old = node.inputs ?? [];
  const byName = new Map(old.map((i) => [i.name, i]));
  const specs = widgetSpecs(def);
  const specNames = new Set(specs.map((s) => s.name));
  const declared = new Set();
  for (const section of Object.values(def.input ?? {})) {
    if (isPlainObject(section)) for (const name of Object.keys(section)) declared.add(name);
  }
  const inputs = [];
  if (!def.frontend_only) {
    for (const input of declaredInputs(def)) {
      const saved = byName.get(input.name);
      const entry = saved ? { ...saved } : { name: input.name };
      entry.type = input.type;
      entry.link = saved?.link ?? null;
      if (specNames.has(input.name)) entry.widget = { ...(isPlainObject(saved?.widget) ? saved.widget : {}), name: input.name };
      else delete entry.widget;
      inputs.push(entry);
    }
  }
  const seen = new Set();
  for (const saved of old) {  // variadic / dynamic sockets keep their place after the declared
    if (declared.has(saved.name) || seen.has(saved.name)) continue;
    seen.add(saved.name);
    inputs.push(saved);
  }
  inputs.forEach((input, slot) => {
    const link = linksById.get(input.link);
    if (link && String(link[3]) === String(node.id)) link[4] = slot;
  });
  node.inputs = inputs;

  const canonical = [];
  for (const spec of specs) {
    const got = values.get(spec.name);
    canonical.push(got && got.value !== MISSING ? got.value : defaultValue(spec));
    if (spec.control) {
      const extra = got?.extra;
      canonical.push(CONTROL_MODES.includes(extra) ? extra : extra === true ? 'randomize' : 'fixed');
    }
    if (spec.upload) canonical.push(spec.uploadValue);
  }
  node.widgets_values = canonical;

  const outputs = node.outputs ?? [];
  (Array.isArray(def.output) ? def.output : []).forEach((outType, slot) => {
    if (slot < outputs.length) return;
    outputs.push({ name: def.output_name?.[slot] ?? socketType(outType), type: socketType(outType),
                   links: [], slot_index: slot });
  });
  node.outputs = outputs;
}

/**
 * Load a UI workflow (schema 0.4 or 1, object or JSON text) into the editor's model: a fresh
 * schema 0.4 object with counters, defaults, nodes of known types normalised (every declared
 * input present, canonical widgets_values) and unknown types kept untouched and reported in
 * `missing`. Throws an Error naming the node or link at fault when the shape is wrong.
 */
export function loadWorkflow(json, defs) {
  let data = json;
  if (typeof data === 'string') {
    try { data = JSON.parse(data); } catch (error) {
      throw new Error(`invalid UI workflow: not JSON (${error.message})`);
    }
  }
  if (!isPlainObject(data)) throw new Error('invalid UI workflow at top level: must be an object');
  if (!Array.isArray(data.nodes)) {
    const looksApi = Object.values(data).some((v) => isPlainObject(v) && 'class_type' in v);
    throw new Error(looksApi
      ? 'this is an API-format prompt, not a UI workflow (it has no "nodes" list)'
      : 'invalid UI workflow at top level: "nodes" must be a list');
  }
  data.nodes.forEach(validateNode);
  if (data.links != null && !Array.isArray(data.links)) fail('links', 'must be a list');
  if (data.groups != null && !Array.isArray(data.groups)) fail('groups', 'must be a list');
  const ids = new Set();
  for (const node of data.nodes) {
    if (ids.has(String(node.id))) throw new Error(`invalid UI workflow: node id ${node.id} appears more than once`);
    ids.add(String(node.id));
  }

  const source = deepCopy(data);
  const { state, reroutes, floatingLinks, ...rest } = source;
  const wf = { ...emptyWorkflow(), ...rest };
  wf.links = (source.links ?? []).map(normaliseLink);
  wf.groups = (source.groups ?? []).filter(isPlainObject);
  wf.config = isPlainObject(source.config) ? source.config : {};
  wf.extra = isPlainObject(source.extra) ? source.extra : {};
  if (!isPlainObject(wf.extra.ds)) wf.extra.ds = { scale: 1, offset: [0, 0] };
  wf.version = 0.4;
  const counters = isPlainObject(state) ? state : {};
  const maxNode = wf.nodes.reduce((m, n) => (Number.isInteger(n.id) ? Math.max(m, n.id) : m), 0);
  const maxLink = wf.links.reduce((m, l) => Math.max(m, l[0]), 0);
  wf.last_node_id = Math.max(maxNode, Number(source.last_node_id ?? counters.lastNodeId) || 0);
  wf.last_link_id = Math.max(maxLink, Number(source.last_link_id ?? counters.lastLinkId) || 0);

  const linksById = new Map(wf.links.map((l) => [l[0], l]));
  const missing = new Set();
  wf.nodes.forEach((node, index) => {
    node.pos = Array.isArray(node.pos) ? node.pos : (isPlainObject(node.pos) ? [node.pos[0] ?? 0, node.pos[1] ?? 0] : [0, 0]);
    node.size = Array.isArray(node.size) ? node.size : [220, 80];
    node.flags = isPlainObject(node.flags) ? node.flags : {};
    node.order = typeof node.order === 'number' ? node.order : index;
    node.mode = Number.isInteger(node.mode) ? node.mode : MODE_ALWAYS;
    node.inputs = Array.isArray(node.inputs) ? node.inputs : [];
    node.outputs = Array.isArray(node.outputs) ? node.outputs : [];
    for (const output of node.outputs) if (!Array.isArray(output.links)) output.links = [];
    node.properties = isPlainObject(node.properties) ? node.properties : {};
    const def = hasOwn(defs, node.type) ? defs[node.type] : null;
    if (def) normaliseKnownNode(node, def, linksById);
    else if (hasOwn(FRONTEND_DEFS, node.type) && node.widgets_values == null) node.widgets_values = [''];
    else if (!FRONTEND_ONLY_TYPES.has(node.type)) missing.add(node.type);
    if (node.widgets_values === undefined) node.widgets_values = [];
  });
  updateRerouteTypes(wf);
  return { wf, missing: [...missing].sort() };
}
