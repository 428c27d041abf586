// Link dragging: which sockets a dragged link may land on, and what a drop does (connect to a
// socket, a widget row or the first compatible socket of a node; refuse with a hint; open the
// search on empty canvas; remove a detached link).

import { canConnect, connect, createNode, nodeDef } from './graph.js';
import { nodeTitle } from './canvas_layout.js';
import { hitTest } from './canvas_input.js';
import { toast } from './toast.js';

/** Sockets a link being dragged from `from` may land on, as "nodeId:slot" keys. */
export function candidatesFor(canvas, from) {
  const keys = new Set();
  for (const node of canvas.wf.nodes) {
    if (node.id === from.nodeId) continue;
    if (from.direction === 'output') {
      (node.inputs || []).forEach((_, slot) => {
        if (canConnect(from.type, canvas.inputType(node, slot) ?? '*')) keys.add(`${node.id}:${slot}`);
      });
    } else {
      (node.outputs || []).forEach((o, slot) => {
        if (canConnect(o.type, from.type)) keys.add(`${node.id}:${slot}`);
      });
    }
  }
  return keys;
}

export function startLink(canvas, from, p, extra = {}) {
  canvas.drag = { type: 'link', from, point: p, candidates: candidatesFor(canvas, from), ...extra };
}

/** First input of a node that accepts a type: free plain sockets, then widgets, then any. */
export function firstCompatibleInput(canvas, node, type) {
  const inputs = node.inputs || [];
  const ok = (i) => canConnect(type, canvas.inputType(node, i) ?? '*');
  const slots = [...inputs.keys()].filter(ok);
  return slots.find((i) => !inputs[i].widget && inputs[i].link == null)
    ?? slots.find((i) => !inputs[i].widget)
    ?? slots.find((i) => inputs[i].link == null)
    ?? slots[0];
}

/** Complete a link drag at canvas point p. */
export function finishLink(canvas, drag, p) {
  const { from } = drag;
  if (!drag.moved) {
    if (drag.detached) canvas.edited('Remove link');
    return;
  }
  const hit = hitTest(canvas, p);
  const node = hit.nodeId !== undefined ? canvas.nodeById(hit.nodeId) : null;
  let connected = false;
  let refused = false;
  if (node && node.id !== from.nodeId) {
    if (from.direction === 'output') {
      let slot;
      if (hit.type === 'input') slot = hit.slot;
      else if (hit.type === 'widget') {
        slot = node.inputs.findIndex((i) => (i.widget?.name ?? i.name) === hit.row.name);
        if (slot < 0) slot = undefined;
      }
      if (slot === undefined && hit.type !== 'output') {
        slot = firstCompatibleInput(canvas, node, from.type);
        if (slot === undefined) {
          const title = nodeTitle(node, canvas.defOf(node));
          toast(`Cannot connect ${from.type} to any input of ${title}`, 'warn');
          canvas.flash(node.id);
          refused = true;
        }
      }
      if (slot !== undefined) connected = canvas.tryConnect(from.nodeId, from.slot, node.id, slot);
      else if (hit.type === 'output') {
        toast(`Cannot connect an output to an output (${from.type})`, 'warn');
        canvas.flash(node.id);
      }
    } else {
      let slot = hit.type === 'output' ? hit.slot : undefined;
      if (slot === undefined && hit.type !== 'input') {
        const found = (node.outputs || []).findIndex((o) => canConnect(o.type, from.type));
        if (found >= 0) slot = found;
        else {
          toast(`Cannot connect any output of ${nodeTitle(node, canvas.defOf(node))} to ${from.type}`, 'warn');
          canvas.flash(node.id);
          refused = true;
        }
      }
      if (slot !== undefined) connected = canvas.tryConnect(node.id, slot, from.nodeId, from.slot);
    }
  } else if (!node && !drag.detached && !refused && hit.type !== 'linkMid') {
    canvas.options.openSearch?.({ x: p[0], y: p[1], filterType: from.type, fromLink: { ...from } });
    return;
  }
  if (connected) canvas.edited(drag.detached ? 'Move link' : 'Connect');
  else if (drag.detached) canvas.edited('Remove link');
}

/**
 * Connect an output to an input, refusing incompatible types with a visible hint.
 * Returns true when connected (the caller records the edit).
 */
export function tryConnect(canvas, originId, originSlot, targetId, targetSlot) {
  const origin = canvas.nodeById(originId);
  const target = canvas.nodeById(targetId);
  if (!origin || !target || origin.id === target.id) return false;
  const outType = origin.outputs?.[originSlot]?.type ?? '*';
  const inType = canvas.inputType(target, targetSlot) ?? '*';
  if (!canConnect(outType, inType)) {
    toast(`Cannot connect ${outType} to ${inType}`, 'warn');
    canvas.flash(target.id);
    return false;
  }
  const result = connect(canvas.wf, origin.id, originSlot, target.id, targetSlot);
  if (!result?.ok) {
    toast(result?.reason || `Cannot connect ${outType} to ${inType}`, 'warn');
    canvas.flash(target.id);
    return false;
  }
  const name = target.inputs[targetSlot]?.widget?.name;
  if (name) canvas.forced.get(target.id)?.delete(name);
  return true;
}

/**
 * Add a node of a type at a canvas position; with fromLink ({nodeId, slot, direction:
 * 'output'|'input'}) connect its first compatible socket. Records one edit.
 */
export function addNodeAt(canvas, type, pos, fromLink) {
  const def = nodeDef(canvas.defs, type);
  const node = createNode(canvas.wf, type, def, [Math.round(pos[0]), Math.round(pos[1])]);
  if (fromLink?.direction === 'input') node.pos[0] -= node.size[0] + 20;
  if (fromLink) connectNew(canvas, node, fromLink);
  canvas.selected = new Set([node.id]);
  canvas.edited(`Add ${def?.display_name || type}`);
  return node;
}

function connectNew(canvas, node, fromLink) {
  const other = canvas.nodeById(fromLink.nodeId);
  if (!other) return;
  if (fromLink.direction === 'output') {
    const type = other.outputs[fromLink.slot]?.type ?? '*';
    const inputs = node.inputs || [];
    const order = [...inputs.keys()].sort((a, b) => Number(Boolean(inputs[a].widget)) - Number(Boolean(inputs[b].widget)));
    const slot = order.find((i) => canConnect(type, canvas.inputType(node, i) ?? '*'));
    if (slot !== undefined) canvas.tryConnect(other.id, fromLink.slot, node.id, slot);
  } else {
    const type = canvas.inputType(other, fromLink.slot) ?? '*';
    const slot = (node.outputs || []).findIndex((o) => canConnect(o.type, type));
    if (slot >= 0) canvas.tryConnect(node.id, slot, other.id, fromLink.slot);
  }
}
