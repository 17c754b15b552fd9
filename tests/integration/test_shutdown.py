# SPDX-License-Identifier: MIT
"""Graceful shutdown, as Kubernetes does it: SIGTERM, then SIGKILL after
terminationGracePeriodSeconds (deploy/k8s/base, docs/operations.md "Shutdown").

pghook-api: /readyz fails at once while requests are still served for PGHOOK_SHUTDOWN_DELAY,
then the listeners close (new connections are refused), the requests it accepted are answered,
and it exits 0. pghook-worker: stops claiming, lets the deliveries in flight finish until
PGHOOK_SHUTDOWN_TIMEOUT, releases the rest (due again at once, lease cleared), records every
outcome and exits 0 before that deadline has long passed; another worker then delivers what was
released, so nothing is lost.

Every test asserts the whole behaviour; an api or worker that drops work at shutdown fails.
"""
import errno
import http.client
import json
import signal
import socket
import threading
import time

import pytest
import requests

import harness


def refused(port):
    """True when a new TCP connection to the port is refused (the listener is closed)."""
    with socket.socket() as s:
        s.settimeout(1)
        try:
            s.connect(('127.0.0.1', port))
        except ConnectionRefusedError:
            return True
        except OSError as e:
            return e.errno == errno.ECONNREFUSED
    return False


# api/server.c: once its listeners closed, the api keeps serving the connections it has until
# it answered nothing for DRAIN_QUIET_S (or a manual send is still running).
DRAIN_QUIET_S = 2.0
# Every test sets the api's drain deadline far above what a correct drain takes: an exit well
# before it is an exit because the work was done, not because the deadline struck.
API_DRAIN_TIMEOUT_S = 60


def exited_when_idle(api, timeout=API_DRAIN_TIMEOUT_S / 2):
    """Wait for the draining api to exit (0) and check it left because nothing was left to
    answer, not because its drain deadline struck with connections open."""
    assert api.proc.popen.wait(timeout=timeout) == 0
    assert 'drain deadline reached' not in api.proc.log()


def closing(response):
    """True when the api answered while draining: every such answer closes its connection."""
    return response.headers.get('Connection', '').lower() == 'close'


def post_event(url, tenant, data, timeout=10):
    """One POST /v1/events on a fresh connection."""
    return requests.post(url + '/v1/events', headers=tenant.headers, timeout=timeout,
                         json={'type': 'shutdown', 'data': data})


# ---- pghook-api ----

def test_api_readyz_fails_first_then_listeners_close_then_exit_0(api_factory, tenant, sql):
    # Long enough for the three requests below on a loaded machine running sanitized builds.
    delay = 4
    api = api_factory(PGHOOK_SHUTDOWN_DELAY='%ds' % delay,
                      PGHOOK_SHUTDOWN_TIMEOUT='%ds' % API_DRAIN_TIMEOUT_S)
    assert requests.get(api.url + '/readyz', timeout=5).status_code == 200
    t0 = time.monotonic()
    api.proc.signal(signal.SIGTERM)
    # During the delay: not ready, still alive, still serving new connections. Each request
    # below opens a new connection, so the POST answered while draining (its connection
    # closed) shows the listener was still open after /readyz failed.
    harness.wait_for(lambda: requests.get(api.url + '/readyz', timeout=5).status_code == 503,
                     what='/readyz 503 after SIGTERM')
    assert requests.get(api.url + '/healthz', timeout=5).status_code == 200
    r = post_event(api.url, tenant, {'during': 'delay'})
    assert r.status_code == 201 and closing(r), (r.status_code, r.headers, r.text)
    served_during_delay = r.json()['id']
    # Then the listeners close: new connections are refused, not accepted and dropped.
    harness.wait_for(lambda: refused(api.port), timeout=delay + 20, interval=0.01,
                     what='listener closed after the delay')
    # The delay is the property here: a lower bound, which a slow machine can only lengthen.
    closed_at = time.monotonic() - t0
    assert closed_at >= delay - 0.1, 'listeners closed %.2fs after SIGTERM' % closed_at
    exited_when_idle(api)
    api.proc.stop()  # exit status 0, no sanitizer report
    assert sql('select id from events where id = %s', (served_during_delay,)) == [
        (served_during_delay,)]


