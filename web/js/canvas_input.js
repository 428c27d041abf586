// Pointer input on the graph canvas: hit testing, selection, panning, zooming, moving and
// resizing nodes and groups, link dragging (create, detach, re-route, drop on empty canvas to
// search), widget interaction and context menus.

import { disconnect, nodesInGroup } from './graph.js';
import { bezierPoint, nodeBounds, nodeTitle, SLOT_H } from './canvas_layout.js';
import { GROUP_TITLE_H, linkEnds } from './canvas_draw.js';
import { widgetPointerDown } from './widgets.js';
import { finishLink, startLink } from './canvas_links.js';
import { closeOverlay, overlayOpen, promptInput } from './overlays.js';
import { closeMenu } from './menu.js';
import { openContextMenu } from './canvas_menus.js';

const CLICK_SLOP = 4;

function near(p, s, tol) {
  return Math.abs(p[0] - s.x) <= tol && Math.abs(p[1] - s.y) <= tol;
}

function inside(p, r) {
  return p[0] >= r.x && p[0] <= r.x + r.w && p[1] >= r.y && p[1] <= r.y + r.h;
}

/**
 * What is under a canvas point, topmost first:
 * {type: 'output'|'input'|'widget'|'collapse'|'title'|'resize'|'node'|'linkMid'|'groupTitle'|
 *  'groupResize'|'group'|'empty', nodeId?, slot?, row?, linkId?, group?}
 */
export function hitTest(canvas, p) {
  const nodes = canvas.wf.nodes;
  const tol = Math.max(6, 9 / canvas.scale);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const L = canvas.layoutOf(node);
    const id = node.id;
    if (L.reroute) {
      if (near(p, L.outputs[0], 6)) return { type: 'output', nodeId: id, slot: 0 };
      if (near(p, L.inputs[0], 6)) return { type: 'input', nodeId: id, slot: 0 };
      if (Math.hypot(p[0] - L.cx, p[1] - L.cy) <= 10) return { type: 'node', nodeId: id };
      continue;
    }
    const b = nodeBounds(L);
    if (p[0] < b.x - tol || p[0] > b.x + b.w + tol || p[1] < b.y - 2 || p[1] > b.y + b.h + 2) continue;
    for (const s of L.outputs) {
      if (near(p, s, tol) || (!L.collapsed && Math.abs(p[1] - s.y) < SLOT_H / 2 && p[0] > s.x - 40 && p[0] <= s.x + tol)) {
        return { type: 'output', nodeId: id, slot: s.slot };
      }
    }
    for (const s of L.inputs) {
      if (s.shown && (near(p, s, tol) || (!L.collapsed && Math.abs(p[1] - s.y) < SLOT_H / 2 && p[0] >= s.x - tol && p[0] < s.x + 40))) {
        return { type: 'input', nodeId: id, slot: s.slot };
      }
      if (!s.shown && s.widget && p[0] >= s.x - tol && p[0] < s.x + 10 && Math.abs(p[1] - s.y) < 9) {
        return { type: 'input', nodeId: id, slot: s.slot };
      }
    }
    if (!inside(p, b)) continue;
    if (L.title && p[1] < L.y) {
      return p[0] < L.x + 26 ? { type: 'collapse', nodeId: id } : { type: 'title', nodeId: id };
    }
    for (const row of L.widgets) {
      if (inside(p, row)) return { type: 'widget', nodeId: id, row, name: row.name };
    }
    if (p[0] > L.x + L.w - 12 && p[1] > L.y + L.h - 12) return { type: 'resize', nodeId: id };
    return { type: 'node', nodeId: id };
  }
  const layouts = new Map(nodes.map((n) => [n.id, canvas.layoutOf(n)]));
  for (const link of canvas.wf.links) {
    const ends = linkEnds(link, layouts);
    if (!ends) continue;
    const mid = bezierPoint(ends[0], ends[1], 0.5);
    if (Math.hypot(p[0] - mid[0], p[1] - mid[1]) <= tol) return { type: 'linkMid', linkId: link[0], point: mid };
  }
  const groups = canvas.wf.groups || [];
  for (let i = groups.length - 1; i >= 0; i--) {
    const g = groups[i];
    const [x, y, w, h] = g.bounding;
    if (!inside(p, { x, y, w, h })) continue;
    if (p[0] > x + w - 14 && p[1] > y + h - 14) return { type: 'groupResize', group: g };
    if (p[1] < y + GROUP_TITLE_H) return { type: 'groupTitle', group: g };
    return { type: 'group', group: g };
  }
  return { type: 'empty' };
}

