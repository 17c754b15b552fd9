# SPDX-License-Identifier: MIT
"""Per-webhook options (issue 19) through the public API, delivered by real workers to real
receivers: custom headers, retry schedules, attempt timings, ed25519 signatures, the
event-type catalog, and the transactional outbox."""
import pytest

import harness


def wait_deliveries(client, event_id, statuses, timeout=30):
    """Wait until every delivery of the event has one of statuses; returns them."""
    def done():
        ds = client.get('/v1/events/%s' % event_id).json()['deliveries']
        return ds if ds and all(d['status'] in statuses for d in ds) else None
    return harness.wait_for(done, timeout=timeout, what='deliveries of %s %s' % (event_id, statuses))


def make_hook(client, url, **fields):
    resp = client.post('/v1/webhooks', json=dict({'url': url, 'subscriptions': ['*']}, **fields))
    assert resp.status_code == 201, resp.text
    return resp.json()


# --- custom headers -------------------------------------------------------------------------

def test_headers_sent_on_every_delivery(client, worker, receiver_factory):
    rec = receiver_factory(statuses=[500, 200])
    hook = make_hook(client, rec.url, headers={'X-Api-Key': 'k-123', 'Authorization': 'Basic eA==',
                                               'X-Empty': ''})
    assert hook['headers'] == {'X-Api-Key': 'k-123', 'Authorization': 'Basic eA==', 'X-Empty': ''}
    assert client.get('/v1/webhooks/%s' % hook['id']).json()['headers'] == hook['headers']
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {'n': 1}}).json()
    wait_deliveries(client, event['id'], ['delivered'])
    got = rec.received()
    assert len(got) == 2  # the retry carries them too
    for g in got:
        assert g.headers['x-api-key'] == 'k-123'
        assert g.headers['authorization'] == 'Basic eA=='
        assert g.headers['x-empty'] == ''
        assert g.headers['content-type'] == 'application/json'
        assert g.headers['webhook-id'] == event['id']


def test_headers_patched_replaced_and_cleared(client, worker, receiver_factory):
    rec = receiver_factory()
    hook = make_hook(client, rec.url, headers={'X-One': '1'})
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'headers': {'X-Two': '2'}})
    assert resp.status_code == 200, resp.text
    assert resp.json()['headers'] == {'X-Two': '2'}
    e1 = client.post('/v1/events', json={'type': 'a.b', 'data': {}}).json()
    wait_deliveries(client, e1['id'], ['delivered'])
    assert rec.received()[0].headers.get('x-two') == '2'
    assert 'x-one' not in rec.received()[0].headers
    # Another field's PATCH leaves them alone; null clears them.
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'description': 'd'})
    assert resp.json()['headers'] == {'X-Two': '2'}
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'headers': None})
    assert resp.status_code == 200 and resp.json()['headers'] == {}
    e2 = client.post('/v1/events', json={'type': 'a.b', 'data': {}}).json()
    wait_deliveries(client, e2['id'], ['delivered'])
    assert 'x-two' not in rec.received()[1].headers


def test_manual_send_carries_headers(api_factory, tenant_factory, client_factory, receiver_factory):
    api = api_factory(PGHOOK_ALLOW_CIDRS='127.0.0.0/8')
    from conftest import Client
    client = Client(api, tenant_factory('manual'))
    rec = receiver_factory()
    make_hook(client, rec.url, headers={'X-Manual': 'yes'})
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {}}).json()
    dlv = event['deliveries'][0]['id']
    resp = client.post('/v1/deliveries/%s/send' % dlv)
    assert resp.status_code == 200, resp.text
    assert rec.received()[0].headers['x-manual'] == 'yes'


