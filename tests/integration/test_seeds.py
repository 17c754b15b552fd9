# SPDX-License-Identifier: MIT
"""The four seed routes on their documented paths, with their documented headers and exact
field names: 003 (create a webhook), 002 (record an attempt), 004 (replay), 001 (send now,
against a real receiver on loopback)."""
import json
import re

import jsonschema
import pytest

from receivers import HttpReceiver, verify_signature

TS_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')

SEED002_EVENT_FIELDS = {'id', 'organizationId', 'eventType', 'sourceKey', 'status',
                        'endpointCount', 'payload', 'deliveries', 'createdAt', 'updatedAt'}
SEED002_DELIVERY_FIELDS = {'id', 'organizationId', 'endpointId', 'endpointName', 'endpointUrl',
                           'attemptCount', 'responseStatusCode', 'lastError', 'nextRetryAt',
                           'attemptedAt', 'deliveredAt', 'createdAt', 'updatedAt'}
SEED004_FIELDS = {'id', 'endpoint_id', 'user_id', 'event_id', 'event_type', 'event_group',
                  'status', 'scheduled_attempt', 'next_retry_at', 'last_attempt_at',
                  'delivered_at', 'final_http_status', 'error_message', 'replay_of_delivery_id',
                  'created_at', 'updated_at'}
SEED001_FIELDS = {'id', 'type', 'data', 'createdDate', 'alertId', 'deliveredDate',
                  'lastDeliveryAttemptDate', 'lastDeliveryAttemptStatus',
                  'lastDeliveryAttemptError'}

# Seed 004's HTTPValidationError, as the seed gives it.
SEED004_VALIDATION_ERROR = {
    'type': 'object', 'title': 'HTTPValidationError',
    'properties': {'detail': {'type': 'array', 'items': {
        'type': 'object', 'required': ['loc', 'msg', 'type'],
        'properties': {
            'loc': {'type': 'array', 'items': {'anyOf': [{'type': 'string'},
                                                          {'type': 'integer'}]}},
            'msg': {'type': 'string'}, 'type': {'type': 'string'}}}}}}

# A payment as seed 001 shows it.
PAYMENT = {
    'id': 'pay_1', 'amount': 123, 'status': 'CANCELED', 'paymentMedium': 'card',
    'createdDate': '2023-11-07T05:31:56Z', 'feeToPatient': 123, 'patientId': 'pat_1',
    'payinId': 'pi_1', 'currency': 'USD', 'payinConfigId': 'pc_1', 'paymentMethodId': 'pm_1',
    'stripePaymentIntentId': 'spi_1', 'failedReason': None,
    'updatedDate': '2023-11-07T05:31:56Z', 'fee': 0}


def seed003_create(client, **fields):
    body = {'url': 'https://example.com/decoda', 'subscriptions': ['PATIENT_CREATED']}
    body.update(fields)
    r = client.post('/v1/webhook/create', json=body)
    assert r.status_code == 200, r.text
    return r.json()


