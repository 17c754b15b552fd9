// SPDX-License-Identifier: MIT
// The web console in Debian's chromium (playwright-core), run by test_console.py with a real
// pghook api and worker. A person's walk through it:
//   open a portal link (the token leaves the address bar), reach the pages by keyboard, create
//   an endpoint (a rejected one first: the API's error shows in words), reveal its secret,
//   send an event, find its delivery with filters, watch it fail while this script's receiver
//   answers 503 and succeed once it recovers (timings shown), replay it, search events, edit
//   (a refused rate limit shows its 422 by the field; rate limit, ordering, a header and a retry
//   schedule through the schema's controls, checked through the API), see another endpoint's
//   circuit open, copy an ed25519 public key, disable and enable, delete with confirmation; a read-only link shows everything and changes nothing;
//   expired, revoked and tampered links say so. axe-core checks every page (no serious or
//   critical violation), every page is screenshotted, a 320 px wide screen never scrolls
//   sideways, and any script error or Content-Security-Policy refusal fails the run.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(process.env.NODE_PATH.replace(/\/?$/, '/'));
const { chromium } = require('playwright-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = process.env;
const SHOTS = env.SCREENSHOT_DIR;
const T = 30000;
const problems = [];
const log = (...a) => console.log('--', ...a);

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

// The receiver: 503 until recovered, then 200.
let receiverUp = false;
const received = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    // /down never recovers: its endpoint's circuit opens.
    if (req.url.startsWith('/down')) { res.writeHead(503); res.end('down for good'); return; }
    received.push({ up: receiverUp, body });
    res.writeHead(receiverUp ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(receiverUp ? 'thanks' : 'receiver down for maintenance');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const hookUrl = 'http://127.0.0.1:' + server.address().port + '/hook';

function watch(page, name) {
  page.on('console', (m) => {
    // The browser logs every 4xx answer the page handles itself; those are expected.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(name + ': ' + m.text());
  });
  page.on('pageerror', (e) => problems.push(name + ': ' + e.message));
  return page;
}

async function audit(page, name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, name + ': axe: ' + bad.map((v) => v.impact + ' ' + v.id + ' (' + v.help + ') at ' +
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')).join('; '));
}

async function shot(page, name) {
  await audit(page, name);
  // A toast left from an earlier step would cover part of the picture.
  await page.evaluate(() => { const t = document.getElementById('toast'); if (t) t.classList.remove('shown'); });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
  log('page ok:', name);
}

const nav = (page, name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });
const h1 = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor({ timeout: T });

async function api(method, p, body) {
  const r = await fetch(env.API_URL + p, {
    method, headers: { TENANT: env.TENANT_ID, 'API-KEY': env.API_KEY, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  check(r.ok, method + ' ' + p + ' answered ' + r.status);
  return r.status === 204 ? null : r.json();
}

// The API's answer once cond holds of it (the console saves in the background), within T.
async function apiUntil(p, cond, what) {
  const end = Date.now() + T;
  let last;
  while (Date.now() < end) {
    last = await api('GET', p);
    if (cond(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('check failed: ' + what + ': ' + JSON.stringify(last));
}

// Reduced motion: the toast's fade has no in-between frames for axe's contrast check to catch.
const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox'] });
try {
  const ctx = await browser.newContext({ reducedMotion: 'reduce', viewport: { width: 1200, height: 900 }, timezoneId: 'America/New_York', locale: 'en-US' });
  const page = watch(await ctx.newPage(), 'console');

  // An endpoint that always fails, so its circuit opens while the rest runs (5 failures 3 s
  // apart).
  const broken = await api('POST', '/v1/webhooks', { url: hookUrl.replace('/hook', '/down'), subscriptions: ['inventory.low'], description: 'Broken receiver' });
  await api('POST', '/v1/events', { type: 'inventory.low', data: { sku: 'A-1' } });

  // A portal link opens the overview; the token leaves the address bar.
  await page.goto(env.LINK);
  await h1(page, 'Overview');
  check(!page.url().includes('token='), 'the token left the address bar: ' + page.url());
  await page.getByText('Acme Inc').waitFor({ timeout: T });

  // Keyboard only: Tab to the Endpoints link and follow it.
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement && document.activeElement.textContent === 'Endpoints')) break;
  }
  await page.keyboard.press('Enter');
  await h1(page, 'Endpoints');

  // Create an endpoint: a bad URL first, whose 422 shows in words.
  await page.getByRole('link', { name: 'Add endpoint' }).click();
  await h1(page, 'Add an endpoint');
  await page.getByLabel('URL').fill('not a url');
  await page.getByRole('button', { name: 'Create endpoint' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor({ timeout: T });
  check((await alert.textContent()).length > 10, 'the 422 is shown in words');
  await page.getByLabel('URL').fill(hookUrl);
  await page.getByLabel('Description').fill('Orders receiver');
  await page.getByLabel('Event types').fill('order.created, order.cancelled');
  await page.getByRole('button', { name: 'Create endpoint' }).click();
  await h1(page, 'Orders receiver');
  const hookId = page.url().split('/').pop();
  check(hookId.startsWith('wh_'), 'on the endpoint page: ' + page.url());
  // Screenshotted before the secret is revealed: the docs' copies hold no secret.
  await shot(page, 'endpoint');
  await page.getByRole('button', { name: 'Reveal secret' }).click();
  check((await page.locator('#secret-value').textContent()).startsWith('whsec_'), 'the secret is revealed');

  // An event from the operator's service; its delivery fails while the receiver is down.
  const event = await api('POST', '/v1/events', { type: 'order.created', data: { orderId: 42, total: '19.99', items: [{ sku: 'A-1', qty: 2 }] } });
  await nav(page, 'Deliveries').click();
  await h1(page, 'Deliveries');
  const row = page.getByRole('cell', { name: 'order.created' }).first();
  await row.waitFor({ timeout: T });
  await page.getByLabel('Event type').fill('no.such.type');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByText('Nothing here yet.').waitFor({ timeout: T });
  await page.getByLabel('Event type').fill('order.created');
  await page.getByLabel('Endpoint').selectOption(hookId);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await row.waitFor({ timeout: T });
  await shot(page, 'deliveries');
  await page.locator('#results a[href^="#/deliveries/dlv_"]').first().click();
  await page.getByRole('heading', { level: 1, name: /^Delivery dlv_/ }).waitFor({ timeout: T });
  await page.getByRole('heading', { name: 'Attempt 1 · failed' }).waitFor({ timeout: T });
  await page.getByText('HTTP 503').first().waitFor({ timeout: T });
  log('the delivery failed while the receiver was down');
  receiverUp = true;
  await page.locator('.props .badge-delivered').waitFor({ timeout: 60000 });
  await page.getByRole('heading', { name: /^Attempt \d+ · succeeded$/ }).waitFor({ timeout: T });
  await page.getByText('"orderId": 42').waitFor({ timeout: T });
  check(await page.locator('time[title^="UTC: "]').count() > 0, 'times carry their UTC on hover');
  // The worker's attempts carry their timings: one compact row each.
  await page.locator('ul.timings').filter({ hasText: 'Total' }).first().waitFor({ timeout: T });
  await shot(page, 'delivery');
  log('the delivery succeeded once the receiver recovered');

  // Replay: a new delivery of the same event, delivered.
  const firstDelivery = page.url().split('/').pop();
  const before = received.length;
  await page.getByRole('button', { name: 'Replay' }).click();
  await page.waitForURL((u) => !u.toString().endsWith(firstDelivery), { timeout: T });
  await page.locator('.props .badge-delivered').waitFor({ timeout: 60000 });
  check(received.length > before && received[received.length - 1].up, 'the replay reached the receiver');
  log('replayed');

  // Events: search by type, open the event with its deliveries and payload.
  await nav(page, 'Events').click();
  await h1(page, 'Events');
  await page.getByLabel('Event type').fill('order.created');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: event.id }).click();
  await h1(page, 'Event ' + event.id);
  await page.getByText('"sku": "A-1"').waitFor({ timeout: T });
  check(await page.locator('a[href^="#/deliveries/dlv_"]').count() >= 2, 'the event lists its deliveries');
  await shot(page, 'event');
  await nav(page, 'Events').click();
  await h1(page, 'Events');
  await page.getByRole('cell', { name: 'order.created' }).first().waitFor({ timeout: T });
  await shot(page, 'events');

  // Overview: the chart and the per-endpoint table have the deliveries.
  await nav(page, 'Overview').click();
  await h1(page, 'Overview');
  check(await page.locator('svg.chart rect.bar-ok').count() >= 1, 'the chart draws delivered bars');
  await page.getByRole('link', { name: 'Orders receiver' }).waitFor({ timeout: T });
  await shot(page, 'overview');

  // Edit, disable, enable.
  await page.goto(env.API_URL + '/console/#/endpoints/' + hookId);
  await h1(page, 'Orders receiver');
  await page.locator('#f-description').fill('Orders receiver (EU)');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await h1(page, 'Orders receiver (EU)');
  check(await page.locator('.props .badge-circuit-closed').count() === 1, 'the circuit shows as a closed badge');

  // Settings through the controls the OpenAPI schema gives: a number (0 is refused by the
  // API: its 422 shows next to the field), a select, name/value rows, a list.
  await page.getByLabel('Rate limit').fill('0');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('alert').waitFor({ timeout: T });
  const rateError = page.locator('#f-x-rateLimit-error');
  await rateError.waitFor({ timeout: T });
  check(/rateLimit must be a number of deliveries per second above 0/.test(await rateError.textContent()), 'the 422 names rateLimit: ' + await rateError.textContent());
  check(await page.getByLabel('Rate limit').getAttribute('aria-invalid') === 'true', 'the rate limit is marked invalid');
  check(await page.evaluate(() => document.activeElement.id) === 'f-x-rateLimit', 'the invalid field has the focus');
  await shot(page, 'endpoint-invalid');
  check((await api('GET', '/v1/webhooks/' + hookId)).rateLimit === null, 'nothing was saved');
  await page.getByLabel('Rate limit').fill('2.5');
  await page.getByLabel('Ordering').selectOption('fifo');
  // By keyboard: Add header puts the focus in the new row's name.
  await page.getByRole('button', { name: 'Add header' }).focus();
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.getAttribute('aria-label')) === 'Header 1 name', 'a new header row takes the focus');
  await page.keyboard.type('X-Team');
  check(await page.getByLabel('Header 1 name').inputValue() === 'X-Team', 'typed into the new row');
  await page.getByLabel('Header 1 value').fill('orders');
  await page.getByLabel('Retry schedule').fill('0s, 5s, 1m');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const edited = await apiUntil('/v1/webhooks/' + hookId, (w) => w.rateLimit === 2.5 && w.ordering === 'fifo',
    'the API has the new rate limit and ordering');
  // The page shows what it saved once it reloaded the endpoint.
  await page.locator('.props dd').filter({ hasText: /^fifo$/ }).waitFor({ timeout: T });
  check(JSON.stringify(edited.headers) === '{"X-Team":"orders"}', 'the API has the header: ' + JSON.stringify(edited.headers));
  check(Array.isArray(edited.retrySchedule) && edited.retrySchedule.length === 3, 'the API has the retry schedule: ' + JSON.stringify(edited.retrySchedule));
  check(await page.getByLabel('Ordering').inputValue() === 'fifo', 'the form shows the saved ordering');
  await page.getByRole('button', { name: 'Remove header 1' }).click();
  await page.getByLabel('Rate limit').fill('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await apiUntil('/v1/webhooks/' + hookId, (w) => w.rateLimit === null && JSON.stringify(w.headers || {}) === '{}',
    'empty means null, no rows no headers');
  await page.locator('.props dd').filter({ hasText: /^None$/ }).waitFor({ timeout: T });
  await h1(page, 'Orders receiver (EU)');
  log('settings edited through the schema controls');

  // The endpoint that never answers 200: its circuit opened, with the next probe's time.
  await page.goto(env.API_URL + '/console/#/endpoints/' + broken.id);
  await h1(page, 'Broken receiver');
  for (let i = 0; i < 60 && await page.locator('.props .badge-circuit-open').count() === 0; i++) {
    await page.waitForTimeout(1000);
    await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
    await h1(page, 'Broken receiver');
  }
  await page.locator('.props .badge-circuit-open').waitFor({ timeout: T });
  check(await page.locator('.circuit time[title^="UTC: "]').count() >= 1, 'the open circuit shows its times');
  await page.getByText(/next probe/).waitFor({ timeout: T });
  await shot(page, 'circuit-open');
  log('an open circuit shows as such');

  await page.goto(env.API_URL + '/console/#/endpoints/' + hookId);
  await h1(page, 'Orders receiver (EU)');
  await page.getByRole('button', { name: 'Disable endpoint' }).click();
  await page.locator('.props .badge-disabled').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Enable endpoint' }).click();
  await page.locator('.props .badge-active').waitFor({ timeout: T });
  await nav(page, 'Endpoints').click();
  await h1(page, 'Endpoints');
  await shot(page, 'endpoints');

  // Delete asks first: Cancel keeps it, confirming deletes it.
  const doomed = await api('POST', '/v1/webhooks', { url: hookUrl + '/old', subscriptions: ['*'], description: 'Old receiver', signature: 'ed25519' });
  await page.goto(env.API_URL + '/console/#/endpoints/' + doomed.id);
  await h1(page, 'Old receiver');
  // ed25519: no secret to reveal, the public key to copy.
  check((await page.locator('#public-key').textContent()).startsWith('whpk_'), 'the public key is shown');
  check(await page.getByRole('button', { name: 'Reveal secret' }).count() === 0, 'no secret with ed25519');
  await page.getByRole('button', { name: 'Copy public key' }).click();
  await page.getByText(/^(Copied\.|Selected: press)/).waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Delete endpoint' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await h1(page, 'Old receiver');
  await page.getByRole('button', { name: 'Delete endpoint' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete endpoint' }).click();
  await h1(page, 'Endpoints');
  check(await page.getByText('Old receiver').count() === 0, 'the deleted endpoint is gone');

  // A read-only link shows everything and offers no change; the API refuses one anyway.
  const ro = watch(await (await browser.newContext({ reducedMotion: 'reduce', viewport: { width: 1200, height: 900 } })).newPage(), 'read-only');
  await ro.goto(env.READ_ONLY_LINK);
  await h1(ro, 'Overview');
  await ro.getByText('Read-only').waitFor({ timeout: T });
  await ro.goto(env.API_URL + '/console/#/endpoints');
  await h1(ro, 'Endpoints');
  check(await ro.getByRole('link', { name: 'Add endpoint' }).count() === 0, 'no Add endpoint when read-only');
  await ro.goto(env.API_URL + '/console/#/endpoints/' + hookId);
  await h1(ro, 'Orders receiver (EU)');
  await ro.getByText('This console link is read-only').waitFor({ timeout: T });
  for (const name of ['Delete endpoint', 'Disable endpoint', 'Rotate secret', 'Save changes', 'Recover failed deliveries']) {
    check(await ro.getByRole('button', { name }).count() === 0, 'no ' + name + ' when read-only');
  }
  await shot(ro, 'read-only');
  await ro.goto(env.API_URL + '/console/#/deliveries/' + firstDelivery);
  await ro.getByRole('heading', { level: 1, name: 'Delivery ' + firstDelivery }).waitFor({ timeout: T });
  for (const name of ['Replay', 'Send now']) {
    check(await ro.getByRole('button', { name }).count() === 0, 'no ' + name + ' when read-only');
  }
  const status = await ro.evaluate(async (id) => {
    const r = await fetch('/v1/webhooks/' + id, { method: 'PATCH', headers: { Authorization: 'Bearer ' + sessionStorage.getItem('pghook.console.token'), 'content-type': 'application/json' }, body: '{"description":"hacked"}' });
    return r.status;
  }, hookId);
  check(status === 403, 'the API refuses a change through a read-only link: ' + status);
  await audit(ro, 'read-only delivery');
  log('read-only link changes nothing');

  // Links that cannot be used say why.
  const tampered = env.LINK.slice(0, -1) + (env.LINK.endsWith('A') ? 'B' : 'A');
  for (const [name, link, words] of [['expired', env.EXPIRED_LINK, 'expired'], ['revoked', env.REVOKED_LINK, 'revoked'], ['tampered', tampered, 'not valid']]) {
    const p = watch(await (await browser.newContext({ reducedMotion: 'reduce' })).newPage(), name);
    await p.goto(link);
    await h1(p, 'This console link cannot be used');
    const text = await p.getByRole('alert').textContent();
    check(text.includes(words), name + ' link says so: ' + text);
    if (name === 'expired') await shot(p, 'expired');
    log(name + ' link refused in words');
  }

  // 320 px wide: nothing scrolls sideways but the tables' own regions.
  const narrow = watch(await (await browser.newContext({ reducedMotion: 'reduce', viewport: { width: 320, height: 720 }, deviceScaleFactor: 1 })).newPage(), 'narrow');
  await narrow.goto(env.LINK);
  await h1(narrow, 'Overview');
  for (const [hash, title] of [['#/overview', 'Overview'], ['#/endpoints/' + hookId, 'Orders receiver (EU)'], ['#/endpoints/' + broken.id, 'Broken receiver'], ['#/deliveries', 'Deliveries'], ['#/deliveries/' + firstDelivery, 'Delivery ' + firstDelivery]]) {
    await narrow.goto(env.API_URL + '/console/' + hash);
    await h1(narrow, title);
    const width = await narrow.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 320, hash + ' is ' + width + ' px wide at 320 px');
  }
  await narrow.goto(env.API_URL + '/console/#/deliveries');
  await h1(narrow, 'Deliveries');
  await shot(narrow, 'narrow-320');

  check(problems.length === 0, 'script errors or CSP refusals:\n' + problems.join('\n'));
  log('all checks passed');
} catch (err) {
  // What each open page showed, for the log and as a screenshot.
  let n = 0;
  for (const c of browser.contexts()) {
    for (const p of c.pages()) {
      n++;
      console.log('-- page ' + n + ' at ' + p.url() + ':\n' + await p.locator('body').innerText().catch(() => '?'));
      await p.screenshot({ path: path.join(SHOTS, 'failure-' + n + '.png'), fullPage: true }).catch(() => {});
    }
  }
  console.log('-- problems: ' + problems.join('\n'));
  throw err;
} finally {
  await browser.close();
  server.close();
}
