// SPDX-License-Identifier: MIT
// Event types: the tenant's catalog, when this server has one (GET /v1/event-types). The nav
// entry is hidden otherwise (app.js reads the OpenAPI document).
import { api } from './api.js';
import { brief, h, humanize, table } from './ui.js';

export async function render(page, { ctx }) {
  page.append(h('h1', {}, 'Event types'));
  if (!ctx.hasEventTypes) {
    page.append(h('p', {}, 'This server has no event type catalog.'));
    return;
  }
  const r = await api('GET', '/v1/event-types?limit=250');
  const list = Array.isArray(r) ? r : r.data || [];
  const name = (t) => t.name || t.type || t.eventType || t.id;
  const extra = [...new Set(list.flatMap((t) => Object.keys(t)))]
    .filter((k) => !['name', 'type', 'eventType', 'description', 'id', 'schema'].includes(k)).slice(0, 3);
  page.append(list.length ? table('Event types', ['Name', 'Description', ...extra.map(humanize)],
    list.map((t) => [h('code', {}, name(t)), t.description || '—', ...extra.map((k) => brief(t[k]))]))
    : h('p', {}, 'The catalog is empty.'));
  const withSchema = list.filter((t) => t.schema);
  for (const t of withSchema) {
    page.append(h('details', {}, h('summary', {}, 'Schema of ', name(t)),
      h('pre', { class: 'code', tabindex: '0' }, h('code', {}, JSON.stringify(t.schema, null, 2)))));
  }
}
