// SPDX-License-Identifier: MIT
// Endpoints: the list (status, and circuit state when the server reports one), create, and an
// endpoint's page: edit, enable or disable, reveal and rotate the signing secret, recover
// failed deliveries since a time, delete. Settings beyond the basic ones (headers, rate
// limits, retry schedule, ordering…) are offered when this server has them: when the OpenAPI
// document lists them (each with the control its schema calls for, fields.js) or, without
// one, when the endpoint carries the field.
import { api, qs } from './api.js';
import { display, schemaField, setFieldError } from './fields.js';
import {
  badge, brief, busy, clear, confirmDialog, dl, errorBox, fromLocalInput, h, humanize, pretty,
  table, time, toLocalInput, toast,
} from './ui.js';

const CORE = new Set(['id', 'url', 'description', 'subscriptions', 'notificationEmail', 'secret',
  'status', 'disabledReason', 'metadata', 'createdDate', 'updatedDate', 'publicKey']);
// Shown, never edited: what the server reports about the endpoint.
const REPORTED = new Set(['circuit', 'circuitState', 'stats', 'health', 'lastDeliveryAt']);

function schemaOf(spec, name) {
  const s = spec && spec.components && spec.components.schemas && spec.components.schemas[name];
  return s && s.properties ? s.properties : {};
}

// Optional settings this server can take for an endpoint (create, or update of hook), each
// with its schema: what its OpenAPI document lists for the request, or, without one, every
// field the endpoint has (edited as JSON).
function extraFields(ctx, hook) {
  const props = schemaOf(ctx.spec, hook ? 'WebhookUpdate' : 'WebhookCreate');
  const names = new Map(Object.entries(props));
  if (hook && names.size === 0) for (const k of Object.keys(hook)) names.set(k, {});
  return [...names].filter(([k, sch]) => !CORE.has(k) && !REPORTED.has(k) && !(sch && sch.readOnly));
}

// A field of the basic ones, with room for its own error.
function field(id, label, input, hint) {
  const err = h('p', { class: 'field-error', id: id + '-error', hidden: true });
  input.setAttribute('aria-describedby', [hint ? id + '-hint' : '', id + '-error'].filter(Boolean).join(' '));
  const el = h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null,
    input, err);
  return { el, setError: (msg) => setFieldError(err, input, msg), focus: () => input.focus() };
}

function endpointForm(ctx, hook, onSubmit) {
  const v = hook || {};
  const url = h('input', { id: 'f-url', name: 'url', type: 'url', required: true, value: v.url || '', autocomplete: 'off' });
  const desc = h('input', { id: 'f-description', name: 'description', type: 'text', value: v.description || '' });
  const subs = h('input', { id: 'f-subscriptions', name: 'subscriptions', type: 'text',
    value: (v.subscriptions || ['*']).join(', ') });
  const email = h('input', { id: 'f-email', name: 'notificationEmail', type: 'email', value: v.notificationEmail || '' });
  const core = {
    url: field('f-url', 'URL', url),
    description: field('f-description', 'Description', desc),
    subscriptions: field('f-subscriptions', 'Event types', subs, 'Comma-separated, such as order.created, invoice.paid; * for every event type'),
    notificationEmail: field('f-email', 'Email when a delivery fails for good', email),
  };
  const extras = extraFields(ctx, hook).map(([k, sch]) => schemaField(ctx.spec, k, sch, v[k]));
  const byName = { ...core, ...Object.fromEntries(extras.map((f) => [f.name, f])) };
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, hook ? 'Save changes' : 'Create endpoint');
  const form = h('form', { class: 'form', novalidate: true },
    Object.values(core).map((f) => f.el),
    extras.length ? h(hook ? 'h3' : 'h2', { class: 'form-part' }, 'Delivery settings') : null,
    extras.map((f) => f.el),
    status, h('div', { class: 'actions' }, submit));
  // Each field's own message; the first one in error takes the focus.
  const showErrors = (messages) => {
    let first = null;
    for (const [k, f] of Object.entries(byName)) {
      f.setError(messages[k] || null);
      if (messages[k] && !first) first = f;
    }
    if (first) first.focus();
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(status);
    const body = {
      url: url.value.trim(),
      description: desc.value.trim() || null,
      subscriptions: subs.value.split(',').map((s) => s.trim()).filter(Boolean),
      notificationEmail: email.value.trim() || null,
    };
    if (!hook && body.description === null) delete body.description;
    if (!hook && body.notificationEmail === null) delete body.notificationEmail;
    const local = {};
    for (const f of extras) {
      const r = f.read();
      if (r.error) local[f.name] = r.error;
      else if (r.value !== undefined && f.changed(r.value)) body[f.name] = r.value;
    }
    showErrors(local);
    if (Object.keys(local).length) {
      clear(status, errorBox('Check the marked fields. ' + Object.entries(local).map(([k, m]) => humanize(k) + ': ' + m).join(' ')));
      return;
    }
    try {
      await busy(submit, onSubmit(body));
    } catch (err) {
      clear(status, errorBox(err));
      showErrors(err.fields || {});
    }
  });
  return form;
}

