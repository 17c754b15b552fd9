# SPDX-License-Identifier: MIT
"""pghook-worker end to end: real PostgreSQL, real HTTP receivers and a real SMTP receiver on
loopback, a short retry schedule (0s,1s,1s). Fan-out with verifiable signatures, retries with a
stable webhook-id, final failure with every attempt recorded and one email, Retry-After, 410,
the SSRF policy, metrics, and shutdown."""
import json
import signal
import time

import requests

import harness
from receivers import verify_signature


def wait_status(hooks, delivery_id, status, timeout=30):
    harness.wait_for(lambda: hooks.status_of(delivery_id) == status, timeout=timeout,
                     what='delivery %s %s' % (delivery_id, status))


def pauses(hooks, delivery_id):
    """Seconds from the end of each attempt to the start of the next, as recorded. A retry is
    claimed only once due, so a pause is at least the delay the worker scheduled; a loaded
    machine can only lengthen it (the receiver's own clock, on a busy thread, could shorten
    one)."""
    a = hooks.attempts(delivery_id)
    return [(b['started_at'] - x['started_at']).total_seconds() - x['duration_ms'] / 1000
            for x, b in zip(a, a[1:])]


def test_fan_out_through_the_api_each_verifiable(api, client, worker, receiver_factory, sql):
    recs = [receiver_factory() for _ in range(3)]
    hooks = []
    for r in recs:
        resp = client.post('/v1/webhooks', json={'url': r.url, 'subscriptions': ['order.created']})
        assert resp.status_code == 201, resp.text
        hooks.append(resp.json())
    payload = {'order': 42, 'text': 'caf\u00e9 \u2603', 'nested': {'a': [1, 2.5, None]}}
    resp = client.post('/v1/events', json={'type': 'order.created', 'data': payload})
    assert resp.status_code in (200, 201, 202), resp.text
    event_id = resp.json()['id']

    harness.wait_for(lambda: all(r.count() == 1 for r in recs),
                     what='each receiver got the event')
    stored, created = sql('select payload::text, floor(extract(epoch from created_at))::bigint '
                          'from events where id = %s', (event_id,))[0]
    received_by = time.time()
    for r, h in zip(recs, hooks):
        got = r.received()[0]
        assert got.headers['webhook-id'] == event_id
        assert got.headers['content-type'] == 'application/json'
        assert got.headers['user-agent'].startswith('pghook/')
        # Signed when sent: after the event was stored, before it was received.
        assert created <= int(got.headers['webhook-timestamp']) <= received_by
        assert got.body == stored.encode()  # the stored bytes, unchanged
        assert json.loads(got.body) == payload
        assert verify_signature(h['secret'], got)
        # ...and not with another webhook's secret.
        other = hooks[(hooks.index(h) + 1) % len(hooks)]
        assert not verify_signature(other['secret'], got)
    harness.wait_for(lambda: sql('select s.status from events e, pghook_event_state(e) s '
                                 'where e.id = %s', (event_id,))[0][0] == 'delivered',
                     what='event delivered')
    rows = sql('select d.status, a.attempt_number, a.response_status_code, a.worker_id '
               'from deliveries d join attempts a on a.delivery_id = d.id '
               'where d.event_id = %s', (event_id,))
    assert len(rows) == 3
    assert all(r[0] == 'delivered' and r[1] == 1 and r[2] == 200 and r[3] == worker.id
               for r in rows)


def test_rotated_secret_signs_with_both(worker, hooks, receiver_factory):
    r = receiver_factory()
    old = 'whsec_' + 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB'
    wid, secret = hooks.webhook(r.url, previous_secret=old)
    hooks.event()
    harness.wait_for(lambda: r.count() == 1, what='delivery')
    got = r.received()[0]
    assert len(got.headers['webhook-signature'].split(' ')) == 2
    assert verify_signature(secret, got)
    assert verify_signature(old, got)


def test_flaky_receiver_delivered_after_retries_with_stable_id(worker, hooks,
                                                               receiver_factory):
    r = receiver_factory(statuses=[500, 502, 200])
    wid, secret = hooks.webhook(r.url)
    event_id = hooks.event()
    d = hooks.deliveries(event_id)[0]
    wait_status(hooks, d['id'], 'delivered')
    got = r.received()
    assert len(got) == 3
    assert {g.headers['webhook-id'] for g in got} == {event_id}
    assert all(verify_signature(secret, g) for g in got)
    # The schedule's 1 s (±20%) separates the attempts.
    assert all(p >= 0.75 for p in pauses(hooks, d['id'])), pauses(hooks, d['id'])
    attempts = hooks.attempts(d['id'])
    assert [a['response_status_code'] for a in attempts] == [500, 502, 200]
    assert [a['attempt_number'] for a in attempts] == [1, 2, 3]
    assert attempts[0]['error'] == 'HTTP 500'
    assert hooks.deliveries(event_id)[0]['attempt_count'] == 3


