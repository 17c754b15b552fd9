// SPDX-License-Identifier: MIT
// Deliveries: a filtered list (status, endpoint, event type, time range) that refreshes
// itself, paged by cursor; and a delivery's page: its event's payload, every attempt as a
// timeline, and the actions send now, replay and recover.
import { api, qs } from './api.js';
import {
  badge, busy, clear, dl, errorBox, fromLocalInput, h, humanize, pretty, table, time,
  toLocalInput, toast,
} from './ui.js';

const STATUSES = ['pending', 'retry_scheduled', 'delivering', 'delivered', 'failed'];
const FINAL = new Set(['delivered', 'failed']);
const REFRESH_MS = 3000;

function select(id, label, options, value) {
  const s = h('select', { id, name: id.replace(/^q-/, '') },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return h('div', { class: 'field' }, h('label', { for: id }, label), s);
}

function input(id, label, type, value) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('input', { id, name: id.replace(/^q-/, ''), type, value: value || '' }));
}

export async function list(page, { query, stale }) {
  const hooks = (await api('GET', '/v1/webhooks?limit=250')).data;
  const f = {
    status: query.get('status') || '', webhookId: query.get('webhookId') || '',
    eventType: query.get('eventType') || '', since: query.get('since') || '', until: query.get('until') || '',
  };
  const form = h('form', { class: 'filters', 'aria-label': 'Filter deliveries' },
    select('q-status', 'Status', [['', 'Any status'], ...STATUSES.map((s) => [s, s.replace('_', ' ')])], f.status),
    select('q-webhookId', 'Endpoint', [['', 'Any endpoint'], ...hooks.map((w) => [w.id, w.description || w.url])], f.webhookId),
    input('q-eventType', 'Event type', 'text', f.eventType),
    input('q-since', 'From (your time zone)', 'datetime-local', toLocalInput(f.since)),
    input('q-until', 'Until', 'datetime-local', toLocalInput(f.until)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('a', { href: '#/deliveries', class: 'button' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value;
    location.hash = '#/deliveries' + qs({
      status: v('status'), webhookId: v('webhookId'), eventType: v('eventType').trim(),
      since: fromLocalInput(v('since')), until: fromLocalInput(v('until')),
    });
  });
  const live = h('input', { type: 'checkbox', id: 'q-live', checked: true });
  const results = h('div', { id: 'results' });
  const pager = h('div', { class: 'pager actions' });
  const updated = h('p', { class: 'muted small', 'aria-live': 'off' });
  const cursors = [''];
  let pageNo = 0;
  let timer = null;

  async function load(quiet) {
    try {
      const r = await api('GET', '/v1/deliveries' + qs({ ...f, limit: 25, cursor: cursors[pageNo] }));
      if (stale()) return;
      cursors[pageNo + 1] = r.nextCursor || null;
      clear(results, table('Deliveries', ['Delivery', 'Event type', 'Endpoint', 'Status', 'Attempts', 'Last response', 'Created'],
        r.data.map((d) => [
          h('a', { href: '#/deliveries/' + d.id }, d.id),
          d.eventType, d.endpointName || d.endpointUrl, badge(d.status), String(d.attemptCount),
          d.responseStatusCode ? 'HTTP ' + d.responseStatusCode : (d.lastError ? 'Error' : '—'),
          time(d.createdAt)])));
      const prev = h('button', { type: 'button', disabled: pageNo === 0 }, 'Previous page');
      const next = h('button', { type: 'button', disabled: !r.nextCursor }, 'Next page');
      prev.addEventListener('click', () => { pageNo--; load(); });
      next.addEventListener('click', () => { pageNo++; load(); });
      clear(pager, prev, h('span', { class: 'muted' }, 'Page ' + (pageNo + 1)), next);
      updated.textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (err) {
      if (err.status === 401) throw err;
      if (!quiet || !results.querySelector('table')) clear(results, errorBox(err));
      else updated.textContent = err.message;
    }
  }
  await load();
  // Only the first page refreshes: later pages would shift under the reader.
  timer = setInterval(() => { if (live.checked && pageNo === 0 && !document.hidden) load(true).catch(() => {}); }, REFRESH_MS);
  page.append(h('h1', {}, 'Deliveries'), form,
    h('div', { class: 'live' }, live, h('label', { for: 'q-live' }, 'Refresh every few seconds'), updated),
    results, pager);
  return () => clearInterval(timer);
}

const PHASES = { dnsMs: 'DNS', connectMs: 'Connect', tlsMs: 'TLS', firstByteMs: 'First byte', totalMs: 'Total' };

// Where an attempt spent its time, one compact row: phases that did not happen (null: a
// reused connection, plain http, a manual attempt) are left out, and so is the row when none did.
function timingsRow(t) {
  if (!t || typeof t !== 'object') return null;
  const known = Object.keys(PHASES).filter((k) => k in t);
  const keys = [...known, ...Object.keys(t).filter((k) => !(k in PHASES))];
  const items = keys.filter((k) => typeof t[k] === 'number').map((k) => h('li', {},
    h('span', { class: 'phase' }, PHASES[k] || humanize(k.replace(/Ms$/, ''))), ' ', t[k] + ' ms'));
  return items.length ? h('ul', { class: 'timings', 'aria-label': 'Timings' }, items) : null;
}

function attemptItem(a) {
  const ok = a.responseStatusCode >= 200 && a.responseStatusCode < 300;
  const timings = timingsRow(a.timings);
  return h('li', { class: 'attempt ' + (ok ? 'attempt-ok' : 'attempt-failed') },
    h('h3', {}, 'Attempt ' + a.attemptNumber + ' · ', ok ? 'succeeded' : 'failed'),
    dl([
      ['Started', time(a.startedAt)],
      ['Response', a.responseStatusCode ? 'HTTP ' + a.responseStatusCode : 'No response'],
      ['Duration', a.durationMs !== null && a.durationMs !== undefined ? a.durationMs + ' ms' : '—'],
      a.error ? ['Error', h('span', { class: 'err-text' }, a.error)] : null,
      ['Trigger', humanize(a.trigger || 'scheduled')],
      timings ? ['Timings', timings] : null,
    ]),
    a.responseBody ? h('details', { open: !ok }, h('summary', {}, 'Response body (first 2,000 characters)'),
      h('pre', { class: 'code', tabindex: '0' }, h('code', {}, a.responseBody.slice(0, 2000)))) : null);
}

export async function detail(page, { id, ctx, stale }) {
  const d = await api('GET', '/v1/deliveries/' + encodeURIComponent(id));
  const [attempts, event] = await Promise.all([
    api('GET', '/v1/deliveries/' + encodeURIComponent(id) + '/attempts'),
    api('GET', '/v1/events/' + encodeURIComponent(d.eventId)).catch((err) => ({ error: err })),
  ]);
  const summary = h('div');
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Attempts, oldest first' });
  const render = (del, atts) => {
    clear(summary, dl([
      ['Status', badge(del.status)],
      ['Endpoint', h('a', { href: '#/endpoints/' + del.webhookId }, del.endpointName || del.endpointUrl)],
      ['Event', h('a', { href: '#/events/' + del.eventId }, del.eventType + ' (' + del.eventId + ')')],
      ['Attempts', String(del.attemptCount)],
      del.nextRetryAt && !FINAL.has(del.status) ? ['Next attempt', time(del.nextRetryAt)] : null,
      del.deliveredAt ? ['Delivered', time(del.deliveredAt)] : null,
      del.lastError ? ['Last error', del.lastError] : null,
      del.replayOfDeliveryId ? ['Replay of', h('a', { href: '#/deliveries/' + del.replayOfDeliveryId }, del.replayOfDeliveryId)] : null,
      ['Created', time(del.createdAt)],
    ]));
    clear(timeline, atts.length ? atts.map(attemptItem) : h('li', { class: 'muted' }, 'No attempt yet.'));
  };
  render(d, attempts.data);
  const out = h('div', { 'aria-live': 'polite' });
  page.append(h('p', { class: 'crumbs' }, h('a', { href: '#/deliveries' }, 'Deliveries')),
    h('h1', {}, 'Delivery ' + d.id), summary);
  if (!ctx.readOnly) {
    const send = h('button', { type: 'button', class: 'primary' }, 'Send now');
    send.addEventListener('click', async () => {
      clear(out);
      try {
        await busy(send, api('POST', '/v1/deliveries/' + d.id + '/send'));
        toast('Sent once more: see the newest attempt.');
        poll();
      } catch (err) { clear(out, errorBox(err)); }
    });
    const replay = h('button', { type: 'button' }, 'Replay');
    replay.addEventListener('click', async () => {
      clear(out);
      try {
        const n = await busy(replay, api('POST', '/v1/deliveries/' + d.id + '/replay'));
        toast('Replayed as a new delivery.');
        location.hash = '#/deliveries/' + n.id;
      } catch (err) { clear(out, errorBox(err)); }
    });
    page.append(h('div', { class: 'actions' }, send, replay,
      h('a', { href: '#/endpoints/' + d.webhookId, class: 'button' }, 'Recover this endpoint’s failures…')), out);
  }
  page.append(h('section', { 'aria-labelledby': 'h-attempts' }, h('h2', { id: 'h-attempts' }, 'Attempts'), timeline),
    h('section', { 'aria-labelledby': 'h-payload' }, h('h2', { id: 'h-payload' }, 'Event payload'),
      event.error ? errorBox(event.error) : pretty(event.payload)));
  // Until the delivery is finished, follow it.
  let timer = null;
  async function poll() {
    try {
      const [del, atts] = await Promise.all([api('GET', '/v1/deliveries/' + d.id), api('GET', '/v1/deliveries/' + d.id + '/attempts')]);
      if (!stale()) render(del, atts.data);
    } catch (err) { if (err.status === 401) throw err; }
  }
  timer = setInterval(() => { if (!document.hidden) poll().catch(() => {}); }, 2000);
  return () => clearInterval(timer);
}
