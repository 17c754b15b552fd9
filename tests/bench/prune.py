#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""prune of 1,000,000 old attempts, before and after migration 0016 (docs/operations.md
"Attempt history and retention"). Not part of `meson test`.

  /usr/bin/python3 tests/bench/prune.py [ROWS]     (PGHOOK_API_BIN: default build/api/pghook-api)

On a throwaway cluster migrated by pghook-api, the same ROWS attempts (default 1,000,000, one
old day, 200-byte response bodies, one delivery) are pruned twice:

  before   a table as attempts was until 0015 (not partitioned; primary key on id, the
           delivery index, the BRIN index on started_at): DELETE ... WHERE started_at < cutoff,
           what prune's cascade from events came to; then the VACUUM that autovacuum would
           have to run to take the dead tuples back
  after    the day's partition of attempts: pghook_prune_attempts(cutoff), as prune calls it

and for each prints the time and the WAL written (pg_current_wal_lsn before and after, a
CHECKPOINT first so that both pay the full-page writes a real run would), and the dead tuples
left. Then the upgrade itself: ROWS attempts over 30 days in a table as attempts was until 0015,
and sql/0016_attempts_partitioned.sql run on it (time, WAL). Prints one JSON object.
"""
import json
import os
import subprocess
import sys
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))
import harness  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
DAY = '2025-01-15'   # the old day; the cutoff is the day after it
CUTOFF = '2025-01-16T00:00:00Z'

SETUP = """
insert into tenants (id, name) values ('ten_bench', 'bench');
insert into webhooks (id, tenant_id, url, subscriptions, secret)
	values ('wh_bench', 'ten_bench', 'https://example.com/', '{*}', 'whsec_x');
insert into events (id, tenant_id, event_type, payload, endpoint_count)
	values ('evt_bench', 'ten_bench', 'order.created', '{}', 1);
insert into deliveries (id, tenant_id, event_id, webhook_id, status)
	values ('dlv_bench', 'ten_bench', 'evt_bench', 'wh_bench', 'delivered');
create table attempts_plain (like attempts including defaults including constraints);
alter table attempts_plain add primary key (id),
	add foreign key (delivery_id) references deliveries on delete cascade;
create index on attempts_plain (delivery_id, attempt_number);
create index on attempts_plain using brin (started_at);
create table attempts_p20250115 partition of attempts
	for values from ('2025-01-15T00:00:00Z') to ('2025-01-16T00:00:00Z');
"""

FILL = """
insert into {table} (id, tenant_id, delivery_id, attempt_number, started_at, duration_ms,
	response_status_code, response_body, trigger, worker_id)
select pghook_new_id('att'), 'ten_bench', 'dlv_bench', n,
	timestamptz '{day}T00:00:00Z' + (n * interval '86 ms'), 120, 200, repeat('x', 200),
	'scheduled', 'w1'
from generate_series(1, %s) n
"""


def measure(conn, statement):
    conn.execute('checkpoint')
    lsn = conn.execute('select pg_current_wal_lsn()').fetchone()[0]
    t = time.monotonic()
    conn.execute(statement)
    seconds = time.monotonic() - t
    wal = conn.execute('select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint',
                       (lsn,)).fetchone()[0]
    return {'seconds': round(seconds, 2), 'walBytes': wal}


def dead_tuples(conn, table):
    conn.execute('select pg_stat_force_next_flush()')
    time.sleep(1)
    conn.execute('select pg_stat_clear_snapshot()')
    r = conn.execute('select n_dead_tup from pg_stat_user_tables where relname = %s',
                     (table,)).fetchone()
    return r[0] if r else None


def measure_upgrade(conn):
    """sql/0016 on ROWS attempts of the last 30 days in an unpartitioned attempts."""
    conn.execute('truncate attempts_plain')
    conn.execute(FILL.format(table='attempts_plain', day='2025-02-01').replace(
        "interval '86 ms'", "interval '2592 ms'"), (ROWS,))
    conn.execute('vacuum analyze attempts_plain')
    conn.execute('drop table attempts cascade')
    conn.execute('alter table attempts_plain rename to attempts')
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'sql',
                           '0016_attempts_partitioned.sql')) as f:
        migration = f.read()
    with conn.transaction():
        result = measure(conn, migration)
    result['partitions'] = conn.execute(
        "select count(*) from pg_inherits where inhparent = 'attempts'::regclass").fetchone()[0]
    return result


def main():
    pg = harness.Postgres()
    try:
        dsn = pg.create_database('prunebench')
        subprocess.run([harness.API_BIN, 'migrate'], env=dict(os.environ, DATABASE_URL=dsn),
                       check=True, capture_output=True)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('set client_min_messages = warning')
            conn.execute(SETUP)
            for table in ('attempts_plain', 'attempts_p20250115'):
                conn.execute(FILL.format(table=table, day=DAY), (ROWS,))
            conn.execute('vacuum analyze attempts_plain, attempts_p20250115')
            size = conn.execute("select pg_total_relation_size('attempts_plain')").fetchone()[0]
            before = measure(conn, "delete from attempts_plain where started_at < '%s'" % CUTOFF)
            before['deadTuples'] = dead_tuples(conn, 'attempts_plain')
            before['vacuum'] = measure(conn, 'vacuum attempts_plain')
            after = measure(conn, "select pghook_prune_attempts('%s')" % CUTOFF)
            after['deadTuples'] = 0 if conn.execute(
                "select to_regclass('attempts_p20250115')").fetchone()[0] is None else None
            upgrade = measure_upgrade(conn)
        print(json.dumps({'rows': ROWS, 'tableBytes': size, 'rowDelete': before,
                          'dropPartition': after, 'migration0016': upgrade}))
    finally:
        pg.stop()


if __name__ == '__main__':
    main()
