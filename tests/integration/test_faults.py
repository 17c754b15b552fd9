# SPDX-License-Identifier: MIT
"""Faults with real processes (issue 6, items 1-5): a worker killed with many deliveries in
flight, a stale worker fenced by its claim token, PostgreSQL restarted under load, and poison
deliveries that kill or hang their worker. Every test ends with the reconciliation query
(sql/reconcile.sql) returning no rows."""
import collections
import signal
import threading

import pytest
import requests

import faults
import harness
from conftest import Client


@pytest.fixture
def gate(gate_factory):
    return gate_factory()


def test_worker_killed_with_many_in_flight(worker_factory, hooks, gate):
    n = 60
    hooks.webhook(gate.url)
    gate.hold()
    # every delivery in flight at once: above the default maxInFlight of a webhook (16)
    a = worker_factory(PGHOOK_WORKER_LEASE='2s', PGHOOK_WEBHOOK_MAX_IN_FLIGHT=n)
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(n)])
    harness.wait_for(lambda: gate.count() == n, what='every delivery in flight')
    leases = hooks.leases()
    assert len(leases) == n
    a.proc.signal(signal.SIGKILL)
    a.proc.kill()
    gate.release(200)  # the dead worker's requests get answers nobody reads

    b = worker_factory(PGHOOK_WORKER_LEASE='2s', PGHOOK_WEBHOOK_MAX_IN_FLIGHT=n)
    faults.wait_settled(hooks)
    rows = hooks.deliveries()
    assert {r['status'] for r in rows} == {'delivered'}
    for r in rows:
        # Taken back only once the lease had expired, and only one attempt on record: the
        # killed worker's request reached the receiver but its outcome never did.
        assert r['last_attempt_at'] >= leases[r['id']]
        assert r['attempt_count'] == 1 and r['lost_leases'] == 1
    att = hooks.sql('select worker_id, attempt_number, response_status_code from attempts')
    assert len(att) == n and {x for x in att} == {(b.id, 1, 200)}
    seen = collections.Counter(g.headers['webhook-id'] for g in gate.received())
    assert set(seen) == set(ids)
    assert sum(seen.values()) - n <= n  # duplicates at most the number in flight
    assert max(seen.values()) == 2
    faults.assert_reconciled(hooks.conn)


def test_stale_worker_is_fenced(worker_factory, hooks, gate):
    n = 20
    hooks.webhook(gate.url)
    gate.hold()
    a = worker_factory(PGHOOK_WORKER_LEASE='2s', PGHOOK_HTTP_TIMEOUT='1500ms',
                       PGHOOK_WEBHOOK_MAX_IN_FLIGHT=n)
    hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(n)])
    harness.wait_for(lambda: gate.count() == n, what='every delivery in flight')
    a.proc.signal(signal.SIGSTOP)
    try:
        harness.wait_for(lambda: hooks.sql(
            "select bool_and(expires_at < now()) from delivery_leases")[0][0],
            what="the stopped worker's leases to expire")
        gate.holding = False  # the next worker is answered at once; a's stay held
        b = worker_factory(PGHOOK_WORKER_LEASE='2s', PGHOOK_WEBHOOK_MAX_IN_FLIGHT=n)
        faults.wait_settled(hooks)
        before_d = hooks.sql('select * from deliveries order by id')
        before_a = hooks.sql('select * from attempts order by id')
        assert {r['status'] for r in hooks.deliveries()} == {'delivered'}
        # a's requests now fail (500 or its own timeout, as the stop outlived it): late
        # outcomes that would schedule retries if they were applied.
        gate.release(500)
    finally:
        a.proc.signal(signal.SIGCONT)
    harness.wait_for(lambda: a.metrics().get('pghook_deliveries_total{outcome="stale"}', 0) >= n,
                     what='the stale worker to try to record its late outcomes')
    assert hooks.sql('select * from deliveries order by id') == before_d
    assert hooks.sql('select * from attempts order by id') == before_a
    assert {x[0] for x in hooks.sql('select worker_id from attempts')} == {b.id}
    assert a.proc.alive() and b.proc.alive()
    faults.assert_reconciled(hooks.conn)


