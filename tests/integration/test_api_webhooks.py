# SPDX-License-Identifier: MIT
"""Webhooks (endpoints) through HTTP: create, read, list and paginate, patch, delete, rotate the
secret, enable/disable, recover failed deliveries, and the 422s of bad bodies and queries."""
import base64
import json
import re
import threading

import psycopg

import harness

TS_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
WEBHOOK_FIELDS = {'id', 'url', 'description', 'subscriptions', 'notificationEmail', 'secret',
                  'status', 'disabledReason', 'metadata', 'createdDate', 'updatedDate',
                  'rateLimit', 'maxInFlight', 'ordering', 'circuit',
                  'headers', 'retrySchedule', 'signature', 'publicKey'}


def create_webhook(client, **fields):
    body = {'url': 'https://example.com/hook', 'subscriptions': ['order.created']}
    body.update(fields)
    r = client.post('/v1/webhooks', json=body)
    assert r.status_code == 201, r.text
    return r.json()


def create_event(client, type_='order.created', data=None):
    r = client.post('/v1/events', json={'type': type_, 'data': data or {'n': 1}})
    assert r.status_code == 201, r.text
    return r.json()


def assert_secret(secret):
    assert re.fullmatch(r'whsec_[A-Za-z0-9+/]+={0,2}', secret), secret
    assert len(base64.b64decode(secret[len('whsec_'):])) == 24


def assert_422(r, loc):
    assert r.status_code == 422, r.text
    assert r.headers['content-type'].startswith('application/json')
    body = r.json()
    assert set(body) == {'detail'}
    locs = [d['loc'] for d in body['detail']]
    assert loc in locs, locs
    for d in body['detail']:
        assert set(d) == {'loc', 'msg', 'type'}
        assert isinstance(d['msg'], str) and d['msg']
        assert isinstance(d['type'], str) and d['type']


def assert_404(r):
    assert r.status_code == 404, r.text
    err = r.json()['error']
    assert err['code'] == 'not_found'
    assert isinstance(err['message'], str)


def test_create_returns_every_field(client):
    r = client.post('/v1/webhooks', json={
        'url': 'https://example.com/hooks/a?x=1', 'subscriptions': ['order.created', 'order.paid'],
        'notificationEmail': 'ops@example.com', 'description': 'orders',
        'metadata': {'team': 'billing', 'n': 3}})
    assert r.status_code == 201, r.text
    assert r.headers['content-type'] == 'application/json; charset=utf-8'
    w = r.json()
    assert set(w) == WEBHOOK_FIELDS
    assert re.fullmatch(r'wh_[0-9a-f]{28}', w['id']), w['id']
    assert w['url'] == 'https://example.com/hooks/a?x=1'
    assert w['subscriptions'] == ['order.created', 'order.paid']
    assert w['notificationEmail'] == 'ops@example.com'
    assert w['description'] == 'orders'
    assert w['metadata'] == {'team': 'billing', 'n': 3}
    assert w['status'] == 'active'
    assert w['disabledReason'] is None
    assert_secret(w['secret'])
    assert TS_RE.match(w['createdDate']) and TS_RE.match(w['updatedDate'])
    assert w['updatedDate'] >= w['createdDate']

    # A second webhook gets its own id and secret.
    other = create_webhook(client)
    assert other['id'] != w['id'] and other['secret'] != w['secret']
    assert other['metadata'] == {} and other['notificationEmail'] is None


def test_create_with_own_secret_and_minimal_body(client, sql):
    secret = 'whsec_' + base64.b64encode(bytes(range(32))).decode()
    w = create_webhook(client, secret=secret, subscriptions=['*'])
    assert w['secret'] == secret
    assert w['subscriptions'] == ['*']
    rows = sql('select url, subscriptions, secret, status from webhooks where id = %s', (w['id'],))
    assert rows == [('https://example.com/hook', ['*'], secret, 'active')]


def test_get(client):
    w = create_webhook(client, description='d')
    r = client.get('/v1/webhooks/' + w['id'])
    assert r.status_code == 200
    assert r.json() == w
    assert_404(client.get('/v1/webhooks/wh_0000000000000000000000000000'))
    assert_404(client.get('/v1/webhooks/not-an-id'))