def test_api_sigterm_under_load_answers_every_request_it_accepted(api_factory, tenant, sql):
    """Keep-alive clients sending events while the api drains. Each request must end in a 201
    (and be stored) or in a refused connection (never sent, the client retries elsewhere); a
    request the api accepted and then dropped unanswered leaves its client not knowing whether
    the event was stored."""
    api = api_factory(PGHOOK_SHUTDOWN_DELAY='1s',
                      PGHOOK_SHUTDOWN_TIMEOUT='%ds' % API_DRAIN_TIMEOUT_S)
    lock = threading.Lock()
    acked, refused_at_connect, dropped, other = [], [], [], []
    stop = threading.Event()
    sigterm_sent = threading.Event()

    def client(i):
        session = requests.Session()
        session.headers.update(tenant.headers)
        k = 0
        while not stop.is_set():
            key = 'c%d-%d' % (i, k)
            k += 1
            try:
                r = session.post(api.url + '/v1/events', timeout=10,
                                 json={'type': 'load', 'sourceKey': key, 'data': {'k': key}})
            except requests.exceptions.ConnectionError as e:
                text = repr(e)
                with lock:
                    if 'NewConnectionError' in text or 'Connection refused' in text:
                        refused_at_connect.append(key)
                        return  # the api is gone for new connections
                    dropped.append((key, text[:160], sigterm_sent.is_set()))
                session = requests.Session()
                session.headers.update(tenant.headers)
                continue
            with lock:
                if r.status_code == 201:
                    acked.append((key, r.json()['id'], closing(r)))
                else:
                    other.append((key, r.status_code, r.text[:200]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    harness.wait_for(lambda: len(acked) >= 60, timeout=20, what='events flowing')
    t0 = time.monotonic()
    sigterm_sent.set()
    api.proc.signal(signal.SIGTERM)
    exited_when_idle(api)
    exited = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(15)
        assert not t.is_alive()
    api.proc.stop()

    assert not other, other[:5]
    assert exited >= 1.0, exited  # not before the delay (a lower bound: load only adds)
    assert [a for a in acked if a[2]], 'nothing was served while draining'
    assert refused_at_connect, 'no client saw the closed listener'
    stored = dict(sql("select source_key, id from events where event_type = 'load'"))
    assert all(stored.get(key) == eid for key, eid, _ in acked), 'an acknowledged event is lost'
    assert all(d[2] for d in dropped), 'requests dropped before SIGTERM: %s' % [
        d for d in dropped if not d[2]][:3]
    # A request the api accepted must be answered: a dropped one leaves its client not knowing
    # whether the event was stored.
    assert not dropped, 'requests accepted and dropped at shutdown: %s' % dropped[:3]


def test_api_sigterm_answers_a_request_still_arriving(api_factory, tenant, sql):
    """A request whose body is still arriving when the listeners close is answered."""
    api = api_factory(PGHOOK_SHUTDOWN_DELAY='300ms',
                      PGHOOK_SHUTDOWN_TIMEOUT='%ds' % API_DRAIN_TIMEOUT_S)
    body = json.dumps({'type': 'slow', 'sourceKey': 'slow-1', 'data': {'pad': 'x' * 200}})
    head = ('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            'TENANT: %s\r\nAPI-KEY: %s\r\nContent-Length: %d\r\n\r\n'
            % (tenant.id, tenant.key, len(body)))
    s = socket.create_connection(('127.0.0.1', api.port), timeout=10)
    s.sendall(head.encode() + body[:100].encode())
    harness.wait_for(lambda: harness.server_has_read(api.port, s),
                     what='the api reading the first part of the request')
    api.proc.signal(signal.SIGTERM)
    harness.wait_for(lambda: refused(api.port), timeout=20, interval=0.01,
                     what='listener closed')
    # A client on a slow link: the rest of the body comes later than the api's first drain
    # check (100 ms after the close) and well within its quiet window. The sleep is the
    # stimulus, not a hope: the order (listener closed, then the rest) is already certain.
    time.sleep(DRAIN_QUIET_S / 8)
    answer = b''
    try:
        s.sendall(body[100:].encode())
        resp = http.client.HTTPResponse(s)
        resp.begin()
        answer = ('%d' % resp.status).encode()
    except (OSError, http.client.HTTPException) as e:
        answer = repr(e).encode()
    finally:
        s.close()
    exited_when_idle(api)
    api.proc.stop()
    assert answer == b'201', answer
    assert sql("select count(*) from events where source_key = 'slow-1'") == [(1,)]


def test_api_sigterm_answers_a_manual_send_in_flight(api_factory, tenant, gate_factory, sql):
    """POST /v1/deliveries/{id}/send makes the attempt while the client waits (up to
    PGHOOK_HTTP_TIMEOUT). SIGTERM during it: the attempt is answered and recorded before exit."""
    r = gate_factory()
    r.hold()
    api = api_factory(PGHOOK_SHUTDOWN_DELAY='200ms',
                      PGHOOK_SHUTDOWN_TIMEOUT='%ds' % API_DRAIN_TIMEOUT_S)
    s = requests.Session()
    s.headers.update(tenant.headers)
    resp = s.post(api.url + '/v1/webhooks', json={'url': r.url, 'subscriptions': ['*']})
    assert resp.status_code == 201, resp.text
    resp = s.post(api.url + '/v1/events', json={'type': 'a', 'data': {'n': 1}})
    assert resp.status_code == 201, resp.text
    delivery = sql('select id from deliveries')[0][0]
    result = {}

    def send():
        try:
            x = requests.post(api.url + '/v1/deliveries/%s/send' % delivery,
                              headers=tenant.headers, timeout=20)
            result['status'] = x.status_code
        except requests.exceptions.RequestException as e:
            result['error'] = repr(e)[:200]

    t = threading.Thread(target=send)
    t.start()
    harness.wait_for(lambda: r.count() == 1, what='the attempt reached the receiver')
    api.proc.signal(signal.SIGTERM)
    harness.wait_for(lambda: refused(api.port), timeout=20, what='listener closed')
    # The receiver answers only after the api's quiet window has passed: without the send
    # counting as work in progress, the api would have exited by then. The sleep holds the
    # receiver (the stimulus); what follows waits on events.
    time.sleep(DRAIN_QUIET_S * 1.5)
    r.release()
    exited_when_idle(api)
    t.join(20)
    api.proc.stop()
    attempts = sql('select count(*) from attempts where delivery_id = %s', (delivery,))[0][0]
    # The attempt in flight at SIGTERM is answered and recorded before the api exits.
    assert result.get('status') == 200, result
    assert attempts == 1


# ---- pghook-worker ----

def test_worker_sigterm_finishes_or_releases_in_flight_and_loses_nothing(
        worker_factory, hooks, gate_factory):
    # Both receivers hold their answers: the fast one answers once the worker is draining,
    # the slow one not before the worker is gone.
    fast, slow = gate_factory(), gate_factory()
    fast.hold()
    slow.hold()
    fast_hook, _ = hooks.webhook(fast.url)
    slow_hook, _ = hooks.webhook(slow.url)
    events = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(6)])
    # Some of the slow ones were attempted before: released, they go back to retry_scheduled.
    retried = [d['id'] for d in hooks.deliveries(webhook_id=slow_hook)[:2]]
    hooks.sql("update deliveries set status = 'retry_scheduled', attempt_count = 1 "
              'where id = any(%s)', (retried,))
    # 12 deliveries, 8 slots: 4 stay queued, never claimed once the worker is told to stop.
    drain_s = 4
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='%ds' % drain_s, PGHOOK_WORKER_CONCURRENCY=8,
                       PGHOOK_WORKER_BATCH=8, PGHOOK_RETRY_SCHEDULE='0s,1s,1s,1s')
    harness.wait_for(lambda: w.metrics().get('pghook_inflight') == 8,
                     what='8 deliveries in flight')
    harness.wait_for(lambda: fast.count() >= 1 and slow.count() >= 1,
                     what='both receivers busy')
    snapshot = hooks.deliveries()
    in_flight = {d['id']: d for d in snapshot if d['status'] == 'delivering'}
    queued = {d['id'] for d in snapshot if d['status'] in ('pending', 'retry_scheduled')}
    assert {d['webhook_id'] for d in in_flight.values()} == {fast_hook, slow_hook}
    assert queued, 'every delivery was claimed: nothing left to check stays unclaimed'
    t0 = time.monotonic()
    w.proc.signal(signal.SIGTERM)
    # Draining: not ready any more, and no new claim.
    harness.wait_for(w.draining, what='worker /readyz 503 while draining')
    fast.release()  # these finish while the worker drains
    assert w.proc.popen.wait(timeout=drain_s + 30) == 0
    elapsed = time.monotonic() - t0
    w.proc.stop()  # exit status 0, no sanitizer report
    # The slow ones were still unanswered when it exited: it did not wait for them, it released
    # them at its deadline. That deadline is the property, so it is checked against the
    # configured value, as a lower bound that a slow machine can only lengthen.
    assert 'shutdown deadline reached' in w.proc.log()
    assert elapsed >= drain_s - 0.1, elapsed
    slow.release()

    rows = {d['id']: d for d in hooks.deliveries()}
    leases = hooks.leases()
    assert not [d for d in rows.values() if d['status'] == 'delivering'], 'left delivering'
    for d in rows.values():
        if d['status'] in ('pending', 'retry_scheduled'):
            assert d['lease_expires_at'] is None and d['id'] not in leases, d
    db_now = hooks.sql('select now()')[0][0]
    for did, before in in_flight.items():
        d = rows[did]
        if d['webhook_id'] == fast_hook:
            assert d['status'] == 'delivered', d  # finished before the deadline, recorded
            assert [a['response_status_code'] for a in hooks.attempts(did)] == [200]
        else:
            # Released: due again at once, the attempt that was cut short not counted.
            want = 'retry_scheduled' if did in retried else 'pending'
            assert d['status'] == want, d
            assert d['next_retry_at'] <= db_now, d
            assert d['attempt_count'] == before['attempt_count'], d
            assert hooks.attempts(did) == []
    for did in queued:
        assert rows[did]['status'] in ('pending', 'retry_scheduled'), rows[did]
        assert hooks.attempts(did) == [], 'claimed after SIGTERM'

    # Nothing lost: another worker delivers everything left, at least once per receiver.
    worker_factory()
    harness.wait_for(lambda: all(d['status'] == 'delivered' for d in hooks.deliveries()),
                     timeout=20, what='every delivery delivered after the restart')
    for rec in (fast, slow):
        got = {json.loads(x.body)['i'] for x in rec.received()}
        assert got == set(range(len(events))), got


def test_worker_sigterm_when_idle_exits_at_once(worker_factory, hooks):
    # With nothing in flight there is nothing to wait for: it exits long before its deadline.
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='1h')
    assert w.proc.stop(signal.SIGTERM, timeout=60) == 0
