// Undo/redo history of a workflow, kept as JSON snapshots.

/** Undo/redo as JSON snapshots of the whole workflow (small, and immune to aliasing bugs). */
export class History {
  constructor(limit = 100) {
    this.limit = limit;
    this.states = [];
    this.index = -1;
  }

  /** Forget everything; `wf` becomes the base state. */
  reset(wf) {
    this.states = [JSON.stringify(wf)];
    this.index = 0;
  }

  /** Record `wf` after an edit; clears redo. Identical states are not recorded twice. */
  push(wf) {
    const snapshot = JSON.stringify(wf);
    if (this.index >= 0 && this.states[this.index] === snapshot) return;
    this.states = this.states.slice(0, this.index + 1);
    this.states.push(snapshot);
    if (this.states.length > this.limit + 1) this.states.splice(0, this.states.length - this.limit - 1);
    this.index = this.states.length - 1;
  }

  canUndo() { return this.index > 0; }

  canRedo() { return this.index >= 0 && this.index < this.states.length - 1; }

  /** The previous state as a fresh object, or null. */
  undo() {
    if (!this.canUndo()) return null;
    this.index -= 1;
    return JSON.parse(this.states[this.index]);
  }

  /** The state undone last as a fresh object, or null. */
  redo() {
    if (!this.canRedo()) return null;
    this.index += 1;
    return JSON.parse(this.states[this.index]);
  }
}
