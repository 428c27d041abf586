// Unit tests of the pure workflow model (web/js/graph.js) and the default workflow.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  addGroup, addReroute, applyControlAfterGenerate, canConnect, clampWidgetValue, connect,
  copyNodes, createNode, disconnect, emptyWorkflow, findLink, findNode, getControlMode, getWidget,
  History, loadWorkflow, nodeDef, nodesInGroup, nodeTitle, pasteNodes, removeLink, removeNodes,
  setControlMode, setWidget, toPrompt, typeColor, widgetSpecs,
} from '../../web/js/graph.js';
import { defaultWorkflow } from '../../web/js/default_workflow.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const defs = JSON.parse(readFileSync(new URL('object_info.json', FIXTURES), 'utf-8'));

/** Extra definitions for shapes the core nodes do not have. */
const custom = {
  V3Combo: {
    input: { required: { mode: ['COMBO', { options: ['a', 'b', 'c'], default: 'b' }],
                         text: ['STRING', { forceInput: true }] },
             optional: { extra: ['INT', { default: 3, min: 0, max: 5 }] } },
    input_order: { required: ['text', 'mode'], optional: ['extra'] },
    output: [['x', 'y'], 'STRING'], output_name: ['choice', 'STRING'],
    name: 'V3Combo', display_name: 'V3 Combo', category: 'test',
  },
  Seeded: {
    input: { required: { seed: ['INT', { default: 10, min: 5, max: 20, step: 5,
                                         control_after_generate: true }],
                         value: ['FLOAT', { default: 0.5, min: 0, max: 1, step: 0.25 }] } },
    output: ['INT'], output_name: ['INT'], name: 'Seeded', display_name: 'Seeded', category: 'test',
  },
};
const allDefs = { ...defs, ...custom };

function add(wf, type, pos = [0, 0]) {
  return createNode(wf, type, allDefs[type], pos);
}

function slotOf(node, name) {
  const slot = node.inputs.findIndex((i) => i.name === name);
  assert.ok(slot >= 0, `${node.type} has no input ${name}`);
  return slot;
}

function link(wf, origin, originSlot, target, name) {
  return connect(wf, origin.id, originSlot, target.id, slotOf(target, name));
}

/** Every link appears at both of its ends, and nothing else does. */
function assertConsistent(wf) {
  const ids = new Set(wf.links.map((l) => l[0]));
  for (const l of wf.links) {
    const origin = findNode(wf, l[1]);
    const target = findNode(wf, l[3]);
    assert.ok(origin.outputs[l[2]].links.includes(l[0]), `link ${l[0]} missing at its origin`);
    assert.equal(target.inputs[l[4]].link, l[0], `link ${l[0]} missing at its target`);
  }
  for (const node of wf.nodes) {
    for (const input of node.inputs) if (input.link != null) assert.ok(ids.has(input.link));
    for (const output of node.outputs) for (const id of output.links) assert.ok(ids.has(id));
  }
}

describe('definitions', () => {
  test('widgetSpecs gives widget order and value positions incl. control extras', () => {
    const specs = widgetSpecs(defs.KSampler);
    assert.deepEqual(specs.map((s) => [s.name, s.type, s.valueIndex]), [
      ['seed', 'INT', 0], ['steps', 'INT', 2], ['cfg', 'FLOAT', 3],
      ['sampler_name', 'COMBO', 4], ['scheduler', 'COMBO', 5], ['denoise', 'FLOAT', 6],
    ]);
    assert.equal(specs[0].control, true);
    assert.equal(specs[0].controlIndex, 1);
    assert.ok(specs[3].choices.includes('euler'));
  });

  test('widgetSpecs: upload extra, v3 COMBO, forceInput, optional inputs, input_order', () => {
    const [image] = widgetSpecs(defs.LoadImage);
    assert.deepEqual([image.upload, image.uploadIndex, image.uploadValue], [true, 1, 'image']);
    const specs = widgetSpecs(custom.V3Combo);
    assert.deepEqual(specs.map((s) => s.name), ['mode', 'extra']);  // text is forceInput
    assert.deepEqual(specs[0].choices, ['a', 'b', 'c']);
    assert.equal(specs[1].optional, true);
  });

  test('nodeTitle prefers the node title, then the display name', () => {
    const wf = emptyWorkflow();
    const node = add(wf, 'KSamplerAdvanced');
    assert.equal(nodeTitle(node, defs), 'KSampler (Advanced)');
    node.title = 'Mine';
    assert.equal(nodeTitle(node, defs), 'Mine');
    assert.equal(nodeTitle({ type: 'Gone' }, defs), 'Gone');
  });
});