def test_headers_refused(client):
    url = 'https://example.com/hook'
    bad = [
        {'Webhook-Id': 'x'}, {'webhook-signature': 'x'}, {'Content-Type': 'text/plain'},
        {'CONTENT-LENGTH': '1'}, {'Host': 'h'}, {'User-Agent': 'u'}, {'Connection': 'close'},
        {'Transfer-Encoding': 'chunked'}, {'TE': 'trailers'}, {'Upgrade': 'h2c'},
        {'Expect': '100-continue'},
        {'X Bad': 'space in name'}, {'X_Under': 'underscore'}, {'': 'empty name'},
        {'X-' + 'a' * 63: 'name of 65'},
        {'X-Inject': 'a\r\nX-Evil: 1'}, {'X-Lf': 'a\nb'}, {'X-Nul': 'a\u0000b'},
        {'X-Long': 'v' * 1025}, {'X-Num': 5}, {'X-Null': None},
        {'X-%d' % i: 'v' for i in range(21)},
    ]
    for h in bad:
        resp = client.post('/v1/webhooks', json={'url': url, 'subscriptions': ['*'], 'headers': h})
        assert resp.status_code == 422, (h, resp.text)
        assert resp.json()['detail'][0]['loc'][:2] == ['body', 'headers'], resp.text
    resp = client.post('/v1/webhooks', json={'url': url, 'subscriptions': ['*'], 'headers': []})
    assert resp.status_code == 422
    # The limits themselves are fine.
    ok = {'X-%d' % i: 'v' for i in range(19)}
    ok['X-' + 'a' * 62] = 'v' * 1024
    hook = make_hook(client, url, headers=ok)
    assert hook['headers'] == ok
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'headers': {'Host': 'x'}})
    assert resp.status_code == 422
    assert client.get('/v1/webhooks/%s' % hook['id']).json()['headers'] == ok


# --- retry schedules ------------------------------------------------------------------------

def test_retry_schedule_applies_to_deliveries_created_after_the_change(
        client, worker_factory, receiver_factory, sql):
    rec = receiver_factory(statuses=[500])
    hook = make_hook(client, rec.url, retrySchedule=['0s', '0s', '0s', '0s'])
    assert hook['retrySchedule'] == ['0s', '0s', '0s', '0s']
    plain = make_hook(client, rec.url)  # the worker's schedule: 0s,1s,1s (3 attempts)
    assert plain['retrySchedule'] is None
    before = client.post('/v1/events', json={'type': 'a.b', 'data': {'n': 1}}).json()
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'retrySchedule': ['0s', '0s']})
    assert resp.status_code == 200 and resp.json()['retrySchedule'] == ['0s', '0s']
    after = client.post('/v1/events', json={'type': 'a.b', 'data': {'n': 2}}).json()
    # Every attempt fails: keep the circuit breaker (test_scheduler.py) out of this count.
    worker_factory(PGHOOK_CIRCUIT_FAILURES=1000)
    counts = {}
    for event in (before, after):
        for d in wait_deliveries(client, event['id'], ['failed']):
            counts[(event['id'], d['webhookId'])] = d['attemptCount']
            attempts = client.get('/v1/deliveries/%s/attempts' % d['id']).json()['data']
            assert len(attempts) == d['attemptCount']
    assert counts[(before['id'], hook['id'])] == 4  # created under the old schedule
    assert counts[(after['id'], hook['id'])] == 2
    assert counts[(before['id'], plain['id'])] == 3
    assert counts[(after['id'], plain['id'])] == 3
    # Back to the global schedule with null; a replay is a new delivery, under it.
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'retrySchedule': None})
    assert resp.json()['retrySchedule'] is None
    dlv = [d for d in client.get('/v1/events/%s' % before['id']).json()['deliveries']
           if d['webhookId'] == hook['id']][0]
    replay = client.post('/v1/deliveries/%s/replay' % dlv['id']).json()
    harness.wait_for(lambda: client.get('/v1/deliveries/%s' % replay['id']).json()['status']
                     == 'failed', what='replay failed')
    assert client.get('/v1/deliveries/%s' % replay['id']).json()['attemptCount'] == 3


