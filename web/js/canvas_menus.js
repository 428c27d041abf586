// Right-click menus of the canvas: add nodes by category, node actions (title, mode, widget
// conversion, remove, group), link actions (reroute, delete) and group actions.

import { addGroup, addReroute, createNode, disconnect, FRONTEND_DEFS, MODE_ALWAYS, MODE_BYPASS,
  MODE_MUTED, nodesInGroup } from './graph.js';
import { nodeBounds, nodeTitle, specsOf } from './canvas_layout.js';
import { GROUP_TITLE_H } from './canvas_draw.js';
import { openMenu } from './menu.js';

const GROUP_COLORS = {
  blue: '#3f789e', green: '#4a8a4a', red: '#a04848', purple: '#7a4a9e', yellow: '#a08a3a', grey: '#666',
};

/** Nested menu items of every node type by category path ("a/b"), sorted by name. */
export function categoryItems(defs, onPick) {
  const root = { children: new Map(), nodes: [] };
  const all = { ...defs, ...FRONTEND_DEFS };
  for (const [type, def] of Object.entries(all)) {
    if (def.dev_only) continue;
    const path = String(def.category || 'sd').split('/').filter(Boolean);
    let at = root;
    for (const part of path) {
      if (!at.children.has(part)) at.children.set(part, { children: new Map(), nodes: [] });
      at = at.children.get(part);
    }
    at.nodes.push({ type, label: def.display_name || type, deprecated: def.deprecated });
  }
  const toItems = (branch) => [
    ...[...branch.children.entries()].sort(([a], [b]) => a.localeCompare(b))
      .map(([name, child]) => ({ label: name, submenu: toItems(child) })),
    ...branch.nodes.sort((a, b) => a.label.localeCompare(b.label))
      .map((n) => ({ label: n.deprecated ? `${n.label} (deprecated)` : n.label, id: n.type, action: () => onPick(n.type) })),
  ];
  return toItems(root);
}

/** Open the menu matching what was right-clicked (see hitTest). */
export function openContextMenu(canvas, event, hit, p) {
  const { clientX: x, clientY: y } = event;
  if (hit.type === 'linkMid') {
    openMenu(linkItems(canvas, hit), x, y, `Link ${canvas.linkById(hit.linkId)?.[5] ?? ''}`);
  } else if (hit.nodeId !== undefined) {
    const node = canvas.nodeById(hit.nodeId);
    if (!canvas.selected.has(node.id)) canvas.selected = new Set([node.id]);
    canvas.markDirty();
    openMenu(nodeItems(canvas, node), x, y, nodeTitle(node, canvas.defOf(node)));
  } else {
    const items = canvasItems(canvas, p);
    if (hit.group) items.push(null, { label: `Group "${hit.group.title}"`, submenu: groupItems(canvas, hit.group) });
    openMenu(items, x, y);
  }
}

function canvasItems(canvas, p) {
  const add = (type) => canvas.addNodeAt(type, p);
  return [
    { label: 'Add Node', id: 'add-node', submenu: categoryItems(canvas.defs, add) },
    { label: 'Search nodes…  (double-click)', action: () => canvas.options.openSearch?.({ x: p[0], y: p[1] }) },
    null,
    { label: 'Add Group', action: () => { addGroup(canvas.wf, 'Group', [p[0], p[1], 400, 300]); canvas.edited('Add group'); } },
    { label: 'Add Group around selection', disabled: !canvas.selected.size, action: () => groupSelection(canvas) },
    { label: 'Add Note', action: () => add('Note') },
    { label: 'Add Reroute', action: () => {
      const node = createNode(canvas.wf, 'Reroute', null, [p[0] - 37, p[1] - 13]);
      canvas.selected = new Set([node.id]);
      canvas.edited('Add reroute');
    } },
    null,
    { label: 'Fit view to nodes', action: () => { canvas.fitView(); canvas.options.onViewChange?.(); } },
  ];
}

/** Group bounding box around nodes, leaving room for the group's title bar. */
function boundsAround(canvas, nodes) {
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
  for (const node of nodes) {
    const b = nodeBounds(canvas.layoutOf(node));
    x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.w); y1 = Math.max(y1, b.y + b.h);
  }
  const pad = 12;
  return [x0 - pad, y0 - pad - GROUP_TITLE_H, x1 - x0 + pad * 2, y1 - y0 + pad * 2 + GROUP_TITLE_H];
}

/** Put a titled group around the selected nodes. */
export function groupSelection(canvas) {
  const nodes = canvas.wf.nodes.filter((n) => canvas.selected.has(n.id));
  if (!nodes.length) return;
  const group = addGroup(canvas.wf, 'Group', boundsAround(canvas, nodes));
  canvas.selectedGroup = group;
  canvas.edited('Add group');
}

