// The workflow shown on first start: ComfyUI's classic txt2img graph, set up for the bundled
// demo model (64x64, a prompt it was trained to follow) so a first "Queue" makes a real
// picture within seconds on a CPU.
import { connect, createNode, emptyWorkflow, setWidget, widgetSpecs } from './graph.js';

const DEMO_CHECKPOINT = 'nodegraph-demo-sd1.safetensors';

const REQUIRED = ['CheckpointLoaderSimple', 'CLIPTextEncode', 'EmptyLatentImage', 'KSampler',
  'VAEDecode', 'SaveImage'];

/**
 * Build the default txt2img workflow from the server's node definitions, laid out left to
 * right, with the demo checkpoint (else the first .safetensors the server lists). Throws
 * when a core node is missing.
 */
export function defaultWorkflow(defs) {
  const absent = REQUIRED.filter((type) => !defs || !Object.prototype.hasOwnProperty.call(defs, type));
  if (absent.length) throw new Error(`the server lacks the nodes of the default workflow: ${absent.join(', ')}`);
  const wf = emptyWorkflow();
  const add = (type, pos) => createNode(wf, type, defs[type], pos);
  const set = (node, name, value) => {
    const result = setWidget(wf, node.id, name, value, defs);
    if (!result.ok) throw new Error(result.reason);
  };
  const link = (origin, originSlot, target, inputName) => {
    const slot = target.inputs.findIndex((input) => input.name === inputName);
    const result = connect(wf, origin.id, originSlot, target.id, slot);
    if (!result.ok) throw new Error(result.reason);
  };

  const checkpoint = add('CheckpointLoaderSimple', [30, 220]);
  const positive = add('CLIPTextEncode', [400, 60]);
  const negative = add('CLIPTextEncode', [400, 330]);
  const latent = add('EmptyLatentImage', [400, 600]);
  const sampler = add('KSampler', [800, 200]);
  const decode = add('VAEDecode', [1170, 200]);
  const save = add('SaveImage', [1440, 200]);
  positive.title = 'Positive Prompt';
  negative.title = 'Negative Prompt';
  positive.size[1] = Math.max(positive.size[1], 200);
  negative.size[1] = Math.max(negative.size[1], 200);
  save.size = [Math.max(save.size[0], 300), Math.max(save.size[1], 320)];

  const ckpt = widgetSpecs(defs.CheckpointLoaderSimple).find((spec) => spec.name === 'ckpt_name');
  const choices = (ckpt?.choices ?? []).map(String);
  const preferred = choices.includes(DEMO_CHECKPOINT)
    ? DEMO_CHECKPOINT
    : choices.find((name) => name.endsWith('.safetensors')); // loads without a pickle
  if (preferred) set(checkpoint, 'ckpt_name', preferred);
  set(positive, 'text', 'a white square in the top right on a black background');
  set(negative, 'text', '');
  set(latent, 'width', 64);
  set(latent, 'height', 64);
  set(latent, 'batch_size', 1);
  set(sampler, 'steps', 20);
  set(sampler, 'cfg', 5); // the demo model draws cleaner shapes at low guidance

  link(checkpoint, 0, sampler, 'model');
  link(checkpoint, 1, positive, 'clip');
  link(checkpoint, 1, negative, 'clip');
  link(positive, 0, sampler, 'positive');
  link(negative, 0, sampler, 'negative');
  link(latent, 0, sampler, 'latent_image');
  link(sampler, 0, decode, 'samples');
  link(checkpoint, 2, decode, 'vae');
  link(decode, 0, save, 'images');
  return wf;
}
