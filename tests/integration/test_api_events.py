# SPDX-License-Identifier: MIT
"""Events through HTTP: ingest with fan-out, idempotent sourceKey, batches (all or nothing),
listing with filters, and what the api does with hostile bodies (malformed, deep, huge, bad
UTF-8, out-of-range numbers)."""
import datetime
import json
import re
import threading

import psycopg
import pytest
import requests

import harness

TS_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
EVENT_FIELDS = {'id', 'organizationId', 'eventType', 'eventGroup', 'sourceKey', 'orderingKey',
                'status', 'endpointCount', 'payload', 'deliveries', 'createdAt', 'updatedAt'}
JSON_HEADERS = {'content-type': 'application/json'}


def create_webhook(client, subscriptions, url='https://example.com/hook'):
    r = client.post('/v1/webhooks', json={'url': url, 'subscriptions': subscriptions})
    assert r.status_code == 201, r.text
    return r.json()


def post_event(client, type_='order.created', data=None, **extra):
    body = {'type': type_, 'data': {'n': 1} if data is None else data}
    body.update(extra)
    return client.post('/v1/events', json=body)


def assert_422(r, loc=None):
    assert r.status_code == 422, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {'detail'} and body['detail']
    for d in body['detail']:
        assert set(d) == {'loc', 'msg', 'type'}
    if loc is not None:
        assert loc in [d['loc'] for d in body['detail']], body
    return body['detail']


def count(sql, table):
    return sql('select count(*) from %s' % table)[0][0]


def nested(levels):
    """levels containers deep: nested(1) == {}, nested(2) == {"a": {}}."""
    doc = '{}'
    for i in range(levels - 1):
        doc = '{"a":%s}' % doc if i % 2 else '[%s]' % doc
    return doc


def test_create_fans_out_in_the_same_transaction(client, tenant, sql, dsn):
    a = create_webhook(client, ['order.created'])
    b = create_webhook(client, ['*'])
    c = create_webhook(client, ['order.refunded'])

    listener = psycopg.connect(dsn, autocommit=True)
    notes = []
    listener.add_notify_handler(notes.append)
    listener.execute('listen pghook_deliveries')
    try:
        r = post_event(client, 'order.created', {'orderId': 42}, eventGroup='orders')
        assert r.status_code == 201, r.text
        assert r.headers['content-type'] == 'application/json; charset=utf-8'
        ev = r.json()
        # The deliveries exist as soon as the answer arrives.
        rows = sql('select webhook_id, status, attempt_count from deliveries where event_id = %s'
                   ' order by webhook_id', (ev['id'],))
        assert sorted(rows) == sorted([(a['id'], 'pending', 0), (b['id'], 'pending', 0)])
        assert sql('select s.status, endpoint_count, event_type, event_group, tenant_id'
                   ' from events e, pghook_event_state(e) s where id = %s', (ev['id'],)) == [
            ('pending', 2, 'order.created', 'orders', tenant.id)]
        # ...and the workers were told.
        harness.wait_for(lambda: listener.execute('select 1') and notes,
                         what='NOTIFY pghook_deliveries')
        assert notes[0].channel == 'pghook_deliveries'
    finally:
        listener.close()

    assert set(ev) == EVENT_FIELDS
    assert re.fullmatch(r'evt_[0-9a-f]{28}', ev['id'])
    assert ev['organizationId'] == tenant.id
    assert (ev['eventType'], ev['eventGroup'], ev['sourceKey']) == ('order.created', 'orders', None)
    assert (ev['status'], ev['endpointCount']) == ('pending', 2)
    assert ev['payload'] == {'orderId': 42}
    assert TS_RE.match(ev['createdAt']) and TS_RE.match(ev['updatedAt'])
    assert sorted(d['webhookId'] for d in ev['deliveries']) == sorted([a['id'], b['id']])
    assert c['id'] not in [d['webhookId'] for d in ev['deliveries']]
    for d in ev['deliveries']:
        assert re.fullmatch(r'dlv_[0-9a-f]{28}', d['id'])
        assert (d['eventId'], d['eventType'], d['status'], d['attemptCount']) == (
            ev['id'], 'order.created', 'pending', 0)
        assert d['replayOfDeliveryId'] is None and d['lastError'] is None


