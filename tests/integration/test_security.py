# SPDX-License-Identifier: MIT
"""Issue 6, items 9 and 10: tenant isolation in the database (row-level security, services as
non-owner roles) and signing secrets encrypted at rest.

The api and the workers connect as the login roles of harness.SERVICE_ROLES; the `sql`
fixture and the admin CLI as the owner (a superuser here, so it reads everything)."""
import base64
import glob
import hashlib
import os
import subprocess

import psycopg
import pytest

import harness
import receivers
from conftest import Client

TENANT_TABLES = ['tenants', 'api_keys', 'webhooks', 'events', 'deliveries', 'attempts',
                 'notifications']


def new_secret():
    return 'whsec_' + base64.b64encode(os.urandom(24)).decode()


def new_key():
    return base64.b64encode(os.urandom(32)).decode()


def populate(client, url='https://example.com/hook'):
    """A webhook, an event fanned out to it, an external attempt on its delivery and the failure
    email that attempt queues: a row in every tenant table. Returns their ids."""
    wh = client.post('/v1/webhooks', json={'url': url, 'subscriptions': ['*'],
                                           'notificationEmail': 'ops@example.com'})
    assert wh.status_code == 201, wh.text
    ev = client.post('/v1/events', json={'type': 'order.created', 'data': {'n': 1}})
    assert ev.status_code == 201, ev.text
    dlv = ev.json()['deliveries'][0]['id']
    att = client.post('/v1/deliveries/%s/attempts' % dlv,
                      json={'status': 'failed', 'responseStatusCode': 500})
    assert att.status_code == 200, att.text
    return {'webhook': wh.json()['id'], 'event': ev.json()['id'], 'delivery': dlv}


def connect_as(dsn, service):
    return psycopg.connect(harness.service_dsn(dsn, service), autocommit=True)


def test_service_role_without_tenant_sees_nothing(api, dsn, sql, tenant, tenant_factory,
                                                  client_factory):
    other = tenant_factory('other')
    populate(client_factory(tenant))
    populate(client_factory(other))
    sql("insert into notifications (tenant_id, kind, to_email, subject, body) "
        "select id, 'delivery_failed', 'ops@example.com', 's', 'b' from tenants")
    for table in TENANT_TABLES:
        assert sql('select count(*) from %s' % table)[0][0] >= 2, table

    with connect_as(dsn, 'api') as conn:
        role = conn.execute('select current_user, rolsuper, rolbypassrls from pg_roles '
                            'where rolname = current_user').fetchone()
        assert role == ('pghook_app_api', False, False)
        # No tenant set: nothing, in every table, whatever the query asks for.
        for table in TENANT_TABLES:
            assert conn.execute('select count(*) from %s' % table).fetchone()[0] == 0, table
        # A tenant set for one transaction: that tenant's rows only, and only in it.
        with conn.transaction():
            conn.execute("select set_config('pghook.tenant_id', %s, true)", (tenant.id,))
            for table in TENANT_TABLES:
                col = 'id' if table == 'tenants' else 'tenant_id'
                ids = {r[0] for r in conn.execute('select %s from %s' % (col, table))}
                assert ids == {tenant.id}, table
            # Writing another tenant's rows is refused, reading them finds nothing.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute("insert into webhooks (id, tenant_id, url, subscriptions, "
                                 "secret) values ('wh_x', %s, 'https://x.example', '{*}', "
                                 "'whsec_x')", (other.id,))
            assert conn.execute('update webhooks set url = url where tenant_id = %s',
                                (other.id,)).rowcount == 0
        assert conn.execute('select count(*) from webhooks').fetchone()[0] == 0
        # No deletes for the api, and no way around the policies for it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute('delete from events')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute('set row_security = off; select count(*) from webhooks')

    with connect_as(dsn, 'worker') as conn:
        # The worker delivers for every tenant, on its tables only.
        assert conn.execute('select count(distinct tenant_id) from deliveries').fetchone()[0] == 2
        for table in ('tenants', 'api_keys'):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute('select count(*) from %s' % table)