def test_retry_schedule_durations_kept_and_refused(client):
    url = 'https://example.com/hook'
    hook = make_hook(client, url, retrySchedule=['0s', '500ms', '1500ms', '90s', '5m', '2h', '1d'])
    assert hook['retrySchedule'] == ['0s', '500ms', '1500ms', '90s', '5m', '2h', '1d']
    for bad in [[], ['5'], ['-1s'], ['1.5s'], ['101d'], [5], '5s', ['5s'] * 65, {'a': 1}]:
        resp = client.post('/v1/webhooks', json={'url': url, 'subscriptions': ['*'],
                                                 'retrySchedule': bad})
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()['detail'][0]['loc'][:2] == ['body', 'retrySchedule'], resp.text
    assert len(make_hook(client, url, retrySchedule=['1s'] * 64)['retrySchedule']) == 64


# --- attempt timings ------------------------------------------------------------------------

def test_attempt_timings_answered_and_reported(client, worker, receiver_factory, sql):
    rec = receiver_factory(statuses=[503, 200], delay=0.05)
    hook = make_hook(client, rec.url, subscriptions=['a.b'])
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {}}).json()
    dlv = wait_deliveries(client, event['id'], ['delivered'])[0]
    attempts = client.get('/v1/deliveries/%s/attempts' % dlv['id']).json()['data']
    assert len(attempts) == 2
    for a in attempts:
        t = a['timings']
        assert set(t) == {'dnsMs', 'connectMs', 'tlsMs', 'firstByteMs', 'totalMs'}
        assert t['tlsMs'] is None  # http
        # The receiver waits 50 ms before it answers: the first byte comes after that.
        assert 50 <= t['firstByteMs'] <= t['totalMs']
        if t['connectMs'] is not None:  # a new connection (the retry may reuse it)
            assert t['dnsMs'] is not None and t['dnsMs'] + t['connectMs'] <= t['firstByteMs']
    first = attempts[0]['timings']
    assert first['connectMs'] is not None and first['dnsMs'] is not None
    # An address nobody listens on: no answer, so no first byte.
    make_hook(client, 'http://127.0.0.1:%d/none' % harness.free_port(), subscriptions=['c.d'])
    event = client.post('/v1/events', json={'type': 'c.d', 'data': {}}).json()
    dlv = wait_deliveries(client, event['id'], ['retry_scheduled', 'failed'])[0]
    t = client.get('/v1/deliveries/%s/attempts' % dlv['id']).json()['data'][0]['timings']
    assert t['firstByteMs'] is None and t['tlsMs'] is None and t['totalMs'] is not None
    # The hourly view: one row for the first webhook, its percentiles from both attempts.
    rows = sql('select attempts, total_p50_ms, total_p95_ms, total_p99_ms, first_byte_p99_ms, '
               'tls_p50_ms from report_attempt_timings where webhook_id = %s', (hook['id'],))
    assert len(rows) == 1
    n, p50, p95, p99, fb99, tls50 = rows[0]
    assert n == 2 and 50 <= p50 <= p95 <= p99 and fb99 <= p99 and tls50 is None
    assert p99 == max(a['timings']['totalMs'] for a in attempts)


# --- ed25519 signatures ---------------------------------------------------------------------

NODE_VERIFY = r'''
const crypto = require('crypto');
const [pub, id, ts, sigs] = process.argv.slice(1);  // node -e: no script path
const body = require('fs').readFileSync(0);
const key = crypto.createPublicKey({format: 'jwk', key: {kty: 'OKP', crv: 'Ed25519',
    x: Buffer.from(pub.slice('whpk_'.length), 'base64').toString('base64url')}});
const signed = Buffer.concat([Buffer.from(id + '.' + ts + '.'), body]);
const ok = sigs.split(' ').filter(s => s.startsWith('v1a,')).some(s =>
    crypto.verify(null, signed, key, Buffer.from(s.slice(4), 'base64')));
process.exit(ok ? 0 : 3);
'''


