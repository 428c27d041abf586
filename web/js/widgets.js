// Widget rows inside nodes: drawing and pointer interaction for number, combo, text, toggle,
// control_after_generate and upload rows, plus the layer of <textarea>s for multiline strings.
// Values live in node.widgets_values; changes go through graph.setWidget (clamped, validated)
// and end with canvas.edited(description) so the app records history.

import { setWidget } from './graph.js';
import { toast } from './toast.js';
import { comboChoices, inputEntry } from './canvas_layout.js';
import { comboList, promptInput } from './overlays.js';

export const CONTROL_MODES = ['fixed', 'increment', 'decrement', 'randomize'];
const ARROW_W = 14;
const DRAG_PX_PER_STEP = 6;

/** Decimal places to show for a FLOAT widget, from its round/step options. */
export function floatDecimals(options = {}) {
  const unit = options.round || options.step || 0.01;
  const text = String(unit);
  if (text.includes('e-')) return Number(text.split('e-')[1]);
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : Math.min(6, text.length - dot - 1);
}

/** Text shown for a widget value. */
export function formatValue(row, value) {
  if (row.kind === 'number' && typeof value === 'number' && row.spec?.type === 'FLOAT') {
    return value.toFixed(floatDecimals(row.spec.options));
  }
  if (row.kind === 'toggle') {
    const opts = row.spec?.options || {};
    return value ? (opts.label_on || 'true') : (opts.label_off || 'false');
  }
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Label of a widget row. */
function rowLabel(row) {
  if (row.kind === 'control') return 'control after generate';
  return row.spec?.options?.label || row.name;
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.roundRect ? ctx.roundRect(x, y, w, h, r) : ctx.rect(x, y, w, h);
}

/** Shorten text with an ellipsis to fit maxWidth. */
export function fitText(ctx, text, maxWidth) {
  if (maxWidth <= 0) return '';
  if (ctx.measureText(text).width <= maxWidth) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/**
 * Draw one widget row (canvas coordinates, the context already transformed).
 * @param {object} state {value, error:bool, hover:bool, lowDetail:bool}
 */
export function drawWidget(ctx, row, state) {
  const { x, y, w, h } = row;
  const value = state.value;
  if (row.kind === 'multiline') {
    roundRect(ctx, x, y, w, h, 4);
    ctx.fillStyle = '#1b1b1b';
    ctx.fill();
    ctx.strokeStyle = state.error ? '#f44' : '#444';
    ctx.lineWidth = state.error ? 2 : 1;
    ctx.stroke();
    if (state.drawText) drawMultilineText(ctx, row, String(value ?? ''));
    return;
  }
  roundRect(ctx, x, y, w, h, h / 2);
  ctx.fillStyle = row.kind === 'upload' ? '#2c2c2c' : '#222';
  ctx.fill();
  ctx.strokeStyle = state.error ? '#f44' : state.hover ? '#777' : '#4a4a4a';
  ctx.lineWidth = state.error ? 2 : 1;
  ctx.stroke();
  if (state.lowDetail) return;
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  const midY = y + h / 2 + 0.5;
  if (row.kind === 'upload') {
    ctx.fillStyle = '#ccc';
    ctx.textAlign = 'center';
    ctx.fillText('choose file to upload', x + w / 2, midY);
    ctx.textAlign = 'left';
    return;
  }
  const stepper = row.kind === 'number' || row.kind === 'combo' || row.kind === 'control';
  const inner = stepper ? ARROW_W + 2 : 10;
  if (stepper) {
    ctx.fillStyle = state.hover ? '#ddd' : '#888';
    arrow(ctx, x + 6, midY, -1);
    arrow(ctx, x + w - 6, midY, 1);
  }
  const label = rowLabel(row);
  let text = formatValue(row, value);
  // The value keeps up to 60% of the row; the label gets what is left.
  const valueW = Math.min(ctx.measureText(text).width, (w - inner * 2) * 0.6);
  const labelW = Math.max(0, Math.min(ctx.measureText(label).width, w - inner * 2 - valueW - 10));
  ctx.fillStyle = state.error ? '#f88' : '#999';
  ctx.textAlign = 'left';
  ctx.fillText(fitText(ctx, label, labelW + 0.5), x + inner, midY);
  if (row.kind === 'toggle') {
    const on = Boolean(value);
    const cx = x + w - 18;
    roundRect(ctx, cx - 10, midY - 6, 20, 12, 6);
    ctx.fillStyle = on ? '#4a8' : '#555';
    ctx.fill();
    ctx.beginPath();
    ctx.arc(on ? cx + 4 : cx - 4, midY, 4.5, 0, Math.PI * 2);
    ctx.fillStyle = '#eee';
    ctx.fill();
    text = formatValue(row, value);
    ctx.fillStyle = '#ddd';
    ctx.textAlign = 'right';
    ctx.fillText(fitText(ctx, text, Math.max(0, w - labelW - 50)), cx - 16, midY);
    ctx.textAlign = 'left';
    return;
  }
  ctx.fillStyle = row.kind === 'readonly' ? '#888' : '#ddd';
  ctx.textAlign = 'right';
  ctx.fillText(fitText(ctx, text, w - inner * 2 - labelW - 8), x + w - inner, midY);
  ctx.textAlign = 'left';
}

function arrow(ctx, x, y, dir) {
  ctx.beginPath();
  ctx.moveTo(x + dir * 4, y);
  ctx.lineTo(x - dir * 1, y - 4);
  ctx.lineTo(x - dir * 1, y + 4);
  ctx.closePath();
  ctx.fill();
}

function drawMultilineText(ctx, row, text) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(row.x, row.y, row.w, row.h);
  ctx.clip();
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#bbb';
  ctx.textBaseline = 'top';
  const lines = text.split('\n');
  let ty = row.y + 4;
  for (const line of lines) {
    if (ty > row.y + row.h) break;
    ctx.fillText(fitText(ctx, line, row.w - 8), row.x + 4, ty);
    ty += 14;
  }
  ctx.restore();
}

/** Current value of a row. */
export function rowValue(node, row) {
  const values = node.widgets_values;
  if (Array.isArray(values)) return values[row.valueIndex];
  if (values && typeof values === 'object') return values[row.name];
  return undefined;
}

/** Write a row's value: through setWidget for real widgets, directly for extras. */
export function writeRow(canvas, node, row, value) {
  if (row.spec) {
    const result = setWidget(canvas.wf, node.id, row.name, value, canvas.defs);
    if (!result.ok) toast(result.reason, 'warn');
  } else {
    if (!Array.isArray(node.widgets_values)) node.widgets_values = [];
    node.widgets_values[row.valueIndex] = value;
  }
  canvas.markDirty();
}

function choicesOf(canvas, node, row) {
  if (row.kind === 'control') return CONTROL_MODES;
  return row.spec?.choices || comboChoices(canvas.defOf(node), row.name);
}

function stepNumber(row, value, direction, times = 1) {
  const opts = row.spec?.options || {};
  const isInt = row.spec?.type === 'INT';
  const step = Number(opts.step) || (isInt ? 1 : 0.1);
  let next = (Number(value) || 0) + direction * step * times;
  if (!isInt) next = Number(next.toFixed(Math.max(floatDecimals(opts), 6)));
  if (opts.min !== undefined) next = Math.max(Number(opts.min), next);
  if (opts.max !== undefined) next = Math.min(Number(opts.max), next);
  return next;
}

/**
 * Start interacting with a widget row after a pointerdown at canvas point p.
 * Returns a drag handler {move(p, event), up(p, event)} or null when the click is complete.
 */
export function widgetPointerDown(canvas, node, row, p) {
  const localX = p[0] - row.x;
  const value = rowValue(node, row);
  const left = localX < ARROW_W + 4;
  const right = localX > row.w - ARROW_W - 4;
  switch (row.kind) {
    case 'number': {
      if (left || right) {
        writeRow(canvas, node, row, stepNumber(row, value, right ? 1 : -1));
        canvas.edited(`Change ${row.name}`);
        return null;
      }
      const startX = p[0];
      const startValue = Number(value) || 0;
      let moved = false;
      return {
        cursor: 'ew-resize',
        move(q) {
          const screenDx = (q[0] - startX) * canvas.scale;
          if (!moved && Math.abs(screenDx) < 3) return;
          moved = true;
          const steps = Math.trunc(screenDx / DRAG_PX_PER_STEP);
          writeRow(canvas, node, row, stepNumber(row, startValue, Math.sign(steps), Math.abs(steps)));
        },
        up() {
          if (moved) canvas.edited(`Change ${row.name}`);
          else editNumber(canvas, node, row);
        },
      };
    }
    case 'combo':
    case 'control': {
      const choices = choicesOf(canvas, node, row);
      if ((left || right) && choices.length) {
        const index = choices.indexOf(value);
        const next = index < 0 ? 0 : Math.min(choices.length - 1, Math.max(0, index + (right ? 1 : -1)));
        writeRow(canvas, node, row, choices[next]);
        canvas.edited(`Change ${row.name}`);
        return null;
      }
      openCombo(canvas, node, row, choices);
      return null;
    }
    case 'toggle':
      writeRow(canvas, node, row, !value);
      canvas.edited(`Toggle ${row.name}`);
      return null;
    case 'text':
      editText(canvas, node, row);
      return null;
    case 'upload':
      pickUpload(canvas, node);
      return null;
    case 'readonly':
      // A legacy PrimitiveNode's value is still editable; unknown nodes' values are not.
      if (node.type === 'PrimitiveNode' && row.valueIndex === 0) editRaw(canvas, node, row);
      return null;
    default:
      return null;
  }
}

/** Open the searchable list for a combo row. */
export function openCombo(canvas, node, row, choices = choicesOf(canvas, node, row)) {
  comboList({
    rect: canvas.rowScreenRect(row),
    choices,
    value: rowValue(node, row),
    onPick(choice) {
      writeRow(canvas, node, row, choice);
      canvas.edited(`Change ${row.name}`);
    },
  });
}

function editNumber(canvas, node, row) {
  promptInput({
    rect: canvas.rowScreenRect(row),
    value: formatValue(row, rowValue(node, row)),
    fontSize: 12 * canvas.scale,
    label: row.name,
    onCommit(text) {
      const number = Number(String(text).trim());
      if (text.trim() === '' || !Number.isFinite(number)) return;
      writeRow(canvas, node, row, number);
      canvas.edited(`Change ${row.name}`);
    },
  });
}

function editText(canvas, node, row) {
  promptInput({
    rect: canvas.rowScreenRect(row),
    value: String(rowValue(node, row) ?? ''),
    fontSize: 12 * canvas.scale,
    label: row.name,
    onCommit(text) {
      if (text === rowValue(node, row)) return;
      writeRow(canvas, node, row, text);
      canvas.edited(`Change ${row.name}`);
    },
  });
}

/** Edit a value without a spec, keeping its JSON type (number, boolean, string). */
function editRaw(canvas, node, row) {
  const value = rowValue(node, row);
  if (typeof value === 'boolean') {
    writeRow(canvas, node, row, !value);
    canvas.edited(`Change ${node.type}`);
    return;
  }
  promptInput({
    rect: canvas.rowScreenRect(row),
    value: String(value ?? ''),
    fontSize: 12 * canvas.scale,
    label: 'value',
    onCommit(text) {
      const next = typeof value === 'number' ? Number(text) : text;
      if (typeof next === 'number' && !Number.isFinite(next)) return;
      writeRow(canvas, node, row, next);
      canvas.edited(`Change ${node.type}`);
    },
  });
}

/** Ask for an image file for a LoadImage node and hand it to the app's uploader. */
export function pickUpload(canvas, node) {
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'image/*';
  input.className = 'upload-picker';
  input.style.display = 'none';
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.remove();
    if (file) canvas.options.onUploadImage?.(node.id, file);
  });
  document.body.appendChild(input);
  input.click();
}

/** Whether a widget input accepts a value type as a linked socket (widget "converted"). */
export function widgetInputType(def, name) {
  const entry = inputEntry(def, name);
  if (!entry) return null;
  return Array.isArray(entry[0]) ? 'COMBO' : entry[0];
}
