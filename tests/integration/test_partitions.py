# SPDX-License-Identifier: MIT
"""attempts partitioned by day of started_at (migration 0016, sql/functions/partitions.sql):
attempts land in their day's partition; prune drops a whole old partition and keeps recent
attempts; the worker role creates the partitions ahead (the worker does at start) and inserts
into a new day's; row-level security still isolates tenants on attempts."""
import datetime

import psycopg
import pytest

import harness
from test_api_deliveries import create_event, create_webhook

UTC = datetime.timezone.utc


def day(offset=0):
    return datetime.datetime.now(UTC).date() + datetime.timedelta(days=offset)


def part(d):
    return 'attempts_p' + d.strftime('%Y%m%d')


def at(d, hour=12, minute=0):
    return datetime.datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC)


def partitions(sql):
    return sorted(r[0] for r in sql(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = 'attempts'::regclass"))


def insert_attempt(sql, tenant, delivery, started, n=1):
    """An attempt as the owner would insert it; returns the partition it landed in."""
    return sql("insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,"
               " trigger) values (pghook_new_id('att'), %s, %s, %s, %s, 'external')"
               " returning tableoid::regclass::text", (tenant, delivery, n, started))[0][0]


def a_delivery(client):
    create_webhook(client)
    return create_event(client)['deliveries'][0]['id']


def tenant_of(sql, delivery):
    return sql('select tenant_id from deliveries where id = %s', (delivery,))[0][0]


def test_attempts_are_partitioned_by_day_with_partitions_ahead(client, sql):
    assert sql("select c.relkind, c.relrowsecurity, c.relforcerowsecurity, pg_get_partkeydef(c.oid)"
               " from pg_class c where c.oid = 'attempts'::regclass") == [
        ('p', True, True, 'RANGE (started_at)')]
    # migrate made today's and the next PH_ATTEMPT_PARTITIONS_AHEAD (7) days', and the default
    have = partitions(sql)
    assert 'attempts_default' in have
    assert {part(day(i)) for i in range(8)} <= set(have)

    # An attempt recorded through the api lands in today's partition (or tomorrow's, at midnight).
    did = a_delivery(client)
    r = client.post('/v1/deliveries/%s/attempts' % did,
                    json={'status': 'delivered', 'responseStatusCode': 200})
    assert r.status_code in (200, 201), r.text
    assert sql('select tableoid::regclass::text from attempts where delivery_id = %s',
               (did,))[0][0] in (part(day(0)), part(day(1)))
    tenant = tenant_of(sql, did)
    # Each day's attempt in its day's partition, a day without one in the default partition.
    assert insert_attempt(sql, tenant, did, at(day(3), 0, 0), 2) == part(day(3))
    assert insert_attempt(sql, tenant, did, at(day(3), 23, 59), 3) == part(day(3))
    assert insert_attempt(sql, tenant, did, at(day(-40)), 4) == 'attempts_default'
    # The api still reads them all, through the parent.
    got = client.get('/v1/deliveries/%s/attempts' % did)
    assert got.status_code == 200, got.text
    assert len(got.json()['data']) == 4


def test_prune_drops_whole_old_partitions_and_keeps_recent_attempts(client, sql, dsn):
    did = a_delivery(client)
    tenant = tenant_of(sql, did)
    old, straddling = day(-10), day(-1)
    for d in (old, straddling):   # as ensure_attempt_partitions made them on those days
        sql("create table %s partition of attempts for values from ('%s') to ('%s')" % (
            part(d), at(d, 0).isoformat(), at(d + datetime.timedelta(days=1), 0).isoformat()))
    for i in range(50):
        assert insert_attempt(sql, tenant, did, at(old, 1, i), i) == part(old)
    assert insert_attempt(sql, tenant, did, at(straddling, 0, 0), 60) == part(straddling)
    assert insert_attempt(sql, tenant, did, at(day(-5)), 61) == 'attempts_default'
    assert insert_attempt(sql, tenant, did, at(day(-30)), 62) == 'attempts_default'
    recent = datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)
    assert insert_attempt(sql, tenant, did, recent, 63) in (part(day(0)), part(day(-1)))
    # a partition and its rows straddling the cutoff: kept, and the rows after it too
    kept_late = datetime.datetime.now(UTC) - datetime.timedelta(hours=23)
    insert_attempt(sql, tenant, did, kept_late, 64)

    assert harness.run_cli(dsn, 'prune', '--older-than', '1d') == {'prunedEvents': 0}

    relation = "select count(*) from pg_class where relname = %s"
    assert sql(relation, (part(old),)) == [(0,)]      # dropped whole, not emptied
    assert sql(relation, (part(straddling),)) == [(1,)]
    assert part(old) not in partitions(sql)
    assert sorted(r[0] for r in sql('select attempt_number from attempts where delivery_id = %s',
                                    (did,))) == [63, 64]
    assert sql('select count(*) from attempts_default') == [(0,)]
    # The delivery stays (its event is recent): only the history older than the cutoff went.
    assert sql('select count(*) from deliveries where id = %s', (did,)) == [(1,)]
    # Pruning again finds nothing more.
    assert harness.run_cli(dsn, 'prune', '--older-than', '1d') == {'prunedEvents': 0}
    assert len(sql('select 1 from attempts where delivery_id = %s', (did,))) == 2


def test_the_worker_role_creates_and_fills_a_new_days_partition(client, sql, dsn):
    did = a_delivery(client)
    tenant = tenant_of(sql, did)
    with psycopg.connect(harness.service_dsn(dsn, 'worker'), autocommit=True) as w:
        def insert(started, n):
            return w.execute(
                "insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,"
                " trigger, worker_id) values (pghook_new_id('att'), %s, %s, %s, %s, 'scheduled',"
                " 'w1') returning tableoid::regclass::text", (tenant, did, n, started)).fetchone()[0]
        # Before its partition exists, a far day's attempt waits in the default partition...
        assert insert(at(day(10)), 1) == 'attempts_default'
        # ...and moves into the partition the worker role creates for it.
        created = w.execute('select pghook_ensure_attempt_partitions(10)').fetchone()[0]
        assert created in (3, 4)   # days 8, 9, 10 (and 11 when the date changed meanwhile)
        assert insert(at(day(9)), 2) == part(day(9))
        assert w.execute('select count(*) from attempts where started_at = %s',
                         (at(day(10)),)).fetchone() == (1,)
        # Partitions are reached through attempts only: no grant on them.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            w.execute('select count(*) from attempts_default')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            w.execute('select pghook_prune_attempts(now())')
    assert sql('select tableoid::regclass::text from attempts where attempt_number = 1'
               ' and delivery_id = %s', (did,)) == [(part(day(10)),)]
    assert sql('select count(*) from attempts_default') == [(0,)]


def test_the_worker_creates_missing_partitions_at_start(sql, worker_factory):
    missing = part(day(7))
    sql('drop table %s' % missing)
    worker_factory()
    harness.wait_for(lambda: sql('select to_regclass(%s) is not null', (missing,))[0][0],
                     what='the worker to create ' + missing)


def test_row_level_security_still_isolates_tenants_on_attempts(client, client_factory,
                                                               tenant_factory, sql, dsn):
    mine = a_delivery(client)
    other = client_factory(tenant_factory('other'))
    theirs = a_delivery(other)
    for c, d in ((client, mine), (other, theirs)):
        r = c.post('/v1/deliveries/%s/attempts' % d,
                   json={'status': 'delivered', 'responseStatusCode': 200})
        assert r.status_code in (200, 201), r.text
    assert client.get('/v1/deliveries/%s/attempts' % theirs).status_code == 404
    me = tenant_of(sql, mine)
    with psycopg.connect(harness.service_dsn(dsn, 'api')) as api:
        assert api.execute('select count(*) from attempts').fetchone() == (0,)
        api.execute("select set_config('pghook.tenant_id', %s, true)", (me,))
        assert api.execute('select delivery_id from attempts').fetchall() == [(mine,)]
        # nor another tenant's rows by insert
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.execute("insert into attempts (id, tenant_id, delivery_id, attempt_number,"
                        " started_at, trigger) values ('att_x', %s, %s, 9, now(), 'external')",
                        (tenant_of(sql, theirs), theirs))


def test_ensuring_partitions_never_waits_for_another_session_doing_it(sql, dsn):
    sql('drop table %s' % part(day(7)))
    with psycopg.connect(dsn) as holder:   # another worker, migrate or prune at it
        holder.execute("select pg_advisory_xact_lock(hashtext('pghook_ensure_attempt_partitions'))")
        with psycopg.connect(harness.service_dsn(dsn, 'worker'), autocommit=True) as w:
            assert w.execute('select pghook_ensure_attempt_partitions(7)').fetchone() == (0,)
        holder.rollback()
    with psycopg.connect(harness.service_dsn(dsn, 'worker'), autocommit=True) as w:
        assert w.execute('select pghook_ensure_attempt_partitions(7)').fetchone()[0] >= 1
    assert sql('select to_regclass(%s) is not null', (part(day(7)),)) == [(True,)]