def test_list_and_cursor_pagination(client):
    created = [create_webhook(client, description='w%d' % i)['id'] for i in range(7)]
    seen, pages, cursor = [], [], None
    while True:
        params = {'limit': 3}
        if cursor:
            params['cursor'] = cursor
        r = client.get('/v1/webhooks', params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {'data', 'nextCursor'}
        pages.append(len(page['data']))
        for w in page['data']:
            assert set(w) == WEBHOOK_FIELDS
        seen += [w['id'] for w in page['data']]
        cursor = page['nextCursor']
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 5, 'pagination does not end'
    assert pages == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7
    # Newest first.
    assert seen == list(reversed(created))

    r = client.get('/v1/webhooks')
    assert r.status_code == 200
    assert [w['id'] for w in r.json()['data']] == seen
    assert r.json()['nextCursor'] is None
    r = client.get('/v1/webhooks', params={'limit': 7})
    assert len(r.json()['data']) == 7 and r.json()['nextCursor'] is None
    r = client.get('/v1/webhooks', params={'limit': 250})
    assert r.status_code == 200


def test_list_bad_limit_and_cursor(client):
    for limit in ['0', '251', 'abc', '-1', '3x', '']:
        assert_422(client.get('/v1/webhooks', params={'limit': limit}), ['query', 'limit'])
    for cursor in ['garbage', '!!!!', 'd2hfMDE=', 'x' * 300]:
        assert_422(client.get('/v1/webhooks', params={'cursor': cursor}), ['query', 'cursor'])


def test_cursor_of_another_list_is_refused(client):
    for i in range(3):
        create_event(client, 'nobody.listens', {'i': i})
    cursor = client.get('/v1/events', params={'limit': 1}).json()['nextCursor']
    assert cursor
    assert_422(client.get('/v1/webhooks', params={'cursor': cursor}), ['query', 'cursor'])


def test_patch_is_partial(client):
    w = create_webhook(client, description='before', notificationEmail='a@example.com',
                       metadata={'k': 'v'}, subscriptions=['a.b', 'c.d'])
    r = client.patch('/v1/webhooks/' + w['id'], json={'description': 'after'})
    assert r.status_code == 200, r.text
    p = r.json()
    assert set(p) == WEBHOOK_FIELDS
    assert p['description'] == 'after'
    for same in ('id', 'url', 'subscriptions', 'notificationEmail', 'secret', 'status',
                 'metadata', 'createdDate'):
        assert p[same] == w[same], same
    assert TS_RE.match(p['updatedDate']) and p['updatedDate'] >= w['updatedDate']

    r = client.patch('/v1/webhooks/' + w['id'], json={'notificationEmail': None})
    assert r.status_code == 200, r.text
    assert r.json()['notificationEmail'] is None
    assert r.json()['description'] == 'after'

    r = client.patch('/v1/webhooks/' + w['id'], json={
        'url': 'http://example.org/new', 'subscriptions': ['x.y'], 'metadata': {'n': 2},
        'description': None})
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p['url'], p['subscriptions'], p['metadata'], p['description']) == (
        'http://example.org/new', ['x.y'], {'n': 2}, None)
    assert p['notificationEmail'] is None
    assert client.get('/v1/webhooks/' + w['id']).json() == p

    # An empty patch changes nothing but is fine.
    r = client.patch('/v1/webhooks/' + w['id'], json={})
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != 'updatedDate'} == {
        k: v for k, v in p.items() if k != 'updatedDate'}