def node_verifies(public_key, rec):
    """Node's crypto.verify (OpenSSL underneath, not pghook's code) on one received request."""
    import subprocess
    p = subprocess.run(['node', '-e', NODE_VERIFY, public_key, rec.headers['webhook-id'],
                        rec.headers['webhook-timestamp'], rec.headers['webhook-signature']],
                       input=rec.body, capture_output=True, timeout=30)
    assert p.returncode in (0, 3), p.stderr
    return p.returncode == 0


def openssl_verifies(public_key, rec, tmp_path):
    """The openssl command line on the same: SubjectPublicKeyInfo of the raw key, -rawin."""
    import base64
    import subprocess
    raw = base64.b64decode(public_key[len('whpk_'):])
    der = bytes.fromhex('302a300506032b6570032100') + raw
    (tmp_path / 'pub.der').write_bytes(der)
    (tmp_path / 'msg').write_bytes(('%s.%s.' % (rec.headers['webhook-id'],
                                                rec.headers['webhook-timestamp'])).encode()
                                   + rec.body)
    for s in rec.headers['webhook-signature'].split(' '):
        if not s.startswith('v1a,'):
            continue
        (tmp_path / 'sig').write_bytes(base64.b64decode(s[4:]))
        p = subprocess.run(['openssl', 'pkeyutl', '-verify', '-pubin', '-keyform', 'DER',
                            '-inkey', str(tmp_path / 'pub.der'), '-rawin',
                            '-in', str(tmp_path / 'msg'), '-sigfile', str(tmp_path / 'sig')],
                           capture_output=True, timeout=30)
        if p.returncode == 0:
            return True
    return False


SECRET_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='  # base64 of 32 bytes


def test_ed25519_signature_verified_by_node_and_openssl(
        api_factory, tenant, worker_factory, receiver_factory, sql, tmp_path):
    from conftest import Client
    from receivers import verify_signature
    client = Client(api_factory(PGHOOK_SECRET_KEY=SECRET_KEY), tenant)
    worker_factory(PGHOOK_SECRET_KEY=SECRET_KEY)
    rec = receiver_factory()
    hook = make_hook(client, rec.url, signature='ed25519')
    assert hook['signature'] == 'ed25519' and hook['secret'] is None
    assert hook['publicKey'].startswith('whpk_') and len(hook['publicKey']) == 49
    stored, = sql('select secret from webhooks where id = %s', (hook['id'],))[0]
    assert stored.startswith('enc:v1:')  # the private key is sealed like an HMAC secret
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {'caf\u00e9': [1, 2]}}).json()
    wait_deliveries(client, event['id'], ['delivered'])
    got = rec.received()[0]
    sig = got.headers['webhook-signature']
    assert sig.startswith('v1a,') and ' ' not in sig
    assert node_verifies(hook['publicKey'], got)
    assert openssl_verifies(hook['publicKey'], got, tmp_path)
    # Another key does not verify it.
    other = make_hook(client, 'https://example.com/x', signature='ed25519', subscriptions=['z'])
    assert not node_verifies(other['publicKey'], got)

    # Rotation: the new key signs, the old one beside it for 24 hours.
    rotated = client.post('/v1/webhooks/%s/rotate-secret' % hook['id']).json()
    assert rotated['signature'] == 'ed25519' and rotated['secret'] is None
    assert rotated['publicKey'] != hook['publicKey']
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {'n': 2}}).json()
    wait_deliveries(client, event['id'], ['delivered'])
    got = rec.received()[1]
    assert len(got.headers['webhook-signature'].split(' ')) == 2
    assert node_verifies(rotated['publicKey'], got) and node_verifies(hook['publicKey'], got)

    # Back to HMAC: the HMAC secret signs (v1), the last ed25519 key still beside it (v1a).
    back = client.patch('/v1/webhooks/%s' % hook['id'], json={'signature': 'hmac-sha256'})
    assert back.status_code == 200, back.text
    back = back.json()
    assert back['signature'] == 'hmac-sha256' and back['publicKey'] is None
    assert back['secret'].startswith('whsec_')
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {'n': 3}}).json()
    wait_deliveries(client, event['id'], ['delivered'])
    got = rec.received()[2]
    assert verify_signature(back['secret'], got)
    assert node_verifies(rotated['publicKey'], got)
    # And to ed25519 again from HMAC: a new key pair.
    again = client.patch('/v1/webhooks/%s' % hook['id'], json={'signature': 'ed25519'}).json()
    assert again['publicKey'] not in (None, hook['publicKey'], rotated['publicKey'])
    # PATCH naming the kind it already has changes no key.
    same = client.patch('/v1/webhooks/%s' % hook['id'], json={'signature': 'ed25519'}).json()
    assert same['publicKey'] == again['publicKey']


