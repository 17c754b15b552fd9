# SPDX-License-Identifier: MIT
"""Several workers on one database, and workers that die: two workers never deliver the same
claim twice; a worker killed with SIGKILL mid-batch loses nothing (another one delivers after
the lease); a database restart loses no outcome already received; two completions of one
event's deliveries at once still settle the event."""
import collections
import json
import signal

import psycopg

import faults
import harness


def test_two_workers_never_deliver_the_same_claim_twice(worker_factory, hooks,
                                                        receiver_factory):
    recs = [receiver_factory(delay=0.02) for _ in range(2)]
    for r in recs:
        hooks.webhook(r.url)
    # Small batches and few slots each, so both workers must take part and interleave.
    env = dict(PGHOOK_WORKER_BATCH=10, PGHOOK_WORKER_CONCURRENCY=20)
    a = worker_factory(**env)
    b = worker_factory(**env)
    n = 300
    ids = []
    for chunk in range(0, n, 100):
        ids += hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(chunk, chunk + 100)])

    harness.wait_for(lambda: hooks.sql("select count(*) from deliveries "
                                       "where status = 'delivered'")[0][0] == 2 * n,
                     timeout=60, what='all deliveries delivered')
    for r in recs:
        seen = collections.Counter(g.headers['webhook-id'] for g in r.received())
        assert set(seen) == set(ids)
        assert max(seen.values()) == 1, [k for k, v in seen.items() if v > 1][:5]
    per_worker = dict(hooks.sql('select worker_id, count(*) from attempts group by 1'))
    assert sum(per_worker.values()) == 2 * n
    assert set(per_worker) == {a.id, b.id}, per_worker
    assert hooks.sql("select count(*) from attempts where attempt_number <> 1")[0][0] == 0
    # Each event went to both webhooks, so both workers often ended deliveries of one event.
    assert hooks.sql('select s.status, count(*) from events e, pghook_event_state(e) s '
                     'group by 1') == [('delivered', n)]


def test_concurrent_completions_of_one_event_settle_its_status(hooks):
    """Two transactions end the two deliveries of one event at once; neither sees the other's
    delivery ended in its own snapshot. The event is delivered once both committed (before
    migration 6 it stayed pending for good), and neither waits for the other: since migration
    7 a completion no longer writes, or locks, the event."""
    for _ in range(2):
        hooks.webhook('http://127.0.0.1:9/unused')
    event = hooks.event()
    claims = [hooks.sql("select id, claim_token from pghook_claim(1, 30000)")[0]
              for _ in range(2)]
    first, second = (psycopg.connect(hooks.dsn) for _ in range(2))
    try:
        def complete(conn, claim, worker):
            out = [{'id': claim[0], 'token': claim[1], 'status': 'delivered', 'code': 200,
                    'body': '', 'durationMs': 1}]
            conn.execute("set local lock_timeout = '5s'")
            conn.execute('select pghook_complete(%s::json, %s)', (json.dumps(out), worker))

        complete(first, claims[0], 'w1')
        complete(second, claims[1], 'w2')  # with the first still open
        second.commit()
        assert hooks.event_status(event) == 'pending'  # the first is not committed yet
        first.commit()
    finally:
        first.close()
        second.close()
    assert [d['status'] for d in hooks.deliveries(event)] == ['delivered', 'delivered']
    assert hooks.event_status(event) == 'delivered'


def test_an_outcome_is_fenced_by_its_lease(hooks):
    """Since migration 22 a claim does not write the delivery's row: its lease lists it, and
    the row's claim_token is the token its last flight ended under. A worker's outcome applies
    once, and not after someone else ended the flight (a manual attempt); either way the
    lease gives the slot back, and the books balance (sql/reconcile.sql)."""
    hooks.webhook('http://127.0.0.1:9/unused')
    first, second = hooks.event(), hooks.event()
    claims = hooks.sql("select id, claim_token from pghook_claim(2, 30000) where id is not null "
                       'order by id')
    assert len(claims) == 2 and len(hooks.leases()) == 2
    assert {d['status'] for d in hooks.deliveries()} == {'delivering'}
    assert {d['row_status'] for d in hooks.deliveries()} == {'pending'}
    assert hooks.sql('select count(*) from delivery_due') == [(0,)]

    def complete(claim):
        out = [{'id': claim[0], 'token': claim[1], 'status': 'retry_scheduled', 'code': 500,
                'body': '', 'durationMs': 1, 'delayMs': 3600000}]
        return hooks.sql("select pghook_complete(%s::json, 'w')", (json.dumps(out),))[0][0]

    # The first: its outcome applies once; sent twice (a retried completion), once only.
    assert complete(claims[0]) == 1
    assert complete(claims[0]) == 0
    # The second: a manual attempt ends its flight first, so the worker's outcome is refused.
    hooks.sql("select pghook_record_attempt(%s, %s, 'delivered', 200, '', null, null, "
              "'external', null, null, null)", (hooks.tenant, claims[1][0]))
    assert complete(claims[1]) == 0
    by_id = {d['id']: d for d in hooks.deliveries()}
    assert (by_id[claims[0][0]]['status'], by_id[claims[0][0]]['attempt_count']) == (
        'retry_scheduled', 1)
    assert (by_id[claims[1][0]]['status'], by_id[claims[1][0]]['attempt_count']) == (
        'delivered', 1)
    assert hooks.leases() == {}
    assert hooks.sql('select count(*) from delivery_leases') == [(0,)]
    assert [r[0] for r in hooks.sql('select delivery_id from delivery_due')] == [claims[0][0]]
    assert {hooks.event_status(first), hooks.event_status(second)} == {'pending', 'delivered'}
    faults.assert_reconciled(hooks.conn)


