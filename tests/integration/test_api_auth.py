# SPDX-License-Identifier: MIT
"""Authentication and tenancy: the two header styles, every way to be refused, the admin CLI
and admin routes, keys stored only as hashes, and one tenant never seeing another's objects."""
import hashlib
import os
import re
import subprocess

import requests

import harness

ADMIN_KEY = 'adm-' + 'k' * 40
MISSING_TENANT = 'ten_0000000000000000000000000000'


def unauthorized(r):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers['content-type'].startswith('application/json')
    assert r.json()['error']['code'] == 'unauthorized'
    return r.json()


def test_missing_and_wrong_credentials(api, tenant, tenant_factory):
    url = api.url + '/v1/webhooks'
    other = tenant_factory('other')
    body_no_headers = unauthorized(requests.get(url))
    unauthorized(requests.get(url, headers={'TENANT': tenant.id}))
    unauthorized(requests.get(url, headers={'API-KEY': tenant.key}))
    unauthorized(requests.get(url, headers={'TENANT': tenant.id, 'API-KEY': tenant.key + 'x'}))
    unauthorized(requests.get(url, headers={'TENANT': tenant.id, 'API-KEY': ''}))
    unauthorized(requests.get(url, headers={'TENANT': tenant.id, 'API-KEY': 'k' * 5000}))
    unauthorized(requests.get(url, headers={'x-organization-id': tenant.id}))
    unauthorized(requests.get(url, headers={'x-organization-id': tenant.id,
                                            'Authorization': 'Basic ' + tenant.key}))
    unauthorized(requests.get(url, headers={'x-organization-id': tenant.id,
                                            'Authorization': 'Bearer '}))
    unauthorized(requests.get(url, headers={'x-organization-id': tenant.id,
                                            'Authorization': 'Bearer wrong'}))
    # A valid key with another tenant's id, and with an unknown tenant, look exactly alike.
    with_other = unauthorized(requests.get(url, headers={'TENANT': other.id,
                                                         'API-KEY': tenant.key}))
    unknown = unauthorized(requests.get(url, headers={'TENANT': MISSING_TENANT,
                                                      'API-KEY': tenant.key}))
    assert with_other == unknown == body_no_headers
    unauthorized(requests.get(url, headers={'x-organization-id': other.id,
                                            'Authorization': 'Bearer ' + tenant.key}))
    # Refused before anything is read or written.
    unauthorized(requests.post(url, json={'url': 'https://example.com', 'subscriptions': ['*']},
                               headers={'TENANT': other.id, 'API-KEY': tenant.key}))
    unauthorized(requests.get(api.url + '/v1/events/evt_0000000000000000000000000000'))
    unauthorized(requests.post(api.url + '/v1/outbound-webhook-deliveries/x/attempts', json={}))
    unauthorized(requests.post(api.url + '/v1/webhooks/deliveries/x/replay'))


def test_both_header_styles(api, tenant):
    r = requests.post(api.url + '/v1/webhooks', headers=tenant.headers,
                      json={'url': 'https://example.com/a', 'subscriptions': ['*']})
    assert r.status_code == 201, r.text
    hook = r.json()['id']
    r = requests.get(api.url + '/v1/webhooks/' + hook, headers=tenant.bearer_headers)
    assert r.status_code == 200, r.text
    # Header names are case-insensitive, and so is the Bearer scheme.
    r = requests.get(api.url + '/v1/webhooks/' + hook,
                     headers={'tenant': tenant.id, 'api-key': tenant.key})
    assert r.status_code == 200, r.text
    r = requests.get(api.url + '/v1/webhooks/' + hook,
                     headers={'X-Organization-Id': tenant.id,
                              'authorization': 'bearer ' + tenant.key})
    assert r.status_code == 200, r.text


def test_revoked_key(api, tenant, dsn, sql):
    # A key revoked before it was ever used is refused at once.
    fresh = harness.run_cli(dsn, 'key', 'create', tenant.id)
    sql('update api_keys set revoked_at = now() where id = %s', (fresh['keyId'],))
    unauthorized(requests.get(api.url + '/v1/webhooks',
                              headers={'TENANT': tenant.id, 'API-KEY': fresh['apiKey']}))
    # A key in use is refused once each loop's cache of verified keys (10 s) has expired: the
    # wait allows thrice that, room for a loaded machine.
    assert requests.get(api.url + '/v1/webhooks', headers=tenant.headers).status_code == 200
    sql('update api_keys set revoked_at = now() where tenant_id = %s', (tenant.id,))
    harness.wait_for(
        lambda: all(requests.get(api.url + '/v1/webhooks', headers=tenant.headers).status_code
                    == 401 for _ in range(8)),
        timeout=30, interval=0.5, what='a revoked key refused on every loop')