def test_signature_refused(client):
    url = 'https://example.com/hook'
    for body in [{'signature': 'rsa'}, {'signature': None}, {'signature': 5},
                 {'signature': 'ed25519', 'secret': 'whsec_' + 'A' * 32}]:
        resp = client.post('/v1/webhooks', json=dict({'url': url, 'subscriptions': ['*']}, **body))
        assert resp.status_code == 422, (body, resp.text)
    hook = make_hook(client, url)
    assert hook['signature'] == 'hmac-sha256' and hook['publicKey'] is None


# --- event-type catalog ---------------------------------------------------------------------

def test_event_type_catalog_routes(client, tenant_factory, client_factory):
    assert client.get('/v1/event-types').json() == {'data': [], 'nextCursor': None}
    resp = client.post('/v1/event-types', json={
        'name': 'order.created', 'description': 'An order was placed',
        'example': {'order': 42}})
    assert resp.status_code == 201, resp.text
    t = resp.json()
    assert set(t) == {'name', 'description', 'example', 'deprecated', 'createdAt', 'updatedAt'}
    assert (t['name'], t['description'], t['example'], t['deprecated']) == (
        'order.created', 'An order was placed', {'order': 42}, False)
    assert client.post('/v1/event-types', json={'name': 'order.created'}).status_code == 409
    for bad in [{}, {'name': 'bad name'}, {'name': 5}, {'name': 'a', 'deprecated': 'yes'},
                {'name': 'a', 'description': 7}]:
        assert client.post('/v1/event-types', json=bad).status_code == 422, bad
    for name in ['a.1', 'b.2', 'c.3']:
        assert client.post('/v1/event-types', json={'name': name}).status_code == 201
    page = client.get('/v1/event-types?limit=2').json()
    assert [x['name'] for x in page['data']] == ['a.1', 'b.2'] and page['nextCursor']
    page = client.get('/v1/event-types?limit=2&cursor=%s' % page['nextCursor']).json()
    assert [x['name'] for x in page['data']] == ['c.3', 'order.created']
    assert page['nextCursor'] is None
    resp = client.patch('/v1/event-types/order.created', json={'deprecated': True,
                                                               'description': None})
    assert resp.status_code == 200, resp.text
    assert resp.json()['deprecated'] is True and resp.json()['description'] is None
    assert resp.json()['example'] == {'order': 42}
    assert client.patch('/v1/event-types/order.created', json={'name': 'x'}).status_code == 422
    assert client.get('/v1/event-types/order.created').json()['deprecated'] is True
    assert client.delete('/v1/event-types/a.1').status_code == 204
    assert client.get('/v1/event-types/a.1').status_code == 404
    assert client.delete('/v1/event-types/a.1').status_code == 404
    assert client.patch('/v1/event-types/a.1', json={'deprecated': True}).status_code == 404
    # Another tenant sees none of it (row-level security as for every tenant table).
    other = client_factory(tenant_factory('other'))
    assert other.get('/v1/event-types').json()['data'] == []
    assert other.get('/v1/event-types/order.created').status_code == 404
    assert other.delete('/v1/event-types/b.2').status_code == 404


