// Node definitions (/object_info entries, `defs` is always the map {class_type: entry}):
// constants, frontend-only pseudo definitions, declared inputs, widget specs and their default
// values, widget value clamping, socket type matching (canConnect) and type colours.
// The lowest graph_*.js module: it imports nothing. It also exports the small helpers and
// constants the other graph_*.js modules share; graph.js does not re-export those.

/** Node types that live only in the browser and never reach the server. */
export const FRONTEND_ONLY_TYPES = new Set(['Reroute', 'PrimitiveNode', 'Note', 'MarkdownNote']);
export const MODE_ALWAYS = 0;
export const MODE_MUTED = 2;
export const MODE_BYPASS = 4;
/** Values of the control_after_generate widget, in menu order. */
export const CONTROL_MODES = ['fixed', 'increment', 'decrement', 'randomize'];
/** Mode stored after a freshly created control widget, as ComfyUI does. */
export const DEFAULT_CONTROL_MODE = 'randomize';

// Input types the frontend draws as widgets, so they own a slot in widgets_values.
export const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);
export const LEGACY_SEED_NAMES = new Set(['seed', 'noise_seed']);
// Upload flags and the button value ComfyUI stores after the combo's own value.
export const UPLOAD_FLAGS = {
  image_upload: 'image',
  animated_image_upload: 'image',
  video_upload: 'video',
  audio_upload: 'audio',
};

/**
 * Pseudo definitions of the frontend-only nodes that carry editable widgets, so they can be
 * created and drawn like server nodes. `frontend_only` tells createNode to add no sockets.
 */
export const FRONTEND_DEFS = {
  Note: {
    input: { required: { text: ['STRING', { multiline: true, default: '' }] } },
    input_order: { required: ['text'] },
    output: [], output_name: [], name: 'Note', display_name: 'Note', category: 'utils',
    description: 'A text note on the canvas; never sent to the server.', frontend_only: true,
  },
  MarkdownNote: {
    input: { required: { text: ['STRING', { multiline: true, default: '' }] } },
    input_order: { required: ['text'] },
    output: [], output_name: [], name: 'MarkdownNote', display_name: 'Markdown Note',
    category: 'utils', description: 'A markdown note on the canvas; never sent to the server.',
    frontend_only: true,
  },
};

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Python truthiness, so option flags behave exactly as in the Python converter. */
export function truthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

