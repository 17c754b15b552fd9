// SPDX-License-Identifier: MIT
// Overview: deliveries per hour over the last 24 hours as a stacked bar chart drawn here in
// SVG (delivered, failed, still pending), and every endpoint's counts, failing ones first.
import { api } from './api.js';
import { h, table } from './ui.js';

const W = 720, H = 240, PAD_L = 40, PAD_B = 36, PAD_T = 12;

function niceMax(n) {
  if (n <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return n;
}

const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function chart(hours) {
  const max = niceMax(Math.max(0, ...hours.map((x) => x.delivered + x.failed + x.pending)));
  const plotW = W - PAD_L - 8, plotH = H - PAD_T - PAD_B;
  const bw = plotW / Math.max(1, hours.length);
  const y = (v) => PAD_T + plotH - (v / max) * plotH;
  const total = (k) => hours.reduce((s, x) => s + x[k], 0);
  const label = 'Deliveries per hour over the last ' + hours.length + ' hours: ' +
    total('delivered') + ' delivered, ' + total('failed') + ' failed, ' + total('pending') + ' pending.';
  const svg = h('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', 'aria-label': label });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const v = max * t;
    svg.append(h('line', { x1: PAD_L, x2: W - 8, y1: y(v), y2: y(v), class: 'grid' }),
      h('text', { x: PAD_L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(v))));
  }
  hours.forEach((x, i) => {
    const x0 = PAD_L + i * bw + 1, w = Math.max(1, bw - 2);
    let base = 0;
    const g = h('g', {}, h('title', {}, hourFmt.format(new Date(x.hour)) + ': ' + x.delivered +
      ' delivered, ' + x.failed + ' failed, ' + x.pending + ' pending'));
    for (const [k, cls] of [['delivered', 'bar-ok'], ['failed', 'bar-failed'], ['pending', 'bar-pending']]) {
      if (x[k] > 0) g.append(h('rect', { x: x0, y: y(base + x[k]), width: w, height: y(base) - y(base + x[k]), class: cls }));
      base += x[k];
    }
    svg.append(g);
    if (i % 6 === 0 || i === hours.length - 1) {
      svg.append(h('text', { x: x0 + w / 2, y: H - PAD_B + 16, class: 'axis', 'text-anchor': 'middle' },
        hourFmt.format(new Date(x.hour))));
    }
  });
  return svg;
}

function legend() {
  return h('ul', { class: 'legend' },
    h('li', {}, h('span', { class: 'swatch bar-ok' }), 'Delivered'),
    h('li', {}, h('span', { class: 'swatch bar-failed' }), 'Failed'),
    h('li', {}, h('span', { class: 'swatch bar-pending' }), 'Pending or retrying'));
}

function rate(e) {
  const done = e.delivered + e.failed;
  return done ? Math.round((100 * e.failed) / done) + ' %' : '—';
}

export async function render(page) {
  const s = await api('GET', '/v1/stats/deliveries?hours=24');
  const sum = (k) => s.hours.reduce((n, x) => n + x[k], 0);
  page.append(
    h('h1', {}, 'Overview'),
    h('p', { class: 'lead' }, 'Last 24 hours: ',
      h('strong', {}, String(sum('delivered'))), ' delivered, ',
      h('strong', {}, String(sum('failed'))), ' failed, ',
      h('strong', {}, String(sum('pending'))), ' pending or retrying.'),
    h('section', { 'aria-labelledby': 'per-hour' },
      h('h2', { id: 'per-hour' }, 'Deliveries per hour'),
      h('figure', { class: 'chart-box' }, chart(s.hours), h('figcaption', {}, legend()))),
    h('section', { 'aria-labelledby': 'per-endpoint' },
      h('h2', { id: 'per-endpoint' }, 'By endpoint'),
      h('p', { class: 'muted' }, 'Endpoints with failures come first.'),
      table('Deliveries by endpoint', ['Endpoint', 'Delivered', 'Failed', 'Pending', 'Failure rate'],
        s.endpoints.map((e) => [
          e.deleted ? h('span', {}, e.description || e.url, ' (deleted)')
            : h('a', { href: '#/endpoints/' + e.webhookId }, e.description || e.url),
          String(e.delivered),
          e.failed ? h('a', { href: '#/deliveries?status=failed&webhookId=' + e.webhookId, class: 'failed-count' }, String(e.failed)) : '0',
          String(e.pending), rate(e)]))));
}
