// SPDX-License-Identifier: MIT
// Events: search by type and time; an event's page with its payload and its deliveries.
import { api, qs } from './api.js';
import { badge, clear, dl, errorBox, fromLocalInput, h, pretty, table, time, toLocalInput } from './ui.js';

function input(id, label, type, value) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('input', { id, name: id.replace(/^e-/, ''), type, value: value || '' }));
}

function deliveriesTable(list) {
  return table('Deliveries of this event', ['Delivery', 'Endpoint', 'Status', 'Attempts', 'Last response'],
    (list || []).map((d) => [
      h('a', { href: '#/deliveries/' + d.id }, d.id), d.endpointName || d.endpointUrl, badge(d.status),
      String(d.attemptCount), d.responseStatusCode ? 'HTTP ' + d.responseStatusCode : '—']));
}

export async function list(page, { query }) {
  const f = { type: query.get('type') || '', since: query.get('since') || '', until: query.get('until') || '' };
  const form = h('form', { class: 'filters', 'aria-label': 'Search events' },
    input('e-type', 'Event type', 'text', f.type),
    input('e-since', 'From (your time zone)', 'datetime-local', toLocalInput(f.since)),
    input('e-until', 'Until', 'datetime-local', toLocalInput(f.until)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { href: '#/events', class: 'button' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value;
    location.hash = '#/events' + qs({ type: v('type').trim(), since: fromLocalInput(v('since')), until: fromLocalInput(v('until')) });
  });
  const results = h('div');
  const pager = h('div', { class: 'pager actions' });
  const cursors = [''];
  let n = 0;
  async function load() {
    try {
      const r = await api('GET', '/v1/events' + qs({ ...f, limit: 25, cursor: cursors[n] }));
      cursors[n + 1] = r.nextCursor || null;
      clear(results, table('Events', ['Event', 'Type', 'Status', 'Deliveries', 'Created'],
        r.data.map((e) => [h('a', { href: '#/events/' + e.id }, e.id), e.eventType, badge(e.status),
          (e.deliveries || []).map((d) => h('a', { href: '#/deliveries/' + d.id, class: 'chip' }, badge(d.status), h('span', { class: 'sr-only' }, ' delivery ' + d.id))),
          time(e.createdAt)])));
      const prev = h('button', { type: 'button', disabled: n === 0 }, 'Previous page');
      const next = h('button', { type: 'button', disabled: !r.nextCursor }, 'Next page');
      prev.addEventListener('click', () => { n--; load(); });
      next.addEventListener('click', () => { n++; load(); });
      clear(pager, prev, h('span', { class: 'muted' }, 'Page ' + (n + 1)), next);
    } catch (err) {
      clear(results, errorBox(err));
    }
  }
  await load();
  page.append(h('h1', {}, 'Events'), form, results, pager);
}

export async function detail(page, { id }) {
  const e = await api('GET', '/v1/events/' + encodeURIComponent(id));
  page.append(h('p', { class: 'crumbs' }, h('a', { href: '#/events' }, 'Events')),
    h('h1', {}, 'Event ' + e.id),
    dl([['Type', e.eventType], ['Status', badge(e.status)], e.eventGroup ? ['Group', e.eventGroup] : null,
      e.sourceKey ? ['Source key', e.sourceKey] : null, ['Created', time(e.createdAt)]]),
    h('section', { 'aria-labelledby': 'h-dl' }, h('h2', { id: 'h-dl' }, 'Deliveries'), deliveriesTable(e.deliveries)),
    h('section', { 'aria-labelledby': 'h-pl' }, h('h2', { id: 'h-pl' }, 'Payload'), pretty(e.payload)));
}