const CURSORS = {
  output: 'crosshair', input: 'crosshair', widget: 'pointer', collapse: 'pointer', title: 'move',
  resize: 'nwse-resize', groupResize: 'nwse-resize', linkMid: 'pointer', groupTitle: 'move',
};

/** Hook pointer, wheel and menu events of the canvas element. */
export function installInput(canvas) {
  const el = canvas.el;
  el.addEventListener('pointerdown', (event) => pointerDown(canvas, event));
  window.addEventListener('pointermove', (event) => pointerMove(canvas, event));
  window.addEventListener('pointerup', (event) => pointerUp(canvas, event));
  el.addEventListener('dblclick', (event) => doubleClick(canvas, event));
  el.addEventListener('wheel', (event) => {
    event.preventDefault();
    canvas.onWheel(event);
  }, { passive: false });
  el.addEventListener('contextmenu', (event) => {
    event.preventDefault();
    if (!canvas.wf) return;
    const p = canvas.toCanvas(event.clientX, event.clientY);
    openContextMenu(canvas, event, hitTest(canvas, p), p);
  });
}

function pointerDown(canvas, event) {
  if (!canvas.wf) return;
  if (overlayOpen()) closeOverlay();
  closeMenu();
  const p = canvas.toCanvas(event.clientX, event.clientY);
  const base = { startClient: [event.clientX, event.clientY], start: p, point: p, moved: false };
  if (event.button === 1 || (event.button === 0 && event.altKey && event.shiftKey)) {
    event.preventDefault();
    canvas.drag = { ...base, type: 'pan', offset0: [...canvas.ds.offset] };
    return;
  }
  if (event.button !== 0) return;
  // Keep receiving the pointer when it leaves the canvas (or the window) mid-drag.
  try { canvas.el.setPointerCapture(event.pointerId); } catch { /* synthetic events */ }
  const hit = hitTest(canvas, p);
  const node = hit.nodeId !== undefined ? canvas.nodeById(hit.nodeId) : null;
  const additive = event.shiftKey || event.ctrlKey || event.metaKey;
  switch (hit.type) {
    case 'output': {
      const type = node.outputs[hit.slot]?.type ?? '*';
      startLink(canvas, { nodeId: node.id, slot: hit.slot, direction: 'output', type }, p, base);
      break;
    }
    case 'input': {
      const input = node.inputs[hit.slot];
      const link = input?.link != null ? canvas.linkById(input.link) : null;
      if (link) {
        // Pick the link up from this input and carry it from its origin.
        disconnect(canvas.wf, node.id, hit.slot);
        const origin = canvas.nodeById(link[1]);
        const type = origin?.outputs?.[link[2]]?.type ?? link[5];
        startLink(canvas, { nodeId: link[1], slot: link[2], direction: 'output', type }, p, { ...base, detached: true });
      } else {
        startLink(canvas, { nodeId: node.id, slot: hit.slot, direction: 'input', type: canvas.inputType(node, hit.slot) ?? '*' }, p, base);
      }
      break;
    }
    case 'widget': {
      canvas.selectOnly(node.id);
      const handler = widgetPointerDown(canvas, node, hit.row, p);
      if (handler) canvas.drag = { ...base, type: 'widget', handler };
      break;
    }
    case 'collapse':
      node.flags ??= {};
      node.flags.collapsed = !node.flags.collapsed;
      if (!node.flags.collapsed) delete node.flags.collapsed;
      canvas.edited(node.flags.collapsed ? 'Collapse node' : 'Expand node');
      break;
    case 'title':
    case 'node': {
      if (additive) {
        if (canvas.selected.has(node.id) && !event.shiftKey) canvas.selected.delete(node.id);
        else canvas.selected.add(node.id);
      } else if (!canvas.selected.has(node.id)) {
        canvas.selected = new Set([node.id]);
      }
      canvas.selectedGroup = null;
      canvas.raise(node);
      const moving = [...canvas.selected].map((id) => canvas.nodeById(id)).filter(Boolean);
      canvas.drag = {
        ...base, type: 'move', clicked: node.id, additive,
        nodes: moving.map((n) => ({ node: n, pos0: [...n.pos] })),
      };
      break;
    }
    case 'resize':
      canvas.selectOnly(node.id);
      canvas.drag = { ...base, type: 'resize', node, size0: [...node.size] };
      break;
    case 'linkMid':
      openContextMenu(canvas, event, hit, p);
      break;
    case 'groupTitle': {
      const ids = new Set(nodesInGroup(canvas.wf, hit.group));
      canvas.selectedGroup = hit.group;
      if (!additive) canvas.selected.clear();
      canvas.drag = {
        ...base, type: 'group', group: hit.group, bounding0: [...hit.group.bounding],
        nodes: canvas.wf.nodes.filter((n) => ids.has(n.id)).map((n) => ({ node: n, pos0: [...n.pos] })),
      };
      break;
    }
    case 'groupResize':
      canvas.selectedGroup = hit.group;
      canvas.drag = { ...base, type: 'groupResize', group: hit.group, bounding0: [...hit.group.bounding] };
      break;
    default:
      if (event.ctrlKey || event.metaKey || event.shiftKey) {
        canvas.drag = { ...base, type: 'box', additive: true };
      } else {
        canvas.drag = { ...base, type: 'pan', offset0: [...canvas.ds.offset] };
      }
  }
  canvas.markDirty();
}