def test_no_subscriber_is_skipped(client, sql, dsn):
    create_webhook(client, ['something.else'])
    r = post_event(client, 'order.created')
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev['status'], ev['endpointCount'], ev['deliveries']) == ('skipped', 0, [])
    assert sql('select s.status, e.endpoint_count from events e, pghook_event_state(e) s '
               'where e.id = %s', (ev['id'],)) == [
        ('skipped', 0)]
    assert count(sql, 'deliveries') == 0


def test_source_key_is_idempotent(client, sql, tenant_factory, client_factory):
    create_webhook(client, ['*'])
    r1 = post_event(client, data={'v': 1}, sourceKey='order-42')
    assert r1.status_code == 201, r1.text
    first = r1.json()
    assert first['sourceKey'] == 'order-42'

    # The repeat answers 200 with the stored event, even with other data, and writes nothing.
    r2 = post_event(client, data={'v': 2}, sourceKey='order-42')
    assert r2.status_code == 200, r2.text
    again = r2.json()
    assert again['id'] == first['id']
    assert again['payload'] == {'v': 1}
    assert [d['id'] for d in again['deliveries']] == [d['id'] for d in first['deliveries']]
    assert count(sql, 'events') == 1
    assert count(sql, 'deliveries') == 1

    # A batch repeating the key gets the stored event at that index.
    r = client.post('/v1/events/batch', json={'events': [
        {'type': 'a.b', 'data': {}}, {'type': 'x.y', 'data': {'v': 3}, 'sourceKey': 'order-42'}]})
    assert r.status_code == 201, r.text
    assert r.json()['data'][1]['id'] == first['id']
    assert r.json()['data'][1]['payload'] == {'v': 1}
    assert count(sql, 'events') == 2

    # Unique per tenant: another tenant may use the same key.
    other = client_factory(tenant_factory('other'))
    r3 = post_event(other, data={'v': 9}, sourceKey='order-42')
    assert r3.status_code == 201, r3.text
    assert r3.json()['id'] != first['id']
    assert count(sql, 'events') == 3


@pytest.mark.parametrize('route', ['single', 'batch'])
def test_source_key_committed_while_ingest_waited(client, tenant, sql, dsn, route):
    """Another transaction holds the key uncommitted: the ingest waits on it, then inserts
    nothing, and its own snapshot does not hold the other's event. The answer still shows it."""
    other = psycopg.connect(dsn)
    result = {}
    try:
        other.execute("select * from pghook_ingest(%s, '[{\"type\":\"a\",\"data\":{\"v\":1},"
                      "\"sourceKey\":\"race\"}]'::json)", (tenant.id,))
        stored = other.execute("select id from events where source_key = 'race'").fetchone()[0]

        def post():
            event = {'type': 'b', 'data': {'v': 2}, 'sourceKey': 'race'}
            if route == 'single':
                result['r'] = client.post('/v1/events', json=event)
            else:
                result['r'] = client.post('/v1/events/batch', json={'events': [event]})

        t = threading.Thread(target=post)
        t.start()
        harness.wait_for(lambda: sql("select count(*) from pg_stat_activity "
                                     "where wait_event_type = 'Lock' "
                                     "and query like '%%pghook_ingest_rows%%'")[0][0] == 1,
                         what='the ingest waiting for the uncommitted key')
        other.commit()
        t.join(30)
    finally:
        other.close()
    r = result['r']
    if route == 'single':
        assert r.status_code == 200, r.text
        shown = r.json()
    else:
        assert r.status_code == 201, r.text
        shown = r.json()['data'][0]
    assert shown is not None and shown['id'] == stored and shown['payload'] == {'v': 1}
    assert count(sql, 'events') == 1


def test_same_source_key_twice_in_one_batch(client, sql):
    r = client.post('/v1/events/batch', json={'events': [
        {'type': 'a', 'data': {'i': 0}, 'sourceKey': 'k'},
        {'type': 'b', 'data': {'i': 1}, 'sourceKey': 'k'}]})
    assert r.status_code == 201, r.text
    data = r.json()['data']
    assert data[0]['id'] == data[1]['id']
    assert data[1]['payload'] == {'i': 0}
    assert count(sql, 'events') == 1