describe('createNode', () => {
  test('builds sockets, widget inputs and defaults from the def', () => {
    const wf = emptyWorkflow();
    const node = add(wf, 'KSampler', [10, 20]);
    assert.equal(node.id, 1);
    assert.deepEqual(node.pos, [10, 20]);
    assert.deepEqual(node.inputs.map((i) => [i.name, i.type, Boolean(i.widget), i.link]), [
      ['model', 'MODEL', false, null], ['seed', 'INT', true, null], ['steps', 'INT', true, null],
      ['cfg', 'FLOAT', true, null], ['sampler_name', 'COMBO', true, null],
      ['scheduler', 'COMBO', true, null], ['positive', 'CONDITIONING', false, null],
      ['negative', 'CONDITIONING', false, null], ['latent_image', 'LATENT', false, null],
      ['denoise', 'FLOAT', true, null],
    ]);
    assert.deepEqual(node.widgets_values, [0, 'randomize', 20, 8, 'euler', 'normal', 1]);
    assert.deepEqual(node.outputs, [{ name: 'LATENT', type: 'LATENT', links: [], slot_index: 0 }]);
    assert.deepEqual(node.properties, { 'Node name for S&R': 'KSampler' });
    assert.equal(node.mode, 0);
    assert.ok(node.size[0] >= 220 && node.size[0] <= 320);
    assert.equal(node.size[1], 30 + 22 * (4 + 6));
    assert.equal(wf.nodes.length, 1);
    assert.equal(add(wf, 'VAEDecode').id, 2);
    assert.equal(wf.last_node_id, 2);
  });

  test('combo defaults, upload extras and combo outputs', () => {
    const wf = emptyWorkflow();
    assert.deepEqual(add(wf, 'CheckpointLoaderSimple').widgets_values, ['nodegraph-demo-sd1.safetensors']);
    assert.deepEqual(add(wf, 'LoadImage').widgets_values, ['example.png', 'image']);
    const v3 = add(wf, 'V3Combo');
    assert.deepEqual(v3.widgets_values, ['b', 3]);
    assert.deepEqual(v3.inputs.map((i) => [i.name, i.type, Boolean(i.widget)]),
                     [['text', 'STRING', false], ['mode', 'COMBO', true], ['extra', 'INT', true]]);
    assert.deepEqual(v3.outputs.map((o) => [o.name, o.type]), [['choice', 'COMBO'], ['STRING', 'STRING']]);
    const seeded = add(wf, 'Seeded');
    assert.deepEqual(seeded.widgets_values, [10, 'randomize', 0.5]);
  });

  test('notes and reroutes are frontend-only nodes', () => {
    const wf = emptyWorkflow();
    const note = createNode(wf, 'Note', nodeDef(defs, 'Note'), [5, 5]);
    assert.deepEqual([note.inputs, note.outputs, note.widgets_values], [[], [], ['']]);
    assert.deepEqual(setWidget(wf, note.id, 'text', 'hello', defs), { ok: true, value: 'hello' });
    assert.equal(getWidget(wf, note.id, 'text', defs), 'hello');
    const reroute = createNode(wf, 'Reroute', null, [1, 2]);
    assert.deepEqual(reroute.inputs, [{ name: '', type: '*', link: null }]);
    assert.equal(reroute.outputs[0].type, '*');
    assert.deepEqual(toPrompt(wf, defs).prompt, {});
    assert.throws(() => createNode(wf, 'Nope', null), /definition is unknown/);
  });
});

