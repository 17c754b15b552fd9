# SPDX-License-Identifier: MIT
"""Hostile clients (issue 6, item 7): hundreds of slowloris connections, a 100 MB body, 1 MB of
headers, malformed chunked encoding, NUL bytes in headers and keys, invalid UTF-8, duplicate
JSON keys, 1e999 and depth-10,000 nesting. Each gets a 4xx or a closed connection, no event
row is written, and a legitimate client keeps being served throughout: it gets answers (every
one a 201) while each hostile request is still in progress, an order of events rather than a
latency, so a loaded machine running sanitized builds cannot make the test fail."""
import itertools
import json
import select
import socket
import threading
import time

import pytest
import requests

import harness


class Legit:
    """A client posting valid events in a loop while the abuse goes on; records every answer."""

    def __init__(self, api, tenant):
        self.api, self.tenant = api, tenant
        self.results = []  # status code, or the exception's name
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        s = requests.Session()
        s.headers.update(self.tenant.headers)
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            try:
                r = s.post(self.api.url + '/v1/events', json={'type': 'legit', 'data': {'i': i}},
                           timeout=30)
                self.results.append(r.status_code)
            except requests.RequestException as exc:
                self.results.append(type(exc).__name__)
            self.stop_ev.wait(0.05)  # pacing, so the abuse gets the api's attention too

    def served(self):
        return self.results.count(201)

    def served_meanwhile(self, n=2):
        """Wait until n more requests are answered 201. Called while a hostile request is in
        progress, it shows that request holds up nobody else."""
        start = self.served()
        harness.wait_for(lambda: self.served() >= start + n, timeout=60,
                         what='the legitimate client served meanwhile')

    def stop(self):
        self.stop_ev.set()
        self.thread.join(60)
        statuses = set(self.results)
        assert statuses == {201}, 'legitimate client got %r' % statuses
        return self.served()


@pytest.fixture
def legit(api, tenant):
    lg = Legit(api, tenant)
    harness.wait_for(lambda: len(lg.results) >= 3, what='the legitimate client running')
    yield lg
    lg.stop_ev.set()
    lg.thread.join(15)


def events_not_legit(sql):
    return sql("select count(*) from events where event_type <> 'legit'")[0][0]


