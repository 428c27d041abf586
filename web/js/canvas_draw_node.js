// Painting one node: body, title (missing/cached/mode marks), sockets, widget rows, images
// (outputs, live previews, LoadImage's file), progress bar, outlines and error notes.

import { typeColor } from './graph.js';
import { nodeTitle, TITLE_H } from './canvas_layout.js';
import { drawWidget, fitText, rowValue } from './widgets.js';

export const COLORS = {
  background: '#1e1e1e',
  grid: 'rgba(255,255,255,0.035)',
  gridStrong: 'rgba(255,255,255,0.07)',
  nodeBody: '#353535',
  nodeTitle: '#262626',
  nodeBorder: '#111',
  titleText: '#ccc',
  slotText: '#aaa',
  selected: '#e8e8e8',
  running: '#3c3',
  error: '#f33',
  missing: '#8a2020',
  bypass: 'rgba(150, 60, 200, 0.35)',
};

/** Draw a node (or a reroute) with its runtime state. */
export function drawNode(canvas, node, layout, lowDetail) {
  const { ctx } = canvas;
  const state = canvas.stateOf(node.id);
  const selected = canvas.selected.has(node.id);
  if (layout.reroute) {
    drawReroute(canvas, node, layout, selected);
    return;
  }
  const missing = canvas.isMissing(node);
  const def = canvas.defOf(node);
  const { x, y, w, h } = layout;
  ctx.save();
  if (node.mode === 2) ctx.globalAlpha = 0.45;
  // Shadow, body and title.
  ctx.fillStyle = 'rgba(0,0,0,0.35)';
  ctx.beginPath();
  ctx.roundRect(x + 3, y - TITLE_H + 4, w, h + TITLE_H, 8);
  ctx.fill();
  ctx.beginPath();
  ctx.roundRect(x, y - TITLE_H, w, h + TITLE_H, 8);
  ctx.fillStyle = node.bgcolor || COLORS.nodeBody;
  ctx.fill();
  ctx.beginPath();
  ctx.roundRect(x, y - TITLE_H, w, TITLE_H, layout.collapsed ? 8 : [8, 8, 0, 0]);
  ctx.fillStyle = missing ? COLORS.missing : node.color || COLORS.nodeTitle;
  ctx.fill();
  drawTitle(canvas, node, def, layout, state, missing);
  if (!layout.collapsed) {
    drawSockets(canvas, node, layout, state, lowDetail);
    for (const row of layout.widgets) {
      drawWidget(ctx, row, {
        value: rowValue(node, row),
        error: Boolean(state?.error?.inputs?.[row.name]),
        hover: canvas.hover?.type === 'widget' && canvas.hover.nodeId === node.id && canvas.hover.name === row.name,
        lowDetail,
        drawText: canvas.scale < 0.45,
      });
    }
    if (layout.image) drawImages(canvas, node, layout, state);
    if (state?.progress && state.running) {
      const [value, max] = state.progress;
      ctx.fillStyle = 'rgba(0,0,0,0.4)';
      ctx.fillRect(x + 1, y + h - 6, w - 2, 5);
      ctx.fillStyle = COLORS.running;
      ctx.fillRect(x + 1, y + h - 6, (w - 2) * Math.min(1, value / Math.max(1, max)), 5);
    }
    // Resize grip.
    ctx.strokeStyle = '#555';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x + w - 4, y + h - 10);
    ctx.lineTo(x + w - 10, y + h - 4);
    ctx.moveTo(x + w - 4, y + h - 6);
    ctx.lineTo(x + w - 6, y + h - 4);
    ctx.stroke();
  }
  if (node.mode === 4) {
    ctx.fillStyle = COLORS.bypass;
    ctx.beginPath();
    ctx.roundRect(x, y - TITLE_H, w, h + TITLE_H, 8);
    ctx.fill();
  }
  ctx.restore();
  // Outline: error > running > selected.
  const outline = state?.error ? COLORS.error : state?.running ? COLORS.running : selected ? COLORS.selected : null;
  ctx.beginPath();
  ctx.roundRect(x - 1, y - TITLE_H - 1, w + 2, h + TITLE_H + 2, 9);
  ctx.strokeStyle = outline || COLORS.nodeBorder;
  ctx.lineWidth = outline ? (state?.error || state?.running ? 3 : 2) : 1;
  ctx.stroke();
  if (state?.error && state.error.message) drawErrorNote(ctx, layout, state.error.message);
}