def create_event(client, type_='PATIENT_CREATED', data=None, **extra):
    body = {'type': type_, 'data': PAYMENT if data is None else data}
    body.update(extra)
    r = client.post('/v1/events', json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_seed003_webhook_create(client, sql):
    subs = ['PATIENT_CREATED', 'PAYMENT_FAILED', 'CALL_RECIEVED', 'MAIL_DELIVERY_FAILED']
    r = client.post('/v1/webhook/create', json={
        'url': 'https://example.com/decoda', 'subscriptions': subs,
        'notificationEmail': 'alerts@example.com'})
    assert r.status_code == 200, r.text
    assert r.headers['content-type'].startswith('application/json')
    w = r.json()
    seed_fields = {'createdDate', 'id', 'notificationEmail', 'secret', 'subscriptions',
                   'updatedDate', 'url'}
    assert seed_fields <= set(w), seed_fields - set(w)
    assert isinstance(w['id'], str) and w['id'].startswith('wh_')
    assert w['url'] == 'https://example.com/decoda'
    assert w['subscriptions'] == subs
    assert w['notificationEmail'] == 'alerts@example.com'
    assert isinstance(w['secret'], str) and w['secret'].startswith('whsec_')
    assert TS_RE.match(w['createdDate']) and TS_RE.match(w['updatedDate'])

    # notificationEmail is optional and nullable.
    n = seed003_create(client, notificationEmail=None)
    assert n['notificationEmail'] is None
    assert seed003_create(client)['notificationEmail'] is None

    # It is the same webhook the native routes see, and events fan out to it.
    assert client.get('/v1/webhooks/' + w['id']).json()['secret'] == w['secret']
    ev = create_event(client, 'PAYMENT_FAILED')
    assert [d['webhookId'] for d in ev['deliveries']] == [w['id']]
    assert sql('select count(*) from webhooks') == [(3,)]

    # Its validation errors have seed 004's 422 shape.
    for body, loc in [({'subscriptions': ['PATIENT_CREATED']}, ['body', 'url']),
                      ({'url': 'https://example.com'}, ['body', 'subscriptions']),
                      ({'url': 'mailto:x@example.com', 'subscriptions': ['PATIENT_CREATED']},
                       ['body', 'url']),
                      ({'url': 'https://example.com', 'subscriptions': ['PATIENT CREATED']},
                       ['body', 'subscriptions', 0]),
                      ({'url': 'https://example.com', 'subscriptions': ['PATIENT_CREATED'],
                        'notificationEmail': 'nope'}, ['body', 'notificationEmail'])]:
        r = client.post('/v1/webhook/create', json=body)
        assert r.status_code == 422, (body, r.text)
        jsonschema.validate(r.json(), SEED004_VALIDATION_ERROR)
        assert loc in [d['loc'] for d in r.json()['detail']], (body, r.json())
    assert sql('select count(*) from webhooks') == [(3,)]


def test_seed002_record_attempt(client, client_factory, tenant, sql):
    w = seed003_create(client, description='Decoda endpoint')
    plain = seed003_create(client, url='https://example.org/plain',
                           subscriptions=['PATIENT_CREATED'])
    ev = create_event(client, sourceKey='patient-7')
    did = [d['id'] for d in ev['deliveries'] if d['webhookId'] == w['id']][0]

    bearer = client_factory(tenant, bearer=True)
    # The seed's own example body, with its required status.
    r = bearer.post('/v1/outbound-webhook-deliveries/%s/attempts' % did, json={
        'status': 'retry_scheduled', 'responseStatusCode': 349, 'responseBody': {},
        'lastError': '<string>', 'nextRetryAt': '2023-11-07T05:31:56Z'})
    assert r.status_code == 200, r.text
    e = r.json()
    assert SEED002_EVENT_FIELDS <= set(e), SEED002_EVENT_FIELDS - set(e)
    assert e['id'] == ev['id']
    assert e['organizationId'] == tenant.id
    assert e['eventType'] == 'PATIENT_CREATED'
    assert e['sourceKey'] == 'patient-7'
    assert e['status'] == 'pending'
    assert e['endpointCount'] == 2 and isinstance(e['endpointCount'], int)
    assert e['payload'] == PAYMENT
    assert TS_RE.match(e['createdAt']) and TS_RE.match(e['updatedAt'])
    assert isinstance(e['deliveries'], list) and len(e['deliveries']) == 2
    for d in e['deliveries']:
        assert SEED002_DELIVERY_FIELDS <= set(d), SEED002_DELIVERY_FIELDS - set(d)
        assert d['organizationId'] == tenant.id
        assert TS_RE.match(d['createdAt']) and TS_RE.match(d['updatedAt'])
    d = [x for x in e['deliveries'] if x['id'] == did][0]
    assert (d['endpointId'], d['endpointName'], d['endpointUrl']) == (
        w['id'], 'Decoda endpoint', w['url'])
    assert (d['attemptCount'], d['responseStatusCode'], d['lastError'], d['nextRetryAt'],
            d['deliveredAt']) == (1, 349, '<string>', '2023-11-07T05:31:56.000Z', None)
    assert TS_RE.match(d['attemptedAt'])
    other = [x for x in e['deliveries'] if x['id'] != did][0]
    # Without a description, the endpoint's name is its URL.
    assert (other['endpointId'], other['endpointName'], other['endpointUrl'],
            other['attemptCount'], other['attemptedAt']) == (
        plain['id'], plain['url'], plain['url'], 0, None)
    assert sql("select trigger, response_status_code, error, response_body from attempts"
               " where delivery_id = %s", (did,)) == [('external', 349, '<string>', '{}')]

    # Delivered: every other field moves with it.
    r = bearer.post('/v1/outbound-webhook-deliveries/%s/attempts' % did, json={
        'status': 'delivered', 'responseStatusCode': 200, 'responseBody': {'ok': True},
        'lastError': None, 'nextRetryAt': None})
    assert r.status_code == 200, r.text
    d = [x for x in r.json()['deliveries'] if x['id'] == did][0]
    assert (d['attemptCount'], d['responseStatusCode'], d['lastError'], d['nextRetryAt']) == (
        2, 200, None, None)
    assert TS_RE.match(d['deliveredAt'])

    r = bearer.post('/v1/outbound-webhook-deliveries/%s/attempts' % did, json={
        'status': 'delivered', 'responseStatusCode': 600})
    assert r.status_code == 422
    jsonschema.validate(r.json(), SEED004_VALIDATION_ERROR)
    assert r.json()['detail'][0]['loc'] == ['body', 'responseStatusCode']
    r = bearer.post('/v1/outbound-webhook-deliveries/dlv_0000000000000000000000000000/attempts',
                    json={'status': 'delivered'})
    assert r.status_code == 404


def test_seed004_replay(client, client_factory, tenant, tenant_factory, sql):
    w = seed003_create(client)
    ev = create_event(client, eventGroup='patients')
    orig = ev['deliveries'][0]['id']
    client.post('/v1/deliveries/%s/attempts' % orig,
                json={'status': 'failed', 'responseStatusCode': 500, 'lastError': 'HTTP 500'})

    bearer = client_factory(tenant, bearer=True)
    r = bearer.post('/v1/webhooks/deliveries/%s/replay' % orig)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == SEED004_FIELDS
    assert isinstance(body['id'], str) and body['id'] not in ('', orig)
    assert body['endpoint_id'] == w['id']
    assert type(body['user_id']) is int and body['user_id'] == tenant.user_id
    assert body['event_id'] == ev['id']
    assert body['event_type'] == 'PATIENT_CREATED'
    assert body['event_group'] == 'patients'
    assert body['status'] == 'pending'
    assert type(body['scheduled_attempt']) is int and body['scheduled_attempt'] == 1
    assert body['next_retry_at'] is None or TS_RE.match(body['next_retry_at'])
    assert (body['last_attempt_at'], body['delivered_at'], body['final_http_status'],
            body['error_message']) == (None, None, None, None)
    assert body['replay_of_delivery_id'] == orig
    assert TS_RE.match(body['created_at']) and TS_RE.match(body['updated_at'])
    assert sql('select replay_of_delivery_id, status from deliveries where id = %s',
               (body['id'],)) == [(orig, 'pending')]

    # Each tenant has its own stable integer.
    other = tenant_factory('other')
    assert other.user_id != tenant.user_id
    oc = client_factory(other, bearer=True)
    seed003_create(oc)
    od = create_event(oc)['deliveries'][0]['id']
    r = oc.post('/v1/webhooks/deliveries/%s/replay' % od)
    assert r.status_code == 200, r.text
    assert r.json()['user_id'] == other.user_id
    assert r.json()['event_group'] is None

    r = bearer.post('/v1/webhooks/deliveries/dlv_0000000000000000000000000000/replay')
    assert r.status_code == 404, r.text
    assert r.json()['error']['code'] == 'not_found'
    # The 422 shape the seed documents, from a bad body on another route.
    r = bearer.post('/v1/events', json={'type': 'PATIENT_CREATED'})
    assert r.status_code == 422
    jsonschema.validate(r.json(), SEED004_VALIDATION_ERROR)
    assert r.json()['detail'] == [{'loc': ['body', 'data'], 'msg': r.json()['detail'][0]['msg'],
                                   'type': r.json()['detail'][0]['type']}]


@pytest.fixture
def receiver():
    rec = HttpReceiver(statuses=(200,))
    yield rec
    rec.close()


def test_seed001_send(client, tenant, sql, receiver):
    w = seed003_create(client, url=receiver.url, notificationEmail='owner@example.com')
    ev = create_event(client, data=PAYMENT)
    did = ev['deliveries'][0]['id']

    r = client.get('/webhook/decoda/events/%s/send' % did, params={'notify_failure': 'true'})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == SEED001_FIELDS
    assert body['id'] == did
    assert body['type'] == 'PATIENT_CREATED'
    assert body['data'] == PAYMENT
    assert body['alertId'] == ev['id']
    assert TS_RE.match(body['createdDate'])
    assert TS_RE.match(body['deliveredDate'])
    assert TS_RE.match(body['lastDeliveryAttemptDate'])
    assert body['lastDeliveryAttemptStatus'] == 200
    assert body['lastDeliveryAttemptError'] is None

    # The receiver got the payload, signed, exactly once.
    got = receiver.received()
    assert len(got) == 1
    rec = got[0]
    assert json.loads(rec.body) == PAYMENT
    assert rec.body == sql('select payload::text from events where id = %s',
                           (ev['id'],))[0][0].encode()
    assert rec.headers['webhook-id'] == ev['id']
    assert rec.headers['content-type'].startswith('application/json')
    assert rec.headers['user-agent'].startswith('pghook/')
    assert re.fullmatch(r'\d{10}', rec.headers['webhook-timestamp'])
    assert verify_signature(w['secret'], rec)

    assert sql('select status, attempt_count, response_status_code from deliveries'
               ' where id = %s', (did,)) == [('delivered', 1, 200)]
    assert sql('select trigger, attempt_number, response_status_code from attempts'
               ' where delivery_id = %s', (did,)) == [('manual', 1, 200)]
    assert client.get('/v1/events/' + ev['id']).json()['status'] == 'delivered'
    assert sql('select count(*) from notifications') == [(0,)]

    # A failing receiver: the attempt is recorded and, when asked, the owner is told.
    receiver.statuses = [500]
    r = client.get('/webhook/decoda/events/%s/send' % did, params={'notify_failure': 'false'})
    assert r.status_code == 200, r.text
    assert r.json()['lastDeliveryAttemptStatus'] == 500
    assert isinstance(r.json()['lastDeliveryAttemptError'], str)
    assert sql('select count(*) from notifications') == [(0,)]
    r = client.get('/webhook/decoda/events/%s/send' % did)
    assert r.status_code == 200, r.text
    assert r.json()['lastDeliveryAttemptStatus'] == 500
    assert sql('select kind, to_email, delivery_id from notifications') == [
        ('delivery_failed', 'owner@example.com', did)]
    assert receiver.count() == 3
    assert sql('select count(*) from attempts where delivery_id = %s', (did,)) == [(3,)]

    r = client.get('/webhook/decoda/events/%s/send' % did, params={'notify_failure': 'maybe'})
    assert r.status_code == 422
    assert r.json()['detail'][0]['loc'] == ['query', 'notify_failure']
    r = client.get('/webhook/decoda/events/dlv_0000000000000000000000000000/send')
    assert r.status_code == 404
    assert receiver.count() == 3
