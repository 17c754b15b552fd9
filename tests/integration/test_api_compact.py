# SPDX-License-Identifier: MIT
"""Every JSON answer is compact: no whitespace between tokens, whether json-c, the api's own
renderer (single-event ingest) or PostgreSQL (json_build_object writes {"id" : "wh_1", ...})
wrote it. Only the layout changes: strings keep their spaces, a payload its bytes and its
key order, an answer its keys' order."""
import json

import pytest

from conftest import Client
from jsontext import blanks_outside_strings
from receivers import HttpReceiver

ADMIN_KEY = 'adm-' + 'c' * 40
# A payload whose strings hold what compaction must leave alone.
PAYLOAD_TEXT = '{"z":1,"a":{"y":" x : y , ","b":[1,2.5,null]},"t":"tab\\there"}'


def compact(r, status):
    """r's body, checked: the status, a JSON content type, nothing between the tokens."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers['content-type'].startswith('application/json'), r.headers
    assert blanks_outside_strings(r.text) == [], r.text[:500]
    return r.json()


@pytest.fixture
def receiver():
    rec = HttpReceiver()
    yield rec
    rec.close()


@pytest.fixture
def started(api_factory, tenant, receiver):
    api = api_factory(PGHOOK_ADMIN_KEY=ADMIN_KEY)
    client = Client(api, tenant)
    hook = compact(client.post('/v1/webhooks', json={
        'url': receiver.url, 'subscriptions': ['*'], 'description': 'a : b, c',
        'metadata': {'team': 'x y', 'n': [1, 2]}}), 201)
    raw = ('{"type": "t.one", "data": %s, "sourceKey": "k 1"}' % PAYLOAD_TEXT).encode()
    r = client.post('/v1/events', data=raw, headers={'content-type': 'application/json'})
    event = compact(r, 201)
    return api, client, hook, event, raw


def payload_text(answer_text):
    """The payload's text as it stands in an event answer."""
    start = answer_text.index('"payload":') + len('"payload":')
    return answer_text[start:start + len(PAYLOAD_TEXT)]


def test_webhook_answers(started):
    api, client, hook, _, _ = started
    assert hook['description'] == 'a : b, c'
    assert hook['metadata'] == {'team': 'x y', 'n': [1, 2]}
    wid = hook['id']
    assert compact(client.get('/v1/webhooks/' + wid), 200) == hook
    compact(client.get('/v1/webhooks'), 200)
    compact(client.patch('/v1/webhooks/' + wid, json={'description': 'd e'}), 200)
    compact(client.post('/v1/webhooks/%s/rotate-secret' % wid), 200)
    compact(client.post('/v1/webhooks/%s/disable' % wid), 200)
    compact(client.post('/v1/webhooks/%s/enable' % wid), 200)
    compact(client.post('/v1/webhooks/%s/recover' % wid,
                        params={'since': '2020-01-01T00:00:00Z'}), 202)
    compact(client.post('/v1/webhook/create', json={
        'url': 'https://example.com/d', 'subscriptions': ['A_B']}), 200)


def test_event_answers_keep_the_payload_as_stored(started):
    api, client, _, event, raw = started
    created = client.get('/v1/events/' + event['id'])
    compact(created, 200)
    assert payload_text(created.text) == PAYLOAD_TEXT
    repeat = client.post('/v1/events', data=raw, headers={'content-type': 'application/json'})
    compact(repeat, 200)
    assert repeat.text == created.text
    listed = client.get('/v1/events')
    assert compact(listed, 200)['data'][0]['id'] == event['id']
    assert json.loads(listed.text, object_pairs_hook=list)[0][1][0] == json.loads(
        created.text, object_pairs_hook=list)
    batch = client.post('/v1/events/batch', json={'events': [
        {'type': 'u', 'data': {'k': 'v w'}}, {'type': 'v', 'data': {}}]})
    assert [e['payload'] for e in compact(batch, 201)['data']] == [{'k': 'v w'}, {}]


def test_delivery_answers(started, tenant, receiver):
    api, client, _, event, _ = started
    did = event['deliveries'][0]['id']
    compact(client.get('/v1/deliveries'), 200)
    compact(client.get('/v1/deliveries/' + did), 200)
    body = {'status': 'failed', 'responseStatusCode': 500, 'lastError': 'HTTP 500 : no',
            'responseBody': {'a b': 'c d'}}
    assert compact(client.post('/v1/deliveries/%s/attempts' % did, json=body), 200)['id'] == \
        event['id']
    bearer = Client(api, tenant, bearer=True)
    compact(bearer.post('/v1/outbound-webhook-deliveries/%s/attempts' % did, json=body), 200)
    attempts = compact(client.get('/v1/deliveries/%s/attempts' % did), 200)['data']
    assert [a['error'] for a in attempts] == ['HTTP 500 : no', 'HTTP 500 : no']
    compact(client.post('/v1/deliveries/%s/replay' % did), 201)
    compact(bearer.post('/v1/webhooks/deliveries/%s/replay' % did), 200)
    compact(client.post('/v1/deliveries/%s/send' % did), 200)
    sent = compact(client.get('/webhook/decoda/events/%s/send' % did), 200)
    assert sent['data'] == json.loads(PAYLOAD_TEXT)
    assert receiver.count() == 2


def test_error_admin_and_operations_answers(started):
    api, client, _, _, _ = started
    compact(client.get('/v1/webhooks/wh_missing'), 404)
    compact(client.post('/v1/events', json={'type': 'a b'}), 422)
    compact(client.get('/v1/events', params={'limit': '0'}), 422)
    compact(client.request('PUT', '/v1/events'), 405)
    admin = {'Authorization': 'Bearer ' + ADMIN_KEY}
    created = compact(client.post('/admin/v1/tenants', json={'name': 'B : C'}, headers=admin),
                      201)
    compact(client.post('/admin/v1/tenants/%s/keys' % created['tenantId'], headers=admin), 201)
    compact(client.get('/healthz'), 200)
    compact(client.get('/readyz'), 200)
