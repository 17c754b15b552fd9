# SPDX-License-Identifier: MIT
"""The database's share of a delivery, without HTTP (bench.py scenario "dbcost").

One session claims 100 due deliveries and records their outcomes (delivered, one attempt row
each), over and over until none are left, and the backend's CPU time and the WAL written are
divided by the deliveries. Run twice on the same cluster:

  pghook    pghook_claim + pghook_complete, as the worker calls them (deliveries ingested
            with pghook_ingest: 1 KB payloads, one webhook)
  minimal   the smallest Postgres queue that still keeps an attempt row per delivery: one jobs
            table (payload inline, one partial index), a claim UPDATE ... FOR UPDATE SKIP
            LOCKED and a completion UPDATE plus an attempts INSERT, both batched

The difference is what pghook's bookkeeping costs per delivery (claim tokens, lost-lease
counts, per-webhook caps, foreign keys, the indexes the API's lists read); the minimal figure
bounds what any Postgres-backed sender can reach on this machine.

The same pair for storing events (batch ingest's share of the database), 1,000 events of 1 KB
per statement, one delivery each:

  pghook    pghook_ingest_rows, as the api calls it
  minimal   an events table and a deliveries table with bigint ids, one partial index for
            the queue, no foreign keys: one INSERT ... SELECT from json_to_recordset each
  contract  the least the contract (docs/api.md) asks of any implementation: prefixed text ids, the indexes its
            lists and sourceKey need, the fan-out to subscribed webhooks; no foreign keys,
            one statement
"""
import json
import os
import time

import psycopg

BATCH = 100

MINIMAL_SCHEMA = """
create table jobs (
    id bigint generated always as identity primary key,
    run_at timestamptz not null default now(),
    status text not null default 'pending',
    locked_until timestamptz,
    attempts int not null default 0,
    payload json not null
);
create index jobs_due on jobs (run_at) where status = 'pending';
create table job_attempts (
    id bigint generated always as identity primary key,
    job_id bigint not null references jobs,
    at timestamptz not null default now(),
    status_code int
);
"""

MINIMAL_CLAIM = """
update jobs set status = 'running', locked_until = now() + interval '30 s'
where id in (select id from jobs where status = 'pending' and run_at <= now()
             order by run_at limit %s for update skip locked)
returning id, payload::text
"""

MINIMAL_COMPLETE = """
with done as (
    update jobs set status = 'done', attempts = attempts + 1, locked_until = null
    where id = any(%s) returning id
)
insert into job_attempts (job_id, status_code) select id, 200 from done
"""


def _backend_cpu(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _table_updates(conn):
    conn.execute('select pg_stat_force_next_flush()')
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        'select relname, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables')}


def _hot_updates(conn, before):
    """Per table updated during the run: "HOT/all" row updates (a non-HOT update writes every
    index again and, on another page, the whole row to WAL)."""
    after = _table_updates(conn)
    out = {}
    for name, (upd, hot) in sorted(after.items()):
        upd0, hot0 = before.get(name, (0, 0))
        if upd > upd0:
            out[name] = '%d/%d' % (hot - hot0, upd - upd0)
    return out


def _backend_cost(conn, work, owner=None):
    """Run work(conn) on a vacuumed, checkpointed database: the rows it reports, wall time,
    the backend's CPU time and the WAL written. owner, the database owner's connection, does
    the vacuum and the checkpoint when conn logs in as a service's role."""
    (owner or conn).execute('vacuum analyze')
    (owner or conn).execute('checkpoint')
    pid = conn.execute('select pg_backend_pid()').fetchone()[0]
    lsn0 = conn.execute('select pg_current_wal_lsn()').fetchone()[0]
    cpu0, t0 = _backend_cpu(pid), time.monotonic()
    rows = work(conn)
    secs = time.monotonic() - t0
    cpu = _backend_cpu(pid) - cpu0
    wal = conn.execute('select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)', (lsn0,)).fetchone()[0]
    return rows, secs, cpu, float(wal)


