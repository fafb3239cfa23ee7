// client.js - the session protocol over one WebSocket (docs/PROTOCOL.md),
// with reconnection and delta resume. Knows nothing of the page.
//
// A SessionClient joins with `hello`, hands every frame to its listeners,
// and gives each request with an id a Promise: resolved with the `ok`,
// rejected with a ServerError for the `error`. When the connection drops
// for a reason worth retrying it reconnects by itself, sending the epoch
// and the highest seq it has seen so the server can send only what changed.

export class ServerError extends Error {
  constructor(reply) {
    super(reply.message || reply.code);
    this.code = reply.code;
    this.reply = reply;
  }
}

// Close codes after which reconnecting cannot help (docs/PROTOCOL.md 10).
const FINAL_CLOSES = new Set([4400, 4401, 4403, 4409]);

export const CLOSE_WORDS = {
  1000: 'closed',
  1001: 'the server is shutting down',
  1006: 'the connection was lost',
  1007: 'the server refused a malformed message',
  1009: 'a message was too large for the server',
  1011: 'the server cannot read this session\'s storage',
  4205: 'an admin reset or restored the session',
  4400: 'the server refused the sign-in',
  4401: 'wrong password',
  4403: 'an admin removed you from the session',
  4408: 'the connection was silent for too long',
  4409: 'that user name is already online in this session',
  4429: 'the connection fell too far behind',
};

export function closeWords(code, reason) {
  const w = CLOSE_WORDS[code] || `closed (code ${code})`;
  return reason && !CLOSE_WORDS[code] ? `${w}: ${reason}` : w;
}

export class SessionClient {
  // opts: {url, hello: {user, password, admin_password, color}}
  constructor(opts) {
    this.url = opts.url;
    this.hello = opts.hello;
    this.listeners = new Set();
    this.ws = null;
    this.nextId = 1;
    this.waiting = new Map();      // id -> {resolve, reject, type}
    this.download = null;          // {hash, size, parts, got, resolve}
    this.epoch = null;
    this.seq = 0;                  // highest seq seen (resume point)
    this.joined = false;
    this.everJoined = false;
    this.fullPending = false;      // a full sync has begun and not ended
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  emit(ev) { for (const fn of this.listeners) fn(ev); }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  open() {
    const resume = this.epoch !== null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.emit({ kind: 'closed', code: 1006, words: String(e.message || e), final: true });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.joined = false;
    this.emit({ kind: 'connecting', attempt: this.attempt, resume });
    ws.onopen = () => {
      const hello = { type: 'hello', id: 'hello', client: 'sessiond-web/1' };
      for (const [k, v] of Object.entries(this.hello)) if (v) hello[k] = v;
      if (resume) { hello.epoch = this.epoch; hello.since = this.seq; }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = (e) => this.closed(ws, e.code, e.reason);
  }

  closed(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    const wasJoined = this.joined;
    this.joined = false;
    const gone = new ServerError({ code: 'unavailable', message: 'the connection closed before the answer came' });
    for (const w of this.waiting.values()) w.reject(gone);
    this.waiting.clear();
    if (this.download) this.download.reject(gone);
    this.download = null;
    // After a drop the server may still hold our old connection until it
    // times out: name_taken then means "not yet", not "someone else".
    const final = this.stopped || (FINAL_CLOSES.has(code) && !(code === 4409 && this.everJoined));
    const delay = final ? 0 : Math.min(10000, 500 * 2 ** Math.min(this.attempt, 5));
    this.emit({ kind: 'closed', code, reason, words: closeWords(code, reason), final, wasJoined, delay });
    if (final) return;
    // A new epoch (4205), or a full sync cut short (the model was emptied
    // for it): the next join must be a full one.
    if (code === 4205 || this.fullPending) this.epoch = null;
    this.attempt++;
    this.timer = setTimeout(() => this.open(), delay);
  }

  receive(data) {
    if (typeof data !== 'string') return this.binary(data);
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (typeof m.seq === 'number' && this.joined && m.seq > this.seq) this.seq = m.seq;
    switch (m.type) {
      case 'welcome':
        this.epoch = m.epoch;
        this.fullPending = m.resume !== 'delta';
        this.emit({ kind: 'welcome', welcome: m, attempt: this.attempt });
        return;
      case 'sync':
        this.emit({ kind: 'sync', frame: m });
        return;
      case 'synced':
        this.joined = true;
        this.everJoined = true;
        this.fullPending = false;
        this.seq = m.seq;
        this.attempt = 0;
        this.emit({ kind: 'synced', seq: m.seq });
        return;
      case 'ok':
      case 'error':
      case 'pong': {
        const w = m.re !== undefined ? this.waiting.get(m.re) : undefined;
        if (m.re === 'hello' && m.type === 'error') {
          this.emit({ kind: 'error', error: m });
          return;
        }
        if (!w) { if (m.type === 'error') this.emit({ kind: 'error', error: m }); return; }
        this.waiting.delete(m.re);
        if (w.type === 'blob.get') return this.blobReply(m, w);
        if (m.type === 'error') w.reject(new ServerError(m)); else w.resolve(m);
        return;
      }
      default:
        this.emit({ kind: 'event', event: m });
    }
  }

  request(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ServerError({ code: 'unavailable', message: `${type}: not connected` }));
    }
    const id = this.nextId++;
    const msg = Object.assign({ type, id }, fields);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, type });
      this.ws.send(JSON.stringify(msg));
    });
  }

  // Resolves with {hash, size, bytes: Uint8Array}. The server answers
  // blob.get requests one after the other, each ok followed by its bytes
  // as binary frames.
  getBlob(hash) { return this.request('blob.get', { hash }); }

  blobReply(m, w) {
    if (m.type === 'error') { w.reject(new ServerError(m)); return; }
    const d = { hash: m.hash, size: m.size, parts: [], got: 0, resolve: w.resolve, reject: w.reject };
    if (!d.size) { w.resolve({ hash: m.hash, size: 0, bytes: new Uint8Array(0) }); return; }
    this.download = d;
  }

  binary(buf) {
    const d = this.download;
    if (!d) return;
    d.parts.push(new Uint8Array(buf));
    d.got += buf.byteLength;
    if (d.got < d.size) return;
    this.download = null;
    const bytes = new Uint8Array(d.got);
    let at = 0;
    for (const p of d.parts) { bytes.set(p, at); at += p.length; }
    d.resolve({ hash: d.hash, size: d.size, bytes });
  }
}
