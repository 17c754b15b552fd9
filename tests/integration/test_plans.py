# SPDX-License-Identifier: MIT
"""The worker's statements keep their plans for the life of a session (plpgsql caches them), so
a plan made while the tables were small must still read by key once they are large. These
tests make the plans on a small table, grow it, and count the index entries a statement reads
(pg_stat_user_indexes), which does not depend on the machine's speed."""
import json

import psycopg

import harness
from test_references import ingest, webhook


def claim(w, n=100):
    return w.execute("select id, claim_token from pghook_claim(%s::int, 30000::bigint) "
                     "where id is not null", (n,)).fetchall()


def complete(w, rows):
    out = [{'id': r[0], 'token': r[1], 'status': 'delivered', 'code': 200, 'body': '',
            'durationMs': 1} for r in rows]
    w.execute("select pghook_complete(%s::json, 'test')", (json.dumps(out),))


def index_reads(sql, w, index):
    """Entries of index read so far, with w's counters flushed (they are sent when the
    session goes idle)."""
    w.execute('select pg_stat_force_next_flush()')
    w.execute('select 1')
    return sql('select idx_tup_read from pg_stat_user_indexes where indexrelname = %s',
               (index,))[0][0]


def test_a_completion_reads_its_deliveries_by_key_whatever_the_table_held_when_planned(
        dsn, sql, tenant_factory):
    t = tenant_factory('a')
    webhook(sql, t.id)
    with psycopg.connect(harness.service_dsn(dsn, 'api'), autocommit=True) as api, \
            psycopg.connect(harness.service_dsn(dsn, 'worker'), autocommit=True) as w:
        def cycle(n):
            with api.transaction():
                ingest(api, t.id, n)
            rows = claim(w)
            assert len(rows) == n
            complete(w, rows)
        # past the five custom plans: the session now keeps a generic plan made on a
        # table of a few rows, none of them delivering
        for _ in range(8):
            cycle(2)
        # a history of 5,000 delivered deliveries
        sql('select count(*) from pghook_ingest(%s, %s)',
            (t.id, json.dumps([{'type': 'order.created', 'data': {}}] * 5000)))
        sql("update deliveries set status = 'delivered', attempt_count = 1, "
            "next_retry_at = null, delivered_at = now() where status = 'pending'")
        with api.transaction():
            ingest(api, t.id, 4)
        rows = claim(w)
        assert len(rows) == 4
        before = index_reads(sql, w, 'deliveries_pkey')
        complete(w, rows)
        read = index_reads(sql, w, 'deliveries_pkey') - before
    assert sql("select count(*) from deliveries where status = 'delivered'")[0][0] == 5020
    # by key: a few entries per outcome, not the table
    assert read <= 4 * 4, read


def test_a_fifo_claim_reads_each_key_once_whatever_its_backlog(dsn, sql, tenant_factory):
    t = tenant_factory('a')
    wid = webhook(sql, t.id)
    sql("update webhooks set ordering = 'fifo' where id = %s", (wid,))
    sql('select count(*) from pghook_ingest(%s, %s)',
        (t.id, json.dumps([{'type': 'order.created', 'data': {}, 'orderingKey': 'k%d' % (i % 2)}
                           for i in range(5000)])))
    with psycopg.connect(harness.service_dsn(dsn, 'worker'), autocommit=True) as w:
        for _ in range(6):  # past the five custom plans, each claim taking both keys' heads
            rows = claim(w)
            assert len(rows) == 2
            complete(w, rows)
        before = index_reads(sql, w, 'delivery_due_fifo')
        rows = claim(w)
        read = index_reads(sql, w, 'delivery_due_fifo') - before
    assert len(rows) == 2
    # a few descents per key, not the 4,986 rows waiting behind the heads
    assert read <= 20, read