def test_ids_made_in_sql(sql, dsn):
    """pghook_new_id: the documented format, the time in front, and random bits that differ
    between sessions (each backend seeds its own generator)."""
    # floor, as pghook_new_id does: a cast rounds, and on a fast machine the next statement
    # often starts in the same millisecond, whose id would then sort below a rounded-up t0
    t0 = sql("select floor(extract(epoch from clock_timestamp()) * 1000)::bigint")[0][0]
    made = [sql("select array_agg(pghook_new_id('evt')) from generate_series(1, 20000)")[0][0]]
    with psycopg.connect(dsn, autocommit=True) as other:
        made.append(other.execute("select array_agg(pghook_new_id('evt')) "
                                  "from generate_series(1, 20000)").fetchone()[0])
    t1 = sql("select (extract(epoch from clock_timestamp()) * 1000)::bigint")[0][0]
    ids = made[0] + made[1]
    assert all(re.fullmatch(r'evt_[0-9a-f]{28}', i) for i in ids)
    assert all(t0 <= int(i[4:16], 16) <= t1 for i in ids)
    assert len(set(ids)) == len(ids)
    # The random halves alone: a generator seeded alike in both sessions would repeat them.
    assert not {i[16:] for i in made[0]} & {i[16:] for i in made[1]}
    assert len({i[16:] for i in ids}) == len(ids)


def test_batch_in_request_order(client, sql):
    hook = create_webhook(client, ['t.two'])
    events = [{'type': 't.one', 'data': {'i': 1}},
              {'type': 't.two', 'data': {'i': 2}, 'eventGroup': 'g', 'sourceKey': 's2'},
              {'type': 't.three', 'data': {'i': 3, 'nested': {'x': [1, 2]}}}]
    r = client.post('/v1/events/batch', json={'events': events})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {'data'}
    data = body['data']
    assert [e['eventType'] for e in data] == ['t.one', 't.two', 't.three']
    assert [e['payload'] for e in data] == [e['data'] for e in events]
    assert [e['status'] for e in data] == ['skipped', 'pending', 'skipped']
    assert (data[1]['eventGroup'], data[1]['sourceKey']) == ('g', 's2')
    assert [d['webhookId'] for d in data[1]['deliveries']] == [hook['id']]
    for e in data:
        assert set(e) == EVENT_FIELDS
    assert len({e['id'] for e in data}) == 3
    assert sorted(r[0] for r in sql('select id from events')) == sorted(e['id'] for e in data)
    assert sql('select event_id from deliveries') == [(data[1]['id'],)]


def test_batch_is_all_or_nothing(client, sql):
    create_webhook(client, ['*'])
    events = [{'type': 'ok.%d' % i, 'data': {'i': i}} for i in range(5)]
    events[3]['type'] = 'not valid!'
    r = client.post('/v1/events/batch', json={'events': events})
    detail = assert_422(r, ['body', 'events', 3, 'type'])
    assert len(detail) == 1
    assert count(sql, 'events') == 0 and count(sql, 'deliveries') == 0

    # Every bad item is named, by its index.
    events = [{'type': 'a', 'data': {}}, 'not an object', {'type': 'b'}, {'data': {}},
              {'type': 'c', 'data': []}, {'type': 'd', 'data': {}, 'sourceKey': 5}]
    detail = assert_422(client.post('/v1/events/batch', json={'events': events}))
    assert [d['loc'] for d in detail] == [
        ['body', 'events', 1], ['body', 'events', 2, 'data'], ['body', 'events', 3, 'type'],
        ['body', 'events', 4, 'data'], ['body', 'events', 5, 'sourceKey']]
    assert count(sql, 'events') == 0


def test_batch_size_limits(client, sql):
    assert_422(client.post('/v1/events/batch', json={'events': []}), ['body', 'events'])
    many = [{'type': 'bulk', 'data': {'i': i}} for i in range(1001)]
    assert_422(client.post('/v1/events/batch', json={'events': many}), ['body', 'events'])
    assert_422(client.post('/v1/events/batch', json={'events': {'type': 'a'}}), ['body', 'events'])
    assert_422(client.post('/v1/events/batch', json={}), ['body', 'events'])
    assert count(sql, 'events') == 0

    r = client.post('/v1/events/batch', json={'events': many[:1000]})
    assert r.status_code == 201, r.text[:300]
    assert [e['payload']['i'] for e in r.json()['data']] == list(range(1000))
    assert count(sql, 'events') == 1000


