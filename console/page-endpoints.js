// SPDX-License-Identifier: MIT
// Endpoints: the list (status, and circuit state when the server reports one), create, and an
// endpoint's page: edit, enable or disable, reveal and rotate the signing secret, recover
// failed deliveries since a time, delete. Settings beyond the basic ones (headers, rate
// limits, retry schedule, ordering…) are offered when this server has them: when the endpoint
// carries the field, or the OpenAPI document lists it.
import { api, qs } from './api.js';
import {
  badge, brief, busy, clear, confirmDialog, dl, errorBox, fromLocalInput, h, humanize, pretty,
  table, time, toLocalInput, toast,
} from './ui.js';

const CORE = new Set(['id', 'url', 'description', 'subscriptions', 'notificationEmail', 'secret',
  'status', 'disabledReason', 'metadata', 'createdDate', 'updatedDate']);
// Shown, never edited: what the server reports about the endpoint.
const REPORTED = new Set(['circuit', 'circuitState', 'stats', 'health', 'lastDeliveryAt']);

function schemaProps(spec, name) {
  const s = spec && spec.components && spec.components.schemas && spec.components.schemas[name];
  return s && s.properties ? Object.keys(s.properties) : [];
}

// Optional settings this server can take for an endpoint (create, or update of hook): what
// its OpenAPI document lists for the request, or, without one, every field the endpoint has.
function extraFields(ctx, hook) {
  const names = new Set(schemaProps(ctx.spec, hook ? 'WebhookUpdate' : 'WebhookCreate'));
  if (hook && names.size === 0) for (const k of Object.keys(hook)) names.add(k);
  return [...names].filter((k) => !CORE.has(k) && !REPORTED.has(k));
}

function asText(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

// What a person typed for an optional setting: JSON when it parses, else the text itself.
function parseValue(text) {
  const t = text.trim();
  if (t === '') return null;
  try { return JSON.parse(t); } catch (e) { return t; }
}

function field(id, label, input, hint) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null,
    input);
}

function endpointForm(ctx, hook, onSubmit) {
  const v = hook || {};
  const url = h('input', { id: 'f-url', name: 'url', type: 'url', required: true, value: v.url || '', autocomplete: 'off' });
  const desc = h('input', { id: 'f-description', name: 'description', type: 'text', value: v.description || '' });
  const subs = h('input', { id: 'f-subscriptions', name: 'subscriptions', type: 'text', 'aria-describedby': 'f-subscriptions-hint',
    value: (v.subscriptions || ['*']).join(', ') });
  const email = h('input', { id: 'f-email', name: 'notificationEmail', type: 'email', value: v.notificationEmail || '' });
  const extras = extraFields(ctx, hook).map((k) => {
    const ta = h('textarea', { id: 'f-x-' + k, name: k, rows: '3', 'aria-describedby': 'f-x-' + k + '-hint' });
    ta.value = asText(v[k]);
    return [k, ta];
  });
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, hook ? 'Save changes' : 'Create endpoint');
  const form = h('form', { class: 'form', novalidate: true },
    field('f-url', 'URL', url),
    field('f-description', 'Description', desc),
    field('f-subscriptions', 'Event types', subs, 'Comma-separated, such as order.created, invoice.paid; * for every event type'),
    field('f-email', 'Email when a delivery fails for good', email),
    extras.map(([k, ta]) => field('f-x-' + k, humanize(k), ta, 'JSON, or plain text')),
    status, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      url: url.value.trim(),
      description: desc.value.trim() || null,
      subscriptions: subs.value.split(',').map((s) => s.trim()).filter(Boolean),
      notificationEmail: email.value.trim() || null,
    };
    if (!hook && body.description === null) delete body.description;
    if (!hook && body.notificationEmail === null) delete body.notificationEmail;
    for (const [k, ta] of extras) {
      const before = hook ? asText(hook[k]) : '';
      if (ta.value !== before) body[k] = parseValue(ta.value);
    }
    clear(status);
    try {
      await busy(submit, onSubmit(body));
    } catch (err) {
      clear(status, errorBox(err));
    }
  });
  return form;
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
      circuit ? brief(w.circuit !== undefined ? w.circuit : w.circuitState) : null,
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

function secretBlock(hook, readOnly, refresh) {
  const shown = h('code', { class: 'secret', id: 'secret-value' }, '••••••••••••••••');
  let revealed = false;
  const reveal = h('button', { type: 'button', 'aria-controls': 'secret-value', 'aria-pressed': 'false' }, 'Reveal secret');
  reveal.addEventListener('click', () => {
    revealed = !revealed;
    shown.textContent = revealed ? hook.secret : '••••••••••••••••';
    reveal.textContent = revealed ? 'Hide secret' : 'Reveal secret';
    reveal.setAttribute('aria-pressed', String(revealed));
  });
  const rotate = readOnly ? null : h('button', { type: 'button' }, 'Rotate secret');
  if (rotate) {
    rotate.addEventListener('click', async () => {
      if (!await confirmDialog('Rotate the signing secret? The old secret keeps signing alongside the new one for 24 hours.', 'Rotate secret')) return;
      try {
        await busy(rotate, api('POST', '/v1/webhooks/' + hook.id + '/rotate-secret'));
        toast('Secret rotated. Reveal it to copy the new one.');
        refresh();
      } catch (err) { toast(err.message); }
    });
  }
  return h('section', { 'aria-labelledby': 'h-secret' }, h('h2', { id: 'h-secret' }, 'Signing secret'),
    h('p', {}, shown), h('div', { class: 'actions' }, reveal, rotate));
}

function recoverBlock(hook) {
  const since = h('input', { id: 'f-since', type: 'datetime-local', required: true,
    value: toLocalInput(new Date(Date.now() - 24 * 3600e3).toISOString()) });
  const out = h('div', { 'aria-live': 'polite' });
  const go = h('button', { type: 'submit' }, 'Recover failed deliveries');
  const form = h('form', { class: 'form inline' }, field('f-since', 'Failed since (your time zone)', since), h('div', { class: 'actions' }, go), out);
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
  const editable = extraFields(ctx, hook);
  const reported = Object.keys(hook).filter((k) => !CORE.has(k) && !editable.includes(k));
  const settings = editable.filter((k) => k in hook);
  page.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/endpoints' }, 'Endpoints')),
    h('h1', {}, hook.description || hook.url),
    dl([
      ['URL', h('span', { class: 'url' }, hook.url)],
      ['Status', h('span', {}, badge(hook.status), hook.disabledReason ? ' ' + hook.disabledReason : '')],
      ['Event types', (hook.subscriptions || []).join(', ')],
      ['Failure email', hook.notificationEmail || '—'],
      ...settings.map((k) => [humanize(k), brief(hook[k])]),
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