def send_raw(port, data, body_stream=None, timeout=10, meanwhile=None):
    """Send raw bytes (then, optionally, an iterator of body chunks until the server stops
    reading), and return the status code answered, or None when the connection was closed or
    reset without an answer. meanwhile(), when given, runs with the request half sent: after
    the first body chunk, or before the last byte when there is no body_stream."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    pieces = itertools.chain([data], body_stream) if body_stream else [data[:-1], data[-1:]]
    try:
        try:
            for i, piece in enumerate(pieces):
                s.sendall(piece)
                if i == 0 and meanwhile:
                    meanwhile()
        except OSError:
            pass  # the server stopped reading: look for its answer below
        buf = b''
        deadline = time.monotonic() + timeout
        while b'\r\n' not in buf and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except OSError:
                return None
            if not chunk:
                break
            buf += chunk
        if not buf.startswith(b'HTTP/1.'):
            return None
        return int(buf.split(b' ', 2)[1])
    finally:
        s.close()


def request(tenant, body, headers=b'', path=b'/v1/events', extra_len=None):
    length = len(body) if extra_len is None else extra_len
    return (b'POST ' + path + b' HTTP/1.1\r\nHost: x\r\nTENANT: ' + tenant.id.encode() +
            b'\r\nAPI-KEY: ' + tenant.key.encode() + b'\r\ncontent-type: application/json\r\n'
            + headers + b'content-length: %d\r\n\r\n' % length + body)


def refused(status):
    return status is None or 400 <= status < 500


def still_open(socks):
    """The sockets with nothing to read yet: neither answered nor closed by the server."""
    readable, _, _ = select.select(socks, [], [], 0)
    return [s for s in socks if s not in readable]


def test_slowloris_connections_are_shut_and_clients_still_served(api, tenant, legit, sql):
    n = 300
    socks = []
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', api.port), timeout=5)
        s.sendall(b'POST /v1/events HTTP/1.1\r\nHost: x\r\n')
        s.setblocking(False)
        socks.append(s)
    # Served while every slowloris connection is held open.
    legit.served_meanwhile(3)
    assert len(still_open(socks)) == n, 'slowloris connections shut before the legit answers'
    open_ = set(socks)
    # A failure timeout only: the drips keep every idle timeout from firing, so whenever the
    # connections end, the api's first-request deadline (10 s) ended them.
    deadline = time.monotonic() + 60
    while open_ and time.monotonic() < deadline:
        # Drip one header byte per connection per second: each drip resets an idle timeout,
        # so only a deadline on the whole request ends them.
        for s in list(open_):
            try:
                s.send(b'x')
            except OSError:
                open_.discard(s)
        readable, _, _ = select.select(list(open_), [], [], 1.0)
        for s in readable:
            try:
                data = s.recv(4096)
            except OSError:
                data = b''
            if not data or data.startswith(b'HTTP/1.1 4'):
                open_.discard(s)
    for s in socks:
        s.close()
    assert not open_, '%d of %d slowloris connections still open' % (len(open_), n)
    assert legit.stop() > 0
    assert events_not_legit(sql) == 0


def test_oversized_requests_are_refused(api, tenant, legit, sql):
    # 100 MB body, streamed: refused by its content-length before it is read.
    chunk = b'{' + b' ' * 65534 + b'}'
    status = send_raw(api.port, request(tenant, b'', extra_len=100 << 20),
                      body_stream=(chunk for _ in range((100 << 20) // len(chunk))),
                      meanwhile=legit.served_meanwhile)
    assert refused(status), status
    # The same, chunked: no length to refuse up front, refused as it grows.
    head = (b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: ' + tenant.id.encode() +
            b'\r\nAPI-KEY: ' + tenant.key.encode() + b'\r\ntransfer-encoding: chunked\r\n\r\n')
    piece = b'%x\r\n' % len(chunk) + chunk + b'\r\n'
    status = send_raw(api.port, head, body_stream=(piece for _ in range(1600)),
                      meanwhile=legit.served_meanwhile)
    assert refused(status), status
    # 1 MB of headers: one huge one, and many small ones.
    assert refused(send_raw(api.port, request(tenant, b'{}', b'x-pad: ' + b'a' * (1 << 20)
                                              + b'\r\n'), meanwhile=legit.served_meanwhile))
    many = b''.join(b'x-h%d: %s\r\n' % (i, b'b' * 90) for i in range(10000))
    assert refused(send_raw(api.port, request(tenant, b'{}', many),
                            meanwhile=legit.served_meanwhile))
    assert legit.stop() > 0
    assert events_not_legit(sql) == 0


def test_malformed_requests_are_refused(api, tenant, legit, sql):
    good = json.dumps({'type': 'bad', 'data': {}}).encode()
    cases = {
        'chunk size not hex': b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: %s\r\n'
                              b'API-KEY: %s\r\ntransfer-encoding: chunked\r\n\r\n'
                              b'zz\r\n%s\r\n0\r\n\r\n' % (tenant.id.encode(), tenant.key.encode(),
                                                          good),
        'chunk shorter than said': b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: %s\r\n'
                                   b'API-KEY: %s\r\ntransfer-encoding: chunked\r\n\r\n'
                                   b'ffff\r\n%s\r\n0\r\n\r\n' % (tenant.id.encode(),
                                                                 tenant.key.encode(), good),
        'chunk size overflowing': b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: %s\r\n'
                                  b'API-KEY: %s\r\ntransfer-encoding: chunked\r\n\r\n'
                                  b'fffffffffffffffffff\r\n%s\r\n0\r\n\r\n' % (
                                      tenant.id.encode(), tenant.key.encode(), good),
        'NUL in a header value': request(tenant, good, b'x-note: a\x00b\r\n'),
        'NUL in the tenant header': (b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: '
                                     + tenant.id.encode() + b'\x00x\r\nAPI-KEY: '
                                     + tenant.key.encode() + b'\r\ncontent-length: %d\r\n\r\n'
                                     % len(good) + good),
        'NUL in a header name': request(tenant, good, b'x-a\x00b: 1\r\n'),
        'NUL byte in a JSON key': request(tenant, b'{"type":"bad","data":{"k\x00":1}}'),
        'escaped NUL in a JSON key': request(tenant, b'{"type":"bad","data":{"k\\u0000x":1}}'),
        'escaped NUL in the type': request(tenant, b'{"type":"bad\\u0000x","data":{}}'),
        'invalid UTF-8': request(tenant, b'{"type":"bad","data":{"s":"\xff\xfe"}}'),
        'overlong UTF-8': request(tenant, b'{"type":"bad","data":{"s":"\xc0\xaf"}}'),
        'duplicate keys': request(tenant, b'{"type":"bad","type":"worse","data":{}}'),
        'duplicate keys in data': request(tenant, b'{"type":"bad","data":{"a":1,"a":2}}'),
        '1e999': request(tenant, b'{"type":"bad","data":{"n":1e999}}'),
        'huge integer': request(tenant, b'{"type":"bad","data":{"n":%s}}' % (b'9' * 400)),
        'depth 10,000': request(tenant, b'{"type":"bad","data":' + b'[' * 10000 + b']' * 10000
                                + b'}'),
        'depth 10,000 objects': request(tenant, b'{"type":"bad","data":' + b'{"a":' * 10000
                                        + b'1' + b'}' * 10000 + b'}'),
        'not JSON': request(tenant, b'type=bad'),
        'request line garbage': b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' * 10 + b'\r\n\r\n',
    }
    answers = {k: send_raw(api.port, v, timeout=5, meanwhile=legit.served_meanwhile)
               for k, v in cases.items()}
    bad = {k: v for k, v in answers.items() if not refused(v)}
    assert not bad, bad
    assert legit.stop() > 0
    assert events_not_legit(sql) == 0
    # Refused by the api's own validation (422), not by accident further down.
    assert answers['duplicate keys'] == 422 and answers['duplicate keys in data'] == 422
    assert answers['escaped NUL in a JSON key'] == 422
    assert answers['1e999'] == 422 and answers['depth 10,000'] == 422


def _answers(s, timeout=10):
    """Read the server's answers on s until it closes: the list of (status, body)."""
    s.settimeout(timeout)
    buf = b''
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    out = []
    while buf.startswith(b'HTTP/1.'):
        head, _, rest = buf.partition(b'\r\n\r\n')
        length = int([h.split(b':', 1)[1] for h in head.split(b'\r\n')
                      if h.lower().startswith(b'content-length:')][0])
        out.append((int(head.split(b' ', 2)[1]), rest[:length]))
        buf = rest[length:]
    assert buf == b'', buf
    return out