function drawTitle(canvas, node, def, layout, state, missing) {
  const { ctx } = canvas;
  const { x, y, w } = layout;
  const midY = y - TITLE_H / 2;
  // Collapse dot, coloured by mode.
  ctx.beginPath();
  ctx.arc(x + 14, midY, 5, 0, Math.PI * 2);
  ctx.fillStyle = node.mode === 4 ? '#b6f' : node.mode === 2 ? '#666' : layout.collapsed ? '#888' : '#aaa';
  ctx.fill();
  ctx.font = 'bold 13px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  let title = nodeTitle(node, def);
  if (missing) title = `${node.type} (missing)`;
  let tagW = 0;
  if (state?.cached && !layout.collapsed) {
    ctx.font = '10px system-ui, sans-serif';
    tagW = ctx.measureText('cached').width + 10;
    ctx.fillStyle = 'rgba(80,140,200,0.35)';
    ctx.beginPath();
    ctx.roundRect(x + w - tagW - 8, midY - 8, tagW, 16, 8);
    ctx.fill();
    ctx.fillStyle = '#9cf';
    ctx.fillText('cached', x + w - tagW - 3, midY + 1);
    ctx.font = 'bold 13px system-ui, sans-serif';
  }
  ctx.fillStyle = missing ? '#fff' : state?.cached ? '#777' : COLORS.titleText;
  ctx.fillText(fitText(ctx, title, w - 36 - tagW), x + 26, midY + 1);
}

function socketShape(ctx, x, y, type, connected, highlight) {
  ctx.beginPath();
  ctx.arc(x, y, highlight ? 6 : 4.5, 0, Math.PI * 2);
  ctx.fillStyle = connected || highlight ? typeColor(type) : '#2a2a2a';
  ctx.fill();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = typeColor(type);
  ctx.stroke();
}

function drawSockets(canvas, node, layout, state, lowDetail) {
  const { ctx } = canvas;
  const drag = canvas.drag?.type === 'link' ? canvas.drag : null;
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (const socket of layout.inputs) {
    const input = node.inputs[socket.slot];
    const type = canvas.inputType(node, socket.slot);
    const candidate = drag?.from.direction === 'output' && drag.candidates?.has(`${node.id}:${socket.slot}`);
    if (!socket.shown) {
      // A widget input: a small dot at the row's left edge while a link could land on it.
      if (candidate && socket.widget) socketShape(ctx, socket.x, socket.y, type, false, true);
      continue;
    }
    socketShape(ctx, socket.x, socket.y, type, input.link != null, candidate);
    if (lowDetail) continue;
    const errored = state?.error?.inputs?.[input.name];
    ctx.fillStyle = errored ? '#f66' : COLORS.slotText;
    ctx.textAlign = 'left';
    ctx.fillText(fitText(ctx, input.label || input.name, layout.w / 2 - 16), socket.x + 12, socket.y + 1);
  }
  for (const socket of layout.outputs) {
    const output = node.outputs[socket.slot];
    const candidate = drag?.from.direction === 'input' && drag.candidates?.has(`${node.id}:${socket.slot}`);
    socketShape(ctx, socket.x, socket.y, output.type, output.links?.length > 0, candidate);
    if (lowDetail) continue;
    ctx.fillStyle = COLORS.slotText;
    ctx.textAlign = 'right';
    ctx.fillText(fitText(ctx, output.label || output.name, layout.w / 2 - 16), socket.x - 12, socket.y + 1);
  }
  ctx.textAlign = 'left';
}

