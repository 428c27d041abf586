// Workflow files: save/load UI JSON, export the API prompt, load the workflow embedded in a
// SaveImage PNG, drag-and-drop onto the window, and image uploads for LoadImage nodes.

import { setWidget, toPrompt } from './graph.js';
import { workflowFromPng } from './png.js';
import { specsOf } from './canvas_layout.js';
import { toast } from './toast.js';

/** Offer data as a file download. */
export function download(name, data, type = 'application/json') {
  const blob = new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function isPng(file, bytes) {
  if (file.type === 'image/png' || /\.png$/i.test(file.name)) return true;
  return bytes && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

function isJson(file) {
  return file.type === 'application/json' || /\.json$/i.test(file.name);
}

/** Whether a node type takes uploaded images (a combo with image_upload). */
function uploadSpec(canvas, node) {
  return specsOf(canvas.defOf(node)).find((s) => s.upload) || null;
}

/** File handling for the App. */
export class Files {
  constructor(app) {
    this.app = app;
  }

  /** Download the workflow as ComfyUI UI-format JSON. */
  save() {
    this.app.flushTyping();
    download('workflow.json', JSON.stringify(this.app.wf, null, 2));
  }

  /** Download the API-format prompt (what the server runs). */
  exportApi() {
    this.app.flushTyping();
    const { prompt, errors } = toPrompt(this.app.wf, this.app.defs);
    if (errors?.length) {
      toast(`Cannot export: ${errors.map((e) => e.message).join('; ')}`, 'error');
      return;
    }
    download('workflow_api.json', JSON.stringify(prompt, null, 2));
  }

  /** Load a dropped or picked file: UI JSON, or a PNG with an embedded workflow. */
  async open(file) {
    try {
      const buffer = await file.arrayBuffer();
      const bytes = new Uint8Array(buffer, 0, Math.min(8, buffer.byteLength));
      if (isPng(file, bytes)) {
        const { workflow, prompt } = await workflowFromPng(buffer);
        if (workflow) {
          this.app.load(workflow, { source: file.name });
        } else if (prompt) {
          toast(`${file.name} holds only an API-format prompt (no "workflow" chunk). `
            + 'API prompts have no layout, so nothing was loaded.', 'error');
        } else {
          toast(`${file.name} has no embedded workflow`, 'error');
        }
        return;
      }
      if (isJson(file) || bytes[0] === 0x7b || bytes[0] === 0x20 || bytes[0] === 0x0a) {
        const text = new TextDecoder().decode(buffer);
        let data;
        try { data = JSON.parse(text); } catch (ex) {
          toast(`${file.name} is not valid JSON: ${ex.message}`, 'error');
          return;
        }
        this.app.load(data, { source: file.name });
        return;
      }
      toast(`Cannot open ${file.name}: drop a workflow .json or a PNG made by SaveImage`, 'error');
    } catch (ex) {
      toast(`Cannot open ${file.name}: ${ex.message}`, 'error');
    }
  }

  /** Upload an image to the input folder and select it on a LoadImage-like node. */
  async uploadImage(nodeId, file) {
    const { canvas, api } = this.app;
    const node = canvas.nodeById(nodeId);
    const spec = node && uploadSpec(canvas, node);
    if (!spec) {
      toast('This node does not take images', 'warn');
      return false;
    }
    let result;
    try {
      result = await api.upload(file);
    } catch (ex) {
      toast(`Upload failed: ${ex.message}`, 'error');
      return false;
    }
    const name = result.subfolder ? `${result.subfolder}/${result.name}` : result.name;
    // Make the new file a valid choice for every node of the same kind.
    if (Array.isArray(spec.choices) && !spec.choices.includes(name)) spec.choices.push(name);
    const set = setWidget(this.app.wf, node.id, spec.name, name, this.app.defs);
    if (!set.ok) {
      toast(set.reason, 'error');
      return false;
    }
    canvas.setState(node.id, { images: [], preview: null, fitted: null });
    canvas.edited('Upload image');
    toast(`Uploaded ${name}`, 'info');
    return true;
  }

  /** Accept files dropped anywhere on the window. */
  installDrop() {
    const { canvas } = this.app;
    window.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types?.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      document.body.classList.add('dropping');
    });
    window.addEventListener('dragleave', (event) => {
      if (!event.relatedTarget) document.body.classList.remove('dropping');
    });
    window.addEventListener('drop', (event) => {
      document.body.classList.remove('dropping');
      const file = event.dataTransfer?.files?.[0];
      if (!file) return;
      event.preventDefault();
      const node = canvas.nodeAt(canvas.toCanvas(event.clientX, event.clientY));
      if (node && file.type.startsWith('image/') && uploadSpec(canvas, node)) {
        this.uploadImage(node.id, file);
      } else {
        this.open(file);
      }
    });
  }
}