def test_failing_receiver_ends_failed_with_every_attempt_and_one_email(worker, hooks, smtp,
                                                                       receiver_factory):
    r = receiver_factory(statuses=[500], body=b'{"error": "db down"}')
    wid, _ = hooks.webhook(r.url, email='ops@example.com')
    event_id = hooks.event(type_='invoice.paid')
    d = hooks.deliveries(event_id)[0]
    wait_status(hooks, d['id'], 'failed')
    assert r.count() == 3
    attempts = hooks.attempts(d['id'])
    assert len(attempts) == 3
    for a in attempts:
        assert a['response_status_code'] == 500
        assert a['response_body'] == '{"error": "db down"}'
        assert a['error'] == 'HTTP 500'
        assert a['duration_ms'] is not None and a['worker_id'] == worker.id
    assert hooks.event_status(event_id) == 'failed'
    row = hooks.deliveries(event_id)[0]
    assert row['next_retry_at'] is None and row['lease_expires_at'] is None

    mails = harness.wait_for(smtp.received, what='failure email')
    harness.wait_for(lambda: hooks.sql("select status from notifications")[0][0] == 'sent',
                     what='notification marked sent')
    assert len(smtp.received()) == 1 and len(mails) == 1
    mail = mails[0]
    assert mail['to'] == ['ops@example.com']
    for needle in (wid, d['id'], 'invoice.paid', '500', 'HTTP 500', r.url):
        assert needle in mail['content'], needle


def test_email_retried_when_smtp_is_down(worker_factory, hooks, receiver_factory):
    worker_factory(PGHOOK_SMTP_URL='smtp://127.0.0.1:%d' % harness.free_port())
    r = receiver_factory(statuses=[500])
    hooks.webhook(r.url, email='ops@example.com')
    hooks.event()
    row = harness.wait_for(
        lambda: [x for x in hooks.sql('select status, attempt_count, last_error, '
                                      'next_attempt_at > now() from notifications')
                 if x[1] >= 1 and x[2]],
        what='a failed send attempt')[0]
    assert row[0] == 'pending' and row[3]  # retried later with backoff, not dropped


def test_retry_after_is_respected(worker, hooks, receiver_factory):
    r = receiver_factory()
    answers = iter([(429, {'Retry-After': '3'}, b'slow down'), (200, {}, b'ok')])
    r.script = lambda rec: next(answers, (200, {}, b'ok'))
    hooks.webhook(r.url)
    event_id = hooks.event()
    d = hooks.deliveries(event_id)[0]
    harness.wait_for(lambda: hooks.status_of(d['id']) == 'retry_scheduled', what='retry')
    # The delay scheduled from the end of the attempt, as the worker recorded both: exact,
    # however long the attempt and its recording took.
    delay = hooks.sql("select extract(epoch from d.next_retry_at - a.started_at) "
                      "- a.duration_ms / 1000.0 from deliveries d "
                      "join attempts a on a.delivery_id = d.id where d.id = %s",
                      (d['id'],))[0][0]
    assert abs(float(delay) - 3) < 0.01, delay  # the schedule alone would say 1 s ±20%
    wait_status(hooks, d['id'], 'delivered')
    assert pauses(hooks, d['id'])[0] >= 3 - 0.01, pauses(hooks, d['id'])
    assert [a['response_status_code'] for a in hooks.attempts(d['id'])] == [429, 200]


def test_410_disables_the_webhook(worker, hooks, smtp, receiver_factory):
    r = receiver_factory(statuses=[410])
    wid, _ = hooks.webhook(r.url, email='owner@example.com')
    event_id = hooks.event()
    d = hooks.deliveries(event_id)[0]
    wait_status(hooks, d['id'], 'failed')
    assert r.count() == 1  # no retries to an endpoint that is gone
    status, reason = hooks.sql('select status, disabled_reason from webhooks where id = %s',
                               (wid,))[0]
    assert status == 'disabled' and '410' in reason
    # New events no longer fan out to it.
    later = hooks.event()
    assert hooks.deliveries(later) == []
    mails = harness.wait_for(smtp.received, what='the disabled email')
    harness.wait_for(lambda: hooks.sql("select count(*) from notifications "
                                       "where status = 'pending'")[0][0] == 0, what='sent')
    # One email: the webhook is disabled (not another per failed delivery).
    assert len(smtp.received()) == 1
    assert 'disabled' in mails[0]['content'] and wid in mails[0]['content']
    assert '410' in mails[0]['content']


