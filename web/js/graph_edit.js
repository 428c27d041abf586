// Structural edits of a workflow, in place: lookups, create/remove nodes, connect/disconnect,
// reroutes (and their type propagation), groups and the copy/paste clipboard.

import {
  canConnect, declaredInputs, deepCopy, defaultControl, defaultValue, isWildcard, MODE_ALWAYS,
  socketType, widgetSpecs,
} from './graph_defs.js';

/** Find a node by id (ids compare as strings, as the server does). */
export function findNode(wf, id) {
  const key = String(id);
  return wf.nodes.find((n) => String(n.id) === key) ?? null;
}

/** Find a link array by id. */
export function findLink(wf, linkId) {
  if (linkId == null) return null;
  return wf.links.find((l) => l[0] === linkId) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Workflow and nodes

/** A new, empty schema 0.4 workflow. */
export function emptyWorkflow() {
  return {
    last_node_id: 0, last_link_id: 0, nodes: [], links: [], groups: [], config: {},
    extra: { ds: { scale: 1, offset: [0, 0] } }, version: 0.4,
  };
}

/** Estimate a node's size from its rows so it is readable before the view measures it. */
function estimateSize(title, inputs, outputs, specs) {
  const sockets = Math.max(inputs.filter((i) => !i.widget).length, outputs.length);
  const widgetRows = specs.reduce(
    (rows, s) => rows + (s.type === 'STRING' && s.options.multiline ? 3 : 1), 0);
  const labels = [title, ...inputs.map((i) => i.name), ...outputs.map((o) => o.name)];
  const longest = Math.max(0, ...labels.map((l) => String(l).length));
  const width = Math.min(320, Math.max(220, 40 + longest * 8));
  return [width, 30 + 22 * Math.max(1, sockets + widgetRows)];
}

function nextOrder(wf) {
  return wf.nodes.reduce((max, n) => Math.max(max, typeof n.order === 'number' ? n.order : -1), -1)
    + 1;
}

function newNodeId(wf) {
  const maxId = wf.nodes.reduce((m, n) => (Number.isInteger(n.id) ? Math.max(m, n.id) : m), 0);
  wf.last_node_id = Math.max(Number(wf.last_node_id) || 0, maxId) + 1;
  return wf.last_node_id;
}

function newLinkId(wf) {
  const maxId = wf.links.reduce((m, l) => Math.max(m, l[0]), 0);
  wf.last_link_id = Math.max(Number(wf.last_link_id) || 0, maxId) + 1;
  return wf.last_link_id;
}

function rerouteNode(wf, pos) {
  return {
    id: newNodeId(wf), type: 'Reroute', pos: [...pos], size: [75, 26], flags: {},
    order: nextOrder(wf), mode: MODE_ALWAYS,
    inputs: [{ name: '', type: '*', link: null }],
    outputs: [{ name: '', type: '*', links: [], slot_index: 0 }],
    properties: { showOutputText: false, horizontal: false }, widgets_values: [],
  };
}

/**
 * Append a node of `type` built from its definition: every declared input as a socket (widget
 * inputs marked with `widget`), outputs from the def, widget defaults (plus control and upload
 * extras) and a size estimate. Returns the node.
 */
export function createNode(wf, type, def, pos = [0, 0]) {
  if (type === 'Reroute') {
    const node = rerouteNode(wf, pos);
    wf.nodes.push(node);
    return node;
  }
  if (!def) throw new Error(`cannot create a "${type}" node: its definition is unknown`);
  const specs = widgetSpecs(def);
  const specNames = new Set(specs.map((s) => s.name));
  const inputs = def.frontend_only ? [] : declaredInputs(def).map((input) => {
    const socket = { name: input.name, type: input.type, link: null };
    if (specNames.has(input.name)) socket.widget = { name: input.name };
    return socket;
  });
  const outputTypes = Array.isArray(def.output) ? def.output : [];
  const outputs = outputTypes.map((outType, slot) => ({
    name: def.output_name?.[slot] ?? socketType(outType),
    type: socketType(outType),
    links: [],
    slot_index: slot,
  }));
  const widgetsValues = [];
  for (const spec of specs) {
    widgetsValues.push(defaultValue(spec));
    if (spec.control) widgetsValues.push(defaultControl(spec.options));
    if (spec.upload) widgetsValues.push(spec.uploadValue);
  }
  const node = {
    id: newNodeId(wf), type, pos: [...pos],
    size: estimateSize(def.display_name || type, inputs, outputs, specs),
    flags: {}, order: nextOrder(wf), mode: MODE_ALWAYS, inputs, outputs,
    properties: { 'Node name for S&R': type }, widgets_values: widgetsValues,
  };
  wf.nodes.push(node);
  return node;
}

/** Remove a link by id from the links table and from both of its ends. */
export function removeLink(wf, linkId) {
  const index = wf.links.findIndex((l) => l[0] === linkId);
  if (index < 0) return null;
  const [link] = wf.links.splice(index, 1);
  const origin = findNode(wf, link[1]);
  const output = origin?.outputs?.[link[2]];
  if (output && Array.isArray(output.links)) output.links = output.links.filter((id) => id !== linkId);
  const target = findNode(wf, link[3]);
  const input = target?.inputs?.[link[4]];
  if (input && input.link === linkId) input.link = null;
  return link;
}

/** Delete nodes and every link that touches them. */
export function removeNodes(wf, ids) {
  const doomed = new Set([...ids].map(String));
  for (const link of [...wf.links]) {
    if (doomed.has(String(link[1])) || doomed.has(String(link[3]))) removeLink(wf, link[0]);
  }
  wf.nodes = wf.nodes.filter((n) => !doomed.has(String(n.id)));
  updateRerouteTypes(wf);
}

// ---------------------------------------------------------------------------------------------
// Links

function linksFrom(wf, nodeId, slot) {
  const key = String(nodeId);
  return wf.links.filter((l) => String(l[1]) === key && (slot === undefined || l[2] === slot));
}

/** Type reaching a Reroute from upstream (through other reroutes), or "*". */
function upstreamType(wf, reroute) {
  const seen = new Set();
  let node = reroute;
  while (node && node.type === 'Reroute' && !seen.has(String(node.id))) {
    seen.add(String(node.id));
    const link = findLink(wf, node.inputs?.[0]?.link);
    if (!link) return '*';
    const origin = findNode(wf, link[1]);
    if (!origin) return '*';
    if (origin.type !== 'Reroute') {
      const type = origin.outputs?.[link[2]]?.type ?? link[5];
      return isWildcard(type) ? '*' : type;
    }
    node = origin;
  }
  return '*';
}

/** Type the inputs downstream of a Reroute (through other reroutes) expect, or "*". */
function downstreamType(wf, reroute) {
  const seen = new Set();
  const stack = [reroute];
  while (stack.length) {
    const node = stack.pop();
    if (seen.has(String(node.id))) continue;
    seen.add(String(node.id));
    for (const link of linksFrom(wf, node.id, 0)) {
      const target = findNode(wf, link[3]);
      if (!target) continue;
      if (target.type === 'Reroute') stack.push(target);
      else {
        const type = target.inputs?.[link[4]]?.type;
        if (!isWildcard(type)) return type;
      }
    }
  }
  return '*';
}

/** The type a Reroute carries: what feeds it, else what its consumers expect. */
export function rerouteType(wf, reroute) {
  const up = upstreamType(wf, reroute);
  return up !== '*' ? up : downstreamType(wf, reroute);
}

/** Propagate types through every Reroute (output socket and outgoing links). */
export function updateRerouteTypes(wf) {
  for (const node of wf.nodes) {
    if (node.type !== 'Reroute' || !node.outputs?.[0]) continue;
    const type = rerouteType(wf, node);
    node.outputs[0].type = type;
    for (const link of linksFrom(wf, node.id, 0)) link[5] = type;
  }
}

function reaches(wf, fromId, toId) {
  const goal = String(toId);
  const seen = new Set();
  const stack = [String(fromId)];
  while (stack.length) {
    const id = stack.pop();
    if (id === goal) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const link of linksFrom(wf, id)) stack.push(String(link[3]));
  }
  return false;
}

