# SPDX-License-Identifier: MIT
"""Operations routes (/healthz, /readyz, /metrics, /openapi.json), the router's 404 and 405,
200 concurrent keep-alive connections, and a graceful SIGTERM."""
import os
import re
import signal
import threading
import time

import jsonschema
import requests

import conftest
import harness

# Every route of the api, as router.c lists them ({x}: one path segment).
ROUTES = [
    ('get', '/healthz'), ('get', '/readyz'), ('get', '/metrics'), ('get', '/openapi.json'),
    ('post', '/admin/v1/tenants'), ('post', '/admin/v1/tenants/{}/keys'),
    ('post', '/v1/webhook/create'), ('post', '/v1/webhooks/deliveries/{}/replay'),
    ('post', '/v1/webhooks'), ('get', '/v1/webhooks'), ('get', '/v1/webhooks/{}'),
    ('patch', '/v1/webhooks/{}'), ('delete', '/v1/webhooks/{}'),
    ('post', '/v1/webhooks/{}/rotate-secret'), ('post', '/v1/webhooks/{}/enable'),
    ('post', '/v1/webhooks/{}/disable'), ('post', '/v1/webhooks/{}/recover'),
    ('post', '/v1/events/batch'), ('post', '/v1/events'), ('get', '/v1/events'),
    ('get', '/v1/events/{}'), ('get', '/v1/deliveries'), ('get', '/v1/deliveries/{}'),
    ('get', '/v1/deliveries/{}/attempts'), ('post', '/v1/deliveries/{}/attempts'),
    ('post', '/v1/deliveries/{}/replay'), ('post', '/v1/deliveries/{}/send'),
    ('post', '/v1/outbound-webhook-deliveries/{}/attempts'),
    ('get', '/webhook/decoda/events/{}/send'),
    ('get', '/console'), ('get', '/console/{}'), ('get', '/v1/stats/deliveries'),
    ('post', '/v1/portal-sessions'), ('get', '/v1/portal-sessions/current'),
    ('delete', '/v1/portal-sessions/{}'),
]
SEED_PATHS = {
    ('post', '/v1/webhook/create'),
    ('get', '/webhook/decoda/events/{webhook_delivery_attempt_id}/send'),
    ('post', '/v1/outbound-webhook-deliveries/{outboundWebhookDeliveryId}/attempts'),
    ('post', '/v1/webhooks/deliveries/{delivery_id}/replay'),
}


def metric(text, name, **labels):
    """The value of one sample, or 0 when absent."""
    want = ','.join('%s="%s"' % kv for kv in labels.items())
    for line in text.splitlines():
        if line.startswith('%s{%s}' % (name, want)):
            return float(line.rsplit(' ', 1)[1])
    return 0.0


def test_healthz_and_readyz(api):
    r = requests.get(api.url + '/healthz')
    assert (r.status_code, r.json()) == (200, {'status': 'ok'})
    assert r.headers['content-type'] == 'application/json; charset=utf-8'
    r = requests.get(api.url + '/readyz')
    assert (r.status_code, r.json()) == (200, {'status': 'ready'})
    # No tenant credentials needed, and a HEAD is answered too.
    assert requests.head(api.url + '/healthz').status_code == 200


def test_readyz_fails_until_migrated(pg, logdir):
    dsn = pg.create_database('nomig_%d_%d' % (os.getpid(), time.monotonic_ns()))
    api = harness.Api(dsn, logdir)
    try:
        r = requests.get(api.url + '/readyz')
        assert r.status_code == 503, r.text
        assert r.json()['error']['code'] == 'not_ready'
        assert requests.get(api.url + '/healthz').status_code == 200
        harness.run_cli(dsn, 'migrate')
        harness.wait_for(lambda: requests.get(api.url + '/readyz', timeout=5).status_code
                         == 200, what='/readyz 200 after migrate')
        # migrate is idempotent.
        assert harness.run_cli(dsn, 'migrate')['migrated'] is True
    finally:
        api.proc.stop()


