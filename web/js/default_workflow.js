// The workflow shown on first start: ComfyUI's classic txt2img graph, tuned for the tiny
// test models (small image, few steps) so a first "Queue" finishes quickly.
import { connect, createNode, emptyWorkflow, setWidget, widgetSpecs } from './graph.js';

const REQUIRED = ['CheckpointLoaderSimple', 'CLIPTextEncode', 'EmptyLatentImage', 'KSampler',
  'VAEDecode', 'SaveImage'];

/**
 * Build the default txt2img workflow from the server's node definitions, laid out left to
 * right, with the first checkpoint the server lists. Throws when a core node is missing.
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
  const preferred = (ckpt?.choices ?? []).find((name) => String(name).endsWith('.safetensors'));
  if (preferred) set(checkpoint, 'ckpt_name', preferred); // safetensors loads without a pickle
  set(positive, 'text', 'a red circle on a blue background');
  set(negative, 'text', 'blurry, noisy');
  set(latent, 'width', 128);
  set(latent, 'height', 128);
  set(latent, 'batch_size', 1);
  set(sampler, 'steps', 12);

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
