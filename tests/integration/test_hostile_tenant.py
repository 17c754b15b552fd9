# SPDX-License-Identifier: MIT
"""A careless or hostile tenant cannot hurt the others, the operator or third parties (issue 18):
bad URLs refused at the api and harmless in the worker, timeouts and quotas, bounded work per
request, throttled emails and logins, and the smaller items of the security read. Real
PostgreSQL, real api and worker processes, real receivers on loopback."""
import psycopg

import harness

# The URL of issue 18: curl_url accepts it, curl refuses it when delivering (a 140-byte label).
BAD_IDN_URL = 'https://a' + '\u00e9' * 70 + '.example/'


def attempts_of(hooks, webhook_id):
    return hooks.sql('select a.attempt_number, a.error, a.response_status_code '
                     'from attempts a join deliveries d on d.id = a.delivery_id '
                     'where d.webhook_id = %s order by a.attempt_number', (webhook_id,))


def test_bad_url_refused_by_the_api_with_curls_reason(api, client):
    for url, words in [(BAD_IDN_URL, 'ASCII'),
                       ('https://user:pw@example.com/hook', 'credentials'),
                       ('https://' + 'a' * 64 + '.example/', '63'),
                       ('https://caf%C3%A9.example/', 'host')]:
        r = client.post('/v1/webhooks', json={'url': url, 'subscriptions': ['*']})
        assert r.status_code == 422, (url, r.text)
        detail = r.json()['detail']
        assert any(d['loc'] == ['body', 'url'] and words in d['msg'] for d in detail), detail
    ok = client.post('/v1/webhooks', json={'url': 'https://xn--caf-dma.example/hook',
                                           'subscriptions': ['*']})
    assert ok.status_code == 201, ok.text
    r = client.patch('/v1/webhooks/' + ok.json()['id'], json={'url': BAD_IDN_URL})
    assert r.status_code == 422, r.text


def test_bad_url_does_not_fail_the_next_delivery_on_its_handle(worker_factory, hooks,
                                                               receiver_factory):
    """One delivery slot: every delivery reuses the handle of the one before. The bad URL's
    attempt fails in curl; the healthy webhook's next attempt must not inherit that."""
    worker_factory(PGHOOK_WORKER_CONCURRENCY=1, PGHOOK_RETRY_SCHEDULE='1h')
    good = receiver_factory()
    bad_id, _ = hooks.webhook(BAD_IDN_URL, subscriptions=('bad.sent',))
    good_id, _ = hooks.webhook(good.url, subscriptions=('good.sent',))
    for round_ in range(1, 4):
        hooks.event('bad.sent')
        harness.wait_for(lambda: len(attempts_of(hooks, bad_id)) == round_,
                         what='bad URL attempt %d' % round_)
        assert attempts_of(hooks, bad_id)[-1][2] is None  # no response: failed in curl
        hooks.event('good.sent')
        harness.wait_for(lambda: good.count() == round_, what='healthy delivery %d' % round_)
        harness.wait_for(lambda: len(attempts_of(hooks, good_id)) == round_,
                         what='healthy attempt %d recorded' % round_)
    # Every healthy delivery was delivered by its first attempt.
    rows = hooks.sql('select d.status, count(a.*) from deliveries d join attempts a on '
                     'a.delivery_id = d.id where d.webhook_id = %s group by d.id, d.status',
                     (good_id,))
    assert rows == [('delivered', 1)] * 3, rows
    errors = [a[1] for a in attempts_of(hooks, bad_id)]
    assert all(e and 'refused a request option' not in e for e in errors), errors


def test_failed_attempt_errors_are_valid_utf8(worker_factory, hooks):
    """curl's message quotes the host and is cut at a byte count; what is stored must be text
    PostgreSQL takes, or the whole completion batch would be refused."""
    worker_factory(PGHOOK_RETRY_SCHEDULE='1h')
    wid, _ = hooks.webhook('https://' + '\u00e9' * 60 + '.invalid/', subscriptions=('x',))
    hooks.event('x')
    harness.wait_for(lambda: len(attempts_of(hooks, wid)) == 1, what='attempt recorded')
    err = attempts_of(hooks, wid)[0][1]
    assert err and err.encode('utf-8').decode('utf-8') == err
