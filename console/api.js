// SPDX-License-Identifier: MIT
// The console's only way to the server: the portal session's token (from the link's
// fragment, kept in this tab's sessionStorage) on every /v1 request, and every failure turned
// into an ApiError whose message a person can read.

const KEY = 'pghook.console.token';

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code || '';
    this.fields = {};
  }
}

// Take the token from a link (#token=…) into sessionStorage and out of the address bar, so
// it is neither bookmarked nor shown over a shoulder. Returns the token or null.
export function takeToken() {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search + '#/overview');
  }
  return sessionStorage.getItem(KEY);
}

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return s;
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

// A validation message about a field: the field named once ("rateLimit must be…" stays as the
// server wrote it, the field's name keeping its case).
function about(where, msg) {
  msg = String(msg || '').trim();
  if (!where) return sentence(msg);
  if (msg.startsWith(where)) return /[.!?]$/.test(msg) ? msg : msg + '.';
  return sentence(where + ': ' + msg);
}

// What went wrong, in words: the server's own message when it sent one.
function messageOf(status, body) {
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => {
      const where = (d.loc || []).filter((x) => x !== 'body' && x !== 'query').join('.');
      return about(where, d.msg);
    }).join(' ');
  }
  if (body && body.error && body.error.message) {
    const m = sentence(body.error.message);
    if (status === 401) return m + ' Ask for a new console link.';
    return m;
  }
  if (status === 401) return 'This console link is not valid. Ask for a new console link.';
  if (status >= 500) return 'The server failed to answer (HTTP ' + status + '). Try again in a moment.';
  return 'The server refused the request (HTTP ' + status + ').';
}

// A 422's messages by the body field they name ({rateLimit: 'RateLimit must be…'}), so a form
// can show each next to its field.
function fieldMessages(body) {
  const out = {};
  if (!body || !Array.isArray(body.detail)) return out;
  for (const d of body.detail) {
    const loc = d.loc || [];
    if (loc[0] !== 'body' || typeof loc[1] !== 'string') continue;
    const m = about(loc.slice(1).join('.'), d.msg);
    out[loc[1]] = out[loc[1]] ? out[loc[1]] + ' ' + m : m;
  }
  return out;
}

export function apiUrl(path) {
  return new URL('../' + path.replace(/^\//, ''), location.href).toString();
}

// Call the API; resolves with the parsed JSON (null for 204), rejects with an ApiError.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(apiUrl(path), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'Cannot reach the server (' + e.message + '). Check your connection and try again.');
  }
  let data = null;
  const text = await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!r.ok) {
    const err = new ApiError(r.status, messageOf(r.status, data), data && data.error && data.error.code);
    err.fields = fieldMessages(data);
    // The link expired or was revoked while a page was open: the shell says so (app.js).
    if (r.status === 401) window.dispatchEvent(new CustomEvent('pghook:unauthorized', { detail: err }));
    throw err;
  }
  return data;
}

// A query string from an object, leaving out empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, v);
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// The OpenAPI document, read once: it tells which optional features this server has (routes
// such as the event type catalog, fields of an endpoint), so the console offers only those.
let spec = null;
export async function openapi() {
  if (!spec) {
    spec = fetch(apiUrl('/openapi.json'), { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  }
  return spec;
}