def test_cli_tenant_and_key_create(api, dsn, sql):
    first = harness.run_cli(dsn, 'tenant', 'create', 'first')
    second = harness.run_cli(dsn, 'tenant', 'create', 'second')
    for t in (first, second):
        assert set(t) == {'tenantId', 'userId', 'apiKey'}
        assert re.fullmatch(r'ten_[0-9a-f]{28}', t['tenantId'])
        assert isinstance(t['userId'], int) and not isinstance(t['userId'], bool)
        assert isinstance(t['apiKey'], str) and len(t['apiKey']) >= 32
    assert first['tenantId'] != second['tenantId']
    assert second['userId'] > first['userId']
    assert sql('select name, user_id from tenants where id = %s', (first['tenantId'],)) == [
        ('first', first['userId'])]

    key = harness.run_cli(dsn, 'key', 'create', first['tenantId'])
    assert set(key) == {'tenantId', 'keyId', 'apiKey'}
    assert key['tenantId'] == first['tenantId']
    assert re.fullmatch(r'key_[0-9a-f]{28}', key['keyId'])
    assert key['apiKey'] != first['apiKey']
    assert sql('select tenant_id from api_keys where id = %s', (key['keyId'],)) == [
        (first['tenantId'],)]
    # Both keys of the tenant work, in both header styles; neither works for the other tenant.
    for k in (first['apiKey'], key['apiKey']):
        assert requests.get(api.url + '/v1/webhooks', headers={
            'TENANT': first['tenantId'], 'API-KEY': k}).status_code == 200
        assert requests.get(api.url + '/v1/events', headers={
            'x-organization-id': first['tenantId'], 'Authorization': 'Bearer ' + k}
        ).status_code == 200
        unauthorized(requests.get(api.url + '/v1/webhooks', headers={
            'TENANT': second['tenantId'], 'API-KEY': k}))

    # An unknown tenant: an error, no key.
    out = subprocess.run([harness.API_BIN, 'key', 'create', MISSING_TENANT],
                         env=dict(os.environ, DATABASE_URL=dsn), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert out.stdout.strip() == ''
    assert sql('select count(*) from api_keys where tenant_id = %s', (MISSING_TENANT,)) == [(0,)]


def test_keys_are_stored_hashed(api, dsn, sql, tenant, tenant_factory):
    other = tenant_factory('other')
    extra = harness.run_cli(dsn, 'key', 'create', tenant.id)['apiKey']
    plain = [tenant.key, other.key, extra]
    rows = sql('select id, tenant_id, key_hash from api_keys')
    assert len(rows) == 3
    hashes = {r[2] for r in rows}
    assert hashes == {hashlib.sha256(k.encode()).hexdigest() for k in plain}
    dump = repr(sql('select * from api_keys')) + repr(sql('select * from tenants'))
    for k in plain:
        assert k not in dump


def test_admin_routes_off_without_admin_key(api):
    for path in ('/admin/v1/tenants', '/admin/v1/tenants/%s/keys' % MISSING_TENANT):
        r = requests.post(api.url + path, json={'name': 'x'},
                          headers={'Authorization': 'Bearer ' + ADMIN_KEY})
        assert r.status_code == 404, r.text
        assert r.json()['error']['code'] == 'not_found'


def test_admin_routes(api_factory, sql):
    api = api_factory(PGHOOK_ADMIN_KEY=ADMIN_KEY)
    admin = {'Authorization': 'Bearer ' + ADMIN_KEY}
    url = api.url + '/admin/v1/tenants'

    unauthorized(requests.post(url, json={'name': 'x'}))
    unauthorized(requests.post(url, json={'name': 'x'},
                               headers={'Authorization': 'Bearer ' + ADMIN_KEY + 'x'}))
    unauthorized(requests.post(url, json={'name': 'x'},
                               headers={'Authorization': 'Bearer ' + ADMIN_KEY[:-1]}))
    unauthorized(requests.post(url, json={'name': 'x'}, headers={'API-KEY': ADMIN_KEY}))
    assert sql('select count(*) from tenants') == [(0,)]

    r = requests.post(url, json={'name': 'made over http'}, headers=admin)
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == {'tenantId', 'userId', 'apiKey'}
    assert re.fullmatch(r'ten_[0-9a-f]{28}', t['tenantId'])
    assert isinstance(t['userId'], int)
    assert sql('select name, user_id from tenants where id = %s', (t['tenantId'],)) == [
        ('made over http', t['userId'])]
    # Usable at once.
    r = requests.post(api.url + '/v1/webhooks', headers={'TENANT': t['tenantId'],
                                                         'API-KEY': t['apiKey']},
                      json={'url': 'https://example.com', 'subscriptions': ['*']})
    assert r.status_code == 201, r.text
    # The admin key is not a tenant key, and a tenant key is not the admin key.
    unauthorized(requests.get(api.url + '/v1/webhooks', headers={'TENANT': t['tenantId'],
                                                                'API-KEY': ADMIN_KEY}))
    unauthorized(requests.post(url, json={'name': 'y'},
                               headers={'Authorization': 'Bearer ' + t['apiKey']}))

    for bad in ({}, {'name': ''}, {'name': 5}, {'name': 'n' * 201}):
        r = requests.post(url, json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()['detail'][0]['loc'] == ['body', 'name']

    r = requests.post(url + '/%s/keys' % t['tenantId'], headers=admin)
    assert r.status_code == 201, r.text
    k = r.json()
    assert set(k) == {'tenantId', 'keyId', 'apiKey'}
    assert k['tenantId'] == t['tenantId'] and re.fullmatch(r'key_[0-9a-f]{28}', k['keyId'])
    assert requests.get(api.url + '/v1/events', headers={
        'x-organization-id': t['tenantId'], 'Authorization': 'Bearer ' + k['apiKey']}
    ).status_code == 200
    unauthorized(requests.post(url + '/%s/keys' % t['tenantId']))

    r = requests.post(url + '/%s/keys' % MISSING_TENANT, headers=admin)
    assert r.status_code == 404, r.text
    assert r.json()['error']['code'] == 'not_found'
    assert sql('select count(*) from tenants') == [(1,)]
    assert sql('select count(*) from api_keys') == [(2,)]


def test_tenant_isolation(client, tenant, tenant_factory, client_factory, sql):
    a = client
    b_tenant = tenant_factory('intruder')
    b = client_factory(b_tenant)
    b_bearer = client_factory(b_tenant, bearer=True)

    hook = a.post('/v1/webhooks', json={'url': 'https://example.com/a',
                                        'subscriptions': ['*']}).json()
    ev = a.post('/v1/events', json={'type': 'secret.thing', 'data': {'ssn': '000'},
                                    'sourceKey': 'k1'}).json()
    dlv = ev['deliveries'][0]['id']
    r = a.post('/v1/deliveries/%s/attempts' % dlv, json={'status': 'failed', 'lastError': 'x'})
    assert r.status_code == 200, r.text
    before = sql('select * from deliveries order by id') + sql('select * from webhooks')

    wid = hook['id']
    refused = [
        ('GET', '/v1/webhooks/' + wid, None),
        ('PATCH', '/v1/webhooks/' + wid, {'url': 'https://evil.example/'}),
        ('DELETE', '/v1/webhooks/' + wid, None),
        ('POST', '/v1/webhooks/%s/rotate-secret' % wid, None),
        ('POST', '/v1/webhooks/%s/enable' % wid, None),
        ('POST', '/v1/webhooks/%s/disable' % wid, None),
        ('POST', '/v1/webhooks/%s/recover?since=2000-01-01T00:00:00Z' % wid, None),
        ('GET', '/v1/events/' + ev['id'], None),
        ('GET', '/v1/deliveries/' + dlv, None),
        ('GET', '/v1/deliveries/%s/attempts' % dlv, None),
        ('POST', '/v1/deliveries/%s/attempts' % dlv, {'status': 'delivered'}),
        ('POST', '/v1/outbound-webhook-deliveries/%s/attempts' % dlv, {'status': 'delivered'}),
        ('POST', '/v1/deliveries/%s/replay' % dlv, None),
        ('POST', '/v1/webhooks/deliveries/%s/replay' % dlv, None),
        ('POST', '/v1/deliveries/%s/send' % dlv, None),
        ('GET', '/webhook/decoda/events/%s/send' % dlv, None),
    ]
    for c in (b, b_bearer):
        for method, path, body in refused:
            r = c.request(method, path, json=body) if body is not None else c.request(method, path)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.json()['error']['code'] == 'not_found', (method, path, r.text)

    # B's lists never show A's objects, even when filtered by their ids.
    for path in ('/v1/webhooks', '/v1/events', '/v1/deliveries',
                 '/v1/deliveries?webhookId=' + wid, '/v1/deliveries?eventId=' + ev['id'],
                 '/v1/events?type=secret.thing'):
        r = b.get(path)
        assert r.status_code == 200, r.text
        assert r.json() == {'data': [], 'nextCursor': None}, path

    # B's events do not fan out to A's "*" webhook, and B's sourceKey space is its own.
    r = b.post('/v1/events', json={'type': 'secret.thing', 'data': {}, 'sourceKey': 'k1'})
    assert r.status_code == 201, r.text
    assert (r.json()['endpointCount'], r.json()['deliveries']) == (0, [])
    assert r.json()['id'] != ev['id']

    # Nothing of A's changed.
    assert sql('select * from deliveries order by id') + sql('select * from webhooks') == before
    assert a.get('/v1/webhooks/' + wid).json() == hook
    assert [x['id'] for x in a.get('/v1/events').json()['data']] == [ev['id']]