def test_every_route_with_another_tenants_ids_is_404(api, tenant, tenant_factory,
                                                     client_factory, sql):
    owner = client_factory(tenant)
    ids = populate(owner)
    intruder = client_factory(tenant_factory('intruder'))
    populate(intruder)
    before = sql('select w.*, (select count(*) from deliveries), (select count(*) from attempts)'
                 ' from webhooks w where w.id = %s', (ids['webhook'],))
    wh, ev, dlv = ids['webhook'], ids['event'], ids['delivery']
    routes = [
        ('GET', '/v1/webhooks/%s' % wh, None),
        ('PATCH', '/v1/webhooks/%s' % wh, {'url': 'https://evil.example/'}),
        ('PATCH', '/v1/webhooks/%s' % wh, {'secret': new_secret()}),
        ('POST', '/v1/webhooks/%s/rotate-secret' % wh, None),
        ('POST', '/v1/webhooks/%s/enable' % wh, None),
        ('POST', '/v1/webhooks/%s/disable' % wh, None),
        ('POST', '/v1/webhooks/%s/recover?since=2000-01-01T00:00:00Z' % wh, None),
        ('DELETE', '/v1/webhooks/%s' % wh, None),
        ('GET', '/v1/events/%s' % ev, None),
        ('GET', '/v1/deliveries/%s' % dlv, None),
        ('GET', '/v1/deliveries/%s/attempts' % dlv, None),
        ('POST', '/v1/deliveries/%s/attempts' % dlv, {'status': 'delivered'}),
        ('POST', '/v1/outbound-webhook-deliveries/%s/attempts' % dlv, {'status': 'delivered'}),
        ('POST', '/v1/deliveries/%s/replay' % dlv, None),
        ('POST', '/v1/webhooks/deliveries/%s/replay' % dlv, None),
        ('POST', '/v1/deliveries/%s/send' % dlv, None),
        ('GET', '/webhook/decoda/events/%s/send' % dlv, None),
    ]
    for method, path, body in routes:
        r = intruder.request(method, path, json=body)
        assert r.status_code == 404, '%s %s -> %s %s' % (method, path, r.status_code, r.text)
        assert ids['webhook'] not in r.text and tenant.id not in r.text
    # Lists filtered by the other tenant's ids come back empty.
    for path in ('/v1/deliveries?webhookId=%s' % wh, '/v1/deliveries?eventId=%s' % ev):
        r = intruder.get(path)
        assert r.status_code == 200 and r.json()['data'] == [], r.text
    for path in ('/v1/webhooks', '/v1/events', '/v1/deliveries'):
        assert all(tenant.id not in str(x) and x['id'] not in ids.values()
                   for x in intruder.get(path).json()['data'])
    # Nothing of the owner's changed.
    after = sql('select w.*, (select count(*) from deliveries), (select count(*) from attempts)'
                ' from webhooks w where w.id = %s', (ids['webhook'],))
    assert after == before
    assert owner.get('/v1/webhooks/%s' % wh).status_code == 200