export function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function deepCopy(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

export function hasOwn(object, key) {
  return object != null && Object.prototype.hasOwnProperty.call(object, key);
}

/** The definition of `type`: the server's entry, or a frontend pseudo definition. */
export function nodeDef(defs, type) {
  if (hasOwn(defs, type)) return defs[type];
  if (hasOwn(FRONTEND_DEFS, type)) return FRONTEND_DEFS[type];
  return null;
}

/** The title shown on a node: its own title, else the display name, else the class. */
export function nodeTitle(node, defs) {
  if (typeof node.title === 'string' && node.title) return node.title;
  return nodeDef(defs, node.type)?.display_name || node.type;
}

// ---------------------------------------------------------------------------------------------
// Definitions

/** Split an INPUT_TYPES entry `[TYPE, {opts}]` into its type and options. */
function splitSpec(spec) {
  if (Array.isArray(spec) && spec.length > 0) {
    return [spec[0], spec.length > 1 && isPlainObject(spec[1]) ? spec[1] : {}];
  }
  return [spec, {}];
}

/** The socket type of a declared input type: combo lists become "COMBO". */
export function socketType(type) {
  if (Array.isArray(type)) return 'COMBO';
  return typeof type === 'string' ? type : '*';
}

function isStandardWidget(type, opts) {
  const standard = Array.isArray(type) || (typeof type === 'string' && WIDGET_TYPES.has(type));
  return standard && !truthy(opts.forceInput);
}

/**
 * Declared inputs of a definition, required then optional, honouring input_order (hidden
 * inputs are left out: the engine injects them). Each: {name, type, rawType, options, optional}.
 */
export function declaredInputs(def) {
  const result = [];
  const sections = def?.input ?? {};
  const order = def?.input_order;
  for (const section of ['required', 'optional']) {
    const specs = sections[section];
    if (!isPlainObject(specs)) continue;
    const names = isPlainObject(order) && Array.isArray(order[section])
      ? order[section] : Object.keys(specs);
    for (const name of names) {
      if (!hasOwn(specs, name)) continue;
      const [rawType, options] = splitSpec(specs[name]);
      result.push({ name, type: socketType(rawType), rawType, options,
                    optional: section === 'optional' });
    }
  }
  return result;
}

function comboChoices(rawType, opts) {
  if (Array.isArray(rawType)) return rawType;
  return Array.isArray(opts.options) ? opts.options : [];
}

function uploadValue(opts) {
  for (const [flag, value] of Object.entries(UPLOAD_FLAGS)) if (truthy(opts[flag])) return value;
  return null;
}

/**
 * Widget-capable inputs of a definition in order, with where their values sit in
 * widgets_values: [{name, type, options, choices, optional, valueIndex, control,
 * controlIndex, upload, uploadIndex, uploadValue}]. `type` is INT/FLOAT/STRING/BOOLEAN/COMBO;
 * after a controlled widget comes its control mode, after an upload combo its button value.
 */
export function widgetSpecs(def) {
  const specs = [];
  let index = 0;
  for (const input of declaredInputs(def)) {
    const { name, rawType, options } = input;
    if (!isStandardWidget(rawType, options)) continue;
    const type = socketType(rawType);
    const control = truthy(options.control_after_generate)
      || (type === 'INT' && LEGACY_SEED_NAMES.has(name));
    const upload = !control && uploadValue(options) !== null;
    const spec = {
      name, type, options, optional: input.optional,
      choices: type === 'COMBO' ? comboChoices(rawType, options) : null,
      valueIndex: index++,
      control, controlIndex: control ? index++ : null,
      upload, uploadIndex: upload ? index++ : null,
      uploadValue: upload ? uploadValue(options) : null,
    };
    specs.push(spec);
  }
  return specs;
}

export function widgetSpec(def, name) {
  return widgetSpecs(def).find((s) => s.name === name) ?? null;
}

/** The value a new widget starts with: the def's default, clamped, else a neutral value. */
export function defaultValue(spec) {
  const opts = spec.options;
  switch (spec.type) {
    case 'INT':
    case 'FLOAT': {
      const raw = typeof opts.default === 'number' ? opts.default : 0;
      return clampWidgetValue(spec, raw).value ?? raw;
    }
    case 'BOOLEAN':
      return typeof opts.default === 'boolean' ? opts.default : false;
    case 'COMBO':
      if (opts.default !== undefined && spec.choices.includes(opts.default)) return opts.default;
      return spec.choices.length ? spec.choices[0] : '';
    default:
      return typeof opts.default === 'string' ? opts.default : '';
  }
}

export function defaultControl(opts) {
  const wanted = opts.control_after_generate;
  return typeof wanted === 'string' && CONTROL_MODES.includes(wanted)
    ? wanted : DEFAULT_CONTROL_MODE;
}

function decimals(step) {
  const text = String(step);
  if (text.includes('e-')) return Number(text.split('e-')[1]);
  return text.includes('.') ? text.split('.')[1].length : 0;
}

function roundTo(value, step, origin) {
  if (!(step > 0)) return value;
  const base = Number.isSafeInteger(origin) || (Number.isFinite(origin)
    && Math.abs(origin) < Number.MAX_SAFE_INTEGER) ? origin : 0;
  const rounded = base + Math.round((value - base) / step) * step;
  return Number(rounded.toFixed(Math.min(20, decimals(step) + decimals(base))));
}

/**
 * Check and normalise a widget value against its spec: numbers rounded to step (INT) or
 * `round`/step (FLOAT) and clamped to min/max, combo values must be one of the choices.
 * Returns {ok:true, value} or {ok:false, reason}.
 */
export function clampWidgetValue(spec, value) {
  const opts = spec.options ?? {};
  switch (spec.type) {
    case 'INT':
    case 'FLOAT': {
      let number = typeof value === 'number' ? value : Number(String(value).trim());
      if (value === '' || value === null || !Number.isFinite(number)) {
        return { ok: false, reason: `"${spec.name}" needs a number, got ${JSON.stringify(value)}` };
      }
      const min = typeof opts.min === 'number' ? opts.min : -Infinity;
      const max = typeof opts.max === 'number' ? opts.max : Infinity;
      if (spec.type === 'INT') {
        number = Math.round(number);
        const step = typeof opts.step === 'number' && opts.step > 1 ? opts.step : 1;
        if (step > 1) number = roundTo(number, step, Number.isFinite(min) ? min : 0);
      } else {
        const round = typeof opts.round === 'number' ? opts.round
          : opts.round === false ? 0 : (typeof opts.step === 'number' ? opts.step : 0);
        if (round > 0) number = roundTo(number, round, 0);
      }
      number = Math.min(max, Math.max(min, number));
      return { ok: true, value: number };
    }
    case 'BOOLEAN':
      return { ok: true, value: value === 'false' ? false : Boolean(value) };
    case 'COMBO':
      if (spec.choices && spec.choices.length && !spec.choices.includes(value)) {
        return { ok: false, reason: `"${value}" is not one of the choices of "${spec.name}"` };
      }
      return { ok: true, value };
    default:
      return { ok: true, value: value == null ? '' : String(value) };
  }
}

// ---------------------------------------------------------------------------------------------
// Types

export function isWildcard(type) {
  return type == null || type === '' || type === '*';
}

/**
 * Whether an output of `outType` may feed an input of `inType`: "*" matches anything, comma
 * unions match when they share a type (as the server's validation), else types must be equal.
 * Combo outputs ("COMBO") feed combo inputs through the same equality.
 */
export function canConnect(outType, inType) {
  if (isWildcard(outType) || isWildcard(inType) || outType === inType) return true;
  if (typeof outType !== 'string' || typeof inType !== 'string') return false;
  const outs = new Set(outType.toLowerCase().split(','));
  return inType.toLowerCase().split(',').some((t) => outs.has(t));
}

// ---------------------------------------------------------------------------------------------
// Colours

const TYPE_COLOURS = {
  MODEL: '#b39ddb', CLIP: '#ffd500', VAE: '#ff6e6e', CONDITIONING: '#ffa931',
  LATENT: '#ff9cf9', IMAGE: '#64b5f6', MASK: '#81c784', CONTROL_NET: '#00d78d',
  CLIP_VISION: '#a8dadc', CLIP_VISION_OUTPUT: '#ad7452', STYLE_MODEL: '#c2ffae',
  UPSCALE_MODEL: '#8ecae6', NOISE: '#b0b0b0', SAMPLER: '#ecb4b4', SIGMAS: '#cdffcd',
  GUIDER: '#66ffff', INT: '#7ecf9b', FLOAT: '#aabb66', STRING: '#77aadd',
  BOOLEAN: '#cc88cc', COMBO: '#9fa8da', '*': '#a0a0a0',
};

/** CSS colour of a link type: fixed for the common SD types, a stable hue for the rest. */
export function typeColor(type) {
  const key = isWildcard(type) ? '*' : String(type);
  if (hasOwn(TYPE_COLOURS, key)) return TYPE_COLOURS[key];
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 62%)`;
}