describe('links', () => {
  test('canConnect: wildcards, unions, combos, exact types', () => {
    assert.ok(canConnect('MODEL', 'MODEL'));
    assert.ok(canConnect('*', 'IMAGE'));
    assert.ok(canConnect('LATENT', '*'));
    assert.ok(canConnect('INT', 'INT,FLOAT'));
    assert.ok(canConnect('FLOAT,INT', 'int'));
    assert.ok(canConnect('COMBO', 'COMBO'));
    assert.ok(!canConnect('MODEL', 'CLIP'));
    assert.ok(!canConnect('INT', 'FLOAT'));
    assert.ok(!canConnect('STRING,INT', 'FLOAT,IMAGE'));
    assert.ok(!canConnect('COMBO', 'STRING'));
  });

  test('connect links both ends and refuses with a reason', () => {
    const wf = emptyWorkflow();
    const ckpt = add(wf, 'CheckpointLoaderSimple');
    const sampler = add(wf, 'KSampler');
    const result = link(wf, ckpt, 0, sampler, 'model');
    assert.equal(result.ok, true);
    assert.deepEqual(result.link, [1, ckpt.id, 0, sampler.id, 0, 'MODEL']);
    assert.deepEqual(ckpt.outputs[0].links, [1]);
    assert.equal(sampler.inputs[0].link, 1);

    const refused = link(wf, ckpt, 1, sampler, 'model');
    assert.deepEqual(refused, { ok: false, reason: 'CLIP cannot connect to MODEL input "model"' });
    assert.deepEqual(connect(wf, 99, 0, sampler.id, 0), { ok: false, reason: 'node 99 does not exist' });
    assert.equal(connect(wf, ckpt.id, 7, sampler.id, 0).reason, `node ${ckpt.id} has no output 7`);
    assert.equal(connect(wf, ckpt.id, 0, sampler.id, 42).reason, `node ${sampler.id} has no input 42`);
    assert.equal(connect(wf, sampler.id, 0, sampler.id, 8).reason, 'a node cannot be linked to itself');
    assert.equal(wf.links.length, 1, 'refusals change nothing');
    assertConsistent(wf);
  });

  test('connect into a linked input replaces the old link', () => {
    const wf = emptyWorkflow();
    const a = add(wf, 'EmptyLatentImage');
    const b = add(wf, 'EmptyLatentImage');
    const decode = add(wf, 'VAEDecode');
    const first = link(wf, a, 0, decode, 'samples').link;
    const again = link(wf, a, 0, decode, 'samples');
    assert.equal(again.link, first, 'relinking the same output is a no-op');
    const second = link(wf, b, 0, decode, 'samples').link;
    assert.notEqual(second[0], first[0]);
    assert.equal(findLink(wf, first[0]), null);
    assert.deepEqual(a.outputs[0].links, []);
    assert.deepEqual(b.outputs[0].links, [second[0]]);
    assert.equal(decode.inputs[0].link, second[0]);
    assertConsistent(wf);
  });

  test('connect refuses cycles', () => {
    const wf = emptyWorkflow();
    const x = add(wf, 'ImageInvert');
    const y = add(wf, 'ImageInvert');
    const z = add(wf, 'ImageInvert');
    assert.ok(link(wf, x, 0, y, 'image').ok);
    assert.ok(link(wf, y, 0, z, 'image').ok);
    assert.deepEqual(link(wf, z, 0, x, 'image'), { ok: false, reason: 'this link would create a cycle' });
  });

  test('widget inputs accept links of their type (convert to input)', () => {
    const wf = emptyWorkflow();
    const primitive = add(wf, 'PrimitiveInt');
    const sampler = add(wf, 'KSampler');
    assert.ok(link(wf, primitive, 0, sampler, 'seed').ok);
    assert.equal(link(wf, primitive, 0, sampler, 'cfg').ok, false);
    assert.equal(sampler.inputs[slotOf(sampler, 'seed')].link, wf.links[0][0]);
    // The widget keeps its slot in widgets_values while linked.
    assert.equal(sampler.widgets_values.length, 7);
    assert.deepEqual(toPrompt(wf, defs).prompt[String(sampler.id)].inputs.seed, [String(primitive.id), 0]);
  });

  test('disconnect, removeLink and removeNodes clean both ends', () => {
    const wf = emptyWorkflow();
    const ckpt = add(wf, 'CheckpointLoaderSimple');
    const pos = add(wf, 'CLIPTextEncode');
    const neg = add(wf, 'CLIPTextEncode');
    const decode = add(wf, 'VAEDecode');
    link(wf, ckpt, 1, pos, 'clip');
    const negLink = link(wf, ckpt, 1, neg, 'clip').link;
    link(wf, ckpt, 2, decode, 'vae');
    const clip = slotOf(pos, 'clip');
    const removed = disconnect(wf, pos.id, clip);
    assert.deepEqual(removed.slice(1), [ckpt.id, 1, pos.id, clip, 'CLIP']);
    assert.equal(pos.inputs[clip].link, null);
    assert.deepEqual(ckpt.outputs[1].links, [negLink[0]]);
    assert.equal(disconnect(wf, pos.id, clip), null);
    assert.deepEqual(removeLink(wf, negLink[0]), negLink);
    assert.deepEqual(ckpt.outputs[1].links, []);
    removeNodes(wf, [ckpt.id]);
    assert.deepEqual(wf.nodes.map((n) => n.id), [pos.id, neg.id, decode.id]);
    assert.deepEqual(wf.links, []);
    assert.equal(decode.inputs[1].link, null);
    assertConsistent(wf);
  });
});

