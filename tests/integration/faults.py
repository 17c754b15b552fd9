# SPDX-License-Identifier: MIT
"""Helpers for fault and hostile-input tests: the reconciliation query (sql/reconcile.sql),
process memory, and a worker supervisor that restarts workers the way an orchestrator would."""
import os
import threading

import psycopg

import harness

RECONCILE_SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'sql',
                             'reconcile.sql')


def reconcile(conn_or_dsn):
    """Run sql/reconcile.sql; returns its rows (problem, event_id, delivery_id, detail)."""
    with open(RECONCILE_SQL) as f:
        query = f.read()
    if isinstance(conn_or_dsn, str):
        with psycopg.connect(conn_or_dsn, autocommit=True) as conn:
            return conn.execute(query).fetchall()
    return conn_or_dsn.execute(query).fetchall()


def assert_reconciled(conn_or_dsn):
    rows = reconcile(conn_or_dsn)
    assert rows == [], 'reconciliation found %d problems:\n%s' % (
        len(rows), '\n'.join(map(repr, rows[:30])))


def rss_kb(pid):
    """VmRSS of a process in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for %d' % pid)


def wait_settled(hooks, timeout=30, what='every delivery delivered or failed'):
    """Wait until no delivery is pending, scheduled or leased."""
    return harness.wait_for(lambda: hooks.sql(
        "select count(*) = 0 from deliveries where status not in ('delivered', 'failed')"
    )[0][0], timeout=timeout, interval=0.1, what=what)


class SpawnedWorker:
    """A pghook-worker started without waiting for it (worker_fixtures.Worker waits until it is
    healthy): the Supervisor knows its process from the moment it exists, so a test that kills
    "the current worker" can never miss one that is still starting. Same environment as
    worker_fixtures.Worker."""

    def __init__(self, dsn, logdir, smtp_url=None, env_extra=None):
        self.metrics_port = harness.free_port()
        env = dict(os.environ, DATABASE_URL=dsn, PGHOOK_ALLOW_CIDRS='127.0.0.0/8',
                   PGHOOK_RETRY_SCHEDULE='0s,1s,1s', PGHOOK_HTTP_TIMEOUT='10s',
                   PGHOOK_WORKER_POLL='200ms', PGHOOK_SHUTDOWN_TIMEOUT='5s',
                   PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % self.metrics_port)
        if smtp_url:
            env['PGHOOK_SMTP_URL'] = smtp_url
        env.update({k: str(v) for k, v in (env_extra or {}).items()})
        self.proc = harness.Proc('worker', [harness.WORKER_BIN], env, logdir)


class Supervisor:
    """Keeps one worker running, as systemd or Kubernetes would: when it exits (or liveness(w)
    says it hangs, and it is killed), a new one is started. `make` starts a worker and returns
    it at once (SpawnedWorker). kills counts the workers that died or were killed; stop() ends
    the loop, stops the current worker (checking it exits cleanly) and checks every log for
    sanitizer reports."""

    def __init__(self, make, liveness=None):
        self.make = make
        self.liveness = liveness
        self.restarts = 0
        self.current = make()
        self.workers = [self.current]
        self._stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self._stop.wait(0.02):
                w = self.current
                if w.proc.alive() and self.liveness and not self.liveness(w):
                    w.proc.popen.kill()
                if not w.proc.alive():
                    w.proc.kill()  # reap, close the log
                    nw = self.make()
                    self.current = nw
                    self.workers.append(nw)
                    self.restarts += 1
        except Exception as exc:  # surfaced by stop()
            self.error = exc

    def stop(self):
        self._stop.set()
        self.thread.join(30)
        for w in self.workers:
            if w is not self.current or not w.proc.alive():
                w.proc.kill()
        if self.current.proc.alive():
            self.current.proc.stop()
        for w in self.workers:
            text = w.proc.log()
            for mark in harness.SANITIZER_MARKS:
                assert mark not in text, 'worker: sanitizer report\n' + text[-6000:]
        assert self.error is None, 'supervisor failed: %r' % (self.error,)


class GateReceiver:
    """An HTTP receiver (receivers.HttpReceiver) whose requests can be held open: while
    `holding`, each request waits until release() (or 60 s) before it is answered with
    `held_status`; otherwise it is answered at once with 200. on_request(rec), when set, runs
    for every request as it arrives (before holding), on the receiver's thread."""

    def __init__(self):
        import receivers
        self.holding = False
        self.held_status = 200
        self.on_request = None
        self._release = threading.Event()
        gate = self

        class _Receiver(receivers.HttpReceiver):
            def _answer(self, rec):
                with self.lock:
                    self.requests.append(rec)
                    hold = gate.holding
                if gate.on_request:
                    gate.on_request(rec)
                if hold:
                    gate._release.wait(60)
                    return gate.held_status, {}, b'late'
                return 200, {}, b'ok'

        self.r = _Receiver()
        self.url = self.r.url
        self.port = self.r.port

    def hold(self):
        self._release.clear()
        self.holding = True

    def release(self, status=200):
        self.held_status = status
        self.holding = False
        self._release.set()

    def received(self):
        return self.r.received()

    def count(self):
        return self.r.count()

    def close(self):
        self.release()
        self.r.close()


def proc_state(pid):
    """The one-letter state of a process (R, S, T for stopped, Z...), or None when gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def read_request(conn, limit=1 << 20):
    """Read one HTTP request (head and content-length body) from a socket; returns the bytes,
    or what arrived before the peer closed."""
    data = b''
    while b'\r\n\r\n' not in data and len(data) < limit:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n')[1:]:
        k, _, v = line.partition(b':')
        if k.strip().lower() == b'content-length':
            length = int(v)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b'\r\n\r\n' + body


class RawServer:
    """A TCP server on loopback whose every connection is handed to handler(server, conn) on
    a thread of its own: for receivers no HTTP library would write (hang, trickle, endless
    bodies and headers, resets). Records the requests read with read_request() in
    `requests`; `stopping` is set on close() so handlers can end."""

    def __init__(self, handler, host='127.0.0.1', port=0):
        import socket
        self.handler = handler
        self.requests = []
        self.connections = 0
        self.sent = 0  # bytes handlers report having sent
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = 'http://%s:%d/hook' % ('[%s]' % host if ':' in host else host, self.port)
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        import socket
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(self, conn)
        except OSError:
            pass  # the worker gave up on us: that is the point

    def read(self, conn):
        req = read_request(conn)
        with self.lock:
            self.requests.append(req)
        return req

    def add_sent(self, n):
        with self.lock:
            self.sent += n

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