def test_outcomes_of_an_earlier_worker_keep_their_timings(hooks):
    """A rolling upgrade runs workers of two releases: the earlier one sends an outcome's
    timings nested in "timings", the current one flat (sql/functions/complete.sql). Both are
    recorded."""
    hooks.webhook('http://127.0.0.1:9/unused')
    hooks.event()
    hooks.event()
    claims = hooks.sql("select id, claim_token from pghook_claim(2, 30000) where id is not null")
    assert len(claims) == 2
    old = {'timings': {'dnsMs': 1, 'connectMs': 2, 'tlsMs': None, 'firstByteMs': 4,
                       'totalMs': 5}}
    new = {'dnsMs': None, 'connectMs': 7, 'tlsMs': 8, 'firstByteMs': 9, 'totalMs': 10}
    out = [dict({'id': c[0], 'token': c[1], 'status': 'delivered', 'code': 200, 'body': '',
                 'durationMs': 5}, **t) for c, t in zip(claims, (old, new))]
    assert hooks.sql('select pghook_complete(%s::json, %s)', (json.dumps(out), 'w'))[0][0] == 2
    got = {r[0]: r[1:] for r in hooks.sql(
        'select delivery_id, dns_ms, connect_ms, tls_ms, first_byte_ms, total_ms from attempts')}
    assert got == {claims[0][0]: (1, 2, None, 4, 5), claims[1][0]: (None, 7, 8, 9, 10)}


def test_worker_killed_mid_batch_loses_nothing(worker_factory, hooks, receiver_factory):
    r = receiver_factory(delay=30)  # hold the first worker's requests open
    hooks.webhook(r.url)
    a = worker_factory(PGHOOK_WORKER_LEASE='2s')
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(10)])
    harness.wait_for(lambda: r.count() == 10, what='the batch in flight')
    assert len(hooks.leases()) == 10
    a.proc.signal(signal.SIGKILL)
    a.proc.kill()
    r.delay = 0

    b = worker_factory(PGHOOK_WORKER_LEASE='2s')
    harness.wait_for(lambda: hooks.sql("select count(*) from deliveries "
                                       "where status = 'delivered'")[0][0] == 10,
                     what='the other worker delivered them after the lease')
    rows = hooks.sql('select d.event_id, a.worker_id, a.attempt_number from deliveries d '
                     'join attempts a on a.delivery_id = d.id')
    assert sorted(x[0] for x in rows) == sorted(ids)
    assert {x[1] for x in rows} == {b.id}  # the dead worker recorded nothing
    assert {x[2] for x in rows} == {1}
    got = collections.Counter(g.headers['webhook-id'] for g in r.received())
    assert all(got[e] == 2 for e in ids)  # at least once: the receiver saw both tries


def crash_with_outcomes_waiting(pg, hooks, r, w):
    """Three deliveries in flight behind the held gate r; PostgreSQL crashes, the answers come
    while it is down (their outcomes wait for it), then it restarts and every delivery ends
    delivered. Returns the events' ids."""
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(3)])
    harness.wait_for(lambda: r.count() == 3, what='requests in flight')
    pg.halt('immediate')  # the worker's connections break while it waits for answers
    try:
        r.release()
        harness.wait_for(lambda: w.metrics().get('pghook_outcomes_pending') == 3,
                         what='three outcomes waiting for the database')
    finally:
        pg.start()
    hooks.reconnect()
    harness.wait_for(lambda: hooks.sql("select count(*) from deliveries "
                                       "where status = 'delivered'")[0][0] == 3,
                     timeout=30, what='every delivery delivered after the restart')
    return ids


def test_database_restart_loses_no_outcome(pg, worker_factory, hooks, gate_factory):
    r = gate_factory()
    r.hold()  # answered once the database is down
    hooks.webhook(r.url)
    w = worker_factory()
    ids = crash_with_outcomes_waiting(pg, hooks, r, w)
    assert w.proc.alive()
    assert w.metrics()['pghook_db_errors_total'] >= 1  # the first write did hit the restart
    assert hooks.sql('select count(*) from attempts')[0][0] == 3
    # LISTEN came back too: a new event is picked up.
    later = hooks.ingest([{'type': 'a', 'data': {}}])[0]
    harness.wait_for(lambda: hooks.deliveries(later)[0]['status'] == 'delivered',
                     what='delivery after reconnect')
    assert r.count() == 4 and set(ids) <= {g.headers['webhook-id'] for g in r.received()}


def test_database_crash_with_commits_not_waited_for_delivers_at_least_once(
        pg, worker_factory, hooks, gate_factory):
    """PGHOOK_WORKER_SYNCHRONOUS_COMMIT=off (docs/reliability.md, "The worker's commits"): a
    crash of PostgreSQL may take the worker's last claim with it. Its deliveries are then due
    again and are sent again; every one still ends delivered, with its attempts numbered 1..n
    and the books balanced."""
    r = gate_factory()
    r.hold()
    hooks.webhook(r.url)
    w = worker_factory(PGHOOK_WORKER_SYNCHRONOUS_COMMIT='off', PGHOOK_WORKER_LEASE='2s')
    ids = crash_with_outcomes_waiting(pg, hooks, r, w)
    assert w.proc.alive()
    assert set(ids) <= {g.headers['webhook-id'] for g in r.received()}
    assert hooks.sql('select count(*) from attempts')[0][0] == 3
    assert hooks.sql('select count(*) from deliveries d where d.attempt_count <> '
                     '(select count(*) from attempts a where a.delivery_id = d.id)')[0][0] == 0