describe('reroutes', () => {
  test('addReroute splits a link and carries its type', () => {
    const wf = emptyWorkflow();
    const ckpt = add(wf, 'CheckpointLoaderSimple');
    const decode = add(wf, 'VAEDecode');
    const vae = link(wf, ckpt, 2, decode, 'vae').link;
    const reroute = addReroute(wf, vae[0], [300, 100]);
    assert.equal(reroute.type, 'Reroute');
    assert.deepEqual(reroute.pos, [300, 100]);
    assert.equal(findLink(wf, vae[0]), null);
    const into = findLink(wf, reroute.inputs[0].link);
    const out = findLink(wf, reroute.outputs[0].links[0]);
    assert.deepEqual(into.slice(1), [ckpt.id, 2, reroute.id, 0, 'VAE']);
    assert.deepEqual(out.slice(1), [reroute.id, 0, decode.id, 1, 'VAE']);
    assert.equal(reroute.outputs[0].type, 'VAE');
    assertConsistent(wf);
    assert.deepEqual(toPrompt(wf, defs).prompt[String(decode.id)].inputs.vae, [String(ckpt.id), 2]);
  });

  test('types propagate along a chain and constrain new links', () => {
    const wf = emptyWorkflow();
    const ckpt = add(wf, 'CheckpointLoaderSimple');
    const r1 = createNode(wf, 'Reroute', null);
    const r2 = createNode(wf, 'Reroute', null);
    const sampler = add(wf, 'KSampler');
    const encode = add(wf, 'CLIPTextEncode');
    assert.ok(connect(wf, r1.id, 0, r2.id, 0).ok);
    assert.equal(r2.outputs[0].type, '*');
    assert.ok(connect(wf, ckpt.id, 1, r1.id, 0).ok);
    assert.equal(r1.outputs[0].type, 'CLIP');
    assert.equal(r2.outputs[0].type, 'CLIP', 'type flows to the second reroute');
    assert.equal(findLink(wf, r2.inputs[0].link)[5], 'CLIP');
    assert.deepEqual(connect(wf, r2.id, 0, sampler.id, 0),
                     { ok: false, reason: 'CLIP cannot connect to MODEL input "model"' });
    assert.ok(connect(wf, r2.id, 0, encode.id, slotOf(encode, 'clip')).ok);
    // With the source gone the chain takes its type from what it feeds...
    disconnect(wf, r1.id, 0);
    assert.equal(r1.outputs[0].type, 'CLIP');
    // ...so a MODEL cannot be plugged in, while another CLIP can.
    assert.equal(connect(wf, ckpt.id, 0, r1.id, 0).ok, false);
    assert.match(connect(wf, ckpt.id, 0, r1.id, 0).reason, /MODEL cannot connect to CLIP/);
    assert.ok(connect(wf, ckpt.id, 1, r1.id, 0).ok);
    assert.deepEqual(toPrompt(wf, defs).prompt[String(encode.id)].inputs.clip, [String(ckpt.id), 1]);
    // Removing the consumer and the source leaves an untyped chain.
    removeNodes(wf, [encode.id, ckpt.id]);
    assert.equal(r1.outputs[0].type, '*');
    assert.equal(r2.outputs[0].type, '*');
    assertConsistent(wf);
  });

  test('a reroute without a source leaves the input out of the prompt', () => {
    const wf = emptyWorkflow();
    const reroute = createNode(wf, 'Reroute', null);
    const decode = add(wf, 'VAEDecode');
    assert.ok(connect(wf, reroute.id, 0, decode.id, 1).ok);
    assert.equal(reroute.outputs[0].type, 'VAE');
    assert.deepEqual(toPrompt(wf, defs).prompt[String(decode.id)].inputs, {});
  });
});

describe('widgets', () => {
  test('setWidget clamps, rounds to step and validates combos', () => {
    const wf = emptyWorkflow();
    const latent = add(wf, 'EmptyLatentImage');
    const sampler = add(wf, 'KSampler');
    assert.deepEqual(setWidget(wf, latent.id, 'width', 130, defs), { ok: true, value: 128 });
    assert.deepEqual(setWidget(wf, latent.id, 'width', 133, defs), { ok: true, value: 136 });
    assert.deepEqual(setWidget(wf, latent.id, 'height', 3, defs), { ok: true, value: 16 });
    assert.deepEqual(setWidget(wf, latent.id, 'height', 99999, defs), { ok: true, value: 16384 });
    assert.deepEqual(setWidget(wf, latent.id, 'batch_size', '4', defs), { ok: true, value: 4 });
    assert.deepEqual(latent.widgets_values, [136, 16384, 4]);
    assert.deepEqual(setWidget(wf, sampler.id, 'cfg', 7.456, defs), { ok: true, value: 7.46 });
    assert.deepEqual(setWidget(wf, sampler.id, 'denoise', 1.5, defs), { ok: true, value: 1 });
    assert.deepEqual(setWidget(wf, sampler.id, 'steps', 2.6, defs), { ok: true, value: 3 });
    assert.equal(setWidget(wf, sampler.id, 'steps', 'many', defs).ok, false);
    assert.deepEqual(setWidget(wf, sampler.id, 'sampler_name', 'heun', defs), { ok: true, value: 'heun' });
    const bad = setWidget(wf, sampler.id, 'sampler_name', 'magic', defs);
    assert.deepEqual(bad, { ok: false, reason: '"magic" is not one of the choices of "sampler_name"' });
    assert.equal(getWidget(wf, sampler.id, 'sampler_name', defs), 'heun');
    assert.equal(setWidget(wf, sampler.id, 'nope', 1, defs).ok, false);
    // Values land at their own index, after the seed's control value.
    assert.deepEqual(sampler.widgets_values, [0, 'randomize', 3, 7.46, 'heun', 'normal', 1]);
  });

  test('STRING and BOOLEAN coercion; clampWidgetValue works on specs', () => {
    const [text] = widgetSpecs(defs.CLIPTextEncode);
    assert.deepEqual(clampWidgetValue(text, 12), { ok: true, value: '12' });
    const [flag] = widgetSpecs({ input: { required: { on: ['BOOLEAN', { default: true }] } } });
    assert.deepEqual(clampWidgetValue(flag, 1), { ok: true, value: true });
    assert.deepEqual(clampWidgetValue(flag, 'false'), { ok: true, value: false });
    const [, value] = widgetSpecs(custom.Seeded);
    assert.deepEqual(clampWidgetValue(value, 0.3), { ok: true, value: 0.25 });
  });

  test('control mode get and set', () => {
    const wf = emptyWorkflow();
    const sampler = add(wf, 'KSampler');
    assert.equal(getControlMode(wf, sampler.id, 'seed', defs), 'randomize');
    assert.deepEqual(setControlMode(wf, sampler.id, 'seed', 'fixed', defs), { ok: true, value: 'fixed' });
    assert.equal(sampler.widgets_values[1], 'fixed');
    assert.equal(setControlMode(wf, sampler.id, 'seed', 'sometimes', defs).ok, false);
    assert.equal(setControlMode(wf, sampler.id, 'steps', 'fixed', defs).ok, false);
    assert.equal(getControlMode(wf, sampler.id, 'steps', defs), null);
  });
});

