// Running workflows: queueing (with batch count, control_after_generate between posts),
// showing validation errors from the server's 400 on nodes and inputs, and following the
// websocket events of a run (running node, progress, cached nodes, images, previews, errors).

import { applyControlAfterGenerate, nodeTitle, toPrompt } from './graph.js';
import { toast } from './toast.js';

/** Per-node error marks from a /prompt node_errors object: {id: {message, inputs}}. */
export function nodeErrorMarks(nodeErrors) {
  const marks = {};
  for (const [id, entry] of Object.entries(nodeErrors || {})) {
    const lines = [];
    const inputs = {};
    for (const error of entry?.errors || []) {
      const text = error.details ? `${error.message}: ${error.details}` : error.message;
      lines.push(text);
      const name = error.extra_info?.input_name;
      if (name) inputs[name] = text;
    }
    marks[id] = { message: lines.join('\n') || 'Invalid node', inputs };
  }
  return marks;
}

/** Input names of a node that an exception message mentions ('text', "seed" ...). */
function inputsNamedIn(node, message) {
  const inputs = {};
  for (const input of node?.inputs || []) {
    const name = input.widget?.name ?? input.name;
    if (!name) continue;
    const pattern = new RegExp(`(^|[^\\w])['"]?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"]?([^\\w]|$)`);
    if (pattern.test(message)) inputs[name] = message;
  }
  return inputs;
}

/** Queueing and run-state tracking for the App. */
export class Runner {
  constructor(app) {
    this.app = app;
    this.busy = false;
    this.runningNode = null;
    this.queueRemaining = 0;
    this.listen(app.api);
  }

  get canvas() {
    return this.app.canvas;
  }

  /** Queue the workflow `count` times, as ComfyUI's Queue button does. */
  async queue(count = 1, { front = false } = {}) {
    if (this.busy) return false;
    this.busy = true;
    const app = this.app;
    try {
      app.flushTyping();
      this.canvas.clearErrors();
      for (let i = 0; i < count; i++) {
        const { prompt, errors } = toPrompt(app.wf, app.defs);
        if (errors?.length) {
          for (const e of errors) {
            if (e.nodeId != null) this.canvas.setState(e.nodeId, { error: { message: e.message, inputs: {} } });
          }
          toast(`Cannot queue: ${errors.map((e) => e.message).join('; ')}`, 'error');
          return false;
        }
        if (!Object.keys(prompt).length) {
          toast('Nothing to queue: the workflow has no nodes the server runs', 'warn');
          return false;
        }
        const result = await app.api.queuePrompt(prompt, app.wf, { front });
        if (!result.ok) {
          this.showPromptError(result.body, result.status);
          return false;
        }
        const partial = result.body?.node_errors || {};
        if (Object.keys(partial).length) {
          this.markNodeErrors(partial);
          toast('Some outputs failed validation; the valid ones were queued', 'warn');
        }
        const changed = applyControlAfterGenerate(app.wf, app.defs);
        if (changed.length) app.onEdit('Control after generate');
      }
      return true;
    } finally {
      this.busy = false;
    }
  }

  markNodeErrors(nodeErrors) {
    for (const [id, mark] of Object.entries(nodeErrorMarks(nodeErrors))) {
      this.canvas.setState(id, { error: mark });
    }
  }

  /** Show a rejected /prompt: marks on nodes and inputs, and an error toast. */
  showPromptError(body, status) {
    const error = body?.error || {};
    this.markNodeErrors(body?.node_errors);
    const lines = [error.message || `The server refused the prompt (HTTP ${status})`];
    const count = Object.keys(body?.node_errors || {}).length;
    if (count) {
      for (const [id, entry] of Object.entries(body.node_errors).slice(0, 4)) {
        const node = this.canvas.nodeById(id);
        const title = node ? nodeTitle(node, this.app.defs) : entry.class_type;
        const first = entry.errors?.[0];
        if (first) lines.push(`#${id} ${title}: ${first.message}${first.details ? ` (${first.details})` : ''}`);
      }
    } else {
      if (error.details) lines.push(error.details);
      // Prompt-level errors name one node ("Node ID '#6'"), e.g. an unknown class.
      const id = error.extra_info?.node_id ?? /#([^'"\s]+)/.exec(error.details || '')?.[1];
      if (id != null && this.canvas.nodeById(id)) {
        this.canvas.setState(id, { error: { message: error.message || 'Invalid node', inputs: {} } });
      }
    }
    toast(lines.join('\n'), 'error');
  }

  listen(api) {
    api.on('status', (data) => {
      this.queueRemaining = data?.status?.exec_info?.queue_remaining ?? 0;
      this.app.updateStatus();
    });
    api.on('connection', () => this.app.updateStatus());
    api.on('execution_start', () => {
      this.runningNode = null;
      this.canvas.clearRuntime();
    });
    api.on('execution_cached', ({ nodes }) => {
      for (const id of nodes || []) this.canvas.setState(id, { cached: true });
    });
    api.on('executing', ({ node, display_node: display }) => this.setRunning(display ?? node));
    api.on('progress', ({ value, max, node }) => {
      const id = node ?? this.runningNode;
      if (id != null) this.canvas.setState(id, { progress: [value, max] });
    });
    api.on('executed', ({ node, display_node: display, output }) => {
      const id = display ?? node;
      if (output?.images) this.canvas.setState(id, { images: output.images, preview: null, fitted: null });
    });
    api.on('execution_success', () => this.setRunning(null));
    api.on('execution_error', (data) => {
      this.setRunning(null);
      const message = `${data.exception_type || 'Error'}: ${data.exception_message || ''}`.trim();
      const node = this.canvas.nodeById(data.node_id);
      if (data.node_id != null) {
        this.canvas.setState(data.node_id, { error: { message, inputs: inputsNamedIn(node, data.exception_message || '') } });
      }
      const title = node ? nodeTitle(node, this.app.defs) : data.node_type;
      toast(`${title} (#${data.node_id}) failed:\n${data.exception_message || data.exception_type}`, 'error');
    });
    api.on('execution_interrupted', (data) => {
      this.setRunning(null);
      toast(`Interrupted${data?.node_type ? ` at ${data.node_type}` : ''}`, 'warn');
    });
    api.on('preview', ({ blob, nodeId }) => {
      const id = nodeId ?? this.runningNode;
      if (id == null) return;
      createImageBitmap(blob).then((bitmap) => {
        const old = this.canvas.stateOf(id)?.preview;
        this.canvas.setState(id, { preview: bitmap });
        if (old && old !== bitmap) old.close?.();
      }).catch(() => {});
    });
  }

  setRunning(id) {
    if (this.runningNode != null) {
      this.canvas.setState(this.runningNode, { running: false, progress: null });
    }
    this.runningNode = id ?? null;
    if (id != null) this.canvas.setState(id, { running: true, progress: null, cached: false });
    this.app.updateStatus();
  }
}
