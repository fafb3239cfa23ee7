// scene.js - the scene graph: nodes grouped by kind, a search box, the
// chosen node's data as formatted JSON, and image thumbnails.
//
// A node is an image when its data says so: a `mime_type` (or `mime`,
// `content_type`) starting with "image/", or kind "Image"; its first blob
// (protocol 1.1 `blobs`) holds the picture and is fetched with blob.get.

import { h, rerender, throttled, nodeName, fmtTime } from './dom.js';

const LIST_LIMIT = 300;          // nodes listed per kind before "refine the search"
const THUMB_MAX_BYTES = 32 << 20;
const OPEN_ALL_BELOW = 80;       // smaller scenes start with every kind expanded

export function isImage(n) {
  const d = (n && n.data) || {};
  const mime = d.mime_type || d.mime || d.content_type;
  if (typeof mime === 'string') return mime.startsWith('image/');
  return n.kind === 'Image';
}

function imageMime(n, bytes) {
  const d = n.data || {};
  const mime = d.mime_type || d.mime || d.content_type;
  if (typeof mime === 'string' && mime.startsWith('image/')) return mime;
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes[0] === 0x47 && bytes[1] === 0x49) return 'image/gif';
  return 'image/webp';
}

export class SceneView {
  constructor(root, model, app) {
    this.model = model;
    this.app = app;
    this.selected = null;
    this.open = new Set();          // kinds the user expanded
    this.closed = new Set();        // kinds the user collapsed
    this.thumbs = new Map();        // hash -> object URL | 'loading' | 'failed'
    this.blobsSupported = true;
    this.query = '';
    this.search = h('input', {
      type: 'search', id: 'scene-search', placeholder: 'Search name, uuid, kind, owner',
      'aria-label': 'Search the scene', oninput: () => { this.query = this.search.value.trim().toLowerCase(); this.renderTree(); },
    });
    this.count = h('span', { class: 'muted', id: 'scene-count' });
    this.tree = h('nav', { id: 'scene-tree', class: 'tree', 'aria-label': 'Scene graph, grouped by kind' });
    this.detail = h('div', { id: 'node-detail', class: 'detail', 'aria-live': 'polite' });
    root.append(
      h('div', { class: 'panel-head' }, h('h2', {}, 'Scene'), this.count, this.search),
      h('div', { class: 'scene-body' }, this.tree, this.detail),
    );
    const render = throttled(() => { this.renderTree(); this.renderDetail(); });
    model.on('nodes', render);
    model.on('users', throttled(() => this.renderDetail()));
    this.renderDetail();
  }

  matches(n) {
    const q = this.query;
    if (!q) return true;
    return [n.uuid, n.kind, n.owner || '', nodeName(n)].some((s) => String(s).toLowerCase().includes(q));
  }

  renderTree() {
    const byKind = new Map();
    let shown = 0;
    for (const n of this.model.nodes.values()) {
      if (!this.matches(n)) continue;
      shown++;
      if (!byKind.has(n.kind)) byKind.set(n.kind, []);
      byKind.get(n.kind).push(n);
    }
    const total = this.model.nodes.size;
    this.count.textContent = this.query ? `${shown} of ${total} nodes` : `${total} nodes`;
    const kinds = [...byKind.keys()].sort();
    rerender(this.tree, () => {
      if (!kinds.length) return h('p', { class: 'muted' }, total ? 'No node matches the search.' : 'The scene is empty.');
      return kinds.map((kind) => {
        const nodes = byKind.get(kind);
        const open = this.open.has(kind) || (!this.closed.has(kind) && (!!this.query || total <= OPEN_ALL_BELOW));
        // A collapsed kind lists nothing: large scenes stay cheap to redraw.
        const list = open ? h('ul', {},
          nodes.sort((a, b) => nodeName(a).localeCompare(nodeName(b), undefined, { numeric: true }))
            .slice(0, LIST_LIMIT).map((n) => this.item(n)),
          nodes.length > LIST_LIMIT ? h('li', { class: 'muted' }, `${nodes.length - LIST_LIMIT} more: refine the search`) : null) : null;
        const details = h('details', { class: 'kind', dataset: { kind }, open },
          h('summary', { dataset: { key: `kind:${kind}` } }, h('span', { class: 'kind-name' }, kind), h('span', { class: 'badge' }, nodes.length)),
          list);
        details.addEventListener('toggle', () => {
          if (details.open === open) return;      // the initial state, not the user
          if (details.open) { this.open.add(kind); this.closed.delete(kind); } else { this.closed.add(kind); this.open.delete(kind); }
          this.renderTree();
        });
        return details;
      });
    });
  }