/**
 * Link output `originSlot` of one node to input `targetSlot` of another. A link already in the
 * input is replaced; reroutes take the type that flows through them. Refusals carry a reason
 * fit to show the user. Returns {ok:true, link} or {ok:false, reason}.
 */
export function connect(wf, originId, originSlot, targetId, targetSlot) {
  const origin = findNode(wf, originId);
  const target = findNode(wf, targetId);
  if (!origin) return { ok: false, reason: `node ${originId} does not exist` };
  if (!target) return { ok: false, reason: `node ${targetId} does not exist` };
  if (String(origin.id) === String(target.id)) {
    return { ok: false, reason: 'a node cannot be linked to itself' };
  }
  const output = origin.outputs?.[originSlot];
  const input = target.inputs?.[targetSlot];
  if (!output) return { ok: false, reason: `node ${originId} has no output ${originSlot}` };
  if (!input) return { ok: false, reason: `node ${targetId} has no input ${targetSlot}` };
  const outType = origin.type === 'Reroute' ? rerouteType(wf, origin) : output.type;
  const inType = target.type === 'Reroute' ? downstreamType(wf, target) : input.type;
  if (!canConnect(outType, inType)) {
    const label = input.name ? ` "${input.name}"` : '';
    return { ok: false, reason: `${outType} cannot connect to ${inType} input${label}` };
  }
  const existing = findLink(wf, input.link);
  if (existing && String(existing[1]) === String(origin.id) && existing[2] === originSlot) {
    return { ok: true, link: existing };
  }
  if (reaches(wf, target.id, origin.id)) {
    return { ok: false, reason: 'this link would create a cycle' };
  }
  if (existing) removeLink(wf, existing[0]);
  else input.link = null;
  const type = isWildcard(outType) ? (isWildcard(inType) ? '*' : inType) : outType;
  const link = [newLinkId(wf), origin.id, originSlot, target.id, targetSlot, type];
  wf.links.push(link);
  if (!Array.isArray(output.links)) output.links = [];
  output.links.push(link[0]);
  input.link = link[0];
  updateRerouteTypes(wf);
  return { ok: true, link };
}

