// SPDX-License-Identifier: MIT
// The console's shell: reads the link's token, learns the session (tenant, read-only,
// expiry), routes #/page/id?query to a page module, and shows every failure in words.
import { api, openapi, takeToken } from './api.js';
import { clear, errorBox, h, time } from './ui.js';
import * as overview from './page-overview.js';
import * as endpoints from './page-endpoints.js';
import * as deliveries from './page-deliveries.js';
import * as events from './page-events.js';
import * as eventTypes from './page-event-types.js';

const ROUTES = [
  [/^\/overview$/, overview.render, 'Overview'],
  [/^\/endpoints$/, endpoints.list, 'Endpoints'],
  [/^\/endpoints\/new$/, endpoints.create, 'New endpoint'],
  [/^\/endpoints\/([\w-]+)$/, endpoints.detail, 'Endpoint'],
  [/^\/deliveries$/, deliveries.list, 'Deliveries'],
  [/^\/deliveries\/([\w-]+)$/, deliveries.detail, 'Delivery'],
  [/^\/events$/, events.list, 'Events'],
  [/^\/events\/([\w-]+)$/, events.detail, 'Event'],
  [/^\/event-types$/, eventTypes.render, 'Event types'],
];

const main = document.getElementById('main');
let ctx = null;
let cleanup = null;
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, query] = raw.split('?');
  return { path, query: new URLSearchParams(query || '') };
}

// A session that ended (expired, revoked, not valid): the whole page says so.
function ended(err) {
  document.getElementById('nav').hidden = true;
  clear(main,
    h('h1', {}, 'This console link cannot be used'),
    errorBox(err),
    h('p', {}, 'Links to this console expire, and can be revoked. Ask the service that gave you this link for a new one.'));
  main.focus();
}

async function show() {
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch (e) { /* a page's timer */ } cleanup = null; }
  const { path, query } = parseHash();
  const found = ROUTES.map(([re, fn, title]) => [path.match(re), fn, title]).find(([m]) => m);
  for (const a of document.querySelectorAll('#nav a')) {
    const here = path.startsWith(a.getAttribute('href').slice(1));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  clear(main, h('p', { class: 'muted' }, 'Loading…'));
  if (!found) {
    document.title = 'Not found · Webhooks console';
    clear(main, h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#/overview' }, 'Go to the overview')));
    return;
  }
  const [m, fn, title] = found;
  document.title = title + ' · Webhooks console';
  const page = h('div', { class: 'page' });
  try {
    const c = await fn(page, { id: m[1], query, ctx, stale: () => gen !== generation });
    if (gen !== generation) { if (typeof c === 'function') c(); return; }
    cleanup = typeof c === 'function' ? c : null;
    clear(main, page);
  } catch (err) {
    if (gen !== generation || err.status === 401) return;
    clear(main, h('h1', {}, title), errorBox(err));
  }
  // Keyboard and screen reader users land on the new page's heading.
  if (!main.contains(document.activeElement) || document.activeElement === main) {
    const h1 = main.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
  }
}

// Any API answer 401 (a link that expired or was revoked while a page is open) ends the
// session: timers stop and the page says why.
window.addEventListener('pghook:unauthorized', (e) => {
  generation++;
  if (cleanup) { try { cleanup(); } catch (x) { /* a page's timer */ } cleanup = null; }
  ended(e.detail);
});

async function start() {
  const token = takeToken();
  if (!token) {
    ended(new Error('This page needs a console link: open the link you were given, which ends in #token=….'));
    return;
  }
  let session;
  try {
    session = await api('GET', '/v1/portal-sessions/current');
  } catch (err) {
    if (err.status === 401 || err.status === 403 || err.status === 404) ended(err);
    else clear(main, h('h1', {}, 'The console could not start'), errorBox(err));
    return;
  }
  const spec = await openapi();
  const paths = (spec && spec.paths) || {};
  ctx = {
    session,
    readOnly: !!session.readOnly,
    spec,
    hasEventTypes: !!(paths['/v1/event-types'] && paths['/v1/event-types'].get),
  };
  document.getElementById('nav-event-types').hidden = !ctx.hasEventTypes;
  clear(document.getElementById('session'),
    h('span', { class: 'tenant' }, session.tenantName || session.tenantId),
    session.readOnly ? h('span', { class: 'badge badge-readonly' }, 'Read-only') : null,
    h('span', { class: 'expires' }, 'Link expires ', time(session.expiresAt)));
  window.addEventListener('hashchange', () => {
    // Another link pasted into this tab: start again with its token.
    if (/^#token=/.test(location.hash)) location.reload();
    else show();
  });
  show();
}

start();