def test_ssrf_policy_refuses_loopback_and_retries(worker_factory, hooks, receiver_factory):
    worker_factory(PGHOOK_ALLOW_CIDRS='10.0.0.0/8')
    r = receiver_factory()
    hooks.webhook(r.url)
    event_id = hooks.event()
    d = hooks.deliveries(event_id)[0]
    wait_status(hooks, d['id'], 'failed')
    assert r.count() == 0
    errors = [a['error'] for a in hooks.attempts(d['id'])]
    assert len(errors) == 3
    # The class of address, not the address: the tenant must not map internal DNS (issue 18).
    assert all('loopback' in e and '127.0.0.1' not in e for e in errors), errors


def test_non_http_url_is_never_requested(worker, hooks):
    wid, _ = hooks.webhook('file:///etc/passwd')
    d = hooks.deliveries(hooks.event())[0]
    wait_status(hooks, d['id'], 'failed')
    assert 'http' in hooks.attempts(d['id'])[0]['error']


def test_response_body_capped_at_4k(worker, hooks, receiver_factory):
    r = receiver_factory(statuses=[500], body=b'x' * 100000)
    hooks.webhook(r.url)
    d = hooks.deliveries(hooks.event())[0]
    harness.wait_for(lambda: hooks.attempts(d['id']), what='first attempt')
    assert len(hooks.attempts(d['id'])[0]['response_body']) == 4096


def test_metrics_and_readiness(worker, hooks, receiver_factory):
    r = receiver_factory()
    hooks.webhook(r.url)
    d = hooks.deliveries(hooks.event())[0]
    wait_status(hooks, d['id'], 'delivered')
    assert requests.get(worker.metrics_url + '/readyz', timeout=5).status_code == 200
    m = harness.wait_for(
        lambda: (lambda m: m if m.get('pghook_deliveries_total{outcome="delivered"}') == 1
                 else None)(worker.metrics()), what='delivered counter')
    assert m['pghook_attempt_duration_seconds_count'] == 1
    assert m['pghook_inflight'] == 0
    assert m['pghook_claim_batch_size_sum'] >= 1
    assert 'pghook_queue_lag_seconds' in m


def test_sigterm_finishes_in_flight_then_exits_zero(worker_factory, hooks, gate_factory):
    r = gate_factory()
    r.hold()
    hooks.webhook(r.url)
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='60s')
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(5)])
    harness.wait_for(lambda: r.count() == 5, what='requests in flight')
    w.proc.signal(signal.SIGTERM)
    harness.wait_for(w.draining, what='the worker draining')
    r.release()  # answered while the worker drains
    assert w.proc.popen.wait(timeout=30) == 0
    w.proc.stop()  # exit status 0, no sanitizer report
    # Everything in flight was finished and recorded before exit.
    statuses = [hooks.deliveries(e)[0]['status'] for e in ids]
    assert statuses == ['delivered'] * 5


def test_sigterm_releases_what_it_could_not_finish(worker_factory, hooks, gate_factory):
    r = gate_factory()
    r.hold()  # never answered while the worker runs
    hooks.webhook(r.url)
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='1s')
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(3)])
    harness.wait_for(lambda: r.count() == 3, what='requests in flight')
    # It exits with the requests unanswered, at its deadline: had it waited for them, they
    # would have ended at its HTTP timeout (10 s) and been recorded as attempts.
    assert w.proc.stop(signal.SIGTERM, timeout=30) == 0
    assert 'shutdown deadline reached' in w.proc.log()
    for e in ids:
        row = hooks.deliveries(e)[0]
        assert row['status'] == 'pending' and row['lease_expires_at'] is None
        assert row['attempt_count'] == 0


def test_notify_wakes_an_idle_worker_without_waiting_for_the_poll(worker_factory, hooks,
                                                                  receiver_factory):
    # The next poll is an hour away, so only the NOTIFY can bring the event to the worker
    # before the wait below gives up.
    w = worker_factory(PGHOOK_WORKER_POLL='1h')
    r = receiver_factory()
    hooks.webhook(r.url)
    harness.wait_for(lambda: hooks.sql('select count(*) from pg_stat_activity '
                                       "where query ilike 'listen%'")[0][0] >= 1,
                     what='the worker listening')
    # Its first claim, made when it started listening, is over: it cannot find the event.
    harness.wait_for(lambda: w.metrics().get('pghook_claim_batch_size_count', 0) >= 1,
                     what='the first claim done')
    hooks.event()
    harness.wait_for(lambda: r.count() == 1, timeout=60, what='delivery')