def test_postgres_restart_under_load(pg, api, tenant, worker_factory, hooks, receiver_factory):
    r = receiver_factory()
    client = Client(api, tenant)
    resp = client.post('/v1/webhooks', json={'url': r.url, 'subscriptions': ['*']})
    assert resp.status_code == 201, resp.text
    # A claim that committed just before the crash, its answer lost with the connection, is
    # taken back when its lease expires: keep that short.
    w = worker_factory(PGHOOK_HTTP_TIMEOUT='2s', PGHOOK_WORKER_LEASE='3s')
    results = []  # (status or exception name, event id), in the order the answers came
    stop = threading.Event()

    def load():
        s = requests.Session()
        s.headers.update(tenant.headers)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                x = s.post(api.url + '/v1/events', json={'type': 'load', 'data': {'i': i}},
                           timeout=15)
                eid = x.json().get('id') if x.status_code < 300 else None
                results.append((x.status_code, eid))
            except requests.RequestException as exc:
                results.append((type(exc).__name__, None))
            stop.wait(0.01)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        harness.wait_for(lambda: sum(1 for x in results if x[0] == 201) >= 50,
                         what='steady load before the restart')
        pg.restart('immediate')  # returns once PostgreSQL accepts connections again
        up = len(results)  # the answers from here on came once the database was back
        hooks.reconnect()
        harness.wait_for(lambda: sum(1 for x in results[up:] if x[0] == 201) >= 50,
                         timeout=60, what='the api answering 201 again')
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    statuses = collections.Counter(x[0] for x in results)
    assert set(statuses) <= {201, 503}, statuses  # never 2xx unless committed, never 500
    assert statuses[503] > 0, 'the restart was not noticed: %r' % statuses
    # Recovery is counted, not timed: once the database is back, the api fails only the
    # requests that were already under way and, on each of its loops, the one statement that
    # finds the connection broken (the next one reconnects).
    failed_after = [x[0] for x in results[up:] if x[0] != 201]
    assert len(failed_after) <= len(threads) + harness.API_LOOPS, failed_after
    assert api.proc.alive() and w.proc.alive()

    acked = {x[1] for x in results if x[0] == 201}
    stored = {x[0] for x in hooks.sql('select id from events')}
    assert acked <= stored  # every 2xx was committed and survived the crash
    # The worker recovers too: it records outcomes again (an event acknowledged after the
    # restart is delivered), and in the end every acknowledged event is delivered.
    late = [x[1] for x in results[up:] if x[0] == 201]
    harness.wait_for(lambda: hooks.deliveries(late[0])[0]['status'] == 'delivered',
                     what='the worker delivering again after the restart')
    try:
        faults.wait_settled(hooks)
    except AssertionError:
        raise AssertionError('not settled: %r\n%s' % (hooks.sql(
            "select status, attempt_count, claim_token, now() from deliveries "
            "where status not in ('delivered', 'failed') limit 5"), w.proc.log()[-8000:]))
    delivered = {g.headers['webhook-id'] for g in r.received()}
    assert acked <= delivered
    assert {x[0] for x in hooks.sql('select status from deliveries')} == {'delivered'}
    assert api.proc.alive() and w.proc.alive()
    faults.assert_reconciled(hooks.conn)


def _poison_setup(dsn, hooks, gate, smtp_mail):
    """A poison webhook (only 'poison' events) and an innocent one (every event) on gate."""
    poison, _ = hooks.webhook(gate.url.replace('/hook', '/poison'), email=smtp_mail,
                              subscriptions=('poison',))
    innocent, _ = hooks.webhook(gate.url, subscriptions=('*',))
    # The schedule has 3 attempts (0s,1s,1s): the worker tells its claims so, and the lease
    # may be lost 3 times in a row, no more.
    env = dict(PGHOOK_WORKER_LEASE='1s', PGHOOK_HTTP_TIMEOUT='900ms')
    return poison, innocent, env


def _assert_poison_outcome(hooks, smtp, poison, innocent, sup):
    rows = hooks.deliveries(webhook_id=poison)
    assert len(rows) == 1
    p = rows[0]
    assert p['status'] == 'failed' and p['lost_leases'] == 3
    assert p['last_error'].startswith('worker lost the delivery 3 times')
    assert p['attempt_count'] == 1
    att = hooks.attempts(p['id'])
    assert len(att) == 1 and att[0]['error'] == p['last_error']
    assert sup.restarts == 3, sup.restarts  # one worker lost per lease, then given up
    others = hooks.deliveries(webhook_id=innocent)
    assert others and {r['status'] for r in others} == {'delivered'}
    assert hooks.event_status(p['event_id']) == 'failed'
    harness.wait_for(lambda: any(p['id'] in m['content'] for m in smtp.received()),
                     what='the failure email')


def test_poison_delivery_that_crashes_the_worker_ends_failed(dsn, logdir, hooks, gate, smtp):
    poison, innocent, env = _poison_setup(dsn, hooks, gate, 'owner@example.com')
    sup = None

    def crash(rec):
        if rec.path.startswith('/poison') and sup is not None and sup.current.proc.alive():
            sup.current.proc.popen.send_signal(signal.SIGKILL)  # it "crashes" on this one

    gate.on_request = crash
    sup = faults.Supervisor(lambda: faults.SpawnedWorker(dsn, logdir, smtp.url, env))
    try:
        hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(5)]
                     + [{'type': 'poison', 'data': {}}]
                     + [{'type': 'b', 'data': {'i': i}} for i in range(5)])
        faults.wait_settled(hooks, timeout=40)
        # Others keep flowing once it is all over: new events are delivered.
        later = hooks.ingest([{'type': 'c', 'data': {'i': i}} for i in range(5)])
        faults.wait_settled(hooks)
        _assert_poison_outcome(hooks, smtp, poison, innocent, sup)  # (a worker sends the email)
    finally:
        sup.stop()
    assert all(hooks.deliveries(event_id=e)[0]['status'] == 'delivered' for e in later)
    faults.assert_reconciled(hooks.conn)


