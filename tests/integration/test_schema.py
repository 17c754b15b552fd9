# SPDX-License-Identifier: MIT
"""pghook-api migrate: a fresh database and one upgraded from the last released layout end with
the same schema; the objects sql/ defines are exactly the database's; a changed or missing file
is applied again; concurrent runs are safe; readiness follows the schema.

schema_0010.sql.gz is the last layout released before sql/functions: `pg_dump --no-owner` of a
database migrated by pghook-api built at 3340537 (migrations 0001-0010, each function, view,
policy and grant as those files made it, and their pghook_schema_migrations rows), without the
dump's `\\restrict` lines. Read it with zcat.
"""
import gzip
import itertools
import os
import re
import runpy
import subprocess
import sys
import types

import psycopg
import pytest
import requests

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
# tools/embed_sql.py is a build script of this repository, run from its path (not a package).
embed_sql = types.SimpleNamespace(
    **runpy.run_path(os.path.join(HERE, '..', '..', 'tools', 'embed_sql.py')))

SQL_DIR = os.path.join(HERE, '..', '..', 'sql')
_names = itertools.count()


def new_database(pg):
    return pg.create_database('schema_%d_%d' % (os.getpid(), next(_names)))


# The daily partitions of attempts (migration 0016): which days exist depends on the date and
# on the attempts a database had, so the comparison leaves them out (test_partitions.py covers
# them); the partitioned table and attempts_default stay in.
DAILY_PARTITION = re.compile(r'attempts_p\d{8}')


def schema(pg, dsn):
    """pg_dump --schema-only, without the random key of its \\restrict lines and without the
    daily partitions of attempts (each dump item is a "-- Name: ..." header, then its SQL)."""
    out = subprocess.run([os.path.join(pg.bindir, 'pg_dump'), '--schema-only', '-d', dsn],
                         capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines()
             if not line.startswith(('\\restrict', '\\unrestrict'))]
    kept, skipping = [], False
    for i, line in enumerate(lines):
        if line == '--' and i + 1 < len(lines) and lines[i + 1].startswith('-- Name: '):
            skipping = bool(DAILY_PARTITION.search(lines[i + 1]))
        if not skipping:
            kept.append(line)
    return '\n'.join(kept)