def test_webhook_failing_for_five_days_is_disabled_and_owner_told(worker, hooks, smtp,
                                                                  receiver_factory):
    r = receiver_factory(statuses=[500])
    wid, _ = hooks.webhook(r.url, email='owner@example.com')
    hooks.sql("update webhooks set failing_since = now() - interval '5 days 1 minute' "
              'where id = %s', (wid,))
    d = hooks.deliveries(hooks.event())[0]
    harness.wait_for(lambda: hooks.attempts(d['id']), what='first attempt')
    status, reason = harness.wait_for(
        lambda: (lambda row: row if row[0] == 'disabled' else None)(
            hooks.sql('select status, disabled_reason from webhooks where id = %s',
                      (wid,))[0]), what='webhook disabled')
    assert '5 days' in reason
    mail = harness.wait_for(lambda: [m for m in smtp.received() if 'disabled' in m['content']],
                            what='disabled email')[0]
    assert wid in mail['content'] and mail['to'] == ['owner@example.com']


def test_a_success_resets_the_failure_clock(worker, hooks, receiver_factory):
    r = receiver_factory(statuses=[500, 200])
    wid, _ = hooks.webhook(r.url)
    d = hooks.deliveries(hooks.event())[0]
    harness.wait_for(lambda: hooks.sql('select failing_since is not null from webhooks '
                                       'where id = %s', (wid,))[0][0], what='failing')
    wait_status(hooks, d['id'], 'delivered')
    assert hooks.sql('select failing_since is null, status from webhooks where id = %s',
                     (wid,))[0] == (True, 'active')


def test_connections_are_reused(worker_factory, hooks, receiver_factory):
    worker_factory(PGHOOK_WORKER_CONCURRENCY=1)
    r = receiver_factory()
    hooks.webhook(r.url)
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(10)])
    harness.wait_for(lambda: r.count() == 10, what='all delivered')
    assert {g.headers['webhook-id'] for g in r.received()} == set(ids)
    assert len({g.peer for g in r.received()}) == 1  # one keep-alive connection


def test_proxy_environment_is_ignored(worker_factory, hooks, receiver_factory):
    dead = 'http://127.0.0.1:%d' % harness.free_port()
    worker_factory(http_proxy=dead, HTTP_PROXY=dead, https_proxy=dead, ALL_PROXY=dead,
                   no_proxy='')
    r = receiver_factory()
    hooks.webhook(r.url)
    d = hooks.deliveries(hooks.event())[0]
    wait_status(hooks, d['id'], 'delivered')
    assert r.count() == 1


def test_second_sigterm_exits_at_once(worker_factory, hooks, gate_factory):
    r = gate_factory()
    r.hold()  # never answered while the worker runs
    hooks.webhook(r.url)
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='1h')
    ids = hooks.ingest([{'type': 'a', 'data': {}}])
    harness.wait_for(lambda: r.count() == 1, what='request in flight')
    w.proc.signal(signal.SIGTERM)
    harness.wait_for(lambda: 'stopping' in w.proc.log(), what='first signal handled')
    w.proc.signal(signal.SIGTERM)
    # It exits with the request unanswered and long before its deadline (an hour).
    harness.wait_for(lambda: not w.proc.alive(), timeout=30, what='exit')
    assert 'second signal: exiting now' in w.proc.log()
    # Nothing was released or recorded: the lease covers the delivery. (Had it waited for the
    # request, its HTTP timeout of 10 s would have ended it and recorded an attempt.)
    assert hooks.deliveries(ids[0])[0]['status'] == 'delivering'


def test_deliveries_of_a_disabled_webhook_fail_without_a_request(worker_factory, hooks, smtp,
                                                                 receiver_factory):
    r = receiver_factory()
    wid, _ = hooks.webhook(r.url, email='owner@example.com')
    ids = hooks.ingest([{'type': 'a', 'data': {'i': i}} for i in range(3)])
    hooks.sql("update webhooks set status = 'disabled', disabled_reason = 'by hand' "
              'where id = %s', (wid,))
    worker_factory()
    for e in ids:
        wait_status(hooks, hooks.deliveries(e)[0]['id'], 'failed')
    assert r.count() == 0
    assert hooks.sql("select distinct last_error from deliveries") == [('the webhook is disabled',)]
    assert hooks.sql('select count(*) from notifications')[0][0] == 0  # no email per delivery