def test_poison_delivery_that_hangs_the_worker_ends_failed(dsn, logdir, hooks, gate, smtp):
    poison, innocent, env = _poison_setup(dsn, hooks, gate, 'owner@example.com')
    sup = None

    def hang(rec):
        if rec.path.startswith('/poison') and sup is not None and sup.current.proc.alive():
            sup.current.proc.popen.send_signal(signal.SIGSTOP)  # the worker "hangs"

    gate.on_request = hang
    # A liveness probe, as an orchestrator would run: a hung worker is killed and replaced.
    sup = faults.Supervisor(lambda: faults.SpawnedWorker(dsn, logdir, smtp.url, env),
                            liveness=lambda w: faults.proc_state(w.proc.popen.pid) != 'T')
    try:
        hooks.ingest([{'type': 'poison', 'data': {}}]
                     + [{'type': 'a', 'data': {'i': i}} for i in range(8)])
        faults.wait_settled(hooks, timeout=40)
        _assert_poison_outcome(hooks, smtp, poison, innocent, sup)
    finally:
        sup.stop()
    faults.assert_reconciled(hooks.conn)


def _claim_backend(hooks, other_than=None):
    """The pid of a worker's claim connection (the backend that last ran pghook_claim)."""
    rows = hooks.sql("select pid from pg_stat_activity where query like '%%pghook_claim($1%%' "
                     "and pid <> pg_backend_pid() and pid <> coalesce(%s, 0)", (other_than,))
    return rows[0][0] if rows else None


def test_quarantine_survives_a_claim_connection_reconnect(worker_factory, hooks, gate):
    """The quarantine is the claim session's state (sql/functions/claim.sql): a worker whose
    claim connection is re-established sets it again (worker/pq.c), so the session holding a
    delivery one lost lease away from failing as poison still gets nothing beside it."""
    poison, _ = hooks.webhook(gate.url.replace('/hook', '/poison'), subscriptions=('poison',))
    innocent, _ = hooks.webhook(gate.url, subscriptions=('a',))
    stuck = threading.Event()
    gate.on_request = lambda rec: rec.path.startswith('/poison') and stuck.wait(60)
    [pid_event] = hooks.ingest([{'type': 'poison', 'data': {}}])
    # Its lease lost once already and expired again: the next claim puts it in quarantine
    # (3 attempts in the schedule: 3 lost leases fail it).
    hooks.sql("update deliveries set lost_leases = 1, lost_attempt = attempt_count "
              "where event_id = %s", (pid_event,))
    hooks.lease([d['id'] for d in hooks.deliveries(pid_event)], -1)
    try:
        w = worker_factory(PGHOOK_WORKER_LEASE='60s', PGHOOK_HTTP_TIMEOUT='50s')
        claims = lambda: w.metrics()['pghook_claim_batch_size_count']
        harness.wait_for(lambda: any(r.path.startswith('/poison') for r in gate.received()),
                         what='the poison delivery claimed in quarantine')
        [p] = hooks.deliveries(webhook_id=poison)
        assert p['status'] == 'delivering' and p['lost_leases'] == 2

        ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(3)])
        n = claims()  # it looked for work: nothing beside the quarantined one
        harness.wait_for(lambda: hooks.worker_woken() or claims() > n, what='a claim')
        assert {r['status'] for r in hooks.deliveries(webhook_id=innocent)} == {'pending'}

        old = harness.wait_for(lambda: _claim_backend(hooks), what='the claim backend')
        hooks.sql('select pg_terminate_backend(%s)', (old,))
        # The worker reconnects its claim lane on its next claim; wake it until it has.
        harness.wait_for(lambda: hooks.worker_woken() or _claim_backend(hooks, old),
                         what='a new claim connection')
        n = claims()  # then a claim done on the new connection:
        harness.wait_for(lambda: hooks.worker_woken() or claims() > n, what='a claim after it')
        rows = hooks.deliveries(webhook_id=innocent)
        assert {r['status'] for r in rows} == {'pending'}, rows
        assert not [r for r in gate.received() if not r.path.startswith('/poison')]
    finally:
        stuck.set()  # the poison one answers 200 at last: the quarantine ends
    faults.wait_settled(hooks)
    assert {r['status'] for r in hooks.deliveries()} == {'delivered'}
    assert len(ids) == 3
    faults.assert_reconciled(hooks.conn)
