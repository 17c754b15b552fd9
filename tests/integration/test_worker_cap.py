# SPDX-License-Identifier: MIT
"""The per-webhook in-flight cap (a webhook's maxInFlight, by default PGHOOK_WEBHOOK_MAX_IN_FLIGHT,
for the whole fleet: sql/functions/claim.sql): a slow receiver holds at most its cap of the
slots, and the other webhooks' deliveries go on meanwhile. A delivery holds its worker's slot
(PGHOOK_WORKER_CONCURRENCY) until its outcome is recorded. test_scheduler.py checks the cap
with several workers."""
import psycopg

import harness


def test_slow_webhook_cannot_take_every_slot(worker_factory, hooks, receiver_factory,
                                             gate_factory):
    slow = gate_factory()
    slow.hold()  # answers nothing until released
    fast = receiver_factory()
    hooks.webhook(slow.url, subscriptions=['slow'])
    fast_hook, _ = hooks.webhook(fast.url, subscriptions=['fast'])
    # The slow webhook's deliveries are due first: without the cap they would fill all four
    # slots and the fast ones would wait for the slow answers, which never come until the
    # fast ones are delivered.
    hooks.ingest([{'type': 'slow', 'data': {'i': i}} for i in range(6)])
    hooks.ingest([{'type': 'fast', 'data': {'i': i}} for i in range(5)])
    worker_factory(PGHOOK_WORKER_CONCURRENCY=4, PGHOOK_WEBHOOK_MAX_IN_FLIGHT=2,
                   PGHOOK_WORKER_BATCH=1)
    harness.wait_for(lambda: all(d['status'] == 'delivered'
                                 for d in hooks.deliveries(webhook_id=fast_hook)),
                     what='fast deliveries while the slow webhook holds its cap')
    assert fast.count() == 5 and slow.count() == 2
    # The slow webhook's rest is delivered as its slots free up.
    slow.release()
    harness.wait_for(lambda: slow.count() == 6, what='every slow delivery')


def test_unrecorded_outcomes_hold_their_slots(worker_factory, hooks, receiver_factory):
    r = receiver_factory()
    hooks.webhook(r.url)
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(30)])
    # The webhook's earlier attempts failed: the first success clears failing_since, which
    # waits for this lock on its row, so the outcomes of the first claim cannot be written
    # while it is held (claims read the webhook without locking it).
    hooks.sql('update webhooks set failing_since = now()')
    blocker = psycopg.connect(hooks.dsn)
    try:
        blocker.execute('select 1 from webhooks for update')
        w = worker_factory(PGHOOK_WORKER_CONCURRENCY=10, PGHOOK_WORKER_BATCH=10,
                           PGHOOK_WORKER_POLL='100ms')
        harness.wait_for(lambda: w.metrics().get('pghook_outcomes_pending') == 10 and
                         w.metrics().get('pghook_inflight') == 0,
                         what='ten requests answered, their outcomes waiting for the lock')
        # Its requests are done, but their slots are not free: woken five times, it claims
        # nothing more (before, every slot freed by an answer was claimed again at once).
        for _ in range(5):
            hooks.worker_woken()
            assert len(hooks.leases()) == 10
            assert r.count() == 10
    finally:
        blocker.rollback()
        blocker.close()
    harness.wait_for(lambda: hooks.sql("select count(*) from deliveries "
                                       "where status = 'delivered'")[0][0] == 30,
                     what='every delivery once the lock is gone')
    assert sorted({g.headers['webhook-id'] for g in r.received()}) == sorted(ids)
    assert r.count() == 30


