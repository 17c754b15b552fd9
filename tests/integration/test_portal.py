# SPDX-License-Identifier: MIT
"""Portal sessions (console links): created with an API key only, a token that names its
tenant and alone authorises the routes the console uses, read-only links that only read,
expiry, revocation, tampering, no way to reach key-only routes, and one tenant's link never
seeing another's objects. The console's files and their headers are here too."""
import hashlib
import re

import requests

from conftest import Client

TOKEN = re.compile(r'^phs_(ten_[0-9a-f]{28})\.[A-Za-z0-9_-]{43}$')


def portal(client, **body):
    r = client.post('/v1/portal-sessions', json=body)
    assert r.status_code == 201, r.text
    return r.json()


def as_link(api, token):
    s = requests.Session()
    s.headers['Authorization'] = 'Bearer ' + token
    base = api.url

    class Link:
        def get(self, path, **kw):
            return s.get(base + path, timeout=30, **kw)

        def post(self, path, **kw):
            return s.post(base + path, timeout=30, **kw)

        def patch(self, path, **kw):
            return s.patch(base + path, timeout=30, **kw)

        def delete(self, path, **kw):
            return s.delete(base + path, timeout=30, **kw)
    return Link()


def refused(r, status=401, words=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    if words:
        assert words in body['error']['message'], body
    return body


def test_create_answers_a_link_and_stores_only_a_hash(api, client, tenant, sql):
    s = portal(client)
    assert set(s) >= {'id', 'url', 'token', 'expiresAt', 'readOnly'}
    assert s['id'].startswith('phs_') and s['readOnly'] is False
    m = TOKEN.match(s['token'])
    assert m and m.group(1) == tenant.id, s['token']
    # No PGHOOK_PUBLIC_URL: the link points at the host the request came to.
    assert s['url'] == api.url + '/console/#token=' + s['token']
    rows = sql('select token_hash, read_only, expires_at - created_at from portal_sessions')
    assert len(rows) == 1
    assert rows[0][0] == hashlib.sha256(s['token'].encode()).hexdigest()
    assert rows[0][2].total_seconds() == 3600
    assert s['token'] not in str(sql('select * from portal_sessions'))


def test_public_url_and_options(api_factory, tenant):
    api = api_factory(PGHOOK_PUBLIC_URL='https://hooks.example.com/')
    client = Client(api, tenant)
    s = portal(client, expiresIn='24h', readOnly=True)
    assert s['url'] == 'https://hooks.example.com/console/#token=' + s['token']
    assert s['readOnly'] is True
    for bad in ('25h', '0', 'soon', 3600, '30s', ''):
        r = client.post('/v1/portal-sessions', json={'expiresIn': bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()['detail'][0]['loc'] == ['body', 'expiresIn']
    r = client.post('/v1/portal-sessions', json={'readOnly': 'yes'})
    assert r.status_code == 422 and r.json()['detail'][0]['loc'] == ['body', 'readOnly']
    r = client.post('/v1/portal-sessions', data='[]')
    assert r.status_code == 422


def test_token_alone_authorises_the_console_routes(api, client, tenant):
    s = portal(client)
    link = as_link(api, s['token'])
    cur = link.get('/v1/portal-sessions/current')
    assert cur.status_code == 200, cur.text
    assert cur.json()['tenantId'] == tenant.id and cur.json()['readOnly'] is False
    assert cur.json()['tenantName'] == 'acme' and cur.json()['expiresAt'] == s['expiresAt']
    r = link.post('/v1/webhooks', json={'url': 'https://example.com/h', 'subscriptions': ['*']})
    assert r.status_code == 201, r.text
    hook = r.json()['id']
    assert link.patch('/v1/webhooks/' + hook, json={'description': 'x'}).status_code == 200
    assert link.post('/v1/webhooks/' + hook + '/disable').status_code == 200
    assert link.post('/v1/webhooks/' + hook + '/rotate-secret').status_code == 200
    assert [w['id'] for w in link.get('/v1/webhooks').json()['data']] == [hook]
    assert link.get('/v1/deliveries').status_code == 200
    assert link.get('/v1/events').status_code == 200
    assert link.get('/v1/stats/deliveries').status_code == 200
    assert link.delete('/v1/webhooks/' + hook).status_code == 204
    # An API key is not a portal session.
    refused(client.get('/v1/portal-sessions/current'), 404)


def test_key_only_routes_refuse_links(api, client):
    link = as_link(api, portal(client)['token'])
    # Ingest, records of attempts made elsewhere, the seeds' routes, links themselves, and the
    # event-type catalog (the application's contract: the console only reads it).
    for method, path, body in [
            ('post', '/v1/event-types', {'name': 'a.b'}),
            ('patch', '/v1/event-types/a.b', {'deprecated': True}),
            ('delete', '/v1/event-types/a.b', None),
            ('post', '/v1/events', {'type': 'a.b', 'data': {}}),
            ('post', '/v1/events/batch', {'events': []}),
            ('post', '/v1/portal-sessions', {}),
            ('delete', '/v1/portal-sessions/phs_00000000000000000000000000000000', None),
            ('post', '/v1/deliveries/dlv_x/attempts', {}),
            ('post', '/v1/webhook/create', {}),
            ('post', '/v1/webhooks/deliveries/x/replay', None),
            ('post', '/v1/outbound-webhook-deliveries/x/attempts', {}),
            ('get', '/webhook/decoda/events/x/send', None)]:
        r = getattr(link, method)(path, json=body)
        refused(r, 403, 'API key')
    assert link.get('/v1/event-types').status_code == 200
    # Admin routes take only the admin key.
    assert link.post('/admin/v1/tenants', json={'name': 'x'}).status_code in (401, 404)


def test_read_only_link_only_reads(api, client):
    hook = client.post('/v1/webhooks', json={'url': 'https://example.com/h',
                                             'subscriptions': ['*']}).json()['id']
    link = as_link(api, portal(client, readOnly=True)['token'])
    assert link.get('/v1/webhooks/' + hook).status_code == 200
    assert link.get('/v1/portal-sessions/current').json()['readOnly'] is True
    for r in [link.post('/v1/webhooks', json={'url': 'https://e.com', 'subscriptions': ['*']}),
              link.patch('/v1/webhooks/' + hook, json={'description': 'changed'}),
              link.delete('/v1/webhooks/' + hook),
              link.post('/v1/webhooks/' + hook + '/disable'),
              link.post('/v1/webhooks/' + hook + '/rotate-secret'),
              link.post('/v1/webhooks/' + hook + '/recover?since=2026-01-01T00:00:00Z'),
              link.post('/v1/deliveries/dlv_x/replay'),
              link.post('/v1/deliveries/dlv_x/send')]:
        refused(r, 403, 'read-only')
    got = client.get('/v1/webhooks/' + hook).json()
    assert got['status'] == 'active' and got['description'] is None


def test_expired_revoked_and_tampered_links(api, client, sql):
    s = portal(client)
    link = as_link(api, s['token'])
    assert link.get('/v1/webhooks').status_code == 200
    sql("update portal_sessions set expires_at = now() - interval '1 second' where id = %s",
        (s['id'],))
    refused(link.get('/v1/webhooks'), 401, 'expired')

    s = portal(client)
    link = as_link(api, s['token'])
    assert link.get('/v1/webhooks').status_code == 200
    assert client.delete('/v1/portal-sessions/' + s['id']).status_code == 204
    # Revoked at once: links are never cached.
    refused(link.get('/v1/webhooks'), 401, 'revoked')
    assert client.delete('/v1/portal-sessions/' + s['id']).status_code == 204
    refused(client.delete('/v1/portal-sessions/phs_0000000000000000000000000000'), 404)

    token = portal(client)['token']
    flipped = token[:-1] + ('A' if token[-1] != 'A' else 'B')
    for bad in (flipped, token + 'x', token[:-5], 'phs_', 'phs_x', 'phs_.abc',
                token.replace('.', '')):
        refused(as_link(api, bad).get('/v1/webhooks'), 401, 'not valid')
    assert as_link(api, token).get('/v1/webhooks').status_code == 200


def test_tenant_isolation(api, client, tenant_factory, client_factory):
    other = tenant_factory('other')
    theirs = client_factory(other).post('/v1/webhooks', json={
        'url': 'https://example.com/o', 'subscriptions': ['*']}).json()['id']
    s = portal(client)
    link = as_link(api, s['token'])
    assert link.get('/v1/webhooks').json()['data'] == []
    refused(link.get('/v1/webhooks/' + theirs), 404)
    refused(link.delete('/v1/webhooks/' + theirs), 404)
    # The token names its tenant: claiming another in the header, or swapping the tenant
    # inside the token, is refused.
    r = requests.get(api.url + '/v1/webhooks', headers={
        'x-organization-id': other.id, 'Authorization': 'Bearer ' + s['token']})
    refused(r, 401)
    swapped = s['token'].replace(client_tenant(s), other.id)
    refused(as_link(api, swapped).get('/v1/webhooks'), 401, 'not valid')
    # Another tenant cannot revoke this one's link.
    refused(client_factory(other).delete('/v1/portal-sessions/' + s['id']), 404)
    assert link.get('/v1/webhooks').status_code == 200


def client_tenant(session):
    return TOKEN.match(session['token']).group(1)


def test_console_files_and_headers(api):
    r = requests.get(api.url + '/console', allow_redirects=False)
    assert r.status_code == 301 and r.headers['location'] == '/console/'
    r = requests.get(api.url + '/console/')
    assert r.status_code == 200 and r.headers['content-type'] == 'text/html; charset=utf-8'
    csp = r.headers['content-security-policy']
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert 'unsafe-inline' not in csp
    assert r.headers['x-content-type-options'] == 'nosniff'
    assert r.headers['cache-control'] == 'no-cache'
    assert '<script' not in re.sub(r'<script type="module" src="[\w./]+"></script>', '', r.text)
    again = requests.get(api.url + '/console/', headers={'If-None-Match': r.headers['etag']})
    assert again.status_code == 304 and again.content == b''
    js = requests.get(api.url + '/console/app.js')
    assert js.status_code == 200
    assert js.headers['content-type'] == 'text/javascript; charset=utf-8'
    css = requests.get(api.url + '/console/app.css')
    assert css.headers['content-type'] == 'text/css; charset=utf-8'
    assert requests.get(api.url + '/console/nope.js').status_code == 404
    assert requests.get(api.url + '/console/../openapi.json').status_code in (200, 404)


def test_deliveries_filters_and_stats_for_the_console(api, client):
    """The console's reads: deliveries by event type and before a time, and the overview's
    counts per hour and per endpoint, failing endpoints first."""
    a = client.post('/v1/webhooks', json={'url': 'https://example.com/a', 'subscriptions': ['*'],
                                          'description': 'A'}).json()['id']
    b = client.post('/v1/webhooks', json={'url': 'https://example.com/b',
                                          'subscriptions': ['*']}).json()['id']
    ev1 = client.post('/v1/events', json={'type': 'order.created', 'data': {}}).json()
    ev2 = client.post('/v1/events', json={'type': 'order.paid', 'data': {}}).json()
    by_hook = {d['webhookId']: d['id'] for d in ev1['deliveries']}
    for hook, status in ((a, 'delivered'), (b, 'failed')):
        r = client.post('/v1/deliveries/%s/attempts' % by_hook[hook], json={
            'status': status, 'responseStatusCode': 200 if status == 'delivered' else 500})
        assert r.status_code == 200, r.text

    link = as_link(api, portal(client, readOnly=True)['token'])
    got = link.get('/v1/deliveries?eventType=order.created').json()['data']
    assert sorted(d['id'] for d in got) == sorted(by_hook.values())
    assert {d['eventType'] for d in got} == {'order.created'}
    assert len(link.get('/v1/deliveries?eventType=order.paid').json()['data']) == 2
    assert link.get('/v1/deliveries?eventType=nope').json()['data'] == []
    assert link.get('/v1/deliveries?until=2000-01-01T00:00:00Z').json()['data'] == []
    assert len(link.get('/v1/deliveries?until=2999-01-01T00:00:00Z').json()['data']) == 4
    r = link.get('/v1/deliveries?until=yesterday')
    assert r.status_code == 422 and r.json()['detail'][0]['loc'] == ['query', 'until']

    s = link.get('/v1/stats/deliveries').json()
    assert len(s['hours']) == 24
    assert sum(h['delivered'] for h in s['hours']) == 1
    assert sum(h['failed'] for h in s['hours']) == 1
    assert sum(h['pending'] for h in s['hours']) == 2
    assert s['hours'][-1]['delivered'] == 1 and s['hours'][-1]['failed'] == 1
    assert [e['webhookId'] for e in s['endpoints']] == [b, a]  # failing first
    assert s['endpoints'][0] == {'webhookId': b, 'url': 'https://example.com/b',
                                 'description': None, 'status': 'active', 'deleted': False,
                                 'delivered': 0, 'failed': 1, 'pending': 1}
    assert len(link.get('/v1/stats/deliveries?hours=168').json()['hours']) == 168
    for bad in ('0', '169', 'x', ''):
        assert link.get('/v1/stats/deliveries?hours=' + bad).status_code == 422, bad
    assert ev2['id']