def test_catalog_enforced_once_not_empty(client, worker, receiver_factory):
    rec = receiver_factory()
    # Empty catalog: anything goes, as before.
    free = make_hook(client, rec.url, subscriptions=['anything.at.all'])
    assert client.post('/v1/events', json={'type': 'whatever', 'data': {}}).status_code == 201
    client.post('/v1/event-types', json={'name': 'order.created'})
    client.post('/v1/event-types', json={'name': 'order.old', 'deprecated': True})
    # Subscriptions must name catalog types (or "*").
    resp = client.post('/v1/webhooks', json={'url': rec.url, 'subscriptions': ['order.created',
                                                                             'nope']})
    assert resp.status_code == 422 and resp.json()['detail'][0]['loc'] == ['body', 'subscriptions']
    hook = make_hook(client, rec.url, subscriptions=['order.created', 'order.old'])
    make_hook(client, rec.url, subscriptions=['*'])
    resp = client.patch('/v1/webhooks/%s' % hook['id'], json={'subscriptions': ['nope']})
    assert resp.status_code == 422
    assert client.patch('/v1/webhooks/%s' % free['id'], json={'description': 'kept'}).status_code == 200
    # Events of other types: 422, alone, in a batch (naming each), and through the group commit.
    resp = client.post('/v1/events', json={'type': 'nope', 'data': {}})
    assert resp.status_code == 422, resp.text
    assert resp.json()['detail'][0]['loc'] == ['body', 'type']
    resp = client.post('/v1/events/batch', json={'events': [
        {'type': 'order.created', 'data': {}}, {'type': 'x', 'data': {}},
        {'type': 'order.old', 'data': {}}, {'type': 'y', 'data': {}}]})
    assert resp.status_code == 422
    assert [d['loc'] for d in resp.json()['detail']] == [['body', 'events', 1, 'type'],
                                                        ['body', 'events', 3, 'type']]
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: client.post('/v1/events', json={
            'type': 'order.created' if i % 2 else 'nope', 'data': {'i': i}}).status_code,
            range(32)))
    assert codes == [422 if i % 2 == 0 else 201 for i in range(32)]
    # A deprecated type still delivers.
    resp = client.post('/v1/events', json={'type': 'order.old', 'data': {'n': 1}})
    assert resp.status_code == 201
    ds = wait_deliveries(client, resp.json()['id'], ['delivered'])
    assert len(ds) == 2
    # Emptied again: anything goes.
    client.delete('/v1/event-types/order.created')
    client.delete('/v1/event-types/order.old')
    assert client.post('/v1/events', json={'type': 'nope', 'data': {}}).status_code == 201


# --- transactional outbox -------------------------------------------------------------------

def producer_dsn(sql, dsn):
    """dsn as a login role granted only pghook_producer, as an application would connect."""
    import re
    sql("do $$ begin create role pghook_app_producer login; "
        "exception when duplicate_object then null; end $$")
    sql('grant pghook_producer to pghook_app_producer')
    return re.sub(r'\buser=postgres\b', 'user=pghook_app_producer', dsn)


