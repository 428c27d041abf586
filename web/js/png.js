// Read the text chunks of a PNG, where SaveImage stores the workflow and the prompt (tEXt,
// written by PIL's PngInfo.add_text; iTXt and zTXt are read too for other writers).

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function latin1(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return text;
}

async function inflate(bytes) {
  if (typeof DecompressionStream !== 'function') return null;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function indexOfZero(bytes, from) {
  const at = bytes.indexOf(0, from);
  return at < 0 ? bytes.length : at;
}

/** Decode one text chunk into [key, text], or null when it cannot be read here. */
async function decodeTextChunk(type, data) {
  const keyEnd = indexOfZero(data, 0);
  const key = latin1(data.subarray(0, keyEnd));
  if (type === 'tEXt') return [key, latin1(data.subarray(keyEnd + 1))];
  if (type === 'zTXt') {
    const inflated = await inflate(data.subarray(keyEnd + 2));  // skip the method byte
    return inflated ? [key, latin1(inflated)] : null;
  }
  // iTXt: key \0 flag method lang \0 translated-key \0 text (UTF-8)
  const compressed = data[keyEnd + 1] === 1;
  const langEnd = indexOfZero(data, keyEnd + 3);
  const translatedEnd = indexOfZero(data, langEnd + 1);
  let body = data.subarray(translatedEnd + 1);
  if (compressed) {
    body = await inflate(body);
    if (!body) return null;
  }
  return [key, new TextDecoder('utf-8').decode(body)];
}

/**
 * The text chunks of a PNG as {key: text} (later chunks win). Async because compressed chunks
 * are inflated with DecompressionStream. Throws when the data is not a PNG.
 */
export async function readPngText(arrayBuffer) {
  const bytes = arrayBuffer instanceof Uint8Array
    ? arrayBuffer : new Uint8Array(arrayBuffer);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error('not a PNG file');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const texts = {};
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = latin1(bytes.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    if (start + length + 4 > bytes.length) break;  // truncated file: keep what was read
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      try {
        const entry = await decodeTextChunk(type, bytes.subarray(start, start + length));
        if (entry) texts[entry[0]] = entry[1];
      } catch {
        // a corrupt compressed chunk must not hide the others
      }
    }
    if (type === 'IEND') break;
    offset = start + length + 4;  // data + CRC
  }
  return texts;
}

/** Parse JSON written by Python, which may contain bare NaN/Infinity (read as null). */
export function parsePythonJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    let out = '';
    let inString = false;
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (inString) {
        out += ch;
        if (ch === '\\') { out += text[i + 1] ?? ''; i += 1; } else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') { inString = true; out += ch; continue; }
      const rest = text.slice(i, i + 9);
      const token = ['-Infinity', 'Infinity', 'NaN'].find((t) => rest.startsWith(t));
      if (token) { out += 'null'; i += token.length - 1; continue; }
      out += ch;
    }
    if (out === text) throw error;
    return JSON.parse(out);
  }
}

/**
 * The workflow and API prompt embedded in a PNG by SaveImage: {workflow?, prompt?}, each
 * present only when its chunk exists and holds JSON.
 */
export async function workflowFromPng(arrayBuffer) {
  const texts = await readPngText(arrayBuffer);
  const result = {};
  for (const key of ['workflow', 'prompt']) {
    if (typeof texts[key] !== 'string') continue;
    try {
      result[key] = parsePythonJson(texts[key]);
    } catch {
      // a chunk that is not JSON is simply not a workflow
    }
  }
  return result;
}
