# SPDX-License-Identifier: MIT
"""References without foreign keys (migration 19, docs/architecture.md): deliveries refer to
their event, webhook and replayed delivery, events to their tenant, with no foreign key. The
cascades are statement triggers (sql/functions/cascades.sql), and the writers lock what they
refer to once per statement, so a hard delete racing an ingest or a replay leaves no row
behind; reconcile.sql's dangling_ref finds one that would be."""
import threading

import psycopg

import faults
import harness


def ingest(conn, tenant_id, n=3):
    """pghook_ingest_rows as the api calls it, in conn's open transaction: the delivery ids."""
    conn.execute("select set_config('pghook.tenant_id', %s, true)", (tenant_id,))
    events = psycopg.types.json.Json([{'type': 'order.created', 'data': {'i': i}}
                                      for i in range(n)])
    rows = conn.execute('select delivery_id from pghook_ingest_rows(%s, %s)',
                        (tenant_id, events)).fetchall()
    return [r[0] for r in rows]


def webhook(sql, tenant_id, url='https://example.com/hook'):
    wid = sql("select pghook_new_id('wh')")[0][0]
    sql("insert into webhooks (id, tenant_id, url, subscriptions, secret) "
        "values (%s, %s, %s, '{*}', 'whsec_x')", (wid, tenant_id, url))
    return wid


def blocked_delete(dsn, statement, params):
    """Run a delete on its own connection in a thread; wait until it waits for a lock."""
    done = {}

    def run():
        with psycopg.connect(dsn, autocommit=True) as c:
            done['pid'] = c.info.backend_pid
            done['rows'] = c.execute(statement, params).rowcount
    t = threading.Thread(target=run)
    t.start()
    with psycopg.connect(dsn, autocommit=True) as c:
        harness.wait_for(lambda: 'pid' in done and c.execute(
            "select wait_event_type from pg_stat_activity where pid = %s",
            (done['pid'],)).fetchone()[0] == 'Lock', what='the delete waiting for a lock')
    return t, done


def test_tenant_delete_waits_for_an_open_ingest_and_takes_its_rows(dsn, sql, tenant_factory):
    a, b = tenant_factory('a'), tenant_factory('b')
    webhook(sql, a.id)
    webhook(sql, b.id)
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as other:
        ingest(other, b.id)
        other.commit()
        with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
            assert len(ingest(api, a.id)) == 3
            t, done = blocked_delete(dsn, 'delete from tenants where id = %s', (a.id,))
            api.commit()
            t.join(30)
    assert done['rows'] == 1
    # the other tenant's rows stay
    assert sql('select count(*) from deliveries where tenant_id = %s', (b.id,)) == [(3,)]
    assert sql('select count(*) from delivery_due q join webhooks w on w.id = q.webhook_id '
               'where w.tenant_id = %s', (b.id,)) == [(3,)]
    assert sql('select count(*) from events where tenant_id = %s', (a.id,)) == [(0,)]
    assert sql('select count(*) from deliveries where tenant_id = %s', (a.id,)) == [(0,)]
    faults.assert_reconciled(dsn)


def test_an_ingest_after_its_tenant_is_gone_stores_nothing(dsn, sql, tenant_factory):
    a = tenant_factory('a')
    webhook(sql, a.id)
    sql('delete from tenants where id = %s', (a.id,))
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
        try:
            ingest(api, a.id)
            raise AssertionError('ingest for a deleted tenant went through')
        except psycopg.errors.ForeignKeyViolation:
            api.rollback()
    assert sql('select count(*) from events') == [(0,)]


def test_webhook_hard_delete_waits_for_an_open_ingest_and_takes_its_deliveries(dsn, sql,
                                                                               tenant_factory):
    a = tenant_factory('a')
    w1, w2 = webhook(sql, a.id), webhook(sql, a.id, 'https://example.org/other')
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
        assert len(ingest(api, a.id)) == 6
        t, done = blocked_delete(dsn, 'delete from webhooks where id = %s', (w1,))
        api.commit()
        t.join(30)
    assert done['rows'] == 1
    assert sql('select count(*) from deliveries where webhook_id = %s', (w1,)) == [(0,)]
    assert sql('select count(*) from delivery_due where webhook_id = %s', (w1,)) == [(0,)]
    assert sql('select count(*) from deliveries where webhook_id = %s', (w2,)) == [(3,)]
    # the events stay, with the deliveries of the other webhook; their fan-out count no
    # longer matches, as when the foreign key cascaded
    assert [r[0] for r in faults.reconcile(dsn)] == ['event_fanout'] * 3


def test_event_delete_takes_its_deliveries_attempts_and_replays(dsn, sql, tenant_factory):
    a = tenant_factory('a')
    webhook(sql, a.id)
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
        first = ingest(api, a.id, 2)
        api.commit()
        api.execute("select set_config('pghook.tenant_id', %s, false)", (a.id,))
        replay = api.execute('select (pghook_replay(%s, %s)).id', (a.id, first[0])).fetchone()[0]
        api.commit()
    assert replay
    sql("insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at, trigger) "
        "values ('att_x', %s, %s, 1, now(), 'manual')", (a.id, replay))
    sql('update deliveries set attempt_count = 1 where id = %s', (replay,))
    eid = sql('select event_id from deliveries where id = %s', (first[0],))[0][0]
    faults.assert_reconciled(dsn)
    sql('delete from events where id = %s', (eid,))
    assert sql('select count(*) from deliveries where event_id = %s', (eid,)) == [(0,)]
    assert sql('select count(*) from attempts where delivery_id = %s', (replay,)) == [(0,)]
    assert sql('select count(*) from deliveries') == [(1,)]
    faults.assert_reconciled(dsn)


def test_reconcile_finds_a_dangling_reference(dsn, sql, tenant_factory):
    a = tenant_factory('a')
    w = webhook(sql, a.id)
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
        (d,) = ingest(api, a.id, 1)
        api.commit()
    # what a foreign key refused and a trigger cannot see: a row written around the cascade
    sql('alter table webhooks disable trigger pghook_webhook_deleted')
    sql('delete from webhooks where id = %s', (w,))
    sql('alter table webhooks enable trigger pghook_webhook_deleted')
    rows = faults.reconcile(dsn)
    assert [(r[0], r[2]) for r in rows] == [('dangling_ref', d)], rows
    assert 'no webhook ' + w in rows[0][3]
