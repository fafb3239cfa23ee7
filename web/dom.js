// dom.js - small helpers to build the page's DOM without a framework.

// h('button', {class: 'x', onclick: fn}, 'text', child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') el.style.cssText = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// Replaces el's children with build()'s, keeping keyboard focus on the
// element with the same data-key (lists are rebuilt on every change).
export function rerender(el, build) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.dataset.key : undefined;
  const scroll = el.scrollTop;
  el.replaceChildren(...[build()].flat(Infinity).filter(Boolean));
  el.scrollTop = scroll;
  if (key) {
    const again = el.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// Coalesces bursts of changes into one render per animation frame.
export function throttled(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}

export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
               : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

export function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

// A readable text colour on a background colour given as #rgb / #rrggbb.
export function safeColor(c) {
  return typeof c === 'string' && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(c) ? c : '#888888';
}

export function nodeName(n) {
  const d = n && n.data;
  return (d && typeof d.name === 'string' && d.name) || (n ? n.uuid : '');
}