function drawReroute(canvas, node, layout, selected) {
  const { ctx } = canvas;
  const type = node.outputs?.[0]?.type || node.inputs?.[0]?.type || '*';
  const color = typeColor(type);
  const { cx, cy } = layout;
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(layout.inputs[0].x, cy);
  ctx.lineTo(layout.outputs[0].x, cy);
  ctx.stroke();
  for (const s of [layout.inputs[0], layout.outputs[0]]) {
    ctx.beginPath();
    ctx.arc(s.x, s.y, 3.5, 0, Math.PI * 2);
    ctx.fillStyle = '#2a2a2a';
    ctx.fill();
    ctx.stroke();
  }
  ctx.beginPath();
  ctx.arc(cx, cy, 8, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = selected ? 2.5 : 1.5;
  ctx.strokeStyle = selected ? COLORS.selected : '#111';
  ctx.stroke();
  if (node.mode === 2) {
    ctx.fillStyle = 'rgba(0,0,0,0.5)';
    ctx.fill();
  }
}

/** The images a node shows: run outputs, the live preview, or LoadImage's selected file. */
function nodeImages(canvas, node, state) {
  if (state?.preview && state.running) return [state.preview];
  if (state?.images?.length) return state.images.map((ref) => canvas.image(canvas.options.viewUrl(ref)));
  if (state?.preview) return [state.preview];
  if (node.type === 'LoadImage' || node.type === 'LoadImageMask') {
    const name = node.widgets_values?.[0];
    if (typeof name === 'string' && name) {
      const slash = name.lastIndexOf('/');
      const ref = slash >= 0
        ? { filename: name.slice(slash + 1), subfolder: name.slice(0, slash), type: 'input' }
        : { filename: name, subfolder: '', type: 'input' };
      return [canvas.image(canvas.options.viewUrl(ref))];
    }
  }
  return [];
}

function imageSize(img) {
  return [img.naturalWidth || img.width || 0, img.naturalHeight || img.height || 0];
}

function drawImages(canvas, node, layout, state) {
  const { ctx } = canvas;
  const images = nodeImages(canvas, node, state).filter((img) => imageSize(img)[0] > 0);
  const area = layout.image;
  if (!images.length) return;
  const cols = Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / cols);
  const [iw, ih] = imageSize(images[0]);
  // Grow the node once per image set so the images are readable.
  const key = images.map((i) => i.src || 'preview').join('|');
  const st = canvas.stateOf(node.id) || canvas.setState(node.id, {});
  if (st.fitted !== key) {
    st.fitted = key;
    const cellW = area.w / cols;
    const want = Math.min(600, (cellW * ih / iw) * rows) + 12;
    const need = area.y - layout.y + want + 6;
    if (node.size[1] < need) {
      node.size[1] = Math.round(need);
      canvas.markDirty();
    }
  }
  const caption = images.length === 1 && !state?.running && area.h > 40;
  const cellW = area.w / cols;
  const cellH = (area.h - (caption ? 12 : 0)) / rows;
  images.forEach((img, i) => {
    const [w, h] = imageSize(img);
    const gap = images.length > 1 ? 3 : 0;
    const s = Math.min((cellW - gap) / w, (cellH - gap) / h);
    const dw = w * s;
    const dh = h * s;
    const cx = area.x + (i % cols) * cellW + (cellW - dw) / 2;
    const cy = area.y + Math.floor(i / cols) * cellH + (cellH - dh) / 2;
    ctx.drawImage(img, cx, cy, dw, dh);
  });
  if (caption) {
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillStyle = '#888';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(`${iw}×${ih}`, area.x + area.w / 2, area.y + area.h - 5);
    ctx.textAlign = 'left';
  }
}

function wrapLines(ctx, text, width) {
  const out = [];
  for (const para of String(text).split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/)) {
      const test = line ? `${line} ${word}` : word;
      if (ctx.measureText(test).width > width && line) {
        out.push(line);
        line = word;
      } else line = test;
    }
    out.push(line);
  }
  return out.slice(0, 8);
}

function drawErrorNote(ctx, layout, message) {
  ctx.font = '11px system-ui, sans-serif';
  const w = Math.max(layout.w, 200);
  const lines = wrapLines(ctx, message, w - 12);
  const h = lines.length * 14 + 8;
  const top = layout.y + layout.h + 6;
  ctx.fillStyle = 'rgba(90, 20, 20, 0.92)';
  ctx.beginPath();
  ctx.roundRect(layout.x, top, w, h, 4);
  ctx.fill();
  ctx.fillStyle = '#fcc';
  ctx.textBaseline = 'top';
  lines.forEach((line, i) => ctx.fillText(line, layout.x + 6, top + 4 + i * 14));
}