  item(n) {
    const owner = n.owner ? h('span', { class: 'lock', title: `locked by ${n.owner}` }, h('span', { class: 'sr-only' }, 'locked by '), n.owner) : null;
    const deps = (n.deps || []).length ? h('span', { class: 'muted small' }, `${n.deps.length} dep${n.deps.length > 1 ? 's' : ''}`) : null;
    return h('li', {},
      h('button', {
        'aria-current': this.selected === n.uuid ? 'true' : null,
        class: 'node' + (this.selected === n.uuid ? ' selected' : ''), type: 'button',
        dataset: { uuid: n.uuid, key: `node:${n.uuid}` },
        onclick: () => this.select(n.uuid),
      }, isImage(n) ? this.thumb(n, 'thumb-small') : null, h('span', { class: 'node-name' }, nodeName(n)), owner, deps));
  }

  select(uuid) {
    this.selected = uuid;
    this.renderTree();
    this.renderDetail();
  }

  // An <img> for the node's first blob, fetched once per hash.
  thumb(n, cls) {
    const hash = (n.blobs || [])[0];
    if (!hash || !this.blobsSupported) return h('span', { class: `${cls} thumb-none`, 'aria-hidden': 'true' }, 'IMG');
    const have = this.thumbs.get(hash);
    if (have && have !== 'loading' && have !== 'failed') return h('img', { class: cls, src: have, alt: `image ${nodeName(n)}` });
    if (!have) this.fetchThumb(n, hash);
    return h('span', { class: `${cls} thumb-none`, 'aria-hidden': 'true' }, have === 'failed' ? '!' : '…');
  }

  fetchThumb(n, hash) {
    const client = this.app.client;
    if (!client || !client.joined) return;
    this.thumbs.set(hash, 'loading');
    client.getBlob(hash).then((b) => {
      if (b.size > THUMB_MAX_BYTES) throw new Error('too large');
      const url = URL.createObjectURL(new Blob([b.bytes], { type: imageMime(n, b.bytes) }));
      this.thumbs.set(hash, url);
      this.renderTree();
      this.renderDetail();
    }).catch((e) => {
      if (e.code === 'bad_request') {
        // A server without blobs (protocol 1.0) does not know blob.get.
        this.blobsSupported = false;
        this.app.notice('This server does not serve blobs (protocol 1.1): images are shown without thumbnails.');
      }
      this.thumbs.set(hash, e.code === 'unavailable' ? undefined : 'failed');
      this.renderTree();
    });
  }

  renderDetail() {
    const n = this.selected && this.model.nodes.get(this.selected);
    rerender(this.detail, () => {
      if (!n) {
        return h('p', { class: 'muted' }, this.selected ? 'That node was deleted.' : 'Choose a node to see its data.');
      }
      const dep = (uuid) => {
        const d = this.model.nodes.get(uuid);
        return h('li', {}, d ? h('button', { type: 'button', class: 'link', dataset: { key: `dep:${uuid}` }, onclick: () => this.select(uuid) }, `${nodeName(d)} (${d.kind})`)
                             : h('span', { class: 'muted' }, `${uuid} (missing)`));
      };
      return [
        h('h3', {}, nodeName(n)),
        isImage(n) ? this.thumb(n, 'thumb-large') : null,
        h('dl', { class: 'props' },
          h('dt', {}, 'uuid'), h('dd', { class: 'mono' }, n.uuid),
          h('dt', {}, 'kind'), h('dd', {}, n.kind),
          h('dt', {}, 'owner'), h('dd', {}, n.owner ? h('span', { class: 'lock' }, `locked by ${n.owner}`) : 'nobody (anyone may edit)'),
          h('dt', {}, 'version'), h('dd', {}, `${n.version} (seq ${n.seq})`),
          h('dt', {}, 'last change'), h('dd', {}, [n.updated_by, fmtTime(n.updated_at)].filter(Boolean).join(', ')),
          h('dt', {}, 'deps'), h('dd', {}, (n.deps || []).length ? h('ul', { class: 'deps' }, n.deps.map(dep)) : 'none'),
          (n.blobs || []).length ? [h('dt', {}, 'blobs'), h('dd', { class: 'mono small' }, n.blobs.map((b) => h('div', {}, b)))] : null),
        h('pre', { class: 'json', id: 'node-json', tabindex: '0', 'aria-label': 'Node data as JSON' }, prettyJSON(n.data)),
      ];
    });
  }
}

// JSON indented by two, with short arrays of numbers or strings kept on one
// line (vectors and colours read better as [0, 0, 1.2]).
export function prettyJSON(v, indent = '') {
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    const flat = v.every((x) => x === null || typeof x !== 'object');
    const one = `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
    if (flat && one.length <= 72) return one;
    const inner = indent + '  ';
    return `[\n${v.map((x) => inner + prettyJSON(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    const inner = indent + '  ';
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${prettyJSON(v[k], inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}