const CIRCUIT_WORDS = { closed: 'Closed', open: 'Open', half_open: 'Half open (probing)' };

// The circuit breaker: its state as a badge, the failures in a row, and while open when the
// next probe goes (the browser's time zone, UTC on hover).
function circuitView(c, compact) {
  if (!c || typeof c !== 'object') return brief(c);
  const state = String(c.state || 'unknown');
  const b = h('span', { class: 'badge badge-circuit-' + state.replace(/[^a-z_]/g, '') }, CIRCUIT_WORDS[state] || state.replace(/_/g, ' '));
  const fails = typeof c.consecutiveFailures === 'number'
    ? c.consecutiveFailures + (c.consecutiveFailures === 1 ? ' failure' : ' failures') + ' in a row' : null;
  if (compact) return h('span', { class: 'circuit' }, b, fails && c.consecutiveFailures ? ' ' + fails : '');
  return h('span', { class: 'circuit' }, b, fails ? ' · ' + fails : '',
    state === 'open' && c.openedAt ? [' · open since ', time(c.openedAt)] : '',
    state === 'open' && c.nextProbeAt ? [' · next probe ', time(c.nextProbeAt)] : '');
}

export async function list(page, { ctx }) {
  const { data } = await api('GET', '/v1/webhooks?limit=250');
  const circuit = data.some((w) => 'circuit' in w || 'circuitState' in w);
  const headers = ['Endpoint', 'Status', circuit ? 'Circuit' : null, 'Event types', 'Created'].filter(Boolean);
  page.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Endpoints'),
      ctx.readOnly ? null : h('a', { href: '#/endpoints/new', class: 'button primary' }, 'Add endpoint')),
    table('Endpoints', headers, data.map((w) => [
      h('a', { href: '#/endpoints/' + w.id }, h('span', { class: 'url' }, w.url), w.description ? h('span', { class: 'sub' }, w.description) : null),
      badge(w.status),
      circuit ? circuitView(w.circuit !== undefined ? w.circuit : w.circuitState, true) : null,
      (w.subscriptions || []).join(', '),
      time(w.createdDate),
    ].filter((c) => c !== null))));
}

export async function create(page, { ctx }) {
  page.append(h('h1', {}, 'Add an endpoint'));
  if (ctx.readOnly) {
    page.append(h('p', {}, 'This console link is read-only: it cannot add endpoints.'));
    return;
  }
  page.append(endpointForm(ctx, null, async (body) => {
    const w = await api('POST', '/v1/webhooks', body);
    toast('Endpoint created.');
    location.hash = '#/endpoints/' + w.id;
  }));
}

// With ed25519 signing the API shows no secret, only the public key receivers verify with.
function publicKeyBlock(key) {
  const value = h('pre', { class: 'code key', id: 'public-key', tabindex: '0', 'aria-label': 'Public key' }, h('code', {}, key));
  const copy = h('button', { type: 'button', 'aria-controls': 'public-key' }, 'Copy public key');
  const out = h('span', { class: 'muted small', 'aria-live': 'polite' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key);
      out.textContent = 'Copied.';
    } catch (e) {
      // No clipboard (permissions): select it, so Ctrl+C copies it.
      const r = document.createRange();
      r.selectNodeContents(value);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      value.focus();
      out.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
  return [h('p', {}, 'Deliveries are signed with ed25519: receivers verify them with this public key.'),
    value, h('div', { class: 'actions' }, copy, out)];
}

function secretBlock(hook, readOnly, refresh) {
  const hasSecret = typeof hook.secret === 'string';
  const shown = h('code', { class: 'secret', id: 'secret-value' }, '••••••••••••••••');
  let revealed = false;
  const reveal = hasSecret ? h('button', { type: 'button', 'aria-controls': 'secret-value', 'aria-pressed': 'false' }, 'Reveal secret') : null;
  if (reveal) {
    reveal.addEventListener('click', () => {
      revealed = !revealed;
      shown.textContent = revealed ? hook.secret : '••••••••••••••••';
      reveal.textContent = revealed ? 'Hide secret' : 'Reveal secret';
      reveal.setAttribute('aria-pressed', String(revealed));
    });
  }
  const what = hasSecret ? 'secret' : 'key';
  const rotate = readOnly ? null : h('button', { type: 'button' }, 'Rotate ' + what);
  if (rotate) {
    rotate.addEventListener('click', async () => {
      if (!await confirmDialog('Rotate the signing ' + what + '? The old one keeps signing alongside the new one for 24 hours.', 'Rotate ' + what)) return;
      try {
        await busy(rotate, api('POST', '/v1/webhooks/' + hook.id + '/rotate-secret'));
        toast(hasSecret ? 'Secret rotated. Reveal it to copy the new one.' : 'Key rotated: copy the new public key.');
        refresh();
      } catch (err) { toast(err.message); }
    });
  }
  return h('section', { 'aria-labelledby': 'h-secret' }, h('h2', { id: 'h-secret' }, hasSecret ? 'Signing secret' : 'Signing key'),
    hasSecret ? h('p', {}, shown) : null,
    hook.publicKey ? publicKeyBlock(hook.publicKey) : null,
    h('div', { class: 'actions' }, reveal, rotate));
}

function recoverBlock(hook) {
  const since = h('input', { id: 'f-since', type: 'datetime-local', required: true,
    value: toLocalInput(new Date(Date.now() - 24 * 3600e3).toISOString()) });
  const out = h('div', { 'aria-live': 'polite' });
  const go = h('button', { type: 'submit' }, 'Recover failed deliveries');
  const form = h('form', { class: 'form inline' }, field('f-since', 'Failed since (your time zone)', since).el, h('div', { class: 'actions' }, go), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const t = fromLocalInput(since.value);
    if (!t) { clear(out, errorBox('Enter a date and time.')); return; }
    try {
      const r = await busy(go, api('POST', '/v1/webhooks/' + hook.id + '/recover' + qs({ since: t })));
      clear(out, h('p', {}, r.data.length ? r.data.length + ' deliveries are being sent again. ' : 'No failed deliveries since then. ',
        r.data.length ? h('a', { href: '#/deliveries?webhookId=' + hook.id }, 'See them') : null));
    } catch (err) { clear(out, errorBox(err)); }
  });
  return h('section', { 'aria-labelledby': 'h-recover' }, h('h2', { id: 'h-recover' }, 'Recover failed deliveries'), form);
}

