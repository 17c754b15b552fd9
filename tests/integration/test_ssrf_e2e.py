# SPDX-License-Identifier: MIT
"""SSRF end to end (issue 6, item 11): webhooks pointing at loopback in every spelling, with a
worker whose allow list does not cover them, never reach the canary receivers listening on
those addresses, and each delivery records a clear SSRF error. A control run with loopback
allowed proves that the same URLs do reach the canaries, so silence means refusal, not a
broken test. Only loopback addresses are ever used."""
import pytest

import faults


def answer(server, conn):
    server.read(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok')


@pytest.fixture
def canaries():
    """HTTP canaries on 127.0.0.1 and [::1], on the same port."""
    for _ in range(20):
        v4 = faults.RawServer(answer, '127.0.0.1')
        try:
            v6 = faults.RawServer(answer, '::1', port=v4.port)
        except OSError:
            v4.close()
            continue
        yield v4, v6
        v4.close()
        v6.close()
        return
    pytest.skip('no port free on both 127.0.0.1 and ::1')


def forms(port):
    """Loopback spelled every way a URL parser or resolver may accept."""
    return {
        'ipv6 loopback': 'http://[::1]:%d/hook' % port,
        'unspecified': 'http://0.0.0.0:%d/hook' % port,
        '127.1 shortcut': 'http://127.1:%d/hook' % port,
        'decimal': 'http://2130706433:%d/hook' % port,
        'hex': 'http://0x7f000001:%d/hook' % port,
        'octal': 'http://0177.0.0.1:%d/hook' % port,
        'ipv4-mapped ipv6': 'http://[::ffff:127.0.0.1]:%d/hook' % port,
        'ipv4-mapped ipv6, hex': 'http://[::ffff:7f00:1]:%d/hook' % port,
        'name resolving to loopback': 'http://localhost:%d/hook' % port,
        'trailing dot': 'http://127.0.0.1.:%d/hook' % port,
    }


def deliver_all(worker_factory, hooks, urls, allow):
    ids = {k: hooks.webhook(u)[0] for k, u in urls.items()}
    worker_factory(PGHOOK_ALLOW_CIDRS=allow, PGHOOK_RETRY_SCHEDULE='0s')
    hooks.event()
    faults.wait_settled(hooks, timeout=20)
    out = {}
    for k, wid in ids.items():
        d = hooks.deliveries(webhook_id=wid)[0]
        out[k] = (d, hooks.attempts(d['id']))
    return out


@pytest.mark.parametrize('allow', ['', '10.0.0.0/8,127.0.0.2/32,::2/128'],
                         ids=['no allow list', 'allow list excluding loopback'])
def test_loopback_in_every_form_is_refused(worker_factory, hooks, canaries, allow):
    v4, v6 = canaries
    results = deliver_all(worker_factory, hooks, forms(v4.port), allow)
    assert v4.connections == 0 and v6.connections == 0, 'a request reached a canary'
    for k, (d, att) in results.items():
        assert d['status'] == 'failed', (k, d)
        assert len(att) == 1 and att[0]['response_status_code'] is None, (k, att)
        err = att[0]['error'] or ''
        # Some forms are not even parsed as addresses by curl (it then fails to resolve them);
        # every one that resolves is refused by the policy, on the socket about to connect.
        assert 'SSRF policy' in err or 'resolve' in err.lower(), (k, err)
    refused = {k for k, (d, att) in results.items() if 'SSRF policy' in att[0]['error']}
    # All but "127.0.0.1." (which the resolver does not take as an address) get as far as a
    # socket, and the policy refuses it there.
    assert refused == set(results) - {'trailing dot'}, results
    faults.assert_reconciled(hooks.conn)


def test_control_the_same_urls_reach_the_canaries_when_allowed(worker_factory, hooks, canaries):
    v4, v6 = canaries
    results = deliver_all(worker_factory, hooks, forms(v4.port),
                          '127.0.0.0/8,::1/128,0.0.0.0/32')
    reached = {k for k, (d, _) in results.items() if d['status'] == 'delivered'}
    assert {'ipv6 loopback', 'unspecified', '127.1 shortcut', 'ipv4-mapped ipv6',
            'name resolving to loopback'} <= reached, results
    assert v4.connections + v6.connections == len(reached)
    faults.assert_reconciled(hooks.conn)


def test_manual_send_from_the_api_is_refused_too(api_factory, tenant, hooks, canaries, sql):
    from conftest import Client
    v4, v6 = canaries
    api = api_factory(PGHOOK_ALLOW_CIDRS='')
    client = Client(api, tenant)
    r = client.post('/v1/webhooks', json={'url': 'http://[::ffff:127.0.0.1]:%d/hook' % v4.port,
                                          'subscriptions': ['*']})
    if r.status_code == 422:  # refused at creation: as good
        return
    assert r.status_code == 201, r.text
    ev = client.post('/v1/events', json={'type': 'a', 'data': {}}).json()
    did = ev['deliveries'][0]['id']
    r = client.post('/v1/deliveries/%s/send' % did)
    assert v4.connections == 0 and v6.connections == 0
    assert 'SSRF policy' in (hooks.attempts(did)[0]['error'] or ''), r.text
