// HTTP + WebSocket client for the ComfyUI-compatible server (same origin).
// All paths are relative to the page, so the editor also works behind a path prefix; a server
// token given as ?token= on the page URL has already been turned into a cookie by the server.

const CLIENT_ID_KEY = 'nodegraph.clientId';
const PREVIEW_IMAGE = 1;
const PREVIEW_IMAGE_WITH_METADATA = 4;
const IMAGE_TYPES = { 1: 'image/jpeg', 2: 'image/png' };

/** Make a random id without needing a secure context (crypto.randomUUID needs one). */
function randomId() {
  if (globalThis.crypto?.randomUUID) {
    try { return globalThis.crypto.randomUUID(); } catch { /* insecure context */ }
  }
  const hex = [];
  for (let i = 0; i < 32; i++) hex.push(Math.floor(Math.random() * 16).toString(16));
  return hex.join('');
}

/** One client id per browser tab, kept across reloads so a reload still receives its events. */
function tabClientId() {
  try {
    let id = sessionStorage.getItem(CLIENT_ID_KEY);
    if (!id) {
      id = randomId();
      sessionStorage.setItem(CLIENT_ID_KEY, id);
    }
    return id;
  } catch {
    return randomId();
  }
}

/**
 * Decode a binary websocket frame: a big-endian uint32 event type, then the payload.
 * Returns {blob, nodeId} for previews (nodeId null for type 1), or null for other frames.
 */
export function decodeBinaryFrame(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 8) return null;
  const event = view.getUint32(0);
  if (event === PREVIEW_IMAGE) {
    const type = IMAGE_TYPES[view.getUint32(4)] || 'image/jpeg';
    return { blob: new Blob([buffer.slice(8)], { type }), nodeId: null, meta: null };
  }
  if (event === PREVIEW_IMAGE_WITH_METADATA) {
    const length = view.getUint32(4);
    const text = new TextDecoder().decode(new Uint8Array(buffer, 8, length));
    let meta = {};
    try { meta = JSON.parse(text); } catch { /* keep the image anyway */ }
    const type = meta.image_type || 'image/jpeg';
    const nodeId = meta.display_node_id ?? meta.node_id ?? null;
    return { blob: new Blob([buffer.slice(8 + length)], { type }), nodeId, meta };
  }
  return null;
}

/** Talks to the server; emits websocket events to listeners registered with on(). */
export class Api {
  /** @param {{base?: string}} [options] base URL of the server (defaults to the page's). */
  constructor(options = {}) {
    this.base = new URL(options.base || '.', globalThis.location?.href || 'http://localhost/');
    this.clientId = tabClientId();
    this.listeners = new Map();
    this.socket = null;
    this.connected = false;
    this.reconnectDelay = 500;
    this.closed = false;
  }

  /** Absolute URL of a server path such as "object_info". */
  url(path, query) {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  async fetchJson(path, init) {
    const response = await fetch(this.url(path), init);
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new Error(`${init?.method || 'GET'} /${path} failed: ${response.status} ${text.slice(0, 200)}`);
    }
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  postJson(path, body) {
    return this.fetchJson(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  }

  /** GET /object_info: the node definitions that drive the whole editor. */
  objectInfo() {
    return this.fetchJson('object_info');
  }

  /**
   * POST /prompt with our client id and the UI workflow embedded for PNG metadata.
   * Never throws on HTTP errors: returns {ok, status, body} so callers can show node_errors.
   */
  async queuePrompt(prompt, workflow, { front, number } = {}) {
    const body = {
      prompt,
      client_id: this.clientId,
      extra_data: { extra_pnginfo: { workflow } },
    };
    if (front) body.front = true;
    if (number !== undefined && number !== null) body.number = number;
    let response;
    try {
      response = await fetch(this.url('prompt'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (ex) {
      return { ok: false, status: 0, body: { error: { message: `Server unreachable: ${ex.message}` } } };
    }
    const text = await response.text();
    let parsed;
    try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = { error: { message: text } }; }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  /** POST /interrupt (global: stops whatever is running). */
  async interrupt() {
    await fetch(this.url('interrupt'), { method: 'POST' });
  }

  /** GET /queue → {queue_running, queue_pending}. */
  queue() {
    return this.fetchJson('queue');
  }

  /** GET /history?max_items=N → {prompt_id: entry} oldest first. */
  history(max = 50) {
    return this.fetchJson(`history?max_items=${encodeURIComponent(max)}`);
  }

  /** Remove pending prompts by id. */
  deleteQueued(ids) {
    return this.postJson('queue', { delete: ids });
  }

  /** Remove history entries by id. */
  deleteHistory(ids) {
    return this.postJson('history', { delete: ids });
  }

  /** POST /upload/image (multipart) → {name, subfolder, type}. */
  async upload(file, { subfolder = '', overwrite = false, type = 'input' } = {}) {
    const form = new FormData();
    form.append('image', file, file.name);
    form.append('type', type);
    if (subfolder) form.append('subfolder', subfolder);
    if (overwrite) form.append('overwrite', 'true');
    return this.fetchJson('upload/image', { method: 'POST', body: form });
  }

  /** URL of an output/input/temp image; preview asks the server for a small webp. */
  viewUrl({ filename, subfolder = '', type = 'output' }, { preview = false } = {}) {
    const query = { filename, subfolder, type };
    if (preview) query.preview = typeof preview === 'string' ? preview : 'webp;90';
    return this.url('view', query);
  }

  /** Register a listener for a websocket event ('status', 'executing', 'preview', ...). */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  emit(event, data) {
    for (const fn of this.listeners.get(event) || []) {
      try { fn(data); } catch (ex) { console.error(`listener for ${event} failed`, ex); }
    }
  }

  /** Open the websocket (previews on), reconnecting with backoff when it drops. */
  connect() {
    this.closed = false;
    const url = new URL(this.url('ws', { clientId: this.clientId, previews: 1 }));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
      this.connected = true;
      this.reconnectDelay = 500;
      this.emit('connection', { connected: true });
    });
    socket.addEventListener('message', (event) => this.handleMessage(event.data));
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      const was = this.connected;
      this.connected = false;
      if (was) this.emit('connection', { connected: false });
      if (this.closed) return;
      setTimeout(() => { if (!this.closed) this.connect(); }, this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, 8000);
    });
  }

  /** Stop the websocket for good (tests, page teardown). */
  disconnect() {
    this.closed = true;
    this.socket?.close();
  }

  handleMessage(data) {
    if (typeof data !== 'string') {
      const frame = decodeBinaryFrame(data);
      if (frame) this.emit('preview', frame);
      return;
    }
    let message;
    try { message = JSON.parse(data); } catch { return; }
    if (!message || typeof message.type !== 'string') return;
    if (message.type === 'status' && message.data?.sid) this.sid = message.data.sid;
    this.emit(message.type, message.data ?? {});
  }
}