def test_create_validation(client, sql):
    cases = [
        ({'data': {}}, ['body', 'type']),
        ({'type': '', 'data': {}}, ['body', 'type']),
        ({'type': 'has space', 'data': {}}, ['body', 'type']),
        ({'type': 'x' * 129, 'data': {}}, ['body', 'type']),
        ({'type': 7, 'data': {}}, ['body', 'type']),
        ({'type': 'a'}, ['body', 'data']),
        ({'type': 'a', 'data': None}, ['body', 'data']),
        ({'type': 'a', 'data': [1]}, ['body', 'data']),
        ({'type': 'a', 'data': 'x'}, ['body', 'data']),
        ({'type': 'a', 'data': {}, 'sourceKey': ''}, ['body', 'sourceKey']),
        ({'type': 'a', 'data': {}, 'sourceKey': 'k' * 256}, ['body', 'sourceKey']),
        ({'type': 'a', 'data': {}, 'eventGroup': 3}, ['body', 'eventGroup']),
    ]
    for body, loc in cases:
        r = client.post('/v1/events', json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert_422(r, loc)
    assert count(sql, 'events') == 0
    # The longest type is fine, and so is every allowed character.
    assert post_event(client, 'x' * 128).status_code == 201
    assert post_event(client, 'Az09_.:-').status_code == 201


def test_get_and_404(client):
    create_webhook(client, ['*'])
    ev = post_event(client, data={'k': 'v'}).json()
    r = client.get('/v1/events/' + ev['id'])
    assert r.status_code == 200
    assert r.json() == ev
    for missing in ('evt_0000000000000000000000000000', 'nope', ev['id'] + 'x'):
        r = client.get('/v1/events/' + missing)
        assert r.status_code == 404, r.text
        assert r.json()['error']['code'] == 'not_found'


def test_ingest_answer_is_what_get_renders(client):
    """The ingest routes render their answer in C (api/events.c), GET in SQL
    (pghook_event_json): the two must agree byte for byte, or clients see an event change
    shape between its creation and its first read."""
    create_webhook(client, ['*'])
    create_webhook(client, ['t.one'], url='https://example.com/other')
    data = (r'{"z":1,"s":"h\u00e9llo \"q\" \\ / \t\u0001 \u2028 \ud83d\ude00 ü",'
            r'"n":[2.50,1.0e5,-0,null,true],"e":{}}')
    raw = (r'{"type":"t.one","data":%s,"eventGroup":"g \u00e9","sourceKey":"k/1"}'
           % data).encode()
    r = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
    assert r.status_code == 201, r.text
    assert client.get('/v1/events/' + r.json()['id']).text == r.text
    # A repeat answers the stored event, as GET does.
    again = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
    assert again.status_code == 200 and again.text == r.text

    r = client.post('/v1/events/batch', data=b'{"events":[%s,{"type":"u","data":{}},%s]}'
                    % (raw.replace(b'k/1', b'k/2'), raw), headers=JSON_HEADERS)
    assert r.status_code == 201, r.text
    listed = json.loads(r.text, object_pairs_hook=list)[0][1]
    for ev in listed:
        evid = dict(ev)['id']
        got = client.get('/v1/events/' + evid)
        assert json.loads(got.text, object_pairs_hook=list) == ev


def test_list_filters_and_pagination(client, sql):
    create_webhook(client, ['b.happened'])
    ids, created = {}, {}
    for i, type_ in enumerate(['a.happened', 'b.happened', 'a.happened', 'b.happened',
                               'a.happened']):
        ev = post_event(client, type_, {'i': i}).json()
        ids[i] = ev['id']
        # The stored times, to the microsecond: an id begins with its created_at, so the time
        # filters (id ranges, migration 18) are checked against real times, not rewritten ones.
        created[i] = sql('select created_at from events where id = %s', (ev['id'],))[0][0]

    def list_ids(**params):
        r = client.get('/v1/events', params=params)
        assert r.status_code == 200, r.text
        assert r.json()['nextCursor'] is None
        return [e['id'] for e in r.json()['data']]

    newest_first = [ids[i] for i in (4, 3, 2, 1, 0)]
    assert list_ids() == newest_first
    assert list_ids(type='a.happened') == [ids[4], ids[2], ids[0]]
    assert list_ids(type='nothing') == []
    assert list_ids(status='skipped') == [ids[4], ids[2], ids[0]]
    assert list_ids(status='pending') == [ids[3], ids[1]]
    assert list_ids(status='delivered') == []
    assert list_ids(type='b.happened', status='skipped') == []

    def at(i, tz=datetime.timezone.utc):
        return created[i].astimezone(tz).isoformat()

    def within(since=None, until=None):
        return [ids[i] for i in (4, 3, 2, 1, 0) if (since is None or created[i] >= since)
                and (until is None or created[i] < until)]

    assert list_ids(since=at(2)) == within(since=created[2]) == [ids[4], ids[3], ids[2]]
    assert list_ids(until=at(2)) == within(until=created[2]) == [ids[1], ids[0]]
    assert list_ids(since=at(1), until=at(3)) == [ids[2], ids[1]]
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    assert list_ids(since=at(1, plus_one)) == [ids[4], ids[3], ids[2], ids[1]]
    # a bound inside an event's millisecond: the id's millisecond only narrows the range
    mid = created[3] + datetime.timedelta(microseconds=1)
    assert list_ids(since=mid.isoformat()) == within(since=mid)
    assert list_ids(until=mid.isoformat()) == within(until=mid)
    assert list_ids(until='2026-01-01T10:02:00Z') == []

    seen, sizes, cursor = [], [], None
    for _ in range(5):
        params = {'limit': 2}
        if cursor:
            params['cursor'] = cursor
        page = client.get('/v1/events', params=params).json()
        sizes.append(len(page['data']))
        seen += [e['id'] for e in page['data']]
        cursor = page['nextCursor']
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == newest_first

    # Filters and the cursor work together.
    page = client.get('/v1/events', params={'type': 'a.happened', 'limit': 2}).json()
    assert [e['id'] for e in page['data']] == [ids[4], ids[2]]
    page = client.get('/v1/events', params={'type': 'a.happened', 'limit': 2,
                                            'cursor': page['nextCursor']}).json()
    assert [e['id'] for e in page['data']] == [ids[0]] and page['nextCursor'] is None


def test_list_bad_query(client):
    assert_422(client.get('/v1/events', params={'status': 'done'}), ['query', 'status'])
    assert_422(client.get('/v1/events', params={'since': 'yesterday'}), ['query', 'since'])
    assert_422(client.get('/v1/events', params={'until': '2026-13-01T00:00:00Z'}),
               ['query', 'until'])
    assert_422(client.get('/v1/events', params={'since': '2026-01-01'}), ['query', 'since'])
    assert_422(client.get('/v1/events', params={'since': '2026-02-30T00:00:00Z'}),
               ['query', 'since'])
    assert_422(client.get('/v1/events', params={'limit': '0'}), ['query', 'limit'])
    assert_422(client.get('/v1/events', params={'limit': '251'}), ['query', 'limit'])
    assert_422(client.get('/v1/events', params={'cursor': 'junk'}), ['query', 'cursor'])


def test_malformed_json(client, sql):
    for raw in [b'{"type": "a", "data": {}', b'{"type": "a", "data": {}} trailing',
                b"{'type': 'a', 'data': {}}", b'{\'type\': "a", \'data\': {}}',
                b'{"type": "a", "data": {\'x\': 1}}', b'{"type": "a", "data": {"x": NaN}}',
                b'{"type": "a", "data": {"x": 01}}', b'{"type": "a", "data": {},}',
                b'{"type": "a", "data": {"x": "\\q"}}', b'{"type": "a"\x00, "data": {}}',
                b'', b'   ', b'[]', b'null', b'42']:
        r = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert_422(r, ['body'])
    assert count(sql, 'events') == 0


def test_depth_limit(client, sql):
    # The body object is level 1 and data level 2, so 63 levels in data make 64 in all.
    ok = '{"type":"deep","data":%s}' % nested(63)
    r = client.post('/v1/events', data=ok, headers=JSON_HEADERS)
    assert r.status_code == 201, r.text[:300]
    assert json.dumps(r.json()['payload'], separators=(',', ':')) == nested(63)

    too_deep = '{"type":"deep","data":%s}' % nested(64)
    detail = assert_422(client.post('/v1/events', data=too_deep, headers=JSON_HEADERS), ['body'])
    assert detail[0]['type'] == 'json_too_deep'
    # Arrays count the same: 65 levels of [] alone.
    assert_422(client.post('/v1/events', data='[' * 65 + ']' * 65, headers=JSON_HEADERS),
               ['body'])

    very_deep = '{"type":"deep","data":' + '{"a":' * 10000 + '{}' + '}' * 10000 + '}'
    assert_422(client.post('/v1/events', data=very_deep, headers=JSON_HEADERS), ['body'])
    unclosed = '[' * 100000
    assert_422(client.post('/v1/events', data=unclosed, headers=JSON_HEADERS), ['body'])
    assert count(sql, 'events') == 1
    # Still serving.
    assert client.get('/healthz').status_code == 200
    assert post_event(client).status_code == 201


def test_body_over_the_limit(client, sql):
    big = json.dumps({'type': 'big', 'data': {'blob': 'x' * (1536 * 1024)}}).encode()
    try:
        r = client.post('/v1/events', data=big, headers=JSON_HEADERS)
        assert r.status_code == 413, (r.status_code, r.text[:300])
    except requests.exceptions.ConnectionError:
        pass  # the server may close before the client finished sending
    assert count(sql, 'events') == 0
    assert client.get('/healthz').status_code == 200
    assert post_event(client).status_code == 201

    # Just under the limit is fine.
    fits = json.dumps({'type': 'big', 'data': {'blob': 'y' * (1024 * 1024 - 100)}}).encode()
    assert len(fits) <= 1024 * 1024
    r = client.post('/v1/events', data=fits, headers=JSON_HEADERS)
    assert r.status_code == 201, r.text[:300]
    assert len(r.json()['payload']['blob']) == 1024 * 1024 - 100


def test_body_limit_is_configurable(api_factory, tenant, sql):
    import conftest
    api = api_factory(PGHOOK_MAX_BODY_BYTES=2048)
    client = conftest.Client(api, tenant)
    small = json.dumps({'type': 'a', 'data': {'s': 'x' * 1500}})
    assert client.post('/v1/events', data=small, headers=JSON_HEADERS).status_code == 201
    large = json.dumps({'type': 'a', 'data': {'s': 'x' * 3000}})
    try:
        r = client.post('/v1/events', data=large, headers=JSON_HEADERS)
        assert r.status_code == 413, r.text
    except requests.exceptions.ConnectionError:
        pass
    assert count(sql, 'events') == 1


def test_invalid_utf8(client, sql):
    for raw in [b'{"type": "a", "data": {"s": "\xff"}}', b'{"type": "a", "data": {"\xc3": 1}}',
                b'{"type": "a", "data": {"s": "\xc0\xaf"}}',      # overlong '/'
                b'{"type": "a", "data": {"s": "\xed\xa0\x80"}}',  # a UTF-16 surrogate
                b'{"type": "a", "data": {"s": "\xf4\x90\x80\x80"}}',  # above U+10FFFF
                b'{"type": "a", "data": {"s": "abc\xe2\x82"}}']:  # truncated
        r = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert_422(r, ['body'])
    assert count(sql, 'events') == 0


def test_non_finite_numbers(client, sql):
    for num in [b'1e999', b'-1e999', b'1E400', b'[1, 2e308]']:
        raw = b'{"type": "a", "data": {"n": %s}}' % num
        r = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
        assert r.status_code == 422, (num, r.status_code, r.text)
        assert_422(r, ['body'])
    assert count(sql, 'events') == 0


def assert_number_kept_or_refused(client, sql, num):
    r = client.post('/v1/events', data='{"type":"a","data":{"n":%s}}' % num, headers=JSON_HEADERS)
    if r.status_code == 422:
        assert_422(r, ['body'])
        return
    assert r.status_code == 201, (num, r.status_code, r.text)
    stored = sql('select payload::text from events where id = %s', (r.json()['id'],))
    assert stored == [('{"n":%s}' % num,)], (num, stored)


def test_integers_beyond_64_bits_are_never_changed(client, sql):
    # Refused like 1e999, or kept exactly: a payload must never change silently.
    for num in ['123456789012345678901234567890', '-9223372036854775809',
                '18446744073709551616']:
        assert_number_kept_or_refused(client, sql, num)


def test_number_extremes_are_kept(client, sql):
    for num in ['9223372036854775807', '-9223372036854775808', '18446744073709551615',
                '1.7976931348623157e308', '5e-324', '1e-999', '2.50', '-0.0', '1E+2']:
        assert_number_kept_or_refused(client, sql, num)
        assert sql('select count(*) from events where payload::text = %s',
                   ('{"n":%s}' % num,)) == [(1,)], num


def test_payload_is_preserved(client, sql):
    data_text = ('{"z":1,"a":{"nested":{"deeper":[1,2.50,1.0e5,-3,true,false,null]}},'
                 '"unicode":"h\u00e9llo \u4e16\u754c \U0001F600","escaped":"tab\\tquote\\"slash/",'
                 '"empty":{},"list":[]}')
    raw = ('{"type": "x.y", "data": %s}' % data_text).encode('utf-8')
    r = client.post('/v1/events', data=raw, headers=JSON_HEADERS)
    assert r.status_code == 201, r.text
    sent = json.loads(data_text, object_pairs_hook=list)
    got = json.loads(r.text, object_pairs_hook=list)
    payload = dict(got)['payload']
    # Same values, same key order, same number spellings.
    assert payload == sent
    stored = sql('select payload::text from events where id = %s', (r.json()['id'],))[0][0]
    assert json.loads(stored, object_pairs_hook=list) == sent
    assert '2.50' in stored and '1.0e5' in stored
    assert stored == data_text
    assert client.get('/v1/events/' + r.json()['id']).json()['payload'] == json.loads(data_text)

    # \u escapes arrive as the characters they stand for.
    r = client.post('/v1/events', data=b'{"type":"x","data":{"s":"\\u00e9\\ud83d\\ude00"}}',
                    headers=JSON_HEADERS)
    assert r.status_code == 201, r.text
    assert r.json()['payload'] == {'s': '\u00e9\U0001F600'}


def gauge(api, name):
    text = requests.get(api.url + '/metrics', timeout=5).text
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith(name + ' ')), None)