def test_outbox_commits_with_the_application(client, tenant, worker, receiver_factory, sql, dsn):
    import psycopg
    rec = receiver_factory()
    make_hook(client, rec.url, subscriptions=['order.paid'])
    app = psycopg.connect(producer_dsn(sql, dsn))
    # The application's own work, then the event, in one transaction that rolls back.
    with app.cursor() as cur:
        cur.execute('create temporary table orders (id int, state text)')
        cur.execute("insert into orders values (1, 'paid')")
        cur.execute('select pghook_send_event(%s, %s, %s, %s, %s)',
                    (tenant.id, 'order.paid', '{"order": 1}', 'order-1-paid', None))
        rolled = cur.fetchone()[0]
        assert rolled['eventType'] == 'order.paid' and len(rolled['deliveries']) == 1
    app.rollback()
    assert sql('select count(*) from events where id = %s', (rolled['id'],)) == [(0,)]
    assert sql('select count(*) from deliveries where event_id = %s', (rolled['id'],)) == [(0,)]
    # Committed: delivered, byte for byte, and only once the transaction commits.
    with app.cursor() as cur:
        cur.execute('select pghook_send_event(%s, %s, %s, %s, %s)',
                    (tenant.id, 'order.paid', '{"order": 2,  "n": [1, 2]}', 'order-2-paid',
                     'orders'))
        event = cur.fetchone()[0]
        assert client.get('/v1/events/%s' % event['id']).status_code == 404  # not yet visible
        assert rec.count() == 0
    app.commit()
    harness.wait_for(lambda: rec.count() == 1, what='the committed event delivered')
    got = rec.received()[0]
    assert got.headers['webhook-id'] == event['id']
    assert got.body == b'{"order": 2,  "n": [1, 2]}'
    shown = client.get('/v1/events/%s' % event['id']).json()
    assert (shown['sourceKey'], shown['eventGroup']) == ('order-2-paid', 'orders')
    # The same sourceKey again stores nothing new (idempotent, as POST /v1/events).
    with app.cursor() as cur:
        cur.execute('select pghook_send_event(%s, %s, %s, %s)',
                    (tenant.id, 'order.paid', '{"order": 2}', 'order-2-paid'))
        assert cur.fetchone()[0]['id'] == event['id']
    app.commit()
    # The producer role reads and writes nothing else.
    for stmt in ['select * from events', 'select * from webhooks', 'delete from deliveries']:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(stmt)
        app.rollback()
    # Bad arguments are errors in the caller's transaction.
    for args in [(tenant.id, 'bad type', '{}'), (tenant.id, 'a', '[1]'),
                 ('ten_nobody', 'a', '{}')]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            app.execute('select pghook_send_event(%s, %s, %s)', args)
        app.rollback()
    app.close()
    # Not callable by other roles (functions are executable by PUBLIC unless revoked).
    api_dsn = harness.service_dsn(dsn, 'api')
    with psycopg.connect(api_dsn) as other:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            other.execute("select pghook_send_event('t', 'a', '{}')")


# --- the OpenAPI document describes the answers ---------------------------------------------

def test_openapi_describes_the_new_fields(api, client, worker, receiver_factory):
    import jsonschema
    import requests
    doc = requests.get(api.url + '/openapi.json').json()
    resolver = jsonschema.RefResolver.from_schema(doc)

    def check(method, template, r):
        resp = doc['paths'][template][method]['responses'][str(r.status_code)]
        if '$ref' in resp:
            resp = resolver.resolve(resp['$ref'])[1]
        schema = resp['content']['application/json']['schema']
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(r.json())
        return r.json()

    rec = receiver_factory()
    check('post', '/v1/webhooks', client.post('/v1/webhooks', json={
        'url': rec.url, 'subscriptions': ['*'], 'signature': 'ed25519',
        'headers': {'X-A': 'b'}, 'retrySchedule': ['0s', '1m']}))
    hook = check('post', '/v1/webhooks', client.post('/v1/webhooks', json={
        'url': rec.url, 'subscriptions': ['*']}))
    check('patch', '/v1/webhooks/{id}', client.patch('/v1/webhooks/' + hook['id'], json={
        'headers': None, 'retrySchedule': ['5s']}))
    check('get', '/v1/webhooks', client.get('/v1/webhooks'))
    check('post', '/v1/event-types', client.post('/v1/event-types', json={
        'name': 'a.b', 'example': [1, 'x'], 'description': 'd'}))
    check('get', '/v1/event-types', client.get('/v1/event-types'))
    check('get', '/v1/event-types/{name}', client.get('/v1/event-types/a.b'))
    check('patch', '/v1/event-types/{name}', client.patch('/v1/event-types/a.b',
                                                          json={'deprecated': True}))
    check('post', '/v1/event-types', client.post('/v1/event-types', json={'name': 'a.b'}))
    check('post', '/v1/event-types', client.post('/v1/event-types', json={'name': '?'}))
    event = client.post('/v1/events', json={'type': 'a.b', 'data': {}}).json()
    dlv = wait_deliveries(client, event['id'], ['delivered'])[0]
    check('get', '/v1/deliveries/{id}/attempts',
          client.get('/v1/deliveries/%s/attempts' % dlv['id']))