function pointerMove(canvas, event) {
  if (!canvas.wf) return;
  const p = canvas.toCanvas(event.clientX, event.clientY);
  canvas.mouse = p;
  canvas.mouseClient = [event.clientX, event.clientY];
  const drag = canvas.drag;
  if (!drag) {
    if (event.target !== canvas.el) return;
    const hit = hitTest(canvas, p);
    canvas.el.style.cursor = CURSORS[hit.type] || 'default';
    const key = `${hit.type}:${hit.nodeId}:${hit.name}:${hit.linkId}`;
    if (key !== canvas.hoverKey) {
      canvas.hoverKey = key;
      canvas.hover = hit;
      canvas.markDirty();
    }
    return;
  }
  const dxClient = event.clientX - drag.startClient[0];
  const dyClient = event.clientY - drag.startClient[1];
  if (!drag.moved && Math.hypot(dxClient, dyClient) < CLICK_SLOP) return;
  drag.moved = true;
  drag.point = p;
  const dx = p[0] - drag.start[0];
  const dy = p[1] - drag.start[1];
  switch (drag.type) {
    case 'pan':
      canvas.ds.offset[0] = drag.offset0[0] + dxClient / canvas.scale;
      canvas.ds.offset[1] = drag.offset0[1] + dyClient / canvas.scale;
      break;
    case 'move':
      for (const { node, pos0 } of drag.nodes) node.pos = [Math.round(pos0[0] + dx), Math.round(pos0[1] + dy)];
      break;
    case 'resize': {
      const node = drag.node;
      node.size = [Math.max(80, Math.round(drag.size0[0] + dx)), Math.round(drag.size0[1] + dy)];
      node.size[1] = Math.max(canvas.layoutOf({ ...node, size: [node.size[0], 0] }).minH, node.size[1]);
      break;
    }
    case 'group':
      drag.group.bounding = [Math.round(drag.bounding0[0] + dx), Math.round(drag.bounding0[1] + dy), drag.bounding0[2], drag.bounding0[3]];
      for (const { node, pos0 } of drag.nodes) node.pos = [Math.round(pos0[0] + dx), Math.round(pos0[1] + dy)];
      break;
    case 'groupResize':
      drag.group.bounding = [drag.bounding0[0], drag.bounding0[1],
        Math.max(120, Math.round(drag.bounding0[2] + dx)), Math.max(60, Math.round(drag.bounding0[3] + dy))];
      break;
    case 'widget':
      drag.handler.move?.(p, event);
      break;
    default:
      break;
  }
  canvas.markDirty();
}