def test_signing_secrets_encrypted_at_rest(pg, dsn, sql, logdir, tenant, api_factory,
                                           worker_factory, receiver_factory):
    old_key, new_key_ = new_key(), new_key()
    rec = receiver_factory()
    url = lambda n: rec.url + '?w=%d' % n  # noqa: E731

    # A webhook written under the old key ...
    api_old = api_factory(PGHOOK_SECRET_KEY=old_key)
    s1 = new_secret()
    r = Client(api_old, tenant).post('/v1/webhooks', json={'url': url(1), 'subscriptions': ['*'],
                                                           'secret': s1})
    assert r.status_code == 201 and r.json()['secret'] == s1, r.text
    w1 = r.json()['id']
    api_old.proc.stop()

    # ... is read after a key rotation (new key first, the old one after it).
    keys = '%s,%s' % (new_key_, old_key)
    api = api_factory(PGHOOK_SECRET_KEY=keys)
    c = Client(api, tenant)
    assert c.get('/v1/webhooks/%s' % w1).json()['secret'] == s1
    w2 = c.post('/v1/webhook/create', json={'url': url(2), 'subscriptions': ['*']})
    assert w2.status_code == 200, w2.text
    w2, s2 = w2.json()['id'], w2.json()['secret']
    w3 = c.post('/v1/webhooks', json={'url': url(3), 'subscriptions': ['*']}).json()['id']
    s3 = new_secret()
    patched = c.patch('/v1/webhooks/%s' % w3, json={'secret': s3})
    assert patched.status_code == 200 and patched.json()['secret'] == s3, patched.text
    rotated = c.post('/v1/webhooks/%s/rotate-secret' % w1)
    assert rotated.status_code == 200, rotated.text
    s1b = rotated.json()['secret']
    assert s1b not in (s1, s2, s3)
    listed = {w['id']: w['secret'] for w in c.get('/v1/webhooks').json()['data']}
    assert listed == {w1: s1b, w2: s2, w3: s3}
    assert c.post('/v1/webhooks/%s/disable' % w3).json()['secret'] == s3
    assert c.post('/v1/webhooks/%s/enable' % w3).json()['secret'] == s3

    # Stored encrypted, under the key each was written with.
    kid = lambda k: hashlib.sha256(base64.b64decode(k)).hexdigest()[:8]  # noqa: E731
    stored = {r[0]: r[1:] for r in sql('select id, secret, previous_secret from webhooks')}
    assert stored[w1][0].startswith('enc:v1:%s:' % kid(new_key_))
    assert stored[w1][1].startswith('enc:v1:%s:' % kid(old_key))
    assert all(v[0].startswith('enc:v1:%s:' % kid(new_key_)) for k, v in stored.items()
               if k != w1)
    # Bound to its row: another webhook's ciphertext does not decrypt here.
    sql('update webhooks set secret = %s where id = %s', (stored[w3][0], w2))
    assert c.get('/v1/webhooks/%s' % w2).status_code == 500
    sql('update webhooks set secret = %s where id = %s', (stored[w2][0], w2))

    # Delivered through a worker, signed with the plaintext secrets.
    worker_factory(PGHOOK_SECRET_KEY=keys)
    ev = c.post('/v1/events', json={'type': 'order.created', 'data': {'n': 1}})
    assert ev.status_code == 201, ev.text
    harness.wait_for(lambda: rec.count() >= 3, timeout=20, what='three deliveries')
    got = {r.path.split('w=')[1]: r for r in rec.received()}
    assert receivers.verify_signature(s1b, got['1']) and receivers.verify_signature(s1, got['1'])
    assert receivers.verify_signature(s2, got['2'])
    assert receivers.verify_signature(s3, got['3'])
    harness.wait_for(lambda: sql("select count(*) from deliveries where status = 'delivered'")
                     [0][0] == 3, what='deliveries recorded')
    # And by the api's synchronous send.
    dlv = c.get('/v1/deliveries?webhookId=%s' % w2).json()['data'][0]['id']
    sent = c.post('/v1/deliveries/%s/send' % dlv)
    assert sent.status_code == 200, sent.text
    assert receivers.verify_signature(s2, rec.received()[-1])

    # Nothing secret in a dump of the database or in any log of the run.
    api.proc.stop()
    dump = subprocess.run([os.path.join(harness.pg_bindir(), 'pg_dump'), '-d', dsn],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    assert 'enc:v1:' in dump and tenant.id in dump
    logs = [open(p, encoding='utf-8', errors='replace').read()
            for p in glob.glob(os.path.join(logdir, '*.log'))]
    logs.append(open(os.path.join(pg.dir, 'log'), encoding='utf-8', errors='replace').read())
    assert len(logs) >= 4  # two apis, a worker, PostgreSQL
    needles = {'secret %d' % i: s for i, s in enumerate((s1, s1b, s2, s3))}
    needles.update({'secret %d base64' % i: s[len('whsec_'):]
                    for i, s in enumerate((s1, s1b, s2, s3))})
    needles.update({'api key': tenant.key, 'api key body': tenant.key[len('phk_'):],
                    'old encryption key': old_key, 'new encryption key': new_key_})
    for what, needle in needles.items():
        assert needle not in dump, '%s in the database dump' % what
        for text in logs:
            assert needle not in text, '%s in a log' % what
