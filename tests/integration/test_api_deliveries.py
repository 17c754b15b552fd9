# SPDX-License-Identifier: MIT
"""Deliveries and attempts through HTTP: listing with filters, reading, recording attempts made
by an external deliverer (and how the event's status follows), the 422s of bad attempt bodies,
and replays."""
import re
import socket
import threading

import pytest

import harness
from conftest import Client
from receivers import HttpReceiver
from test_api_webhooks import create_event, create_webhook as webhooks_create

TS_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
DELIVERY_FIELDS = {
    # the contract's names (docs/api.md, api/openapi.json)
    'id', 'eventId', 'webhookId', 'eventType', 'status', 'attemptCount', 'nextRetryAt',
    'lastAttemptAt', 'deliveredAt', 'responseStatusCode', 'lastError', 'replayOfDeliveryId',
    'createdAt', 'updatedAt',
    # seed 002's snapshot names, so one shape serves both
    'organizationId', 'endpointId', 'endpointName', 'endpointUrl', 'attemptedAt'}
ATTEMPT_FIELDS = {'id', 'deliveryId', 'attemptNumber', 'startedAt', 'durationMs',
                  'responseStatusCode', 'responseBody', 'error', 'trigger', 'workerId',
                  'timings'}
MISSING_DLV = 'dlv_0000000000000000000000000000'


def create_webhook(client, subscriptions=('*',), url='https://example.com/hook'):
    """A webhook subscribed to everything unless told otherwise (test_api_webhooks' default is
    one type)."""
    return webhooks_create(client, subscriptions=list(subscriptions), url=url)


def record(client, delivery_id, expect=200, **body):
    r = client.post('/v1/deliveries/%s/attempts' % delivery_id, json=body)
    assert r.status_code == expect, r.text
    return r.json()


def delivery_in(event, delivery_id):
    found = [d for d in event['deliveries'] if d['id'] == delivery_id]
    assert len(found) == 1, event
    return found[0]


def assert_422(r, loc):
    assert r.status_code == 422, (r.status_code, r.text)
    detail = r.json()['detail']
    assert loc in [d['loc'] for d in detail], detail
    for d in detail:
        assert set(d) == {'loc', 'msg', 'type'}


def assert_404(r):
    assert r.status_code == 404, r.text
    assert r.json()['error']['code'] == 'not_found'


@pytest.fixture
def two_hooks(client):
    return create_webhook(client), create_webhook(client, url='https://example.org/other')


def test_get(client, tenant, two_hooks):
    a, _ = two_hooks
    ev = create_event(client)
    d = [x for x in ev['deliveries'] if x['webhookId'] == a['id']][0]
    r = client.get('/v1/deliveries/' + d['id'])
    assert r.status_code == 200, r.text
    got = r.json()
    assert set(got) == DELIVERY_FIELDS
    assert got == d
    assert re.fullmatch(r'dlv_[0-9a-f]{28}', got['id'])
    assert (got['eventId'], got['webhookId'], got['eventType'], got['status']) == (
        ev['id'], a['id'], 'order.created', 'pending')
    assert (got['attemptCount'], got['lastAttemptAt'], got['deliveredAt'],
            got['responseStatusCode'], got['lastError'], got['replayOfDeliveryId']) == (
        0, None, None, None, None, None)
    assert (got['organizationId'], got['endpointId'], got['endpointUrl'], got['endpointName']) == (
        tenant.id, a['id'], a['url'], a['url'])
    for k in ('nextRetryAt', 'createdAt', 'updatedAt'):
        assert TS_RE.match(got[k]), k
    assert_404(client.get('/v1/deliveries/' + MISSING_DLV))
    assert_404(client.get('/v1/deliveries/garbage'))