export async function detail(page, { id, ctx }) {
  const hook = await api('GET', '/v1/webhooks/' + encodeURIComponent(id));
  const refresh = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  // What the server reports but does not take (circuit state, …): shown, not edited.
  const editable = extraFields(ctx, hook).map(([k]) => k);
  const reported = Object.keys(hook).filter((k) => !CORE.has(k) && !editable.includes(k) && k !== 'circuit');
  const settings = editable.filter((k) => k in hook);
  page.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/endpoints' }, 'Endpoints')),
    h('h1', {}, hook.description || hook.url),
    dl([
      ['URL', h('span', { class: 'url' }, hook.url)],
      ['Status', h('span', {}, badge(hook.status), hook.disabledReason ? ' ' + hook.disabledReason : '')],
      'circuit' in hook ? ['Circuit', circuitView(hook.circuit)] : null,
      ['Event types', (hook.subscriptions || []).join(', ')],
      ['Failure email', hook.notificationEmail || '—'],
      ...settings.map((k) => [humanize(k), display(hook[k])]),
      ...reported.map((k) => [humanize(k), typeof hook[k] === 'object' && hook[k] !== null ? pretty(hook[k]) : brief(hook[k])]),
      ['Created', time(hook.createdDate)],
      ['Updated', time(hook.updatedDate)],
    ]),
    h('p', {}, h('a', { href: '#/deliveries?webhookId=' + hook.id }, 'Deliveries to this endpoint')));
  if (!ctx.readOnly) {
    const toggle = h('button', { type: 'button' }, hook.status === 'disabled' ? 'Enable endpoint' : 'Disable endpoint');
    toggle.addEventListener('click', async () => {
      try {
        await busy(toggle, api('POST', '/v1/webhooks/' + hook.id + (hook.status === 'disabled' ? '/enable' : '/disable')));
        toast(hook.status === 'disabled' ? 'Endpoint enabled.' : 'Endpoint disabled.');
        refresh();
      } catch (err) { toast(err.message); }
    });
    const del = h('button', { type: 'button', class: 'danger' }, 'Delete endpoint');
    del.addEventListener('click', async () => {
      if (!await confirmDialog('Delete the endpoint ' + hook.url + '? Its unfinished deliveries end as failed. This cannot be undone.', 'Delete endpoint')) return;
      try {
        await busy(del, api('DELETE', '/v1/webhooks/' + hook.id));
        toast('Endpoint deleted.');
        location.hash = '#/endpoints';
      } catch (err) { toast(err.message); }
    });
    page.append(h('div', { class: 'actions' }, toggle, del));
  }
  page.append(secretBlock(hook, ctx.readOnly, refresh));
  if (!ctx.readOnly) {
    page.append(recoverBlock(hook),
      h('section', { 'aria-labelledby': 'h-edit' }, h('h2', { id: 'h-edit' }, 'Edit'),
        endpointForm(ctx, hook, async (body) => {
          await api('PATCH', '/v1/webhooks/' + hook.id, body);
          toast('Changes saved.');
          refresh();
        })));
  } else {
    page.append(h('p', { class: 'note' }, 'This console link is read-only: it shows endpoints but cannot change them.'));
  }
}
