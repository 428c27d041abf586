// PNG text chunk reading (web/js/png.js) against a PNG written by PIL the way SaveImage does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';

import { parsePythonJson, readPngText, workflowFromPng } from '../../web/js/png.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const fixture = (name) => readFileSync(new URL(name, FIXTURES));
const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** Bytes of one chunk (the reader does not check CRCs, so zeros do). */
function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  return out;
}

function png(...chunks) {
  return Buffer.concat([SIGNATURE, ...chunks, chunk('IEND', new Uint8Array(0))]);
}

const text = (key, value) => chunk('tEXt', Buffer.from(`${key}\0${value}`, 'latin1'));
const toArrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);

test('reads tEXt, zTXt and iTXt chunks written by PIL', async () => {
  const texts = await readPngText(toArrayBuffer(fixture('with_workflow.png')));
  assert.deepEqual(Object.keys(texts).sort(),
                   ['comment', 'prompt', 'unicode', 'unicode_zipped', 'workflow', 'zipped']);
  assert.equal(texts.comment, 'café au lait');
  assert.equal(texts.zipped, 'compressed text '.repeat(8));
  assert.equal(texts.unicode, 'snow ☃ man');
  assert.equal(texts.unicode_zipped, 'zipped ☃ '.repeat(8));
});

test('workflowFromPng returns the embedded workflow and prompt', async () => {
  const { workflow, prompt } = await workflowFromPng(toArrayBuffer(fixture('with_workflow.png')));
  const expectedWorkflow = JSON.parse(fixture('txt2img.ui.json'));
  assert.deepEqual(workflow, expectedWorkflow);
  assert.deepEqual(prompt, JSON.parse(fixture('txt2img.expected.json')));
});

test('accepts a Uint8Array view with an offset', async () => {
  const bytes = fixture('with_workflow.png');
  const padded = new Uint8Array(bytes.length + 5);
  padded.set(bytes, 5);
  const { workflow } = await workflowFromPng(padded.subarray(5));
  assert.equal(workflow.nodes.length, 8);  // txt2img.ui.json with its ImageScale
});

test('rejects data that is not a PNG', async () => {
  await assert.rejects(readPngText(new TextEncoder().encode('GIF89a....').buffer), /not a PNG file/);
  await assert.rejects(workflowFromPng(new ArrayBuffer(3)), /not a PNG file/);
});

test('a PNG without text chunks gives nothing', async () => {
  assert.deepEqual(await readPngText(png(chunk('IHDR', new Uint8Array(13)))), {});
  assert.deepEqual(await workflowFromPng(png()), {});
});

test('a truncated file keeps the chunks read before the cut', async () => {
  const full = png(text('workflow', '{"nodes": []}'), text('prompt', '{"1": {}}'));
  const cut = full.subarray(0, full.length - 20);
  assert.deepEqual(await readPngText(cut), { workflow: '{"nodes": []}' });
});

test('later chunks win; chunks after IEND are ignored', async () => {
  const data = Buffer.concat([png(text('k', 'first'), text('k', 'second')), text('k', 'after')]);
  assert.deepEqual(await readPngText(data), { k: 'second' });
});

test('handwritten zTXt and compressed iTXt inflate', async () => {
  const z = chunk('zTXt', Buffer.concat([Buffer.from('prompt\0\0', 'latin1'), deflateSync('{"7": {"a": 1}}')]));
  const i = chunk('iTXt', Buffer.concat([Buffer.from('workflow\0\x01\0en\0Workflow\0', 'latin1'),
                                         deflateSync(Buffer.from('{"nodes": [], "title": "ü"}'))]));
  assert.deepEqual(await workflowFromPng(png(z, i)),
                   { prompt: { 7: { a: 1 } }, workflow: { nodes: [], title: 'ü' } });
});

test('a corrupt compressed chunk does not hide the others', async () => {
  const bad = chunk('zTXt', Buffer.from('zipped\0\0not deflate data', 'latin1'));
  assert.deepEqual(await readPngText(png(bad, text('prompt', '{}'))), { prompt: '{}' });
});

test('Python JSON with NaN/Infinity parses; non-JSON chunks are skipped', async () => {
  assert.deepEqual(parsePythonJson('{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN"}'),
                   { a: null, b: [null, null], c: 'NaN' });
  assert.throws(() => parsePythonJson('{oops'));
  const result = await workflowFromPng(png(text('workflow', 'not json'), text('prompt', '{"x": NaN}')));
  assert.deepEqual(result, { prompt: { x: null } });
});
