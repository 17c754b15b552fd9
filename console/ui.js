// SPDX-License-Identifier: MIT
// Small DOM helpers shared by the pages. Text from the API only ever goes in as text nodes or
// attribute values, never as HTML.

// h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, …)
export function h(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'line', 'text', 'g', 'title', 'path'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const localFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// A time in the browser's time zone, the UTC one on hover.
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return h('time', { datetime: iso, title: 'UTC: ' + d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') },
    localFmt.format(d));
}

// A datetime-local input's value as RFC 3339 (it is in the browser's time zone).
export function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d) ? '' : d.toISOString();
}

export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
}

const STATUS_WORDS = {
  pending: 'Pending', retry_scheduled: 'Retry scheduled', delivering: 'Delivering',
  delivered: 'Delivered', failed: 'Failed', active: 'Active', disabled: 'Disabled',
  partially_delivered: 'Partially delivered',
};

export function badge(status) {
  const s = String(status || 'unknown');
  return h('span', { class: 'badge badge-' + s.replace(/[^a-z_]/g, '') }, STATUS_WORDS[s] || s.replace(/_/g, ' '));
}

export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err));
}

let toastTimer = null;
export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('shown'), 5000);
}

// A modal confirmation: resolves true when confirmed. Escape and Cancel resolve false.
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'danger' }, confirmLabel || 'Confirm');
    const cancel = h('button', { type: 'button' }, 'Cancel');
    const msg = h('p', { id: 'confirm-text' }, question);
    const dlg = h('dialog', { 'aria-labelledby': 'confirm-text', class: 'confirm' }, msg,
      h('div', { class: 'actions' }, cancel, ok));
    document.body.append(dlg);
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    dlg.showModal();
    cancel.focus();
  });
}

// A table inside a focusable scrolling region (narrow screens scroll it sideways).
export function table(label, headers, rows) {
  return h('div', { class: 'scroll', role: 'region', 'aria-label': label, tabindex: '0' },
    h('table', {},
      h('caption', { class: 'sr-only' }, label),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
        : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'Nothing here yet.')))));
}

export function dl(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function pretty(value) {
  let text;
  try { text = JSON.stringify(value, null, 2); } catch (e) { text = String(value); }
  return h('pre', { class: 'code', tabindex: '0' }, h('code', {}, text === undefined ? 'null' : text));
}

// "rateLimit" -> "Rate limit"
export function humanize(key) {
  const s = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase();
  return s[0].toUpperCase() + s.slice(1);
}

// A short text for any value the API shows (objects as compact JSON).
export function brief(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') {
    if (typeof v.state === 'string') return v.state.replace(/_/g, ' ');
    return JSON.stringify(v);
  }
  return String(v);
}

export function busy(button, promise) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  return promise.finally(() => {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  });
}