def test_ingests_wait_for_their_tenants_group_only(api, sql, dsn, tenant_factory,
                                                   client_factory):
    """Single-event ingests are stored by the committer (api/committer.c), one group in flight
    per tenant. While A's statement waits on a lock, A's next requests, whatever loop took them,
    queue for one group: one statement, so one transaction. B's are stored meanwhile."""
    a, b = tenant_factory('a'), tenant_factory('b')
    create_webhook(client_factory(a), ['*'])
    holder = psycopg.connect(dsn)
    results = {}

    def post(i):
        results[i] = post_event(client_factory(a), data={'i': i})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(5)]
    try:
        holder.execute('select 1 from tenants where id = %s for update', (a.id,))
        threads[0].start()
        harness.wait_for(lambda: sql("select count(*) from pg_stat_activity "
                                     "where wait_event_type = 'Lock' "
                                     "and query like '%%pghook_ingest_rows%%'")[0][0] == 1,
                         what="A's first ingest waiting for its tenant's row")
        for t in threads[1:]:
            t.start()
        harness.wait_for(lambda: gauge(api, 'pghook_ingest_queued') == 4,
                         what="A's next four ingests queued behind the first")
        r = post_event(client_factory(b))
        assert r.status_code == 201, r.text
        holder.rollback()
        for t in threads:
            t.join(30)
    finally:
        holder.close()
    assert [results[i].status_code for i in range(5)] == [201] * 5
    ids = [results[i].json()['id'] for i in range(5)]
    xids = sql('select id, xmin::text from events where id = any(%s)', (ids,))
    by_id = dict(xids)
    assert len({by_id[i] for i in ids[1:]}) == 1, xids
    assert by_id[ids[0]] != by_id[ids[1]]
    assert gauge(api, 'pghook_ingest_queued') == 0