def test_list_filters_and_pagination(client, sql, two_hooks):
    a, b = two_hooks
    e1 = create_event(client, data={'i': 1})
    e2 = create_event(client, data={'i': 2})
    e3 = create_event(client, data={'i': 3})
    all_ids = [d['id'] for e in (e1, e2, e3) for d in e['deliveries']]
    assert len(all_ids) == 6
    d_a1 = delivery_in(e1, [d['id'] for d in e1['deliveries'] if d['webhookId'] == a['id']][0])
    record(client, d_a1['id'], status='delivered', responseStatusCode=204)
    d_b2 = [d for d in e2['deliveries'] if d['webhookId'] == b['id']][0]
    record(client, d_b2['id'], status='failed', lastError='connection refused')
    for n, did in enumerate(sorted(all_ids)):
        sql("update deliveries set created_at = '2026-03-01T00:00:00Z'::timestamptz"
            " + make_interval(hours => %s) where id = %s", (n, did))

    def ids(**params):
        r = client.get('/v1/deliveries', params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {'data', 'nextCursor'} and page['nextCursor'] is None
        for d in page['data']:
            assert set(d) == DELIVERY_FIELDS
        return [d['id'] for d in page['data']]

    assert ids() == sorted(all_ids, reverse=True)
    assert ids(status='delivered') == [d_a1['id']]
    assert ids(status='failed') == [d_b2['id']]
    assert sorted(ids(status='pending')) == sorted(set(all_ids) - {d_a1['id'], d_b2['id']})
    assert ids(status='retry_scheduled') == []
    assert sorted(ids(webhookId=a['id'])) == sorted(
        d['id'] for e in (e1, e2, e3) for d in e['deliveries'] if d['webhookId'] == a['id'])
    assert sorted(ids(eventId=e2['id'])) == sorted(d['id'] for d in e2['deliveries'])
    assert ids(eventId=e2['id'], webhookId=b['id']) == [d_b2['id']]
    assert ids(eventId=e2['id'], status='delivered') == []
    assert ids(webhookId='wh_0000000000000000000000000000') == []
    assert ids(since='2026-03-01T04:00:00Z') == sorted(all_ids, reverse=True)[:2]

    seen, sizes, cursor = [], [], None
    for _ in range(6):
        params = {'limit': 4}
        if cursor:
            params['cursor'] = cursor
        page = client.get('/v1/deliveries', params=params).json()
        sizes.append(len(page['data']))
        seen += [d['id'] for d in page['data']]
        cursor = page['nextCursor']
        if cursor is None:
            break
    assert sizes == [4, 2]
    assert seen == sorted(all_ids, reverse=True)

    assert_422(client.get('/v1/deliveries', params={'status': 'sent'}), ['query', 'status'])
    assert_422(client.get('/v1/deliveries', params={'since': 'now'}), ['query', 'since'])
    assert_422(client.get('/v1/deliveries', params={'limit': 'many'}), ['query', 'limit'])
    assert_422(client.get('/v1/deliveries', params={'cursor': '%%%'}), ['query', 'cursor'])


def test_record_attempts(client, sql):
    create_webhook(client)
    ev = create_event(client)
    did = ev['deliveries'][0]['id']
    r = client.get('/v1/deliveries/%s/attempts' % did)
    assert r.status_code == 200, r.text
    assert r.json() == {'data': [], 'nextCursor': None}

    out = record(client, did, status='retry_scheduled', responseStatusCode=503,
                 responseBody={'error': 'busy', 'n': [1, 2]}, lastError='HTTP 503',
                 nextRetryAt='2030-01-02T03:04:05Z')
    # The answer is the event with all its deliveries (seed 002's shape).
    assert out['id'] == ev['id']
    d = delivery_in(out, did)
    assert (d['status'], d['attemptCount'], d['responseStatusCode'], d['lastError'],
            d['nextRetryAt'], d['deliveredAt']) == (
        'retry_scheduled', 1, 503, 'HTTP 503', '2030-01-02T03:04:05.000Z', None)
    assert TS_RE.match(d['lastAttemptAt']) and d['attemptedAt'] == d['lastAttemptAt']
    assert out['status'] == 'pending'
    assert sql('select status, attempt_count, response_status_code, last_error,'
               " next_retry_at = '2030-01-02T03:04:05Z' from deliveries where id = %s",
               (did,)) == [('retry_scheduled', 1, 503, 'HTTP 503', True)]

    out = record(client, did, status='delivered', responseStatusCode=200, lastError=None,
                 nextRetryAt=None)
    d = delivery_in(out, did)
    assert (d['status'], d['attemptCount'], d['responseStatusCode'], d['lastError'],
            d['nextRetryAt']) == ('delivered', 2, 200, None, None)
    assert TS_RE.match(d['deliveredAt'])
    assert out['status'] == 'delivered'
    assert client.get('/v1/deliveries/' + did).json()['status'] == 'delivered'

    r = client.get('/v1/deliveries/%s/attempts' % did)
    assert r.status_code == 200
    attempts = r.json()['data']
    assert r.json()['nextCursor'] is None
    assert [a['attemptNumber'] for a in attempts] == [1, 2]
    for a in attempts:
        assert set(a) == ATTEMPT_FIELDS
        assert re.fullmatch(r'att_[0-9a-f]{28}', a['id'])
        assert (a['deliveryId'], a['trigger'], a['workerId'], a['durationMs']) == (
            did, 'external', None, None)
        assert TS_RE.match(a['startedAt'])
    assert (attempts[0]['responseStatusCode'], attempts[0]['error']) == (503, 'HTTP 503')
    assert attempts[0]['responseBody'] == '{"error":"busy","n":[1,2]}'
    assert (attempts[1]['responseStatusCode'], attempts[1]['error'],
            attempts[1]['responseBody']) == (200, None, None)
    assert sql("select count(*) from attempts where delivery_id = %s and trigger = 'external'",
               (did,)) == [(2,)]

    assert_404(client.get('/v1/deliveries/%s/attempts' % MISSING_DLV))
    assert_404(client.post('/v1/deliveries/%s/attempts' % MISSING_DLV,
                           json={'status': 'delivered'}))


def test_pending_without_next_retry_is_due_now(client, sql):
    create_webhook(client)
    did = create_event(client)['deliveries'][0]['id']
    out = record(client, did, status='pending', lastError='timeout')
    d = delivery_in(out, did)
    assert (d['status'], d['attemptCount'], d['lastError'], d['responseStatusCode']) == (
        'pending', 1, 'timeout', None)
    assert TS_RE.match(d['nextRetryAt'])
    assert sql('select next_retry_at <= now() from deliveries where id = %s', (did,)) == [(True,)]


def test_event_status_follows_its_deliveries(client, two_hooks):
    a, b = two_hooks

    def pair():
        ev = create_event(client)
        da = [d['id'] for d in ev['deliveries'] if d['webhookId'] == a['id']][0]
        db = [d['id'] for d in ev['deliveries'] if d['webhookId'] == b['id']][0]
        return ev['id'], da, db

    # All delivered -> delivered.
    eid, da, db = pair()
    assert record(client, da, status='delivered', responseStatusCode=200)['status'] == 'pending'
    assert record(client, db, status='delivered', responseStatusCode=201)['status'] == 'delivered'
    ev = client.get('/v1/events/' + eid).json()
    assert ev['status'] == 'delivered'
    # The latest change to the event or to one of its deliveries.
    assert ev['updatedAt'] == max(d['updatedAt'] for d in ev['deliveries']) >= ev['createdAt']
    listed = client.get('/v1/events', params={'status': 'delivered'}).json()['data']
    assert [e['id'] for e in listed] == [eid]

    # One failed while the other is pending -> pending; once none is pending -> failed.
    eid, da, db = pair()
    assert record(client, da, status='failed', responseStatusCode=410)['status'] == 'pending'
    assert record(client, db, status='delivered', responseStatusCode=200)['status'] == 'failed'
    assert client.get('/v1/events/' + eid).json()['status'] == 'failed'
    # A later attempt can move it again.
    assert record(client, da, status='delivered', responseStatusCode=200)['status'] == 'delivered'

    # Retrying keeps it pending.
    eid, da, db = pair()
    record(client, db, status='delivered', responseStatusCode=200)
    assert record(client, da, status='retry_scheduled', nextRetryAt='2030-01-01T00:00:00Z',
                  lastError='HTTP 500', responseStatusCode=500)['status'] == 'pending'


def test_prune_deletes_old_events_whose_deliveries_are_final(client, sql, dsn):
    a = create_webhook(client, ['order.created'])
    b = create_webhook(client, ['order.created'], url='https://example.org/other')
    final, open_ = create_event(client), create_event(client)
    for d in final['deliveries']:
        failed = d['webhookId'] == a['id']
        record(client, d['id'], status='failed' if failed else 'delivered',
               responseStatusCode=500 if failed else 200)
    record(client, delivery_in_hook(open_, b)['id'], status='delivered', responseStatusCode=200)
    skipped = create_event(client, 'nobody.listens')
    recent = create_event(client)
    for d in recent['deliveries']:
        record(client, d['id'], status='delivered', responseStatusCode=200)
    sql("update events set created_at = now() - interval '2 days' where id <> %s",
        (recent['id'],))
    assert [client.get('/v1/events/' + e['id']).json()['status']
            for e in (final, open_, skipped, recent)] == [
        'failed', 'pending', 'skipped', 'delivered']
    assert harness.run_cli(dsn, 'prune', '--older-than', '1d') == {'prunedEvents': 2}
    assert sorted(sql('select id from events')) == sorted([(open_['id'],), (recent['id'],)])
    assert sql('select count(*) from deliveries where event_id in (%s, %s)',
               (final['id'], skipped['id'])) == [(0,)]


def delivery_in_hook(event, hook):
    return [d for d in event['deliveries'] if d['webhookId'] == hook['id']][0]


def test_record_attempt_validation(client, sql):
    create_webhook(client)
    did = create_event(client)['deliveries'][0]['id']
    path = '/v1/deliveries/%s/attempts' % did
    cases = [
        ({}, ['body', 'status']),
        ({'status': 'bogus'}, ['body', 'status']),
        ({'status': 'delivering'}, ['body', 'status']),
        ({'status': None}, ['body', 'status']),
        ({'status': 'delivered', 'responseStatusCode': 99}, ['body', 'responseStatusCode']),
        ({'status': 'delivered', 'responseStatusCode': 600}, ['body', 'responseStatusCode']),
        ({'status': 'delivered', 'responseStatusCode': '200'}, ['body', 'responseStatusCode']),
        ({'status': 'delivered', 'responseStatusCode': 200.5}, ['body', 'responseStatusCode']),
        ({'status': 'failed', 'lastError': ''}, ['body', 'lastError']),
        ({'status': 'failed', 'lastError': 5}, ['body', 'lastError']),
        ({'status': 'retry_scheduled'}, ['body', 'nextRetryAt']),
        ({'status': 'retry_scheduled', 'nextRetryAt': None}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': 'tomorrow'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-01-01 00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-01-01T00:00:00'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-02-30T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-04-31T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-13-01T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-01-01T24:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2027-02-29T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '0000-01-01T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '+026-01-01T00:00:00Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-01-01T00:00:00+16:00'},
         ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-12-31T23:59:60.5Z'}, ['body', 'nextRetryAt']),
        ({'status': 'pending', 'nextRetryAt': '2026-01-01T00:00:00.Z'}, ['body', 'nextRetryAt']),
        ({'status': 'delivered', 'responseBody': 'ok'}, ['body', 'responseBody']),
        ({'status': 'delivered', 'responseBody': [1]}, ['body', 'responseBody']),
    ]
    for body, loc in cases:
        r = client.post(path, json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert_422(r, loc)
    assert_422(client.post(path, data=b'{"status":', headers={'content-type': 'application/json'}),
               ['body'])
    # Nothing was recorded.
    assert sql('select count(*) from attempts') == [(0,)]
    assert sql('select status, attempt_count from deliveries where id = %s', (did,)) == [
        ('pending', 0)]
    # The boundaries are accepted, and so are a leap day and an offset.
    record(client, did, status='failed', responseStatusCode=100)
    record(client, did, status='failed', responseStatusCode=599)
    record(client, did, status='retry_scheduled', nextRetryAt='2028-02-29T12:00:00.123456+02:00')
    assert sql("select attempt_count, next_retry_at = '2028-02-29T10:00:00.123456Z'"
               ' from deliveries where id = %s', (did,)) == [(3, True)]
    record(client, did, status='retry_scheduled', nextRetryAt='2030-06-30t23:59:60-15:59')
    assert sql("select attempt_count, next_retry_at = '2030-07-01T15:59:00Z'"
               ' from deliveries where id = %s', (did,)) == [(4, True)]


def test_replay(client, sql):
    hook = create_webhook(client)
    ev = create_event(client)
    orig = ev['deliveries'][0]['id']
    record(client, orig, status='delivered', responseStatusCode=200)
    assert client.get('/v1/events/' + ev['id']).json()['status'] == 'delivered'

    r = client.post('/v1/deliveries/%s/replay' % orig)
    assert r.status_code == 201, r.text
    new = r.json()
    assert set(new) == DELIVERY_FIELDS
    assert new['id'] != orig
    assert (new['replayOfDeliveryId'], new['status'], new['eventId'], new['webhookId'],
            new['attemptCount'], new['lastError'], new['deliveredAt']) == (
        orig, 'pending', ev['id'], hook['id'], 0, None, None)
    assert sql('select status, replay_of_delivery_id, next_retry_at <= now() from deliveries'
               ' where id = %s', (new['id'],)) == [('pending', orig, True)]
    # The original is kept as it was; the event is pending again until the replay ends.
    assert client.get('/v1/deliveries/' + orig).json()['status'] == 'delivered'
    e = client.get('/v1/events/' + ev['id']).json()
    assert e['status'] == 'pending'
    assert sorted(d['id'] for d in e['deliveries']) == sorted([orig, new['id']])
    assert client.get('/v1/deliveries/' + new['id']).json() == new

    record(client, new['id'], status='failed', lastError='HTTP 500', responseStatusCode=500)
    assert client.get('/v1/events/' + ev['id']).json()['status'] == 'failed'

    assert_404(client.post('/v1/deliveries/%s/replay' % MISSING_DLV))
    assert sql('select count(*) from deliveries') == [(2,)]


def test_replay_of_a_deleted_webhooks_delivery_is_404(client, sql):
    hook = create_webhook(client)
    ev = create_event(client)
    did = ev['deliveries'][0]['id']
    assert client.delete('/v1/webhooks/' + hook['id']).status_code == 204
    # Nothing can reach a deleted endpoint: replay answers like send and recover do.
    assert_404(client.post('/v1/deliveries/%s/replay' % did))
    assert_404(client.post('/v1/webhooks/deliveries/%s/replay' % did))
    assert sql('select count(*) from deliveries') == [(1,)]
    assert client.get('/v1/events/' + ev['id']).json()['status'] == 'failed'


def test_send_whose_client_left_is_still_recorded(api_factory, tenant, sql):
    """A synchronous send runs on a thread of its own while its request waits. A client that
    hangs up meanwhile gets no answer, but the attempt happened and is recorded, and the loop
    that held the request (the only one) carries on serving."""
    arrived, release = threading.Event(), threading.Event()

    def hold(rec):
        arrived.set()
        release.wait(30)
        return 200, {}, b'ok'
    receiver = HttpReceiver()
    receiver.script = hold
    try:
        api = api_factory(PGHOOK_API_THREADS='1')
        client = Client(api, tenant)
        create_webhook(client, url=receiver.url)
        did = create_event(client)['deliveries'][0]['id']
        s = socket.create_connection(('127.0.0.1', api.port), timeout=10)
        head = 'POST /v1/deliveries/%s/send HTTP/1.1\r\nHost: x\r\nTENANT: %s\r\n' \
            'API-KEY: %s\r\nContent-Length: 0\r\n\r\n' % (did, tenant.id, tenant.key)
        s.sendall(head.encode())
        assert arrived.wait(15), 'the attempt never reached the receiver'
        s.close()
        assert client.get('/healthz').status_code == 200
        release.set()
        harness.wait_for(lambda: sql('select count(*) from attempts where delivery_id = %s',
                                     (did,)) == [(1,)], timeout=15, what='the attempt recorded')
        assert sql('select status, attempt_count from deliveries where id = %s', (did,)) == [
            ('delivered', 1)]
        assert client.get('/v1/deliveries/' + did).json()['status'] == 'delivered'
    finally:
        release.set()
        receiver.close()