describe('applyControlAfterGenerate', () => {
  test('randomize, increment, decrement and fixed, within bounds', () => {
    const wf = emptyWorkflow();
    const nodes = ['randomize', 'increment', 'decrement', 'fixed'].map((mode) => {
      const node = add(wf, 'Seeded');
      node.widgets_values = [10, mode, 0.5];
      return node;
    });
    const changed = applyControlAfterGenerate(wf, allDefs, () => 0.99);
    assert.deepEqual(nodes.map((n) => n.widgets_values[0]), [20, 15, 5, 10]);
    assert.deepEqual(changed, [nodes[0].id, nodes[1].id, nodes[2].id]);
    applyControlAfterGenerate(wf, allDefs, () => 0);
    assert.deepEqual(nodes.map((n) => n.widgets_values[0]), [5, 20, 5, 10], 'clamped at max/min');
  });

  test('huge seed ranges stay safe integers; linked seeds are left alone', () => {
    const wf = emptyWorkflow();
    const sampler = add(wf, 'KSampler');
    applyControlAfterGenerate(wf, defs, () => 0.999999999999);
    const seed = sampler.widgets_values[0];
    assert.ok(Number.isSafeInteger(seed) && seed > 2 ** 52, String(seed));
    sampler.widgets_values[0] = Number.MAX_SAFE_INTEGER;
    sampler.widgets_values[1] = 'increment';
    applyControlAfterGenerate(wf, defs);
    assert.equal(sampler.widgets_values[0], Number.MAX_SAFE_INTEGER);
    const primitive = add(wf, 'PrimitiveInt');
    link(wf, primitive, 0, sampler, 'seed');
    sampler.widgets_values[1] = 'randomize';
    primitive.widgets_values = [-1, 'increment'];
    applyControlAfterGenerate(wf, defs, () => 0.5);
    assert.equal(sampler.widgets_values[0], Number.MAX_SAFE_INTEGER, 'linked: unchanged');
    assert.equal(primitive.widgets_values[0], 0);
  });

  test('PrimitiveNode values follow the widget they feed; combos cycle', () => {
    const raw = JSON.parse(readFileSync(new URL('converted_widget.ui.json', FIXTURES), 'utf-8'));
    const { wf } = loadWorkflow(raw, defs);
    const primitive = wf.nodes.find((n) => n.type === 'PrimitiveNode');
    assert.deepEqual(primitive.widgets_values, [20, 'increment']);
    applyControlAfterGenerate(wf, defs);
    assert.equal(primitive.widgets_values[0], 21);
    assert.equal(toPrompt(wf, defs).prompt['3'].inputs.steps, 21);

    const wf2 = emptyWorkflow();
    const node = add(wf2, 'V3Combo');
    const spec = { ...allDefs.V3Combo };
    spec.input = { required: { mode: ['COMBO', { options: ['a', 'b', 'c'], control_after_generate: true }] } };
    node.widgets_values = ['b', 'increment'];
    applyControlAfterGenerate(wf2, { V3Combo: spec });
    assert.equal(node.widgets_values[0], 'c');
  });
});