def test_patch_validation_and_404(client):
    w = create_webhook(client)
    assert_422(client.patch('/v1/webhooks/' + w['id'], json={'url': 'ftp://example.com/'}),
               ['body', 'url'])
    assert_422(client.patch('/v1/webhooks/' + w['id'], json={'url': None}), ['body', 'url'])
    assert_422(client.patch('/v1/webhooks/' + w['id'], json={'subscriptions': []}),
               ['body', 'subscriptions'])
    assert_422(client.patch('/v1/webhooks/' + w['id'], json={'notificationEmail': 'nope'}),
               ['body', 'notificationEmail'])
    # Nothing of the refused patches was applied.
    assert client.get('/v1/webhooks/' + w['id']).json()['url'] == w['url']
    assert_404(client.patch('/v1/webhooks/wh_0000000000000000000000000000',
                            json={'description': 'x'}))


def test_delete_fails_pending_deliveries(client, sql):
    w = create_webhook(client)
    keep = create_webhook(client, subscriptions=['*'])
    ev = create_event(client)
    assert ev['endpointCount'] == 2
    mine = [d['id'] for d in ev['deliveries'] if d['webhookId'] == w['id']]
    assert len(mine) == 1

    r = client.delete('/v1/webhooks/' + w['id'])
    assert r.status_code == 204
    assert r.content == b''
    assert_404(client.get('/v1/webhooks/' + w['id']))
    assert_404(client.delete('/v1/webhooks/' + w['id']))
    assert_404(client.patch('/v1/webhooks/' + w['id'], json={'description': 'x'}))
    assert w['id'] not in [x['id'] for x in client.get('/v1/webhooks').json()['data']]

    d = client.get('/v1/deliveries/' + mine[0]).json()
    assert d['status'] == 'failed'
    assert d['lastError'] == 'webhook deleted'
    assert d['nextRetryAt'] is None
    assert sql('select status, last_error from deliveries where id = %s', (mine[0],)) == [
        ('failed', 'webhook deleted')]
    # The other webhook's delivery is untouched, so the event is still pending.
    other = [x for x in client.get('/v1/events/' + ev['id']).json()['deliveries']
             if x['webhookId'] == keep['id']]
    assert other[0]['status'] == 'pending'
    assert client.get('/v1/events/' + ev['id']).json()['status'] == 'pending'

    # The row stays for audit, soft-deleted; new events no longer fan out to it.
    assert sql('select deleted_at is not null from webhooks where id = %s', (w['id'],)) == [(True,)]
    ev2 = create_event(client)
    assert ev2['endpointCount'] == 1
    assert [x['webhookId'] for x in ev2['deliveries']] == [keep['id']]


def test_delete_last_webhook_fails_the_event(client):
    w = create_webhook(client)
    ev = create_event(client)
    assert client.delete('/v1/webhooks/' + w['id']).status_code == 204
    e = client.get('/v1/events/' + ev['id']).json()
    assert e['status'] == 'failed'
    assert [d['lastError'] for d in e['deliveries']] == ['webhook deleted']


def test_rotate_secret(client, sql):
    w = create_webhook(client)
    r = client.post('/v1/webhooks/' + w['id'] + '/rotate-secret')
    assert r.status_code == 200, r.text
    n = r.json()
    assert set(n) == WEBHOOK_FIELDS
    assert n['id'] == w['id']
    assert_secret(n['secret'])
    assert n['secret'] != w['secret']
    assert client.get('/v1/webhooks/' + w['id']).json()['secret'] == n['secret']
    rows = sql("select secret, previous_secret,"
               " previous_secret_until > now() + interval '23 hours',"
               " previous_secret_until <= now() + interval '24 hours'"
               " from webhooks where id = %s", (w['id'],))
    assert rows == [(n['secret'], w['secret'], True, True)]

    again = client.post('/v1/webhooks/' + w['id'] + '/rotate-secret').json()
    assert again['secret'] not in (w['secret'], n['secret'])
    assert sql('select previous_secret from webhooks where id = %s', (w['id'],)) == [
        (n['secret'],)]
    assert_404(client.post('/v1/webhooks/wh_0000000000000000000000000000/rotate-secret'))


