// model.js - the session as the page knows it: nodes, tasks, users, chat,
// built from sync frames and kept current by events. Views subscribe to
// the parts they show ('nodes', 'tasks', 'users', 'chat', 'session').

export class Model {
  constructor() {
    this.listeners = new Map();
    this.reset();
  }

  reset() {
    this.nodes = new Map();     // uuid -> node
    this.tasks = new Map();     // id -> task
    this.users = new Map();     // name -> user (with .presence)
    this.chat = [];             // oldest first
    this.olderExhausted = false;
    this.session = { name: '', initialized: false, seq: 0, epoch: '' };
  }

  on(part, fn) {
    if (!this.listeners.has(part)) this.listeners.set(part, new Set());
    this.listeners.get(part).add(fn);
  }

  changed(...parts) {
    for (const p of parts) for (const fn of this.listeners.get(p) || []) fn();
  }

  // welcome: a full resume starts from nothing; a delta keeps what we have.
  welcome(w) {
    if (w.resume !== 'delta') {
      const keepUsers = this.users;
      this.reset();
      this.users = keepUsers;
    }
    Object.assign(this.session, { name: w.session, initialized: w.initialized, seq: w.seq, epoch: w.epoch });
    this.changed('nodes', 'tasks', 'chat', 'session');
  }

  sync(f) {
    for (const n of f.nodes || []) {
      if (n.deleted) this.nodes.delete(n.uuid); else this.nodes.set(n.uuid, n);
    }
    for (const t of f.tasks || []) {
      if (t.deleted) this.tasks.delete(t.id); else this.tasks.set(t.id, t);
    }
    if (f.users && f.users.length) {
      this.users = new Map();
      for (const u of f.users) this.users.set(u.name, Object.assign({ presence: u.metadata || {} }, u));
    }
    if (f.chat && f.chat.length) this.addChat(f.chat);
    this.changed('nodes', 'tasks', 'users', 'chat');
  }

  addChat(messages) {
    const have = new Set(this.chat.map((m) => m.id));
    for (const m of messages) if (!have.has(m.id)) this.chat.push(m);
    this.chat.sort((a, b) => a.id - b.id);
  }

  setSeq(seq) {
    if (typeof seq === 'number' && seq > this.session.seq) this.session.seq = seq;
  }

  event(e) {
    this.setSeq(e.seq);
    switch (e.type) {
      case 'node': return this.nodeEvent(e);
      case 'task':
        if (e.op === 'delete') this.tasks.delete(e.id); else this.tasks.set(e.task.id, e.task);
        return this.changed('tasks', 'session');
      case 'chat':
        this.addChat([e.message]);
        return this.changed('chat', 'session');
      case 'presence': {
        const u = this.users.get(e.user) || { name: e.user, online: true };
        u.presence = e.data || {};
        u.metadata = u.presence;
        this.users.set(e.user, u);
        return this.changed('users');
      }
      case 'user': {
        if (e.op === 'join') {
          const u = Object.assign({ presence: e.user.metadata || {} }, e.user, { online: true });
          this.users.set(u.name, u);
        } else if (e.op === 'leave') {
          const u = this.users.get(e.user);
          if (u) { u.online = false; u.left = e.reason; }
        }
        return this.changed('users');
      }
      case 'session':
        if (e.initialized !== undefined) this.session.initialized = e.initialized;
        return this.changed('session');
      default:
        return undefined;
    }
  }

  nodeEvent(e) {
    if (e.op === 'create') {
      this.nodes.set(e.node.uuid, e.node);
    } else if (e.op === 'delete') {
      this.nodes.delete(e.uuid);
    } else {
      const n = this.nodes.get(e.uuid);
      if (!n) return;
      if (e.op === 'owner') {
        n.owner = e.owner;
      } else if (e.op === 'update') {
        if (e.data !== undefined) n.data = e.data;
        if (e.patch !== undefined) n.data = mergePatch(n.data, e.patch);
        for (const k of ['deps', 'kind', 'blobs', 'version', 'updated_by']) if (e[k] !== undefined) n[k] = e[k];
      }
      n.seq = e.seq;
    }
    this.changed('nodes', 'session');
  }

  // Our own change came back as an ok (the sender gets no event).
  ownTask(task) { this.tasks.set(task.id, task); this.changed('tasks'); }
  ownChat(message) { this.addChat([message]); this.changed('chat'); }
}

// RFC 7386 JSON merge patch.
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]; else out[k] = mergePatch(out[k], v);
  }
  return out;
}
