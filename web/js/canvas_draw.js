// Painting the graph: grid, groups, links, nodes (title, sockets, widgets, images, runtime
// state), and the live feedback of drags (link being dragged, selection box, refused drops).

import { typeColor } from './graph.js';
import { bezierControls, bezierPoint, nodeBounds } from './canvas_layout.js';
import { fitText } from './widgets.js';
import { COLORS, drawNode } from './canvas_draw_node.js';

export const GROUP_TITLE_H = 28;

/** Draw the whole frame for a GraphCanvas. */
export function drawFrame(canvas) {
  const { ctx, el, wf } = canvas;
  const dpr = window.devicePixelRatio || 1;
  const { scale, offset } = wf.extra.ds;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, el.width, el.height);
  ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * scale * offset[0], dpr * scale * offset[1]);
  const view = {
    x: -offset[0], y: -offset[1],
    w: el.width / dpr / scale, h: el.height / dpr / scale,
  };
  drawGrid(ctx, view, scale);
  const layouts = new Map(wf.nodes.map((n) => [n.id, canvas.layoutOf(n)]));
  for (const group of wf.groups || []) drawGroup(ctx, group, group === canvas.selectedGroup);
  drawLinks(canvas, layouts);
  const multiline = [];
  const lowDetail = scale < 0.5;
  for (const node of wf.nodes) {
    const layout = layouts.get(node.id);
    const b = nodeBounds(layout);
    const visible = b.x < view.x + view.w && b.x + b.w > view.x && b.y < view.y + view.h + 80 && b.y + b.h > view.y;
    if (!visible) continue;
    drawNode(canvas, node, layout, lowDetail);
    for (const row of layout.widgets) if (row.kind === 'multiline') multiline.push({ node, row });
  }
  drawDragFeedback(canvas, layouts);
  drawFlashes(canvas, layouts);
  canvas.textareas.sync(multiline);
}

function drawGrid(ctx, view, scale) {
  if (scale < 0.35) return;
  const step = 20;
  ctx.lineWidth = 1 / scale;
  for (const [every, color] of [[1, COLORS.grid], [5, COLORS.gridStrong]]) {
    const size = step * every;
    ctx.strokeStyle = color;
    ctx.beginPath();
    for (let x = Math.floor(view.x / size) * size; x < view.x + view.w; x += size) {
      ctx.moveTo(x, view.y);
      ctx.lineTo(x, view.y + view.h);
    }
    for (let y = Math.floor(view.y / size) * size; y < view.y + view.h; y += size) {
      ctx.moveTo(view.x, y);
      ctx.lineTo(view.x + view.w, y);
    }
    ctx.stroke();
  }
}

function drawGroup(ctx, group, selected) {
  const [x, y, w, h] = group.bounding;
  const color = group.color || '#3f789e';
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = color;
  ctx.fillRect(x, y, w, h);
  ctx.globalAlpha = 0.55;
  ctx.fillRect(x, y, w, GROUP_TITLE_H);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = selected ? COLORS.selected : color;
  ctx.lineWidth = selected ? 2 : 1;
  ctx.strokeRect(x, y, w, h);
  ctx.fillStyle = '#eee';
  ctx.font = 'bold 16px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  ctx.fillText(fitText(ctx, group.title || 'Group', w - 16), x + 8, y + GROUP_TITLE_H / 2 + 1);
  // Resize handle.
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.moveTo(x + w, y + h);
  ctx.lineTo(x + w - 12, y + h);
  ctx.lineTo(x + w, y + h - 12);
  ctx.fill();
}

function curve(ctx, a, b) {
  const [p1, p2] = bezierControls(a, b);
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.bezierCurveTo(p1[0], p1[1], p2[0], p2[1], b[0], b[1]);
}

function drawLinks(canvas, layouts) {
  const { ctx, wf } = canvas;
  const hoverLink = canvas.hover?.type === 'linkMid' ? canvas.hover.linkId : null;
  for (const link of wf.links) {
    const ends = linkEnds(link, layouts);
    if (!ends) continue;
    const [a, b] = ends;
    const color = typeColor(link[5]);
    ctx.lineCap = 'round';
    curve(ctx, a, b);
    ctx.strokeStyle = 'rgba(0,0,0,0.5)';
    ctx.lineWidth = 5;
    ctx.stroke();
    ctx.strokeStyle = color;
    ctx.lineWidth = 3;
    ctx.stroke();
    const mid = bezierPoint(a, b, 0.5);
    ctx.beginPath();
    ctx.arc(mid[0], mid[1], link[0] === hoverLink ? 6 : 4.5, 0, Math.PI * 2);
    ctx.fillStyle = color;
    ctx.fill();
    if (link[0] === hoverLink) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }
}

/** Canvas end points [output, input] of a link, or null when a node is missing. */
export function linkEnds(link, layouts) {
  const from = layouts.get(link[1]);
  const to = layouts.get(link[3]);
  const out = from?.outputs[link[2]];
  const inp = to?.inputs[link[4]];
  if (!out || !inp) return null;
  return [[out.x, out.y], [inp.x, inp.y]];
}

function drawDragFeedback(canvas, layouts) {
  const { ctx, drag } = canvas;
  if (!drag) return;
  if (drag.type === 'link') {
    const fromNode = layouts.get(drag.from.nodeId);
    const sockets = drag.from.direction === 'output' ? fromNode?.outputs : fromNode?.inputs;
    const s = sockets?.[drag.from.slot];
    if (!s) return;
    const a = [s.x, s.y];
    const b = drag.point;
    curve(ctx, drag.from.direction === 'output' ? a : b, drag.from.direction === 'output' ? b : a);
    ctx.strokeStyle = typeColor(drag.from.type);
    ctx.lineWidth = 3;
    ctx.setLineDash([8, 5]);
    ctx.stroke();
    ctx.setLineDash([]);
  } else if (drag.type === 'box') {
    const [x0, y0] = drag.start;
    const [x1, y1] = drag.point;
    ctx.fillStyle = 'rgba(120,170,255,0.1)';
    ctx.strokeStyle = 'rgba(150,190,255,0.8)';
    ctx.lineWidth = 1 / canvas.scale;
    ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
  }
}

function drawFlashes(canvas, layouts) {
  const { ctx } = canvas;
  const now = performance.now();
  for (const f of canvas.flashes) {
    const alpha = Math.max(0, (f.until - now) / 600);
    ctx.strokeStyle = `rgba(255, 60, 60, ${alpha})`;
    ctx.lineWidth = 4;
    const layout = layouts.get(f.nodeId);
    if (layout) {
      const b = nodeBounds(layout);
      ctx.beginPath();
      ctx.roundRect(b.x - 4, b.y - 4, b.w + 8, b.h + 8, 10);
      ctx.stroke();
    } else if (f.point) {
      ctx.beginPath();
      ctx.arc(f.point[0], f.point[1], 14, 0, Math.PI * 2);
      ctx.stroke();
    }
  }
}