def test_capped_webhook_backlog_is_not_rescanned_after_every_completion(worker_factory, hooks,
                                                                       receiver_factory):
    r = receiver_factory(delay=0.1)
    hooks.webhook(r.url)
    hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(80)])
    # Two in flight at most: the webhook is at its cap most of the time. Each recorded outcome
    # frees one of its slots and the claim after it takes one delivery: claims that find
    # nothing stay rare, with the poll at 60 s.
    w = worker_factory(PGHOOK_WORKER_CONCURRENCY=10, PGHOOK_WORKER_BATCH=4,
                       PGHOOK_WEBHOOK_MAX_IN_FLIGHT=2, PGHOOK_WORKER_POLL='60s')
    harness.wait_for(lambda: r.count() >= 40, timeout=30, what='40 deliveries')
    empty = w.metrics()['pghook_claim_batch_size_bucket{le="0"}']
    assert empty <= 2, empty
    harness.wait_for(lambda: r.count() == 80, timeout=30, what='every delivery')


def _backlog(hooks, webhook, n):
    """n deliveries of one event for webhook, due an hour ago and earlier, inserted directly."""
    event = hooks.event('backlog')
    hooks.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at)"
              " select 'dlv_bk' || lpad(g::text, 8, '0'), %s, %s, %s, 'pending',"
              " now() - interval '1 hour' - g * interval '1 ms' from generate_series(1, %s) g",
              (hooks.tenant, event, webhook, n))


def _claim(conn, limit):
    """One claim in its own transaction: the ids, and how many rows of deliveries its index
    scans fetched."""
    with conn.transaction():
        ids = [r[0] for r in conn.execute(
            'select id from pghook_claim(%s, 30000) where id is not null', (limit,)).fetchall()]
        fetched = conn.execute("select idx_tup_fetch from pg_stat_xact_user_tables "
                               "where relname = 'deliveries'").fetchone()[0]
    return ids, fetched


def test_claim_skips_a_capped_backlog_without_reading_it(hooks):
    capped, _ = hooks.webhook('http://127.0.0.1:9/capped', subscriptions=['nothing'])
    other, _ = hooks.webhook('http://127.0.0.1:9/other', subscriptions=['o'])
    _backlog(hooks, capped, 20000)
    # The capped webhook is at its maxInFlight: one of its deliveries is leased.
    hooks.sql('update webhooks set max_in_flight = 1 where id = %s', (capped,))
    hooks.lease(['dlv_bk00000001'], 3600)
    later = hooks.ingest([{'type': 'o', 'data': {'i': i}} for i in range(3)])
    wanted = [hooks.deliveries(event_id=e)[0]['id'] for e in later]
    for i, d in enumerate(wanted):  # one due time each, in this order
        hooks.sql("update deliveries set next_retry_at = now() - %s * interval '1 s' "
                  "where id = %s", (3 - i, d))
    # The third is a retry due in an hour: not claimed.
    hooks.sql("update deliveries set status = 'retry_scheduled', "
              "next_retry_at = now() + interval '1 hour' where id = %s", (wanted[2],))
    hooks.sql('vacuum analyze deliveries')
    conn = psycopg.connect(hooks.dsn, autocommit=True)
    locker = psycopg.connect(hooks.dsn)
    try:
        # The capped webhook's 20,000 rows come first in due order. Before migration 9 the
        # claim fetched every one of them to find the two others.
        ids, fetched = _claim(conn, 1)
        assert ids == [wanted[0]]
        assert fetched < 100, fetched
        # A due row another claim has locked is skipped, and the batch is still full when more
        # rows are due.
        hooks.sql("update deliveries set status = 'pending', next_retry_at = now() "
                  "where id = %s", (wanted[2],))
        # (its flight ended by a new token, as a manual send ends one: due again)
        conn.execute("update deliveries set claim_token = nextval('pghook_claim_token_seq') "
                     "where id = %s", (wanted[0],))
        locker.execute('select 1 from delivery_due where delivery_id = %s for update',
                       (wanted[0],))
        ids, fetched = _claim(conn, 2)
        assert sorted(ids) == sorted(wanted[1:])
        assert fetched < 100, fetched
        # With its cap lifted the backlog's oldest rows are claimed.
        hooks.sql('update webhooks set max_in_flight = null where id = %s', (capped,))
        ids, _ = _claim(conn, 2)
        assert all(i.startswith('dlv_bk') for i in ids) and len(ids) == 2
    finally:
        locker.close()
        conn.close()