function pointerUp(canvas, event) {
  const drag = canvas.drag;
  if (!drag) return;
  canvas.drag = null;
  const p = canvas.toCanvas(event.clientX, event.clientY);
  switch (drag.type) {
    case 'pan':
      if (!drag.moved) {
        canvas.selected.clear();
        canvas.selectedGroup = null;
      } else canvas.options.onViewChange?.();
      break;
    case 'move':
      if (drag.moved) canvas.edited(drag.nodes.length > 1 ? `Move ${drag.nodes.length} nodes` : 'Move node');
      else if (!drag.additive && canvas.selected.size > 1) canvas.selected = new Set([drag.clicked]);
      break;
    case 'resize':
      if (drag.moved) canvas.edited('Resize node');
      break;
    case 'group':
      if (drag.moved) canvas.edited('Move group');
      break;
    case 'groupResize':
      if (drag.moved) canvas.edited('Resize group');
      break;
    case 'box': {
      const r = {
        x: Math.min(drag.start[0], p[0]), y: Math.min(drag.start[1], p[1]),
        w: Math.abs(p[0] - drag.start[0]), h: Math.abs(p[1] - drag.start[1]),
      };
      if (!drag.moved) break;
      for (const node of canvas.wf.nodes) {
        const b = nodeBounds(canvas.layoutOf(node));
        if (b.x < r.x + r.w && b.x + b.w > r.x && b.y < r.y + r.h && b.y + b.h > r.y) canvas.selected.add(node.id);
      }
      break;
    }
    case 'widget':
      drag.handler.up?.(p, event);
      break;
    case 'link':
      finishLink(canvas, drag, p);
      break;
    default:
      break;
  }
  canvas.markDirty();
}

function doubleClick(canvas, event) {
  if (!canvas.wf) return;
  const p = canvas.toCanvas(event.clientX, event.clientY);
  const hit = hitTest(canvas, p);
  if (hit.type === 'empty' || hit.type === 'group') {
    canvas.options.openSearch?.({ x: p[0], y: p[1] });
  } else if (hit.type === 'title') {
    editTitle(canvas, canvas.nodeById(hit.nodeId));
  } else if (hit.type === 'groupTitle') {
    editGroupTitle(canvas, hit.group);
  }
}

/** Rename a node in place. */
export function editTitle(canvas, node) {
  const layout = canvas.layoutOf(node);
  const rect = canvas.rowScreenRect(layout.title || nodeBounds(layout));
  promptInput({
    rect,
    value: nodeTitle(node, canvas.defOf(node)),
    fontSize: 13 * canvas.scale,
    label: 'Title',
    onCommit(text) {
      const title = text.trim();
      if (!title || title === node.title) return;
      node.title = title;
      canvas.edited('Rename node');
    },
  });
}

/** Rename a group in place. */
export function editGroupTitle(canvas, group) {
  const [x, y, w] = group.bounding;
  promptInput({
    rect: canvas.rowScreenRect({ x, y, w, h: GROUP_TITLE_H }),
    value: group.title || '',
    fontSize: 14 * canvas.scale,
    label: 'Group title',
    onCommit(text) {
      if (text === group.title) return;
      group.title = text;
      canvas.edited('Rename group');
    },
  });
}