describe('groups and clipboard', () => {
  test('nodesInGroup finds nodes whose centre is inside', () => {
    const wf = emptyWorkflow();
    const inside = add(wf, 'VAEDecode', [100, 100]);
    add(wf, 'VAEDecode', [900, 900]);
    const group = addGroup(wf, 'Decode', [50, 50, 400, 300]);
    assert.deepEqual(wf.groups, [group]);
    assert.equal(group.title, 'Decode');
    assert.deepEqual(nodesInGroup(wf, group), [inside.id]);
  });

  test('copy/paste remaps ids and internal links, drops external ones', () => {
    const wf = emptyWorkflow();
    const ckpt = add(wf, 'CheckpointLoaderSimple');
    const encode = add(wf, 'CLIPTextEncode', [100, 0]);
    const sampler = add(wf, 'KSampler', [300, 0]);
    link(wf, ckpt, 1, encode, 'clip');
    link(wf, encode, 0, sampler, 'positive');
    link(wf, ckpt, 0, sampler, 'model');
    setWidget(wf, encode.id, 'text', 'copied text', defs);
    const clipboard = JSON.parse(JSON.stringify(copyNodes(wf, [encode.id, sampler.id])));
    assert.equal(clipboard.links.length, 1, 'only the link among copied nodes');
    const before = wf.links.length;
    const ids = pasteNodes(wf, clipboard, [10, 20]);
    assert.deepEqual(ids, [4, 5]);
    const [encode2, sampler2] = ids.map((id) => findNode(wf, id));
    assert.deepEqual(encode2.pos, [110, 20]);
    assert.deepEqual(encode2.widgets_values, ['copied text']);
    assert.equal(encode2.inputs[slotOf(encode2, 'clip')].link, null, 'external link dropped');
    assert.equal(sampler2.inputs[0].link, null);
    const internal = findLink(wf, sampler2.inputs[slotOf(sampler2, 'positive')].link);
    assert.deepEqual(internal.slice(1), [encode2.id, 0, sampler2.id, slotOf(sampler2, 'positive'), 'CONDITIONING']);
    assert.equal(wf.links.length, before + 1);
    assert.ok(internal[0] > before);
    assertConsistent(wf);
    // The originals are untouched.
    assert.equal(encode.inputs[slotOf(encode, 'clip')].link, wf.links[0][0]);
    // Pasting twice gives fresh ids again.
    assert.deepEqual(pasteNodes(wf, clipboard, [0, 0]), [6, 7]);
    assertConsistent(wf);
  });
});

describe('History', () => {
  test('undo/redo round trips and fresh copies', () => {
    const history = new History();
    const wf = emptyWorkflow();
    history.reset(wf);
    assert.equal(history.canUndo(), false);
    add(wf, 'VAEDecode');
    history.push(wf);
    add(wf, 'VAEDecode');
    history.push(wf);
    history.push(wf);  // nothing changed: not recorded
    const one = history.undo();
    assert.equal(one.nodes.length, 1);
    one.nodes.push({ mutated: true });
    const zero = history.undo();
    assert.equal(zero.nodes.length, 0);
    assert.equal(history.undo(), null);
    assert.equal(history.redo().nodes.length, 1, 'snapshots are immune to mutation');
    assert.equal(history.redo().nodes.length, 2);
    assert.equal(history.redo(), null);
    assert.deepEqual(history.undo().nodes.map((n) => n.id), [1]);
    const branch = emptyWorkflow();
    history.push(branch);
    assert.equal(history.canRedo(), false, 'a new edit clears redo');
    assert.deepEqual(history.undo().nodes.map((n) => n.id), [1]);
  });

  test('keeps at most `limit` undo steps', () => {
    const history = new History(100);
    const wf = emptyWorkflow();
    history.reset(wf);
    for (let i = 0; i < 150; i += 1) {
      wf.last_node_id = i + 1;
      history.push(wf);
    }
    let steps = 0;
    let state;
    while ((state = history.undo())) { steps += 1; if (steps > 200) break; }
    assert.equal(steps, 100);
    assert.equal(history.redo().last_node_id, 51);
  });
});

describe('toPrompt edge cases', () => {
  test('reroute loops are reported, duplicates and subgraphs too', () => {
    const wf = emptyWorkflow();
    const a = createNode(wf, 'Reroute', null);
    const b = createNode(wf, 'Reroute', null);
    const decode = add(wf, 'VAEDecode');
    wf.links.push([1, a.id, 0, b.id, 0, '*'], [2, b.id, 0, a.id, 0, '*'], [3, b.id, 0, decode.id, 0, '*']);
    a.inputs[0].link = 2;
    b.inputs[0].link = 1;
    decode.inputs[0].link = 3;
    const { prompt, errors } = toPrompt(wf, defs);
    assert.deepEqual(prompt[String(decode.id)].inputs, {});
    assert.match(errors[0].message, /loops through Reroute or bypassed nodes/);
    const dup = { nodes: [{ id: 1, type: 'VAEDecode' }, { id: 1, type: 'VAEDecode' }], links: [] };
    assert.match(toPrompt(dup, defs).errors[0].message, /appears more than once/);
    const sub = { nodes: [{ id: 1, type: 'abc-uuid' }], links: [], definitions: { subgraphs: [{ id: 'abc-uuid' }] } };
    assert.match(toPrompt(sub, defs).errors[0].message, /subgraphs are not supported/);
  });

  test('primitive list values are wrapped; bypass without a matching input drops the input', () => {
    const wf = emptyWorkflow();
    const sampler = add(wf, 'KSampler');
    const encode = add(wf, 'CLIPTextEncode');
    wf.nodes.push({ id: 50, type: 'PrimitiveNode', mode: 0, inputs: [],
                    outputs: [{ name: 'INT', type: 'INT', links: [1] }], widgets_values: [[1, 2]] });
    wf.links.push([1, 50, 0, sampler.id, 1, 'INT']);
    sampler.inputs[1].link = 1;
    encode.mode = 4;
    assert.ok(link(wf, encode, 0, sampler, 'positive').ok);
    const inputs = toPrompt(wf, defs).prompt[String(sampler.id)].inputs;
    assert.deepEqual(inputs.seed, { __value__: [1, 2] });
    assert.equal('positive' in inputs, false);
  });

  test('v3 COMBO and forceInput inputs; dict widgets on known nodes', () => {
    const wf = emptyWorkflow();
    const node = add(wf, 'V3Combo');
    node.widgets_values = ['c', 4];
    assert.deepEqual(toPrompt(wf, allDefs).prompt[String(node.id)],
                     { class_type: 'V3Combo', inputs: { mode: 'c', extra: 4 }, _meta: { title: 'V3 Combo' } });
    // An old frontend saved the forceInput socket as a converted widget: it owns a slot.
    node.inputs[0].widget = { name: 'text' };
    node.widgets_values = ['hello', 'a', 1];
    assert.deepEqual(toPrompt(wf, allDefs).prompt[String(node.id)].inputs, { text: 'hello', mode: 'a', extra: 1 });
    const latent = add(wf, 'EmptyLatentImage');
    latent.widgets_values = { width: 64, batch_size: 2 };
    assert.deepEqual(toPrompt(wf, defs).prompt[String(latent.id)].inputs, { width: 64, batch_size: 2 });
  });
});

