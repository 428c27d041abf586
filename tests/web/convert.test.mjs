// UI -> API conversion in the browser must match the Python converter (nodegraph/ui_workflow.py)
// exactly: the expected prompts were produced by it (tests/web/make_fixtures.py).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { loadWorkflow, toPrompt } from '../../web/js/graph.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const read = (name) => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf-8'));
const defs = read('object_info.json');
const cases = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.ui.json'))
  .map((name) => name.slice(0, -'.ui.json'.length))
  .sort();

test('every fixture case has an expected prompt', () => {
  assert.ok(cases.length >= 14, `only ${cases.length} cases`);
  for (const name of cases) assert.ok(read(`${name}.expected.json`));
});

for (const name of cases) {
  test(`${name}: toPrompt of the saved workflow equals the Python converter`, () => {
    const workflow = read(`${name}.ui.json`);
    const before = JSON.stringify(workflow);
    const { prompt, errors } = toPrompt(workflow, defs);
    assert.deepEqual(errors, []);
    assert.deepEqual(prompt, read(`${name}.expected.json`));
    assert.equal(JSON.stringify(workflow), before, 'conversion must not mutate the workflow');
  });

  test(`${name}: loading then converting gives the same prompt`, () => {
    const { wf } = loadWorkflow(read(`${name}.ui.json`), defs);
    assert.equal(wf.version, 0.4);
    assert.ok(wf.links.every(Array.isArray), 'links are arrays after loading');
    assert.deepEqual(toPrompt(wf, defs).prompt, read(`${name}.expected.json`));
    // ...and again after a JSON round trip, as when saved and reopened.
    const again = loadWorkflow(JSON.stringify(wf), defs).wf;
    assert.deepEqual(again, wf, 'loading is idempotent');
  });
}

test('workflows/txt2img.ui.json converts like the Python converter', () => {
  const file = new URL('../../workflows/txt2img.ui.json', import.meta.url);
  const workflow = JSON.parse(readFileSync(file, 'utf-8'));
  const expected = read('txt2img.expected.json');
  assert.deepEqual(toPrompt(workflow, defs).prompt, expected);
  assert.deepEqual(toPrompt(loadWorkflow(workflow, defs).wf, defs).prompt, expected);
  assert.deepEqual(expected['3'].inputs.seed, 42);
  assert.deepEqual(expected['3'].inputs.model, ['4', 0]);
});

test('loading reports the missing custom nodes and keeps them untouched', () => {
  const raw = read('unknown.ui.json');
  const { wf, missing } = loadWorkflow(raw, defs);
  assert.deepEqual(missing, ['FancyUpscaler', 'OtherCustom']);
  const fancy = wf.nodes.find((n) => n.id === 20);
  assert.deepEqual(fancy, raw.nodes.find((n) => n.id === 20));
});

test('frontend-only nodes are not reported missing', () => {
  for (const name of ['reroute', 'note', 'converted_widget', 'engine_reroute_primitive']) {
    assert.deepEqual(loadWorkflow(read(`${name}.ui.json`), defs).missing, [], name);
  }
});