def test_metrics_count_requests(client, api):
    def scrape():
        r = requests.get(api.url + '/metrics')
        assert r.status_code == 200
        assert r.headers['content-type'].startswith('text/plain; version=0.0.4')
        return r.text

    labels = dict(method='POST', route='/v1/events', status='201')
    before = metric(scrape(), 'pghook_http_requests_total', **labels)
    for i in range(3):
        assert client.post('/v1/events', json={'type': 'm', 'data': {'i': i}}).status_code == 201
    assert client.post('/v1/events', json={'type': 'bad type'}).status_code == 422
    assert client.get('/v1/nothing-here').status_code == 404
    text = scrape()
    assert metric(text, 'pghook_http_requests_total', **labels) == before + 3
    assert metric(text, 'pghook_http_requests_total', method='POST', route='/v1/events',
                  status='422') == 1
    assert metric(text, 'pghook_http_requests_total', method='', route='unmatched',
                  status='404') == 1

    assert '# TYPE pghook_http_requests_total counter' in text
    assert '# TYPE pghook_http_request_duration_seconds histogram' in text
    hist = 'pghook_http_request_duration_seconds'
    rl = dict(method='POST', route='/v1/events')
    count = metric(text, hist + '_count', **rl)
    assert count == before + 4
    assert metric(text, hist + '_bucket', **rl, le='+Inf') == count
    assert metric(text, hist + '_sum', **rl) > 0
    buckets = [float(m.group(2)) for m in re.finditer(
        r'^%s_bucket\{method="POST",route="/v1/events",le="([^"]+)"\} (\d+)$' % hist, text,
        re.M)]
    assert len(buckets) >= 5
    assert buckets == sorted(buckets), 'histogram buckets must be cumulative'
    # Every sample line is well-formed Prometheus text.
    for line in text.splitlines():
        assert line.startswith('#') or re.fullmatch(
            r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+', line), line


def test_openapi_names_every_route(api):
    r = requests.get(api.url + '/openapi.json')
    assert r.status_code == 200
    assert r.headers['content-type'].startswith('application/json')
    doc = r.json()
    assert re.fullmatch(r'3\.1\.\d+', doc['openapi'])
    assert doc['info']['title'] and doc['info']['version']
    documented = {(m, re.sub(r'\{[^}]+\}', '{}', p).rstrip('/'))
                  for p, ops in doc['paths'].items() for m in ops if m != 'parameters'}
    missing = set(ROUTES) - documented
    assert not missing, missing
    exact = {(m, p) for p, ops in doc['paths'].items() for m in ops}
    assert SEED_PATHS <= exact, SEED_PATHS - exact

    def deref(node):
        while '$ref' in node:
            target = doc
            for part in node['$ref'].split('/')[1:]:
                target = target[part]
            node = target
        return node

    # Every templated parameter is declared, every operation documents its answers, and every
    # $ref points at something.
    for path, ops in doc['paths'].items():
        for method, op in ops.items():
            if method == 'parameters':
                continue
            assert op.get('responses'), (method, path)
            params = [deref(p) for p in ops.get('parameters', []) + op.get('parameters', [])]
            names = {(p['name'], p['in']) for p in params}
            for name in re.findall(r'\{([^}]+)\}', path):
                assert (name, 'path') in names, (method, path, name)
    for ref in re.findall(r'"\$ref":\s*"([^"]+)"', r.text):
        node = doc
        assert ref.startswith('#/'), ref
        for part in ref.split('/')[1:]:
            assert part in node, ref
            node = node[part]


def test_openapi_schemas_match_the_answers(api, tenant):
    doc = requests.get(api.url + '/openapi.json').json()
    resolver = jsonschema.RefResolver.from_schema(doc)
    c = conftest.Client(api, tenant)
    cb = conftest.Client(api, tenant, bearer=True)

    def check(method, template, r):
        op = doc['paths'][template][method]
        resp = op['responses'][str(r.status_code)]
        if '$ref' in resp:
            resp = resolver.resolve(resp['$ref'])[1]
        schema = resp['content']['application/json']['schema']
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(r.json())
        return r.json()

    w = check('post', '/v1/webhooks', c.post('/v1/webhooks', json={
        'url': 'https://example.com/h', 'subscriptions': ['*'], 'metadata': {'a': 1}}))
    check('get', '/v1/webhooks', c.get('/v1/webhooks'))
    check('patch', '/v1/webhooks/{id}', c.patch('/v1/webhooks/' + w['id'],
                                                 json={'description': 'd'}))
    check('post', '/v1/webhooks/{id}/rotate-secret',
          c.post('/v1/webhooks/%s/rotate-secret' % w['id']))
    check('post', '/v1/webhook/create', c.post('/v1/webhook/create', json={
        'url': 'https://example.com/s', 'subscriptions': ['PATIENT_CREATED']}))
    ev = check('post', '/v1/events', c.post('/v1/events', json={'type': 'a', 'data': {}}))
    check('post', '/v1/events/batch', c.post('/v1/events/batch', json={
        'events': [{'type': 'a', 'data': {'x': 1}, 'eventGroup': 'g', 'sourceKey': 's'}]}))
    check('get', '/v1/events', c.get('/v1/events'))
    did = ev['deliveries'][0]['id']
    check('post', '/v1/outbound-webhook-deliveries/{outboundWebhookDeliveryId}/attempts',
          cb.post('/v1/outbound-webhook-deliveries/%s/attempts' % did, json={
              'status': 'failed', 'responseStatusCode': 500, 'responseBody': {},
              'lastError': 'boom', 'nextRetryAt': None}))
    check('get', '/v1/deliveries', c.get('/v1/deliveries'))
    check('get', '/v1/deliveries/{id}', c.get('/v1/deliveries/' + did))
    check('get', '/v1/deliveries/{id}/attempts', c.get('/v1/deliveries/%s/attempts' % did))
    check('post', '/v1/webhooks/{id}/recover', c.post(
        '/v1/webhooks/%s/recover?since=2000-01-01T00:00:00Z' % w['id']))
    check('post', '/v1/deliveries/{id}/replay', c.post('/v1/deliveries/%s/replay' % did))
    check('post', '/v1/webhooks/deliveries/{delivery_id}/replay',
          cb.post('/v1/webhooks/deliveries/%s/replay' % did))
    check('post', '/v1/webhooks', c.post('/v1/webhooks', json={'url': 'ftp://x'}))
    check('get', '/v1/webhooks/{id}', c.get('/v1/webhooks/wh_0000000000000000000000000000'))
    check('get', '/v1/webhooks', requests.get(api.url + '/v1/webhooks'))
    check('get', '/v1/stats/deliveries', c.get('/v1/stats/deliveries'))
    link = check('post', '/v1/portal-sessions', c.post('/v1/portal-sessions', json={}))
    check('get', '/v1/portal-sessions/current', requests.get(
        api.url + '/v1/portal-sessions/current',
        headers={'Authorization': 'Bearer ' + link['token']}))
    check('post', '/v1/events', requests.post(api.url + '/v1/events', json={},
                                              headers={'Authorization': 'Bearer ' + link['token']}))


def test_unknown_route_and_wrong_method(api, tenant):
    r = requests.get(api.url + '/v2/nothing')
    assert r.status_code == 404
    assert r.headers['content-type'] == 'application/json; charset=utf-8'
    assert set(r.json()) == {'error'}
    assert set(r.json()['error']) == {'code', 'message'}
    assert r.json()['error']['code'] == 'not_found'
    # Unknown routes are 404 before authentication.
    assert requests.post(api.url + '/v1/nope', headers=tenant.headers).status_code == 404
    assert requests.get(api.url + '/v1/webhooks/a/b/c/d').status_code == 404

    for method, path in [('PATCH', '/v1/events'), ('DELETE', '/v1/events'),
                         ('PUT', '/v1/webhooks'), ('POST', '/healthz'),
                         ('GET', '/v1/events/batch/x'), ('DELETE', '/v1/deliveries/x'),
                         ('GET', '/v1/webhook/create'), ('GET', '/admin/v1/tenants')]:
        r = requests.request(method, api.url + path, headers=tenant.headers)
        if path == '/v1/events/batch/x':
            assert r.status_code == 404, (method, path, r.status_code)
            continue
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.json()['error']['code'] == 'method_not_allowed'


def established(port):
    """Established TCP connections whose local port is port (the server's side)."""
    return sum(1 for fields in harness.tcp_sockets()
               if harness.tcp_port(fields[1]) == port and fields[3] == '01')


def test_200_concurrent_keep_alive_connections(api, tenant, sql):
    n, per = 200, 3
    results = [[] for _ in range(n)]
    errors = []
    open_at_barrier = []
    barrier = threading.Barrier(n, action=lambda: open_at_barrier.append(established(api.port)),
                                timeout=60)

    def worker(i):
        try:
            s = requests.Session()
            s.headers.update(tenant.headers)
            url = api.url + '/v1/events'
            results[i].append(s.post(url, json={'type': 'load', 'data': {'i': i, 'k': 0}},
                                     timeout=60).status_code)
            barrier.wait()  # all 200 connections are open and idle at once
            for k in range(1, per):
                results[i].append(s.post(url, json={'type': 'load', 'data': {'i': i, 'k': k}},
                                         timeout=60).status_code)
            s.close()
        except Exception as exc:  # reported below, with the thread's index
            errors.append((i, repr(exc)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert all(r == [201] * per for r in results), [r for r in results if r != [201] * per][:5]
    assert open_at_barrier and open_at_barrier[0] >= n, open_at_barrier
    assert sql("select count(*) from events where event_type = 'load'") == [(n * per,)]
    assert sql("select count(distinct (payload->>'i', payload->>'k')) from events") == [(n * per,)]
    assert requests.get(api.url + '/healthz').status_code == 200


def test_sigterm_drains_in_flight_requests(api_factory, tenant, sql):
    # The drain deadline far above what a correct drain takes (the delay, then a quiet 2 s):
    # an exit well before it is an exit because the work was done.
    delay, drain_timeout = 3, 60
    api = api_factory(PGHOOK_SHUTDOWN_DELAY='%ds' % delay,
                      PGHOOK_SHUTDOWN_TIMEOUT='%ds' % drain_timeout)
    acked, refused, while_draining = [], [], []
    lock = threading.Lock()
    stop = threading.Event()
    started = threading.Barrier(5)

    def hammer(i):
        s = requests.Session()
        s.headers.update(tenant.headers)
        k = 0
        started.wait()
        while not stop.is_set():
            try:
                r = s.post(api.url + '/v1/events', json={'type': 'drain', 'data': {'i': i, 'k': k}},
                           timeout=10)
            except requests.exceptions.ConnectionError:
                break  # the listener closed: fine, as long as nothing answered is lost
            with lock:
                if r.status_code != 201:
                    refused.append((r.status_code, r.text))
                    break
                acked.append(r.json()['id'])
                if r.headers.get('Connection', '').lower() == 'close':
                    while_draining.append(r.json()['id'])  # answered after SIGTERM
            k += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    harness.wait_for(lambda: len(acked) >= 20, timeout=20, what='requests flowing')
    t0 = time.monotonic()
    api.proc.signal(signal.SIGTERM)
    # Draining: /readyz fails so load balancers stop sending, while requests are still served.
    harness.wait_for(lambda: requests.get(api.url + '/readyz', timeout=5).status_code == 503,
                     what='/readyz 503 while draining')
    assert requests.get(api.url + '/healthz', timeout=5).status_code == 200
    # Every answer while draining closes its connection, so past the first few (one per
    # client) each came on a connection accepted after SIGTERM.
    harness.wait_for(lambda: len(while_draining) > 5, timeout=delay + 20,
                     what='requests served while draining')
    assert api.proc.popen.wait(timeout=drain_timeout / 2) == 0
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    api.proc.stop()  # asserts exit status 0 and a log without sanitizer reports
    assert not refused, refused[:3]
    # Not before the delay (a lower bound: load only adds), and because it was done.
    assert elapsed >= delay, elapsed
    assert 'drain deadline reached' not in api.proc.log()
    # Every acknowledged event is stored.
    stored = {r[0] for r in sql("select id from events where event_type = 'drain'")}
    assert set(acked) <= stored
    assert len(acked) == len(set(acked))