def test_nul_in_a_pipelined_request_head_is_refused(api, tenant, sql):
    """A NUL in the head of a request pipelined behind another (same packet, or sent while the
    first is being answered) is refused with 400 and the connection ended; the request ahead
    of it is answered first (api/server.c, conn_input_cb)."""
    first = request(tenant, json.dumps({'type': 'first', 'data': {}}).encode())
    nul = (b'POST /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: ' + tenant.id.encode()
           + b'\x00x\r\nAPI-KEY: ' + tenant.key.encode() + b'\r\ncontent-length: 2\r\n\r\n{}')
    ways = {
        'same packet': lambda s: s.sendall(first + nul),
        'sent after': lambda s: (s.sendall(first), s.sendall(nul)),
        'after a pipelined GET': lambda s: s.sendall(
            b'GET /v1/events HTTP/1.1\r\nHost: x\r\nTENANT: %s\r\nAPI-KEY: %s\r\n\r\n'
            % (tenant.id.encode(), tenant.key.encode()) + first + nul),
    }
    for way, send in ways.items():
        with socket.create_connection(('127.0.0.1', api.port), timeout=10) as s:
            send(s)
            got = _answers(s)
        assert [st for st, _ in got][-2:] == [201, 400], (way, got)
        assert json.loads(got[-1][1])['error']['code'] == 'bad_request'
    # The first requests were stored; nothing of the NUL ones.
    assert sql("select count(*) from events where event_type = 'first'")[0][0] == 3
    assert sql("select count(*) from events where event_type <> 'first'")[0][0] == 0
    # A lone NUL head is answered 400 too.
    with socket.create_connection(('127.0.0.1', api.port), timeout=10) as s:
        s.sendall(nul)
        assert [st for st, _ in _answers(s)] == [400]