describe('loadWorkflow', () => {
  const txt2img = () => JSON.parse(readFileSync(new URL('txt2img.ui.json', FIXTURES), 'utf-8'));

  test('adds widget inputs to old nodes in def order and remaps link slots', () => {
    const { wf, missing } = loadWorkflow(txt2img(), defs);
    assert.deepEqual(missing, []);
    const sampler = findNode(wf, 3);
    assert.deepEqual(sampler.inputs.map((i) => i.name),
                     ['model', 'seed', 'steps', 'cfg', 'sampler_name', 'scheduler', 'positive',
                      'negative', 'latent_image', 'denoise']);
    assert.equal(findLink(wf, 4)[4], slotOf(sampler, 'positive'));
    assertConsistent(wf);
    assert.equal(getWidget(wf, 3, 'steps', defs), 20);
    assert.equal(getControlMode(wf, 3, 'seed', defs), 'fixed');
  });

  test('accepts schema 1 with link objects and state counters', () => {
    const raw = JSON.parse(readFileSync(new URL('v1.ui.json', FIXTURES), 'utf-8'));
    const { wf } = loadWorkflow(JSON.stringify(raw), defs);
    assert.equal(wf.version, 0.4);
    assert.equal(wf.last_node_id, raw.state.lastNodeId);
    assert.equal(wf.last_link_id, raw.state.lastLinkId);
    assert.equal('state' in wf || 'reroutes' in wf, false);
    assert.deepEqual(wf.links[0], [1, 4, 1, 6, 1, 'CLIP']);
    assertConsistent(wf);
    assert.equal(add(wf, 'VAEDecode').id, raw.state.lastNodeId + 1);
  });

  test('normalises control values and missing upload values', () => {
    const raw = JSON.parse(readFileSync(new URL('controls.ui.json', FIXTURES), 'utf-8'));
    const { wf } = loadWorkflow(raw, defs);
    assert.deepEqual(findNode(wf, 13).widgets_values, [5, 'randomize', 15, 8, 'euler', 'normal', 0.75]);
    assert.deepEqual(findNode(wf, 14).widgets_values, [6, 'fixed', 16, 7, 'heun', 'karras', 0.5]);
    assert.deepEqual(findNode(wf, 16).widgets_values, ['example.png', 'image', 'red']);
  });

  test('short widgets_values are completed with defaults (as the frontend does)', () => {
    const raw = txt2img();
    raw.nodes.find((n) => n.id === 5).widgets_values = [256];
    const { wf } = loadWorkflow(raw, defs);
    assert.deepEqual(findNode(wf, 5).widgets_values, [256, 512, 1]);
  });

  test('shape errors name the node or link at fault', () => {
    const cases = [
      [42, /top level: must be an object/],
      [{ nodes: {} }, /"nodes" must be a list/],
      [{ 3: { class_type: 'KSampler', inputs: {} } }, /API-format prompt/],
      [{ nodes: [{ id: 7 }] }, /nodes\[0\] \(node 7\): "type" must be a non-empty string/],
      [{ nodes: [{ id: 7, type: 'X', inputs: [{ name: 'a', link: 'x' }] }] },
       /nodes\[0\] \(node 7\)\.inputs\[0\]\.link: must be an integer or null/],
      [{ nodes: [{ id: 7, type: 'X', outputs: [{ links: ['a'] }] }] }, /outputs\[0\]\.links/],
      [{ nodes: [{ id: 1, type: 'X' }, { id: 1, type: 'Y' }] }, /node id 1 appears more than once/],
      [{ nodes: [], links: [[1, 2, 3]] }, /links\[0\]: must have at least 5 items/],
      [{ nodes: [], links: [{ id: 'a', origin_id: 1, origin_slot: 0, target_id: 2, target_slot: 0 }] },
       /links\[0\]: link id must be an integer/],
      ['{not json', /not JSON/],
    ];
    for (const [input, pattern] of cases) {
      assert.throws(() => loadWorkflow(input, defs), pattern, JSON.stringify(input));
    }
  });

  test('fills defaults for a bare workflow', () => {
    const { wf } = loadWorkflow({ nodes: [{ id: 3, type: 'VAEDecode' }] }, defs);
    const node = wf.nodes[0];
    assert.deepEqual(node.inputs.map((i) => i.name), ['samples', 'vae']);
    assert.deepEqual(node.outputs.map((o) => o.type), ['IMAGE']);
    assert.deepEqual([wf.last_node_id, wf.last_link_id, wf.groups, wf.extra.ds.scale], [3, 0, [], 1]);
  });
});