def _measure(conn, claim, complete, owner=None):
    """Run claim/complete cycles until a claim returns nothing; the backend's cost per row."""
    def cycles(conn):
        done = 0
        while True:
            rows = claim(conn)
            if not rows:
                return done
            complete(conn, rows)
            done += len(rows)

    upd0 = _table_updates(owner or conn)
    done, secs, cpu, wal = _backend_cost(conn, cycles, owner)
    conn.execute('select pg_stat_force_next_flush()')  # the counters read below are conn's
    hot = _hot_updates(owner or conn, upd0)
    return {'hot_updates': hot, 'deliveries': done, 'per_s_one_session': round(done / secs),
            'cpu_us_per_delivery': round(cpu * 1e6 / done, 1),
            'wal_bytes_per_delivery': round(wal / done),
            'load_before': round(os.getloadavg()[0], 2)}


MINIMAL_INGEST_SCHEMA = """
create table events (
    id bigint generated always as identity primary key,
    event_type text not null,
    payload json not null,
    created_at timestamptz not null default now()
);
create table deliveries (
    id bigint generated always as identity primary key,
    event_id bigint not null,
    status text not null default 'pending',
    next_retry_at timestamptz not null default now()
);
create index deliveries_due on deliveries (next_retry_at) where status = 'pending';
"""

MINIMAL_INGEST = """
with e as (
    insert into events (event_type, payload)
    select x.type, x.data from json_to_recordset(%s::json) as x(type text, data json)
    returning id
)
insert into deliveries (event_id) select id from e
"""


# The tables the contract's routes (docs/api.md) need, with nothing more: text ids made like pghook's (migration
# 10), events listed by tenant and found by sourceKey, deliveries listed by tenant, event and
# webhook, the queue's index, webhooks matched by subscription. No foreign keys, no function.
CONTRACT_INGEST_SCHEMA = """
create function new_id(prefix text) returns text language sql volatile as $$
    select prefix || '_'
        || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
        || lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
        || lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
$$;
create table webhooks (
    id text primary key,
    tenant_id text not null,
    subscriptions text[] not null,
    active boolean not null default true
);
insert into webhooks values ('wh_1', 'ten_1', '{*}');
create table events (
    id text primary key,
    tenant_id text not null,
    event_type text not null,
    event_group text,
    source_key text,
    payload json not null,
    created_at timestamptz not null default now()
);
create index events_tenant on events (tenant_id, id);
create unique index events_source_key on events (tenant_id, source_key)
    where source_key is not null;
create table deliveries (
    id text primary key,
    tenant_id text not null,
    event_id text not null,
    webhook_id text not null,
    status text not null default 'pending',
    next_retry_at timestamptz not null default now(),
    created_at timestamptz not null default now()
);
create index deliveries_tenant on deliveries (tenant_id, id);
create index deliveries_event on deliveries (event_id);
create index deliveries_webhook on deliveries (webhook_id, id);
create index deliveries_due on deliveries (next_retry_at) where status = 'pending';
"""

CONTRACT_INGEST = """
with e as (
    insert into events (id, tenant_id, event_type, event_group, source_key, payload)
    select new_id('evt'), 'ten_1', x.type, x."eventGroup", x."sourceKey", x.data
    from json_to_recordset(%s::json) as x(type text, data json, "sourceKey" text,
                                          "eventGroup" text)
    on conflict (tenant_id, source_key) where source_key is not null do nothing
    returning id, event_type
)
insert into deliveries (id, tenant_id, event_id, webhook_id)
select new_id('dlv'), 'ten_1', e.id, w.id
from e join webhooks w on w.tenant_id = 'ten_1' and w.active
    and (e.event_type = any(w.subscriptions) or '*' = any(w.subscriptions))
"""