function setMode(canvas, nodes, mode) {
  for (const node of nodes) node.mode = mode;
  canvas.edited(mode === MODE_MUTED ? 'Mute' : mode === MODE_BYPASS ? 'Bypass' : 'Set mode always');
}

function nodeItems(canvas, node) {
  const targets = canvas.wf.nodes.filter((n) => canvas.selected.has(n.id));
  const def = canvas.defOf(node);
  const forced = canvas.forced.get(node.id) || new Set();
  const specs = specsOf(def);
  const inputs = node.inputs || [];
  const inputOf = (name) => inputs.findIndex((i) => (i.widget?.name ?? i.name) === name);
  const asWidget = specs.filter((s) => { const i = inputOf(s.name); return i >= 0 && inputs[i].link == null && !forced.has(s.name); });
  const asSocket = specs.filter((s) => { const i = inputOf(s.name); return i >= 0 && (inputs[i].link != null || forced.has(s.name)); });
  const items = [
    { label: 'Title…', id: 'title', action: () => canvas.editTitle(node) },
    { label: 'Mode', id: 'mode', submenu: [
      { label: 'Always', checked: (node.mode ?? 0) === MODE_ALWAYS, action: () => setMode(canvas, targets, MODE_ALWAYS) },
      { label: 'Mute (never)', checked: node.mode === MODE_MUTED, action: () => setMode(canvas, targets, MODE_MUTED) },
      { label: 'Bypass', checked: node.mode === MODE_BYPASS, action: () => setMode(canvas, targets, MODE_BYPASS) },
    ] },
    { label: node.flags?.collapsed ? 'Expand' : 'Collapse', action: () => {
      node.flags ??= {};
      if (node.flags.collapsed) delete node.flags.collapsed; else node.flags.collapsed = true;
      canvas.edited('Collapse node');
    } },
  ];
  if (asWidget.length) {
    items.push({ label: 'Convert widget to input', id: 'convert-to-input', submenu: asWidget.map((s) => ({
      label: s.name, id: s.name, action: () => { canvas.forcedOf(node.id).add(s.name); canvas.markDirty(); },
    })) });
  }
  if (asSocket.length) {
    items.push({ label: 'Convert input to widget', id: 'convert-to-widget', submenu: asSocket.map((s) => ({
      label: s.name, id: s.name, action: () => {
        canvas.forced.get(node.id)?.delete(s.name);
        const slot = inputOf(s.name);
        if (inputs[slot].link != null) {
          disconnect(canvas.wf, node.id, slot);
          canvas.edited('Convert input to widget');
        } else canvas.markDirty();
      },
    })) });
  }
  const images = canvas.stateOf(node.id)?.images || [];
  if (images.length) {
    items.push({ label: 'Open image', action: () => window.open(canvas.options.viewUrl(images[0]), '_blank') });
  }
  items.push(
    null,
    { label: 'Clone', action: () => canvas.cloneNodes([node.id]) },
    { label: 'Add group around selection', id: 'group', action: () => groupSelection(canvas) },
    null,
    { label: targets.length > 1 ? `Remove ${targets.length} nodes` : 'Remove', id: 'remove', danger: true, action: () => canvas.deleteSelected() },
  );
  return items;
}

function linkItems(canvas, hit) {
  const link = canvas.linkById(hit.linkId);
  return [
    { label: 'Add reroute', id: 'add-reroute', action: () => {
      const node = addReroute(canvas.wf, hit.linkId, [Math.round(hit.point[0] - 37), Math.round(hit.point[1] - 13)]);
      canvas.selected = new Set([node.id]);
      canvas.edited('Add reroute');
    } },
    { label: 'Delete link', id: 'delete-link', danger: true, action: () => {
      if (!link) return;
      disconnect(canvas.wf, link[3], link[4]);
      canvas.edited('Delete link');
    } },
  ];
}

function groupItems(canvas, group) {
  return [
    { label: 'Title…', action: () => canvas.editGroupTitle(group) },
    { label: 'Color', submenu: Object.entries(GROUP_COLORS).map(([name, color]) => ({
      label: name, checked: group.color === color, action: () => { group.color = color; canvas.edited('Group color'); },
    })) },
    { label: 'Fit to nodes', action: () => {
      const ids = new Set(nodesInGroup(canvas.wf, group));
      const nodes = canvas.wf.nodes.filter((n) => ids.has(n.id));
      if (!nodes.length) return;
      group.bounding = boundsAround(canvas, nodes);
      canvas.edited('Fit group');
    } },
    { label: 'Select nodes', action: () => { canvas.selected = new Set(nodesInGroup(canvas.wf, group)); canvas.markDirty(); } },
    { label: 'Remove group', danger: true, action: () => {
      canvas.wf.groups = canvas.wf.groups.filter((g) => g !== group);
      canvas.edited('Remove group');
    } },
  ];
}