def test_disable_and_enable(client):
    w = create_webhook(client)
    r = client.post('/v1/webhooks/' + w['id'] + '/disable')
    assert r.status_code == 200, r.text
    assert r.json()['status'] == 'disabled'
    assert isinstance(r.json()['disabledReason'], str) and r.json()['disabledReason']
    assert client.get('/v1/webhooks/' + w['id']).json()['status'] == 'disabled'

    # A disabled webhook gets no deliveries.
    ev = create_event(client)
    assert (ev['status'], ev['endpointCount'], ev['deliveries']) == ('skipped', 0, [])

    r = client.post('/v1/webhooks/' + w['id'] + '/enable')
    assert r.status_code == 200, r.text
    assert (r.json()['status'], r.json()['disabledReason']) == ('active', None)
    ev = create_event(client)
    assert (ev['status'], ev['endpointCount']) == ('pending', 1)
    assert ev['deliveries'][0]['webhookId'] == w['id']

    assert_404(client.post('/v1/webhooks/wh_0000000000000000000000000000/enable'))
    assert_404(client.post('/v1/webhooks/wh_0000000000000000000000000000/disable'))


def record(client, delivery_id, **body):
    r = client.post('/v1/outbound-webhook-deliveries/%s/attempts' % delivery_id, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_recover_replays_failed_deliveries(client, sql):
    w = create_webhook(client)
    failed_ev = create_event(client, data={'i': 1})
    ok_ev = create_event(client, data={'i': 2})
    failed_id = failed_ev['deliveries'][0]['id']
    ok_id = ok_ev['deliveries'][0]['id']
    record(client, failed_id, status='failed', responseStatusCode=500, lastError='HTTP 500')
    record(client, ok_id, status='delivered', responseStatusCode=200)
    assert client.get('/v1/events/' + failed_ev['id']).json()['status'] == 'failed'

    # since= after the delivery was made: nothing to recover.
    r = client.post('/v1/webhooks/%s/recover' % w['id'], params={'since': '2999-01-01T00:00:00Z'})
    assert r.status_code == 202, r.text
    assert r.json()['data'] == []

    r = client.post('/v1/webhooks/%s/recover' % w['id'], params={'since': '2000-01-01T00:00:00Z'})
    assert r.status_code == 202, r.text
    data = r.json()['data']
    assert len(data) == 1
    new = data[0]
    assert new['replayOfDeliveryId'] == failed_id
    assert new['id'] not in (failed_id, ok_id)
    assert (new['status'], new['webhookId'], new['eventId'], new['attemptCount']) == (
        'pending', w['id'], failed_ev['id'], 0)
    assert sql('select status, replay_of_delivery_id from deliveries where id = %s',
               (new['id'],)) == [('pending', failed_id)]
    # The event is pending again: its failed delivery was replaced by the replay.
    assert client.get('/v1/events/' + failed_ev['id']).json()['status'] == 'pending'

    # A delivery already replayed is not replayed twice.
    r = client.post('/v1/webhooks/%s/recover' % w['id'], params={'since': '2000-01-01T00:00:00Z'})
    assert r.status_code == 202
    assert r.json()['data'] == []
    assert sql('select count(*) from deliveries')[0][0] == 3


def test_recover_validation_and_404(client):
    w = create_webhook(client)
    assert_422(client.post('/v1/webhooks/%s/recover' % w['id']), ['query', 'since'])
    assert_422(client.post('/v1/webhooks/%s/recover' % w['id'], params={'since': 'yesterday'}),
               ['query', 'since'])
    assert_404(client.post('/v1/webhooks/wh_0000000000000000000000000000/recover',
                           params={'since': '2000-01-01T00:00:00Z'}))


BAD_BODIES = [
    ({'subscriptions': ['a']}, ['body', 'url']),
    ({'url': 'ftp://example.com/x', 'subscriptions': ['a']}, ['body', 'url']),
    ({'url': 'example.com', 'subscriptions': ['a']}, ['body', 'url']),
    ({'url': 'http://', 'subscriptions': ['a']}, ['body', 'url']),
    ({'url': 42, 'subscriptions': ['a']}, ['body', 'url']),
    ({'url': 'https://example.com'}, ['body', 'subscriptions']),
    ({'url': 'https://example.com', 'subscriptions': []}, ['body', 'subscriptions']),
    ({'url': 'https://example.com', 'subscriptions': 'a'}, ['body', 'subscriptions']),
    ({'url': 'https://example.com', 'subscriptions': ['bad type!']}, ['body', 'subscriptions', 0]),
    ({'url': 'https://example.com', 'subscriptions': ['ok', 7]}, ['body', 'subscriptions', 1]),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'notificationEmail': 'not-an-email'},
     ['body', 'notificationEmail']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'notificationEmail': 'a b@c.d'},
     ['body', 'notificationEmail']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'secret': 'hunter2'},
     ['body', 'secret']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'secret': 'whsec_!!!'},
     ['body', 'secret']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'secret': 'whsec_c2hvcnQ='},
     ['body', 'secret']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'metadata': [1, 2]},
     ['body', 'metadata']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'metadata': 'x'}, ['body', 'metadata']),
    ({'url': 'https://example.com', 'subscriptions': ['a'], 'description': 7},
     ['body', 'description']),
]