/** Unplug whatever feeds input `targetSlot`; returns the removed link or null. */
export function disconnect(wf, targetId, targetSlot) {
  const input = findNode(wf, targetId)?.inputs?.[targetSlot];
  if (!input || input.link == null) return null;
  const link = removeLink(wf, input.link);
  input.link = null;
  updateRerouteTypes(wf);
  return link;
}

/** Split a link through a new Reroute at `pos`; returns the reroute node. */
export function addReroute(wf, linkId, pos) {
  const link = findLink(wf, linkId);
  if (!link) throw new Error(`link ${linkId} does not exist`);
  const [, originId, originSlot, targetId, targetSlot] = link;
  const reroute = rerouteNode(wf, pos);
  wf.nodes.push(reroute);
  removeLink(wf, linkId);
  const first = connect(wf, originId, originSlot, reroute.id, 0);
  const second = connect(wf, reroute.id, 0, targetId, targetSlot);
  if (!first.ok || !second.ok) throw new Error(first.reason ?? second.reason);
  return reroute;
}


// ---------------------------------------------------------------------------------------------
// Groups, clipboard

/** Append a group (a titled frame) and return it. */
export function addGroup(wf, title, bounding) {
  const group = { title, bounding: [...bounding], color: '#3f789e', font_size: 24, flags: {} };
  wf.groups.push(group);
  return group;
}

/** Ids of the nodes whose centre lies inside the group's frame (they move with it). */
export function nodesInGroup(wf, group) {
  const [gx, gy, gw, gh] = group.bounding;
  return wf.nodes.filter((n) => {
    const [x, y] = n.pos ?? [0, 0];
    const [w, h] = n.size ?? [0, 0];
    const cx = x + w / 2;
    const cy = y + h / 2;
    return cx >= gx && cx <= gx + gw && cy >= gy && cy <= gy + gh;
  }).map((n) => n.id);
}

/** Copy nodes and the links among them into a plain JSON clipboard. */
export function copyNodes(wf, ids) {
  const keep = new Set([...ids].map(String));
  const links = wf.links
    .filter((l) => keep.has(String(l[1])) && keep.has(String(l[3])))
    .map((l) => [...l]);
  const linkIds = new Set(links.map((l) => l[0]));
  const nodes = wf.nodes.filter((n) => keep.has(String(n.id))).map((n) => {
    const copy = deepCopy(n);
    for (const input of copy.inputs ?? []) if (!linkIds.has(input.link)) input.link = null;
    for (const output of copy.outputs ?? []) {
      output.links = (output.links ?? []).filter((id) => linkIds.has(id));
    }
    return copy;
  });
  return { nodes, links };
}

/**
 * Paste a clipboard: nodes get fresh ids and move by `offset`, internal links get fresh ids
 * and are rewired to the new nodes. Returns the new node ids in clipboard order.
 */
export function pasteNodes(wf, clipboard, offset = [0, 0]) {
  const nodeIds = new Map();
  const linkIds = new Map();
  const nodes = clipboard.nodes.map((n) => deepCopy(n));
  for (const node of nodes) {
    nodeIds.set(String(node.id), newNodeId(wf));
    node.id = nodeIds.get(String(node.id));
    node.order = nextOrder(wf);
    node.pos = [(node.pos?.[0] ?? 0) + offset[0], (node.pos?.[1] ?? 0) + offset[1]];
    wf.nodes.push(node);
  }
  for (const link of clipboard.links) {
    if (!nodeIds.has(String(link[1])) || !nodeIds.has(String(link[3]))) continue;
    const fresh = [newLinkId(wf), nodeIds.get(String(link[1])), link[2],
                   nodeIds.get(String(link[3])), link[4], link[5]];
    linkIds.set(link[0], fresh[0]);
    wf.links.push(fresh);
  }
  for (const node of nodes) {
    for (const input of node.inputs ?? []) {
      input.link = linkIds.has(input.link) ? linkIds.get(input.link) : null;
    }
    for (const output of node.outputs ?? []) {
      output.links = (output.links ?? []).filter((id) => linkIds.has(id)).map((id) => linkIds.get(id));
    }
  }
  updateRerouteTypes(wf);
  return nodes.map((n) => n.id);
}