test('typeColor is stable, fixed for SD types and distinct per type', () => {
  assert.equal(typeColor('MODEL'), typeColor('MODEL'));
  const known = ['MODEL', 'CLIP', 'VAE', 'CONDITIONING', 'LATENT', 'IMAGE', 'MASK', 'CONTROL_NET',
                 'INT', 'FLOAT', 'STRING'];
  assert.equal(new Set(known.map(typeColor)).size, known.length);
  assert.match(typeColor('MY_CUSTOM'), /^hsl\(\d+, 55%, 62%\)$/);
  assert.equal(typeColor('MY_CUSTOM'), typeColor('MY_CUSTOM'));
  assert.notEqual(typeColor('MY_CUSTOM'), typeColor('OTHER_TYPE'));
  assert.equal(typeColor(null), typeColor('*'));
});

describe('defaultWorkflow', () => {
  test('is the txt2img graph with the requested settings', () => {
    const wf = defaultWorkflow(defs);
    const { prompt, errors } = toPrompt(wf, defs);
    assert.deepEqual(errors, []);
    const byClass = Object.fromEntries(Object.values(prompt).map((n) => [n.class_type, n]));
    assert.deepEqual(Object.values(prompt).map((n) => n.class_type).sort(), [
      'CLIPTextEncode', 'CLIPTextEncode', 'CheckpointLoaderSimple', 'EmptyLatentImage', 'KSampler',
      'SaveImage', 'VAEDecode']);
    assert.equal(byClass.CheckpointLoaderSimple.inputs.ckpt_name, 'nodegraph-demo-sd1.safetensors');
    assert.deepEqual(byClass.EmptyLatentImage.inputs, { width: 64, height: 64, batch_size: 1 });
    assert.equal(byClass.KSampler.inputs.steps, 20);
    const texts = Object.values(prompt).filter((n) => n.class_type === 'CLIPTextEncode')
      .map((n) => n.inputs.text);
    assert.deepEqual(texts, ['a white square in the top right on a black background', '']);
    const sampler = byClass.KSampler.inputs;
    const ckptId = Object.keys(prompt).find((k) => prompt[k].class_type === 'CheckpointLoaderSimple');
    assert.deepEqual(sampler.model, [ckptId, 0]);
    assert.equal(prompt[sampler.positive[0]].inputs.text,
      'a white square in the top right on a black background');
    assert.equal(prompt[sampler.negative[0]].inputs.text, '');
    assert.deepEqual(byClass.SaveImage.inputs.images[1], 0);
    assertConsistent(wf);
    // Laid out left to right along the data flow.
    const x = (type) => wf.nodes.find((n) => n.type === type).pos[0];
    assert.ok(x('CheckpointLoaderSimple') < x('CLIPTextEncode'));
    assert.ok(x('CLIPTextEncode') < x('KSampler') && x('KSampler') < x('VAEDecode'));
    assert.ok(x('VAEDecode') < x('SaveImage'));
    // It survives a save/load round trip unchanged.
    assert.deepEqual(loadWorkflow(JSON.stringify(wf), defs).wf, wf);
  });

  test('names missing core nodes', () => {
    const { KSampler, ...rest } = defs;
    assert.throws(() => defaultWorkflow(rest), /lacks the nodes of the default workflow: KSampler/);
  });
});

test('control without min: decrement goes negative, randomize draws from [0, max]', () => {
  const wf = emptyWorkflow();
  const spec = { input: { required: { n: ['INT', { max: 9, control_after_generate: true }] } },
                 output: ['INT'], output_name: ['INT'] };
  const node = createNode(wf, 'Free', spec);
  node.widgets_values = [0, 'decrement'];
  applyControlAfterGenerate(wf, { Free: spec });
  assert.equal(node.widgets_values[0], -1);
  node.widgets_values = [0, 'randomize'];
  applyControlAfterGenerate(wf, { Free: spec }, () => 0);
  assert.equal(node.widgets_values[0], 0);
  applyControlAfterGenerate(wf, { Free: spec }, () => 0.999);
  assert.equal(node.widgets_values[0], 9);
});