def test_create_validation(client, sql):
    for body, loc in BAD_BODIES:
        r = client.post('/v1/webhooks', json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert_422(r, loc)
    assert sql('select count(*) from webhooks') == [(0,)]


def test_create_reports_every_bad_field(client):
    r = client.post('/v1/webhooks', json={})
    assert r.status_code == 422
    assert [d['loc'] for d in r.json()['detail']] == [['body', 'url'], ['body', 'subscriptions']]
    assert [d['type'] for d in r.json()['detail']] == ['missing', 'missing']


def test_create_body_not_an_object(client, sql):
    for raw in [b'', b'not json', b'[1,2]', b'"x"', b'null', b'{"url": "https://x.y",']:
        r = client.post('/v1/webhooks', data=raw, headers={'content-type': 'application/json'})
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert_422(r, ['body'])
    assert sql('select count(*) from webhooks') == [(0,)]


def test_delete_while_a_completion_of_its_delivery_waits(client, sql, dsn, api):
    """A completion locks its delivery, then the webhook's row (its success clears
    failing_since); the delete locks the webhook's row, then its deliveries. When the two meet
    in that order PostgreSQL aborts one of them: the worker retries a completion, but a
    DELETE that lost answered 500."""
    w = create_webhook(client)
    ev = create_event(client)
    sql('update webhooks set failing_since = now()')
    (dlv, token), = sql("select id, claim_token from pghook_claim(1, 30000)")
    assert dlv == ev['deliveries'][0]['id']
    holder, worker = psycopg.connect(dsn), psycopg.connect(dsn)
    answers = {}
    try:
        # The worker's session checks for deadlocks late, so the delete is the one that finds
        # the cycle (and, without the retry, was aborted).
        worker.execute("set deadlock_timeout = '30s'")
        holder.execute('select 1 from webhooks where id = %s for update', (w['id'],))

        def delete():
            answers['delete'] = client.delete('/v1/webhooks/' + w['id']).status_code

        def complete():
            out = [{'id': dlv, 'token': token, 'status': 'delivered', 'code': 200, 'body': '',
                    'durationMs': 1}]
            worker.execute('select pghook_complete(%s::json, %s)', (json.dumps(out), 'w1'))
            worker.commit()
            answers['complete'] = True

        def waiting(fragment):
            return sql("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                       "and query like %s", ('%' + fragment + '%',))[0][0]

        threads = [threading.Thread(target=delete), threading.Thread(target=complete)]
        threads[0].start()
        harness.wait_for(lambda: waiting('pghook_delete_webhook') == 1, what='delete waits')
        threads[1].start()
        harness.wait_for(lambda: waiting('pghook_complete') == 1, what='completion waits')
        holder.rollback()  # the delete takes the webhook's row, then waits for the delivery
        for t in threads:
            t.join(20)
        assert answers == {'delete': 204, 'complete': True}, api.proc.log()[-2000:]
    finally:
        holder.close()
        worker.close()
    assert sql('select status from deliveries where id = %s', (dlv,)) == [('delivered',)]
    assert sql('select deleted_at is not null from webhooks where id = %s', (w['id'],)) == [
        (True,)]