def rows(dsn, query):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def run(dsn, *statements):
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def migrate(dsn):
    """pghook-api migrate; returns its log (stderr)."""
    out = subprocess.run([harness.API_BIN, 'migrate'], env=dict(os.environ, DATABASE_URL=dsn),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stderr


def released_0010(pg):
    """A database as the last released layout left it."""
    dsn = new_database(pg)
    with gzip.open(os.path.join(HERE, 'schema_0010.sql.gz')) as f:
        dump = f.read()
    subprocess.run([os.path.join(pg.bindir, 'psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
                    dsn], input=dump, capture_output=True, check=True)
    return dsn


@pytest.fixture(scope='module')
def fresh(pg):
    """A fresh database, migrated, and its schema."""
    dsn = new_database(pg)
    migrate(dsn)
    return dsn, schema(pg, dsn)


def defined_objects():
    """(kind, identity) of everything the files of sql/ define."""
    found = set()
    for path in embed_sql.sql_files(SQL_DIR):
        with open(path, encoding='utf-8') as f:
            found |= {(kind, ident) for kind, ident, _ in embed_sql.definitions(f.read())}
    return found


def test_an_upgrade_from_0010_ends_with_the_schema_of_a_fresh_install(pg, fresh):
    dsn, want = fresh
    old = released_0010(pg)
    assert rows(old, "select count(*) from pg_proc where proname = 'pghook_refresh_events'") == \
        [(1,)]
    migrate(old)
    got = schema(pg, old)
    assert got == want
    # Not vacuous: the dump holds the functions, views, policies and grants.
    for marker in ('CREATE FUNCTION public.pghook_claim(', 'CREATE VIEW public.report_queue',
                   'CREATE POLICY tenant_isolation ON public.deliveries',
                   'GRANT SELECT ON TABLE public.report_queue TO pghook_admin'):
        assert marker in got
    # The daily partitions are left out, whole; the partitioned table's own items stay.
    assert 'PARTITION BY RANGE (started_at)' in got and 'attempts_default' in got
    assert not DAILY_PARTITION.search(got)
    applied = 'select version, name from pghook_schema_migrations order by 1'
    assert rows(old, applied) == rows(dsn, applied)
    # Every numbered file of sql/, whatever numbers the branches in flight reserve.
    numbered = sorted(int(f[:4]) for f in os.listdir(os.path.join(HERE, '..', '..', 'sql'))
                      if f[:4].isdigit() and f.endswith('.sql'))
    assert [v for v, _ in rows(dsn, applied)] == numbered
    files = 'select file, hash, previous_hash from pghook_schema_repeatables order by 1'
    assert rows(old, files) == rows(dsn, files)


def test_an_upgrade_keeps_the_attempts_each_in_its_days_partition(pg):
    """Migration 0016 rebuilds attempts as a partitioned table: the rows of a database that had
    attempts survive, each in the partition of its day, and what depended on the old table
    (views, pghook_attempt_json, policies, grants) is there again."""
    old = released_0010(pg)
    run(old, "insert into tenants (id, name) values ('ten_a', 'a')",
        "insert into webhooks (id, tenant_id, url, subscriptions, secret) values"
        " ('wh_a', 'ten_a', 'https://example.com/', '{*}', 'whsec_x')",
        "insert into events (id, tenant_id, event_type, payload, endpoint_count) values"
        " ('evt_a', 'ten_a', 'order.created', '{}', 1)",
        "insert into deliveries (id, tenant_id, event_id, webhook_id, status) values"
        " ('dlv_a', 'ten_a', 'evt_a', 'wh_a', 'delivered')",
        "insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at, trigger)"
        " select 'att_' || n, 'ten_a', 'dlv_a', n, timestamptz '2025-03-01 10:00Z'"
        " + n * interval '6 hours', 'scheduled' from generate_series(1, 8) n")
    migrate(old)
    assert rows(old, 'select tableoid::regclass::text, count(*) from attempts group by 1'
                ' order by 1') == [('attempts_p20250301', 2), ('attempts_p20250302', 4),
                                   ('attempts_p20250303', 2)]
    assert rows(old, "select count(*) from report_webhook_daily where webhook_id = 'wh_a'") == \
        [(3,)]
    assert rows(old, "select pghook_attempt_json(a)->>'id' from attempts a where id = 'att_1'"
                ) == [('att_1',)]
    assert rows(old, "select count(*) from pg_policy where polrelid = 'attempts'::regclass") == \
        [(3,)]
    assert rows(old, "select has_table_privilege('pghook_worker', 'attempts', 'insert')") == \
        [(True,)]
    # Deleting a delivery still takes its attempts (the foreign key of the partitioned table).
    run(old, "delete from deliveries where id = 'dlv_a'")
    assert rows(old, 'select count(*) from attempts') == [(0,)]


def test_an_upgrade_puts_the_unfinished_deliveries_in_the_queue_tables(pg):
    """Migration 0018 moves the queue out of deliveries: the waiting deliveries of an existing
    database get their delivery_due rows, the delivering ones their lease per claim and
    webhook, the finished ones neither; sql/reconcile.sql then finds nothing to say. Migration
    0022 then keeps the delivering ones in flight under their lease, their rows pending again,
    and their worker's outcome and release still apply."""
    old = released_0010(pg)
    run(old, "insert into tenants (id, name) values ('ten_a', 'a')",
        "insert into webhooks (id, tenant_id, url, subscriptions, secret) values"
        " ('wh_a', 'ten_a', 'https://example.com/', '{*}', 'whsec_x')",
        "insert into events (id, tenant_id, event_type, payload, endpoint_count) values"
        " ('evt_a', 'ten_a', 'order.created', '{}', 5)",
        "insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at,"
        " lease_expires_at, claim_token, attempt_count) values"
        " ('dlv_p', 'ten_a', 'evt_a', 'wh_a', 'pending', now(), null, null, 0),"
        " ('dlv_r', 'ten_a', 'evt_a', 'wh_a', 'retry_scheduled', now() + interval '1 h',"
        "  null, null, 0),"
        " ('dlv_l1', 'ten_a', 'evt_a', 'wh_a', 'delivering', null, now() + interval '1 h', 7, 0),"
        " ('dlv_l2', 'ten_a', 'evt_a', 'wh_a', 'delivering', null, now() + interval '1 h', 7, 0),"
        " ('dlv_d', 'ten_a', 'evt_a', 'wh_a', 'delivered', null, null, null, 0)")
    migrate(old)
    assert rows(old, 'select delivery_id from delivery_due order by 1') == [('dlv_p',),
                                                                           ('dlv_r',)]
    assert rows(old, 'select claim_token, in_flight, delivery_ids from delivery_leases') == [
        (7, 2, ['dlv_l1', 'dlv_l2'])]
    problems = rows(old, open(os.path.join(SQL_DIR, 'reconcile.sql')).read())
    assert [p for p in problems if p[0] == 'queue_rows'] == []
    assert rows(old, "select id, status, claim_token from deliveries where id like 'dlv_l%'"
                " order by 1") == [('dlv_l1', 'pending', None), ('dlv_l2', 'pending', None)]
    # the first of the two ends with its outcome: the lease counts one left; the other is
    # given back: none
    run(old, "select pghook_complete('[{\"id\": \"dlv_l1\", \"token\": 7, "
        "\"status\": \"delivered\", \"code\": 200, \"body\": \"\", "
        "\"durationMs\": 1}]', 'w')")
    assert rows(old, 'select in_flight from delivery_leases') == [(1,)]
    run(old, "select pghook_release('[{\"id\": \"dlv_l2\", \"token\": 7}]')")
    assert rows(old, 'select count(*) from delivery_leases') == [(0,)]
    assert rows(old, 'select delivery_id from delivery_due order by 1') == [
        ('dlv_l2',), ('dlv_p',), ('dlv_r',)]


def test_the_database_has_what_sql_defines_and_nothing_else(fresh):
    dsn, _ = fresh
    objects = sorted(defined_objects())
    with psycopg.connect(dsn) as conn:
        def resolved(kind, ident):
            if kind == 'function':
                return conn.execute('select to_regprocedure(%s)::oid', (ident,)).fetchone()[0]
            if kind == 'view':
                return conn.execute('select to_regclass(%s)::oid', (ident,)).fetchone()[0]
            name, table = ident.split(' on ')
            return conn.execute('select oid from pg_policy where polname = %s'
                                ' and polrelid = to_regclass(%s)', (name, table)).fetchone()[0]
        want = {kind: sorted(resolved(kind, ident) for k, ident in objects if k == kind)
                for kind in ('function', 'view', 'policy')}
        assert all(want['function']) and all(want['view']) and all(want['policy'])
        ours = ("pronamespace = 'public'::regnamespace and prokind = 'f' and not exists"
                " (select 1 from pg_depend where objid = pg_proc.oid and deptype = 'e')")
        assert sorted(r[0] for r in conn.execute('select oid from pg_proc where ' + ours)) == \
            want['function']
        assert sorted(r[0] for r in conn.execute(
            "select oid from pg_class where relkind = 'v' and relnamespace = 'public'::regnamespace"
        )) == want['view']
        assert sorted(r[0] for r in conn.execute('select oid from pg_policy')) == want['policy']


# What a claim, an outcome or a release writes into a deliveries row (sql/functions/claim.sql,
# complete.sql, release.sql, apply_attempt.sql). PostgreSQL updates a row HOT (no index entry)
# only when no index names a changed column, in its keys, expressions or predicate.
CHANGED_BY_THE_WORKERS = {'status', 'attempt_count', 'next_retry_at', 'lease_expires_at',
                          'claim_token', 'lost_leases', 'lost_attempt', 'last_attempt_at',
                          'delivered_at', 'response_status_code', 'last_error', 'updated_at'}


def test_no_index_of_deliveries_keeps_its_updates_from_being_hot(fresh):
    """Migration 18's point: the queue's indexes are on delivery_due and delivery_leases, so
    claims and outcomes update deliveries HOT (docs/architecture.md). An index naming one of
    those columns would put an index entry back into every claim and every completion."""
    dsn, _ = fresh
    indexed = rows(dsn, """
        select i.indexrelid::regclass::text, a.attname
        from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum > 0
        where i.indrelid = 'deliveries'::regclass
          and (a.attnum = any(i.indkey)
               or pg_get_expr(i.indexprs, i.indrelid) ~ ('\m' || a.attname || '\M')
               or pg_get_expr(i.indpred, i.indrelid) ~ ('\m' || a.attname || '\M'))""")
    assert indexed, 'deliveries has indexes'
    bad = sorted((ix, col) for ix, col in indexed if col in CHANGED_BY_THE_WORKERS)
    assert bad == [], bad


def test_concurrent_migrations_of_a_fresh_database(pg, fresh):
    _, want = fresh
    dsn = new_database(pg)
    env = dict(os.environ, DATABASE_URL=dsn)
    procs = [subprocess.Popen([harness.API_BIN, 'migrate'], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * 4, results
    # One run did the work; the others found nothing to do.
    logs = [log for _, log in results if 'applied migration 0001_init.sql' in log]
    assert len(logs) == 1
    assert schema(pg, dsn) == want


def test_a_changed_or_missing_file_is_applied_again(pg, fresh):
    _, want = fresh
    dsn = new_database(pg)
    migrate(dsn)
    run(dsn,
        # A function as an older release had it: another body, another result type.
        'drop function pghook_release(json)',
        "create function pghook_release(p_claims json) returns bigint language sql"
        " as $$ select 0::bigint $$",
        "update pghook_schema_repeatables set hash = 'older' where file = 'functions/release.sql'",
        # Objects a numbered migration dropped: the view takes its grant with it.
        'drop view report_queue',
        'drop policy tenant_isolation on deliveries')
    log = migrate(dsn)
    for path in ('functions/release.sql', 'views/report_queue.sql',
                 'policies/tenant_isolation.sql', 'grants/roles.sql'):
        assert 'applied %s' % path in log
    assert 'applied functions/claim.sql' not in log
    assert schema(pg, dsn) == want
    assert rows(dsn, "select previous_hash from pghook_schema_repeatables"
                     " where file = 'functions/release.sql'") == [('older',)]
    assert 'applied' not in migrate(dsn)


def test_readiness_follows_the_schema(pg, logdir):
    dsn = new_database(pg)
    migrate(dsn)
    api = harness.Api(dsn, logdir)
    try:
        def ready():
            return requests.get(api.url + '/readyz', timeout=5).status_code == 200
        assert ready()
        # The next release changed a file: this build has its previous content, still ready
        # (its pods keep serving while the next release rolls out).
        run(dsn, "update pghook_schema_repeatables set previous_hash = hash, hash = 'newer'"
                 " where file = 'functions/claim.sql'")
        assert ready()
        # A file whose content here is neither: this build's is not applied yet.
        run(dsn, "update pghook_schema_repeatables set previous_hash = null"
                 " where file = 'functions/claim.sql'")
        assert not ready()
        # A database a newer release migrated: ready, and this build's migrate leaves the
        # newer release's files as they are.
        run(dsn, "insert into pghook_schema_migrations (version, name) values (99, '0099_x.sql')")
        assert ready()
        assert 'newer than this build' in migrate(dsn)
        assert rows(dsn, "select hash from pghook_schema_repeatables"
                         " where file = 'functions/claim.sql'") == [('newer',)]
    finally:
        api.proc.stop()