def _measure_ingest(conn, n, store, owner=None):
    """Store n events, 1,000 per statement; the backend's cost per event."""
    def batches(conn):
        for _ in range(n // 1000):
            store(conn)
        return n

    n, secs, cpu, wal = _backend_cost(conn, batches, owner)
    return {'events': n, 'per_s_one_session': round(n / secs),
            'cpu_us_per_event': round(cpu * 1e6 / n, 1),
            'wal_bytes_per_event': round(wal / n),
            'load_before': round(os.getloadavg()[0], 2)}


def _batch(pad):
    return json.dumps([{'type': 'bench.dbcost', 'data': {'pad': pad}} for _ in range(1000)])


def ingest_pghook_once(env, n, pad):
    db = env.fresh_db()
    db.webhook('/ingest')
    events = _batch(pad)

    def store(c):
        # as the api does: its role, the tenant set for the transaction (row-level security)
        with c.transaction():
            c.execute("select set_config('pghook.tenant_id', %s, true)", (db.tenant,))
            c.execute('select count(*) from pghook_ingest_rows(%s, %s::json)',
                      (db.tenant, events))

    with psycopg.connect(env.service_dsn(db.dsn, 'api'), autocommit=True) as c:
        r = _measure_ingest(c, n, store, db.conn)
    db.close()
    return r


def _minimal_db(env, schema):
    """A new, empty database (not pghook's template) with schema; an autocommit connection."""
    env.n += 1
    name = 'minimal%d' % env.n
    env.pg.create_database(name)
    c = psycopg.connect(env.pg.dsn(name), autocommit=True)
    c.execute(schema)
    return c


def ingest_minimal_once(env, n, pad):
    with _minimal_db(env, MINIMAL_INGEST_SCHEMA) as c:
        events = _batch(pad)
        return _measure_ingest(c, n, lambda c: c.execute(MINIMAL_INGEST, (events,)))


def ingest_contract_once(env, n, pad):
    with _minimal_db(env, CONTRACT_INGEST_SCHEMA) as c:
        events = _batch(pad)
        r = _measure_ingest(c, n, lambda c: c.execute(CONTRACT_INGEST, (events,)))
        assert c.execute('select count(*) from deliveries').fetchone()[0] == n
        return r


def pghook_once(env, n, pad):
    db = env.fresh_db()
    db.webhook('/dbcost')
    events = _batch(pad)
    for _ in range(n // 1000):
        db.sql('select count(*) from pghook_ingest(%s, %s::json)', (db.tenant, events))

    def claim(c):
        return c.execute("select id, claim_token from pghook_claim(%s::int, 30000::bigint) "
                         "where id is not null", (BATCH,)).fetchall()

    def complete(c, rows):
        out = [{'id': r[0], 'token': r[1], 'status': 'delivered', 'code': 200, 'body': '',
                'durationMs': 1} for r in rows]
        c.execute("select pghook_complete(%s::json, 'dbcost')", (json.dumps(out),))

    with psycopg.connect(env.service_dsn(db.dsn, 'worker'), autocommit=True) as c:
        # The worker's setting in the drains (bench.py start_worker): the one webhook is not
        # capped below a batch. With the default 16 each claim of 100 took 16 rows, so the
        # figure was the cost of claims 6 times smaller than the batch the scenario says.
        c.execute("select set_config('pghook.max_in_flight', '512', false)")
        r = _measure(c, claim, complete, db.conn)
    db.close()
    return r


def minimal_once(env, n, pad):
    with _minimal_db(env, MINIMAL_SCHEMA) as c:
        payload = json.dumps({'type': 'bench.dbcost', 'data': {'pad': pad}})
        c.execute('insert into jobs (payload) select %s::json from generate_series(1, %s)',
                  (payload, n))

        def claim(c):
            return c.execute(MINIMAL_CLAIM, (BATCH,)).fetchall()

        def complete(c, rows):
            c.execute(MINIMAL_COMPLETE, ([r[0] for r in rows],))

        return _measure(c, claim, complete)
