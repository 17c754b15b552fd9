# SPDX-License-Identifier: MIT
"""pghook benchmark driver (issue 4). Started by tests/bench/run; see docs/benchmarks.md.

Sets up a throwaway PostgreSQL cluster (fsync and synchronous_commit on, pg_stat_statements),
the C receiver (tests/bench/receiver.c) on loopback, pghook-api and pghook-worker from the
release build, runs every scenario, prints a table and writes JSON.

Each scenario gets a fresh database cloned from a migrated template, so runs do not inherit
each other's dead rows. Figures are medians over --runs runs; the load average (1 min) is
recorded with every run because the machine may be shared.
"""
import argparse
import base64
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import psycopg  # noqa: E402
import requests  # noqa: E402

import harness  # noqa: E402
import dbcost  # noqa: E402
import floor  # noqa: E402

BUILD = os.environ.get('PGHOOK_BENCH_BUILD', os.path.join(ROOT, 'build-bench'))
API_BIN = os.path.join(BUILD, 'api', 'pghook-api')
WORKER_BIN = os.path.join(BUILD, 'worker', 'pghook-worker')
RECEIVER_BIN = os.path.join(BUILD, 'tests', 'bench', 'receiver')
FLOOR_BIN = os.path.join(BUILD, 'tests', 'bench', 'curlfloor')
PAD = 'x' * 900
WARMUP_S = 1  # open-loop scenarios: seconds sent before latency is recorded (OpenLoop)

PG_SETTINGS = {
    'fsync': 'on',
    'synchronous_commit': 'on',
    'shared_buffers': '512MB',
    'max_wal_size': '8GB',
    'checkpoint_timeout': '30min',
    'max_connections': '300',
    'shared_preload_libraries': 'pg_stat_statements',
    'pg_stat_statements.track': 'top',
}
# For experiments with the server's settings: PGHOOK_BENCH_PG="name=value,name=value".
PG_SETTINGS.update(kv.split('=', 1) for kv in
                   filter(None, os.environ.get('PGHOOK_BENCH_PG', '').split(',')))


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except OSError:
        return 0.0


def _pg_kind(pid):
    """A PostgreSQL process's kind from its title: 'backend' for client sessions, else the
    auxiliary process's name ('walwriter', 'autovacuum worker', 'checkpointer', ...)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            title = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return 'ended'
    title = title.split(':', 1)[1].strip() if ':' in title else title
    for kind in ('autovacuum worker', 'autovacuum launcher', 'walwriter', 'checkpointer',
                 'background writer', 'logical replication launcher', 'stats'):
        if title.startswith(kind):
            return kind
    return 'backend'


def cluster_cpu_by_kind(pg):
    """CPU seconds of a PostgreSQL cluster so far by process kind; 'reaped' is what the
    postmaster's ended children used (autovacuum workers that finished, backends that
    disconnected)."""
    with open(os.path.join(pg.data, 'postmaster.pid')) as f:
        pm = int(f.readline())
    tck = os.sysconf('SC_CLK_TCK')
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(d) == pm:
            out['postmaster'] = out.get('postmaster', 0) + (int(fields[11]) + int(fields[12])) / tck
            out['reaped'] = out.get('reaped', 0) + (int(fields[13]) + int(fields[14])) / tck
        elif int(fields[1]) == pm:
            kind = _pg_kind(int(d))
            out[kind] = out.get(kind, 0) + (int(fields[11]) + int(fields[12])) / tck
    return out


def loadavg():
    return round(os.getloadavg()[0], 2)


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


class BenchPostgres(harness.Postgres):
    """harness.Postgres with the bench settings (the harness's start options are fixed, so the
    cluster is stopped after initdb+start and started again with ours)."""

    def __init__(self, logdir):
        super().__init__()
        self._run('pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop')
        opts = ('-p %d -k %s -c listen_addresses=127.0.0.1 ' % (self.port, self.dir) +
                ' '.join('-c %s=%s' % kv for kv in PG_SETTINGS.items()))
        self._run('pg_ctl', '-D', self.data, '-o', opts, '-l', os.path.join(self.dir, 'log'),
                  '-w', '-t', '60', 'start')
        with psycopg.connect(self.admin_dsn, autocommit=True) as c:
            c.execute('create extension if not exists pg_stat_statements')
            self.version = c.execute('show server_version').fetchone()[0]
            self.settings = {k: c.execute('show %s' % k).fetchone()[0]
                             for k in list(PG_SETTINGS) + ['wal_level', 'work_mem']}

    def sql(self, dbname, query, params=None):
        with psycopg.connect(self.dsn(dbname), autocommit=True) as c:
            cur = c.execute(query, params)
            return cur.fetchall() if cur.description else []


class Env:
    """The cluster, the receiver and the migrated template database."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.pg = BenchPostgres(logdir)
        self.pg.create_database('tmpl')
        self._migrate()
        self.pg.grant_services()
        self.pg.sql('tmpl', 'create extension if not exists pg_stat_statements')
        self.recv = subprocess.Popen([RECEIVER_BIN, '0'], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        line = self.recv.stdout.readline().decode()
        self.recv_port = int(line.split()[1])
        self.recv_url = 'http://127.0.0.1:%d' % self.recv_port
        self.n = 0

    def _migrate(self):
        env = dict(os.environ, DATABASE_URL=self.pg.dsn('tmpl'))
        subprocess.run([API_BIN, 'migrate'], env=env, check=True, capture_output=True,
                       timeout=120)
        # For A/B experiments on schema settings: SQL run on the template after migrating.
        extra = os.environ.get('PGHOOK_BENCH_EXTRA_SQL')
        if extra:
            self.pg.sql('tmpl', extra)

    def fresh_db(self):
        """A new database cloned from the template, with a tenant and an API key."""
        self.n += 1
        name = 'b%d' % self.n
        with psycopg.connect(self.pg.admin_dsn, autocommit=True) as c:
            c.execute('create database %s template tmpl strategy file_copy' % name)
        dsn = self.pg.dsn(name)
        env = dict(os.environ, DATABASE_URL=dsn)
        out = subprocess.run([API_BIN, 'tenant', 'create', 'bench'], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        info = json.loads(out.stdout.strip().splitlines()[-1])
        return Db(self, name, dsn, info['tenantId'], info['apiKey'])

    def service_dsn(self, dsn, service):
        """The dsn pghook's service logs in with: its own role, held by row-level security,
        as deployed (PGHOOK_BENCH_ROLES=owner: the owner, which bypasses it, for A/B runs)."""
        if os.environ.get('PGHOOK_BENCH_ROLES') == 'owner':
            return dsn
        return harness.service_dsn(dsn, service)

    def recv_reset(self):
        requests.get(self.recv_url + '/reset', timeout=5)

    def recv_stats(self):
        return requests.get(self.recv_url + '/stats', timeout=10).json()

    def close(self):
        try:
            os.killpg(self.recv.pid, signal.SIGTERM)
            self.recv.wait(5)
        except Exception:
            pass
        self.pg.stop()


class Db:
    def __init__(self, env, name, dsn, tenant, key):
        self.env, self.name, self.dsn, self.tenant, self.key = env, name, dsn, tenant, key
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.headers = {'TENANT': tenant, 'API-KEY': key, 'Content-Type': 'application/json'}

    def sql(self, query, params=None):
        cur = self.conn.execute(query, params)
        return cur.fetchall() if cur.description else []

    def webhook(self, path, subscriptions=('*',)):
        wid = self.sql("select pghook_new_id('wh')")[0][0]
        self.sql("insert into webhooks (id, tenant_id, url, subscriptions, secret) values "
                 "(%s, %s, %s, %s, %s)",
                 (wid, self.tenant, self.env.recv_url + path, list(subscriptions),
                  'whsec_' + base64.b64encode(os.urandom(24)).decode()))
        return wid

    def close(self):
        self.conn.close()


class Proc(harness.Proc):
    def rss_kib(self):
        try:
            with open('/proc/%d/status' % self.popen.pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except OSError:
            return 0
        return 0


def start_api(env, db, extra=None):
    # info: the port is read from the "listening" line; the api logs requests only at debug.
    e = dict(os.environ, DATABASE_URL=env.service_dsn(db.dsn, 'api'),
             PGHOOK_LISTEN='127.0.0.1:0', PGHOOK_ALLOW_CIDRS='127.0.0.0/8',
             PGHOOK_LOG_LEVEL='info',
             # one tenant drives every scenario: its ingest rate quota (10,000/s per api
             # process by default, docs/reliability.md) would cap the ingest figures
             PGHOOK_TENANT_EVENTS_PER_SECOND='0')
    e.update(extra or {})
    p = Proc('api', [API_BIN, 'serve'], e, env.logdir)

    def port():
        assert p.alive(), p.log()[-2000:]
        m = re.search(r'listening on \S+ \(port (\d+)\)', p.log())
        return int(m.group(1)) if m else None
    p.port = harness.wait_for(port, timeout=20, what='api listening')
    p.url = 'http://127.0.0.1:%d' % p.port
    harness.wait_for(lambda: requests.get(p.url + '/healthz', timeout=1).ok, timeout=20,
                     what='api healthy')
    return p


def start_worker(env, db, extra=None):
    mport = harness.free_port()
    e = dict(os.environ, DATABASE_URL=env.service_dsn(db.dsn, 'worker'),
             PGHOOK_ALLOW_CIDRS='127.0.0.0/8',
             PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % mport, PGHOOK_LOG_LEVEL='warn',
             # The bench receiver answers thousands at once: its webhooks get the per-webhook
             # cap the scenarios ran with before maxInFlight (512, half the slots), now for
             # the fleet; PGHOOK_WEBHOOK_MAX_IN_FLIGHT's default (16) suits small receivers.
             PGHOOK_WEBHOOK_MAX_IN_FLIGHT='512')
    e.update(extra or {})
    p = Proc('worker', [WORKER_BIN], e, env.logdir)
    p.metrics_url = 'http://127.0.0.1:%d/metrics' % mport
    return p


def stop(p):
    try:
        p.stop(timeout=30, check=False)
    except Exception:
        p.kill()


def event_body(type_='bench.drain', extra=None):
    data = {'pad': PAD}
    data.update(extra or {})
    return {'type': type_, 'data': data}


def batch_ingest(api, db, total, per_request=1000, conc=4, type_='bench.drain'):
    """POST total events through /v1/events/batch from conc threads; returns events/s."""
    body = json.dumps({'events': [event_body(type_) for _ in range(per_request)]})
    nreq = (total + per_request - 1) // per_request
    todo = list(range(nreq))
    lock = threading.Lock()
    errors = []

    def run():
        s = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            r = s.post(api.url + '/v1/events/batch', data=body, headers=db.headers, timeout=120)
            if r.status_code != 201:
                errors.append('%s %s' % (r.status_code, r.text[:200]))

    t0 = time.monotonic()
    ths = [threading.Thread(target=run) for _ in range(conc)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        raise RuntimeError('batch ingest failed: %s' % errors[:3])
    return nreq * per_request / dt


def wait_received(env, name, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = env.recv_stats()['names'].get(name)
        if st and st['count'] >= n:
            return st
        time.sleep(0.1)
    raise RuntimeError('receiver got %s of %d %s requests in %ds' % (
        (env.recv_stats()['names'].get(name) or {}).get('count'), n, name, timeout))


def wait_settled(db, n, timeout=60):
    harness.wait_for(lambda: db.sql("select count(*) from deliveries where status = "
                                    "'delivered'")[0][0] >= n,
                     timeout=timeout, interval=0.2, what='%d deliveries recorded' % n)


# ---------------------------------------------------------------------------------------------
# scenarios


def drain_once(env, n, workers, backlog=0, cost=False, hook=None):
    """Ingest n due deliveries (batch route, no worker running), then time their delivery."""
    db = env.fresh_db()
    db.webhook('/drain')
    if backlog:
        t0 = time.monotonic()
        # The future retries: one event, `backlog` retry_scheduled rows due in a day.
        db.sql("insert into events (id, tenant_id, event_type, payload, endpoint_count)"
               " values ('evt_backlog', %s, 'bench.backlog', '{}', 1)", (db.tenant,))
        wid = db.webhook('/backlog', subscriptions=['bench.backlog'])
        db.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status, "
               "attempt_count, next_retry_at) select 'dlv_bk' || lpad(g::text, 10, '0'), %s, "
               "'evt_backlog', %s, 'retry_scheduled', 1, now() + interval '1 day' "
               "+ g * interval '1 ms' from generate_series(1, %s) g", (db.tenant, wid, backlog))
        db.sql('vacuum analyze deliveries')
        log('  backlog of %d future retries inserted in %.1fs' % (backlog, time.monotonic() - t0))
    api = start_api(env, db)
    ingest_rate = batch_ingest(api, db, n)
    stop(api)
    db.sql('vacuum analyze')
    db.sql('checkpoint')
    env.recv_reset()
    if cost:
        db.sql('select pg_stat_statements_reset()')
    lsn0 = db.sql('select pg_current_wal_lsn()')[0][0]
    la0 = loadavg()
    recv_cpu0 = cpu_seconds(env.recv.pid)
    db_cpu0 = cluster_cpu_by_kind(env.pg)
    # The drain's one webhook may hold the worker's 1,024 slots: the depth floor_queue runs at,
    # so that the two rates compare like for like (it held 512 before; docs/benchmarks.md,
    # "The Intel machine, and the drain at the floor's depth").
    ws = [start_worker(env, db, {'PGHOOK_WEBHOOK_MAX_IN_FLIGHT': str(floor.INFLIGHT)})
          for _ in range(workers)]
    if hook:  # profiling (docs/benchmarks.md): called once the workers run
        hook(env, ws)
    rss = 0
    try:
        st = wait_received(env, 'drain', n, timeout=max(60, n / 500))
        wait_settled(db, n)
        rss = max(w.rss_kib() for w in ws)
        worker_cpu = sum(cpu_seconds(w.popen.pid) for w in ws)
        recv_cpu = cpu_seconds(env.recv.pid) - recv_cpu0
        db_kinds = cluster_cpu_by_kind(env.pg)
        db_kinds = {k: v - db_cpu0.get(k, 0) for k, v in db_kinds.items()}
        db_cpu = sum(db_kinds.values())
    finally:
        for w in ws:
            stop(w)
    lsn1 = db.sql('select pg_current_wal_lsn()')[0][0]
    t_first = db.sql('select extract(epoch from min(started_at)) * 1e6 from attempts')[0][0]
    t_last = db.sql("select extract(epoch from max(delivered_at)) * 1e6 from deliveries "
                    "where status = 'delivered' and webhook_id <> all(select id from webhooks "
                    "where url like '%%/backlog')")[0][0]
    first = min(float(t_first), st['firstUs'])
    secs = (float(t_last) - first) / 1e6
    out = {'deliveries': n, 'seconds': round(secs, 3), 'per_s': round(n / secs),
           'ingest_batch_events_per_s': round(ingest_rate), 'load_before': la0,
           'load_after': loadavg(), 'worker_rss_kib': rss,
           'worker_cpu_us_per_delivery': round(worker_cpu * 1e6 / n, 1),
           'receiver_cpu_us_per_delivery': round(recv_cpu * 1e6 / n, 1),
           'db_cpu_us_per_delivery': round(db_cpu * 1e6 / n, 1),
           'db_cpu_us_by_kind': {k: round(v * 1e6 / n, 1) for k, v in sorted(db_kinds.items())
                                 if v > 0}}
    if cost:
        wal = db.sql('select pg_wal_lsn_diff(%s, %s)', (lsn1, lsn0))[0][0]
        stmts = db.sql("select query, calls, total_exec_time, mean_exec_time, wal_bytes "
                       "from pg_stat_statements s join pg_database d on d.oid = s.dbid "
                       "where d.datname = current_database() and query not ilike "
                       "'%%pg_stat_statements%%' and query not ilike '%%pg_current_wal%%' "
                       "and query not ilike '%%count(*) from deliveries%%' "
                       "and query not ilike '%%from attempts%%' "
                       "and query not ilike '%%max(delivered_at)%%' "
                       "order by total_exec_time desc")
        calls = sum(r[1] for r in stmts)
        out['wal_bytes_per_delivery'] = round(float(wal) / n, 1)
        out['statements_per_delivery'] = round(calls / n, 4)
        out['db_exec_us_per_delivery'] = round(sum(r[2] for r in stmts) * 1000 / n, 1)
        out['statements'] = [{'query': r[0][:120], 'calls': r[1],
                              'total_ms': round(r[2], 1), 'mean_ms': round(r[3], 3)}
                             for r in stmts[:int(os.environ.get("PGHOOK_BENCH_TOP", "8"))]]
    db.close()
    return out


async def read_response(r):
    """One HTTP/1.1 answer from the stream reader r, body skipped: (status, Retry-After
    seconds or None), or None when the server closed the connection."""
    line = await r.readline()
    if not line:
        return None
    status, length, retry = int(line.split()[1]), 0, None
    while True:
        h = await r.readline()
        if h in (b'\r\n', b'\n', b''):
            break
        name, _, value = h.partition(b':')
        if name.lower() == b'content-length':
            length = int(value)
        elif name.lower() == b'retry-after':
            retry = int(value)
    if length:
        await r.readexactly(length)
    return status, retry


class OpenLoop:
    """Posts events to the api at a steady rate without waiting for answers (open loop): a
    pool of keep-alive connections; a request goes out on an idle one, or on a new one when
    none is idle. Each event's data carries sent_us, the time it was written to the socket.

    The first `warmup` seconds are sent the same way but carry no sent_us, so the receiver
    does not count their latency: they pay for the processes' first statements (each new
    backend plans and caches pghook's functions; the sender opens its connections), which a
    running system paid long ago. Every request of those seconds is still delivered and
    counted."""

    def __init__(self, url, headers, rate, seconds, types, warmup=0):
        self.host, self.port = url.split('//')[1].split(':')
        self.port = int(self.port)
        self.headers = headers
        self.rate, self.seconds, self.types = rate, seconds, types
        self.warm_n = int(rate * warmup)
        self.sent = self.ok = self.bad = 0
        self.late = 0.0

    async def _conn(self):
        r, w = await asyncio.open_connection(self.host, self.port)
        return [r, w, False]

    async def _reader(self, c, idle):
        r = c[0]
        while True:
            answer = await read_response(r)
            if not answer:
                return
            status, _ = answer
            if status in (200, 201):
                self.ok += 1
            else:
                self.bad += 1
            idle.append(c)

    async def run(self):
        idle, tasks = [], []
        hdr = ''.join('%s: %s\r\n' % kv for kv in self.headers.items())
        n_total = self.warm_n + int(self.rate * self.seconds)
        t0 = time.monotonic() + 0.2
        for k in range(n_total):
            due = t0 + k / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.late = max(self.late, -delay)
            if not idle:
                c = await self._conn()
                tasks.append(asyncio.ensure_future(self._reader(c, idle)))
            else:
                c = idle.pop()
            stamp = 'warmup' if k < self.warm_n else 'sent_us'
            body = json.dumps({'type': self.types[k % len(self.types)],
                               'data': {stamp: time.time_ns() // 1000, 'pad': PAD[:850]}},
                              separators=(',', ':')).encode()
            c[1].write(('POST /v1/events HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n'
                        % (hdr, len(body))).encode() + body)
            self.sent += 1
        deadline = time.monotonic() + 10
        while self.ok + self.bad < self.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.conns = len(tasks)
        for t in tasks:
            t.cancel()


def latency_once(env, rate, seconds):
    db = env.fresh_db()
    db.webhook('/lat')
    api = start_api(env, db)
    w = start_worker(env, db)
    harness.wait_for(lambda: requests.get(w.metrics_url, timeout=1).ok, timeout=20)
    env.recv_reset()
    la0 = loadavg()
    probe = start_fsync_probe(env, seconds + WARMUP_S)
    ol = OpenLoop(api.url, {'TENANT': db.tenant, 'API-KEY': db.key,
                            'Content-Type': 'application/json'}, rate, seconds, ['bench.lat'],
                 warmup=WARMUP_S)
    asyncio.run(ol.run())
    n = ol.sent
    storage = json.loads(probe.communicate(timeout=30)[0])
    try:
        st = wait_received(env, 'lat', n, timeout=30)
    finally:
        stop(w)
        stop(api)
        db.close()
    return {'events': n, 'warmup_s': WARMUP_S, 'rate': rate, 'api_errors': ol.bad,
            'sender_max_late_ms':
            round(ol.late * 1000, 1), 'connections': ol.conns,
            'p50_ms': st['p50Us'] / 1000, 'p95_ms': st['p95Us'] / 1000,
            'p99_ms': st['p99Us'] / 1000, 'max_ms': st['maxUs'] / 1000,
            'storage_fdatasync': storage, 'load_before': la0, 'load_after': loadavg()}


def start_fsync_probe(env, seconds):
    """fsync_probe.py on the cluster's file system for the run (its JSON on stdout)."""
    return subprocess.Popen([sys.executable, os.path.join(HERE, 'fsync_probe.py'), env.pg.dir,
                             str(seconds)], stdout=subprocess.PIPE, text=True)


def ingest_once(env, seconds):
    db = env.fresh_db()
    db.webhook('/ingest')
    api = start_api(env, db)
    la0 = loadavg()
    e = dict(os.environ, TENANT=db.tenant, API_KEY=db.key)
    out = subprocess.run(['wrk', '-t2', '-c64', '-d%ds' % seconds, '--latency', '-s',
                          os.path.join(HERE, 'post_event.lua'), api.url + '/v1/events'],
                         env=e, capture_output=True, text=True, timeout=seconds + 60)
    stop(api)
    m = re.search(r'requests/s (\d+)\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms\s+non-2xx (\d+)\s+'
                  r'errors (\d+)', out.stdout)
    if not m:
        raise RuntimeError('wrk: %s %s' % (out.stdout, out.stderr))
    stored = db.sql('select count(*) from events')[0][0]
    db.close()
    return {'per_s': int(m.group(1)), 'p50_ms': float(m.group(2)), 'p99_ms': float(m.group(3)),
            'non_2xx': int(m.group(4)), 'errors': int(m.group(5)), 'events_stored': stored,
            'load_before': la0, 'load_after': loadavg()}


def batch_once(env, n):
    db = env.fresh_db()
    db.webhook('/batch')
    api = start_api(env, db)
    la0 = loadavg()
    api0, db0, me0 = cpu_seconds(api.popen.pid), cluster_cpu_by_kind(env.pg), os.times()
    rate = batch_ingest(api, db, n)
    api_cpu = cpu_seconds(api.popen.pid) - api0
    kinds = {k: v - db0.get(k, 0) for k, v in cluster_cpu_by_kind(env.pg).items()}
    db_cpu = sum(kinds.values())
    me1 = os.times()
    stop(api)
    db.close()
    # CPU per event: where the two cores went (the client is this Python process's threads)
    return {'events': n, 'per_s': round(rate), 'load_before': la0, 'load_after': loadavg(),
            'api_cpu_us_per_event': round(api_cpu * 1e6 / n, 1),
            'db_cpu_us_per_event': round(db_cpu * 1e6 / n, 1),
            'db_cpu_us_by_kind': {k: round(v * 1e6 / n, 1) for k, v in sorted(kinds.items())
                                  if v > 0},
            'client_cpu_us_per_event': round((me1.user + me1.system - me0.user - me0.system)
                                             * 1e6 / n, 1)}


def memory_once(env, inflight, delay_ms=1000):
    """Worker RSS with `inflight` deliveries held by a receiver answering after delay_ms."""
    db = env.fresh_db()
    db.webhook('/d/%d/mem' % delay_ms)
    n = inflight * 3
    api = start_api(env, db)
    batch_ingest(api, db, n)
    stop(api)
    env.recv_reset()
    # Batches of 1,000 so that claims keep up with 10,000 slots freed every second.
    w = start_worker(env, db, {'PGHOOK_WORKER_CONCURRENCY': str(inflight),
                               'PGHOOK_WEBHOOK_MAX_IN_FLIGHT': str(inflight),
                               'PGHOOK_WORKER_BATCH': '1000'})
    harness.wait_for(lambda: requests.get(w.metrics_url, timeout=1).ok, timeout=20)
    idle_rss = w.rss_kib()
    peak_rss = peak_inflight = 0
    la0 = loadavg()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            st = env.recv_stats()
            peak_rss = max(peak_rss, w.rss_kib())
            peak_inflight = max(peak_inflight, st['inflight'])
            c = (st['names'].get('mem') or {}).get('count', 0)
            if c >= n:
                break
            time.sleep(0.1)
        st = env.recv_stats()
        peak_rss = max(peak_rss, w.rss_kib())
    finally:
        stop(w)
        db.close()
    return {'target_inflight': inflight, 'receiver_delay_ms': delay_ms, 'peak_inflight': max(peak_inflight,
                                                              st['maxInflight']),
            'rss_mib': round(peak_rss / 1024, 1), 'idle_rss_mib': round(idle_rss / 1024, 1),
            'kib_per_inflight': round((peak_rss - idle_rss) / max(1, peak_inflight), 1),
            'delivered': st['names'].get('mem', {}).get(
                'count', 0), 'load_before': la0, 'load_after': loadavg()}


def slow_once(env, rate, seconds, delay_ms=5000):
    """One webhook whose receiver takes delay_ms among nine fast ones, events spread evenly."""
    db = env.fresh_db()
    types = ['bench.t%d' % i for i in range(10)]
    db.webhook('/d/%d/slow' % delay_ms, subscriptions=[types[0]])
    for i in range(1, 10):
        db.webhook('/fast?w=%d' % i, subscriptions=[types[i]])
    api = start_api(env, db)
    w = start_worker(env, db)
    harness.wait_for(lambda: requests.get(w.metrics_url, timeout=1).ok, timeout=20)
    env.recv_reset()
    la0 = loadavg()
    ol = OpenLoop(api.url, {'TENANT': db.tenant, 'API-KEY': db.key,
                            'Content-Type': 'application/json'}, rate, seconds, types,
                 warmup=WARMUP_S)
    asyncio.run(ol.run())
    n_fast = sum(1 for k in range(ol.sent) if k % 10 != 0)
    try:
        st = wait_received(env, 'fast', n_fast, timeout=30)
        slow = env.recv_stats()['names'].get('slow', {})
    finally:
        stop(w)
        stop(api)
        db.close()
    return {'events': ol.sent, 'fast_deliveries': n_fast,
            'fast_per_s': round(n_fast / ((st['lastUs'] - st['firstUs']) / 1e6), 1),
            'fast_p50_ms': st['p50Us'] / 1000, 'fast_p99_ms': st['p99Us'] / 1000,
            'fast_max_ms': st['maxUs'] / 1000, 'slow_received': slow.get('count', 0),
            'slow_max_inflight': env.recv_stats()['maxInflight'],
            'load_before': la0, 'load_after': loadavg()}


def neighbour_once(env, backlog, rate, seconds, delay_ms=1000):
    """A webhook at its in-flight cap (receiver answering after delay_ms) with `backlog` due
    deliveries, older than anything else; another webhook's events posted at `rate`: their
    latency, and the cluster's CPU seconds per second meanwhile."""
    db = env.fresh_db()
    db.sql("insert into events (id, tenant_id, event_type, payload, endpoint_count)"
           " values ('evt_neighbour', %s, 'bench.neighbour', '{}', 1)", (db.tenant,))
    wid = db.webhook('/d/%d/busy' % delay_ms, subscriptions=['bench.neighbour'])
    db.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at)"
           " select 'dlv_nb' || lpad(g::text, 10, '0'), %s, 'evt_neighbour', %s, 'pending',"
           " now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, %s) g",
           (db.tenant, wid, backlog))
    db.sql('vacuum analyze deliveries')
    db.webhook('/nb', subscriptions=['bench.nb'])
    api = start_api(env, db)
    w = start_worker(env, db)
    harness.wait_for(lambda: requests.get(w.metrics_url, timeout=1).ok, timeout=20)
    # The busy webhook reaches its cap before the other's events start.
    harness.wait_for(lambda: env.recv_stats()['inflight'] >= 256, timeout=30,
                     what='the busy webhook at its cap')
    env.recv_reset()
    la0 = loadavg()
    db_cpu0 = sum(cluster_cpu_by_kind(env.pg).values())
    ol = OpenLoop(api.url, {'TENANT': db.tenant, 'API-KEY': db.key,
                            'Content-Type': 'application/json'}, rate, seconds, ['bench.nb'],
                 warmup=WARMUP_S)
    asyncio.run(ol.run())
    try:
        st = wait_received(env, 'nb', ol.sent, timeout=120)
        db_cpu = sum(cluster_cpu_by_kind(env.pg).values()) - db_cpu0
        busy = env.recv_stats()['names'].get('busy', {})
    finally:
        stop(w)
        stop(api)
        db.close()
    return {'backlog': backlog, 'events': ol.sent, 'rate': rate,
            'p50_ms': st['p50Us'] / 1000, 'p99_ms': st['p99Us'] / 1000,
            'max_ms': st['maxUs'] / 1000, 'busy_received': busy.get('count', 0),
            'db_cpu_s_per_s': round(db_cpu / (seconds + WARMUP_S), 2),
            'load_before': la0, 'load_after': loadavg()}


def fairness_once(env, backlog, rate, seconds, workers, delay_ms=100):
    """Issue 16's fairness scenario: tenant B's events posted at `rate` to its one webhook,
    first alone (idle), then beside tenant A's `backlog` due deliveries over 4 webhooks whose
    receiver answers after delay_ms (each at the default maxInFlight of 16, as a customer's
    would be): B's latency both times."""
    db = env.fresh_db()
    db.webhook('/fb', subscriptions=['bench.fb'])
    api = start_api(env, db)
    ws = [start_worker(env, db, {'PGHOOK_WEBHOOK_MAX_IN_FLIGHT': '16'}) for _ in range(workers)]
    out = {'backlog': backlog, 'workers': workers, 'rate': rate, 'load_before': loadavg()}
    try:
        for w in ws:
            harness.wait_for(lambda: requests.get(w.metrics_url, timeout=1).ok, timeout=20)
        for phase in ('idle', 'busy'):
            if phase == 'busy':
                a = 'ten_benchfairness_a'
                db.sql("insert into tenants (id, name) values (%s, 'A')", (a,))
                db.sql("insert into events (id, tenant_id, event_type, payload, endpoint_count)"
                       " values ('evt_fair', %s, 'bench.a', '{}', 4)", (a,))
                hooks = []
                for i in range(4):
                    wid = db.sql("select pghook_new_id('wh')")[0][0]
                    db.sql("insert into webhooks (id, tenant_id, url, subscriptions, secret) "
                           "values (%s, %s, %s, '{bench.a}', %s)",
                           (wid, a, env.recv_url + '/d/%d/a%d' % (delay_ms, i),
                            'whsec_' + base64.b64encode(os.urandom(24)).decode()))
                    hooks.append(wid)
                db.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status,"
                       " next_retry_at) select 'dlv_fa' || lpad(g::text, 10, '0'), %s,"
                       " 'evt_fair', (%s::text[])[1 + g %% 4], 'pending',"
                       " now() - interval '1 hour' + g * interval '1 ms'"
                       " from generate_series(1, %s) g", (a, hooks, backlog))
                db.sql("select pg_notify('pghook_deliveries', '')")
                harness.wait_for(lambda: env.recv_stats()['inflight'] >= 32, timeout=30,
                                 what="tenant A's webhooks busy")
            env.recv_reset()
            ol = OpenLoop(api.url, db.headers, rate, seconds, ['bench.fb'], warmup=WARMUP_S)
            asyncio.run(ol.run())
            st = wait_received(env, 'fb', ol.sent, timeout=120)
            out.update({phase + '_p50_ms': st['p50Us'] / 1000, phase + '_p99_ms': st['p99Us'] / 1000})
        out['a_left'] = db.sql("select count(*) from deliveries where status <> 'delivered'"
                               " and event_id = 'evt_fair'")[0][0]
    finally:
        for w in ws:
            stop(w)
        stop(api)
        db.close()
    return out


# ---------------------------------------------------------------------------------------------


# --- abuse (issue 18): another tenant's ingest beside a hostile tenant's sends and recover ---

def _p(lat, q):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, max(0, int(round(q * len(lat))) - 1))] * 1000


def _send_flood(url, headers, did, ways, stop, out, ready):
    """ways connections, each posting /v1/deliveries/{did}/send and, on 429, sending again
    after its Retry-After, until stop is set (a child process: the probe's latency must not
    share a GIL with it). Sets ready once every connection has its first answer (or failed).
    Puts {status: count} and the connections opened on out."""
    host, port = url.split('//')[1].split(':')
    hdr = ''.join('%s: %s\r\n' % kv for kv in headers.items())
    req = ('POST /v1/deliveries/%s/send HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n'
           % (did, hdr)).encode()
    counts, opened, first = {}, [0], [0]

    def first_round_done():
        first[0] += 1
        if first[0] == ways:
            ready.set()

    async def one():
        try:
            r, w = await asyncio.open_connection(host, int(port))
        except OSError:
            counts['connect_error'] = counts.get('connect_error', 0) + 1
            first_round_done()
            return
        opened[0] += 1
        answered = False
        while not stop.is_set():
            w.write(req)
            answer = await read_response(r)
            if not answered:
                answered = True
                first_round_done()
            if not answer:
                return
            status, retry = answer
            counts[status] = counts.get(status, 0) + 1
            if status == 429:
                await asyncio.sleep(retry or 1)
        w.close()

    async def main():
        tasks = []
        for i in range(ways):
            tasks.append(asyncio.ensure_future(one()))
            if i % 200 == 199:
                await asyncio.sleep(0.01)  # the accept queue is 1,024 deep
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        for t in tasks:
            t.cancel()
    asyncio.run(main())
    out.put({'statuses': counts, 'connections': opened[0]})


def _recover_loop(url, headers, wid, stop, out):
    """POST /v1/webhooks/{wid}/recover over the whole failed backlog, page after page along
    nextCursor (from the start again when it ends), until stop is set."""
    s = requests.Session()
    pages = rows = 0
    errors = {}
    cursor = None
    while not stop.is_set():
        params = {'since': '1970-01-01T00:00:00Z', 'limit': 250}
        if cursor:
            params['cursor'] = cursor
        try:
            r = s.post(url + '/v1/webhooks/%s/recover' % wid, params=params, headers=headers,
                       timeout=60)
        except requests.RequestException:
            r = None  # shut by the api (its connection cap), or no answer in 60 s
        if r is None or r.status_code != 202:
            key = r.status_code if r is not None else 'no answer'
            errors[key] = errors.get(key, 0) + 1
            cursor = None
            continue
        body = r.json()
        pages += 1
        rows += len(body['data'])
        cursor = body.get('nextCursor')
    out.put({'pages': pages, 'replayed': rows, 'errors': errors})


def _probe(url, headers, n):
    """n single-event ingests, one after another: their latencies in seconds."""
    s = requests.Session()
    body = json.dumps(event_body('bench.probe'))
    lat, errors = [], 0
    while len(lat) < n:
        t0 = time.perf_counter()
        try:
            r = s.post(url + '/v1/events', data=body, headers=headers, timeout=60)
        except requests.RequestException:
            # counted, and tried again on a new connection; no answer in 60 s counts as 60 s
            errors += 1
            if time.perf_counter() - t0 >= 59:
                lat.append(60.0)
            s = requests.Session()
            continue
        lat.append(time.perf_counter() - t0)
        if r.status_code != 201:
            raise RuntimeError('probe ingest answered %s %s' % (r.status_code, r.text[:200]))
    return lat, errors


def abuse_once(env, ways, backlog, probe_n, delay_ms=5000):
    """Tenant B's single-event ingest latency (probe_n requests in a row), idle, then during
    tenant A's `ways`-way manual send (its receiver answers after delay_ms: most sends are
    refused 429 by PGHOOK_SEND_CONCURRENCY / PGHOOK_TENANT_SEND_CONCURRENCY), during A's
    recover of `backlog` failed deliveries, and during both. No worker runs: the api alone."""
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    db = env.fresh_db()
    wid = db.webhook('/d/%d/hostile' % delay_ms, subscriptions=['bench.hostile'])
    db.sql("insert into events (id, tenant_id, event_type, payload, endpoint_count)"
           " values ('evt_hostile', %s, 'bench.hostile', '{}', 1)", (db.tenant,))
    db.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status,"
           " attempt_count, last_attempt_at, last_error, created_at)"
           " select pghook_new_id('dlv'), %s, 'evt_hostile', %s, 'failed', 1,"
           " now(), 'bench', now() - interval '1 hour' + g * interval '1 ms'"
           " from generate_series(1, %s) g", (db.tenant, wid, backlog))
    db.sql('vacuum analyze deliveries')
    # The sends go to a delivery of their own webhook: on one of the backlog, each send and
    # each recover page touching it would wait for the other's row lock.
    sid = db.webhook('/d/%d/hostile' % delay_ms, subscriptions=['bench.hostile'])
    did = 'dlv_absend'
    db.sql("insert into deliveries (id, tenant_id, event_id, webhook_id, status,"
           " attempt_count, last_attempt_at, last_error) values (%s, %s, 'evt_hostile', %s,"
           " 'failed', 1, now(), 'bench')", (did, db.tenant, sid))
    out = subprocess.run([API_BIN, 'tenant', 'create', 'bench-b'],
                         env=dict(os.environ, DATABASE_URL=db.dsn), check=True,
                         capture_output=True, text=True, timeout=60)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    b_headers = {'TENANT': info['tenantId'], 'API-KEY': info['apiKey'],
                 'Content-Type': 'application/json'}
    db.sql("insert into webhooks (id, tenant_id, url, subscriptions, secret) values "
           "(pghook_new_id('wh'), %s, %s, '{bench.probe}', 'whsec_x')",
           (info['tenantId'], env.recv_url + '/probe'))
    api = start_api(env, db)
    la0 = loadavg()
    res = {'ways': ways, 'backlog': backlog, 'probe_n': probe_n, 'load_before': la0}
    try:
        _probe(api.url, b_headers, 50)  # warm: the api's connections plan their statements
        lat, _ = _probe(api.url, b_headers, probe_n)
        res['idle_p50_ms'], res['idle_p99_ms'] = _p(lat, 0.5), _p(lat, 0.99)
        for mode in ('send', 'recover', 'both'):
            halt, q, procs, ready = ctx.Event(), ctx.Queue(), [], ctx.Event()
            if mode in ('send', 'both'):
                procs.append(ctx.Process(target=_send_flood, args=(
                    api.url, db.headers, did, ways, halt, q, ready)))
            if mode in ('recover', 'both'):
                procs.append(ctx.Process(target=_recover_loop, args=(
                    api.url, db.headers, wid, halt, q)))
            t0 = time.monotonic()
            for pr in procs:
                pr.start()
            # The flood's connections are open and each has its first answer (the hostile
            # client's own start-up, 10,000 connections in Python, takes 2-6 s of a core on
            # this machine: it is not what is measured), then at least 3 s in all.
            if mode in ('send', 'both'):
                ready.wait(60)
                res[mode + '_flood_ready_s'] = round(time.monotonic() - t0, 2)
            time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
            lat, res[mode + '_probe_errors'] = _probe(api.url, b_headers, probe_n)
            halt.set()
            got = []
            for _ in procs:
                try:
                    got.append(q.get(timeout=90))
                except Exception:
                    got.append({'no_report': True})
            for pr in procs:
                pr.join(30)
            res[mode + '_p50_ms'], res[mode + '_p99_ms'] = _p(lat, 0.5), _p(lat, 0.99)
            res[mode + '_hostile'] = got
    finally:
        stop(api)
        db.close()
    res['load_after'] = loadavg()
    return res


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def machine(env):
    cpu = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    return {'nproc': os.cpu_count(), 'cpu': cpu, 'kernel': platform.release(),
            'mem_gib': round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1),
            'postgresql': env.pg.version, 'pg_settings': env.pg.settings}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='smaller sizes, one run each')
    ap.add_argument('--runs', type=int, default=None, help='runs per scenario (default 3)')
    ap.add_argument('--only', default='', help='comma-separated scenarios: drain,latency,'
                    'ingest,batch,memory,backlog,slow,neighbour,fairness,dbcost,floor,abuse')
    ap.add_argument('--json', default=os.path.join(HERE, 'results', 'latest.json'))
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    q = args.quick
    sizes = {
        'drain_n': 20000 if q else 100000,
        'lat_s': 5 if q else 10,
        'wrk_s': 5 if q else 10,
        'batch_n': 20000 if q else 100000,
        'mem_inflight': 10000,
        'backlog': 100000 if q else 1000000,
        'slow_s': 5 if q else 10,
        'neighbour_backlog': 100000 if q else 1000000,
        'neighbour_s': 5 if q else 10,
        'fairness_backlog': 10000 if q else 50000,
        'fairness_s': 5 if q else 10,
        'dbcost_n': 20000 if q else 50000,
        'abuse_ways': 10000,
        'abuse_backlog': 20000 if q else 100000,
        'abuse_probe_n': 300 if q else 1000,
    }
    only = set(filter(None, args.only.split(',')))

    def want(s):
        return not only or s in only

    # Ctrl-C or SIGTERM: still stop the cluster and the receiver (the finally below).
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    logdir = os.path.join(BUILD, 'bench-logs')
    os.makedirs(logdir, exist_ok=True)
    env = Env(logdir)
    res = {'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'), 'quick': q, 'runs': runs,
           'sizes': sizes, 'machine': machine(env), 'scenarios': {}}
    S = res['scenarios']
    try:
        # The drains run in rounds (1 worker, libcurl alone, 2 workers, the backlog), so that
        # the machine's drift over minutes (it is shared) weighs on each comparison alike.
        drains = [k for k, on in (('drain_1w', want('drain')), ('floor', want('floor')),
                                  ('floor_queue', want('floor')), ('drain_2w', want('drain')),
                                  ('backlog', want('backlog'))) if on]
        for key in drains:
            S[key] = []
        for i in range(runs):
            for key in drains:
                if key.startswith('floor'):
                    if key == 'floor':
                        r = floor.throughput_once(env, FLOOR_BIN, sizes['drain_n'],
                                                  cpu_seconds, loadavg)
                    else:
                        r = floor.queue_once(env, FLOOR_BIN, sizes['drain_n'], cpu_seconds,
                                             lambda: cluster_cpu_by_kind(env.pg), loadavg, PAD)
                    S[key].append(r)
                    log('%s run %d: %s' % (key, i + 1, r))
                    continue
                if key == 'backlog':
                    r = drain_once(env, sizes['drain_n'], 1, backlog=sizes['backlog'],
                                   cost=True)
                else:
                    workers = int(key[-2])
                    r = drain_once(env, sizes['drain_n'], workers, cost=(workers == 1))
                S[key].append(r)
                log('%s run %d: %s/s, PostgreSQL CPU µs/delivery %s (load %.2f)' % (
                    key, i + 1, r['per_s'], r['db_cpu_us_by_kind'], r['load_before']))
        if want('dbcost'):
            # pghook's statements and the minimal schema's, alternately, so both see the same load
            pairs = (('dbcost_pghook', dbcost.pghook_once, 'delivery'),
                     ('dbcost_minimal', dbcost.minimal_once, 'delivery'),
                     ('ingestcost_pghook', dbcost.ingest_pghook_once, 'event'),
                     ('ingestcost_minimal', dbcost.ingest_minimal_once, 'event'),
                     ('ingestcost_contract', dbcost.ingest_contract_once, 'event'))
            for key, _, _ in pairs:
                S[key] = []
            for i in range(runs):
                for key, fn, unit in pairs:
                    r = fn(env, sizes['dbcost_n'], PAD)
                    S[key].append(r)
                    log('%s run %d: %s µs, %s WAL bytes/%s, HOT %s (load %.2f)' % (
                        key, i + 1, r['cpu_us_per_' + unit], r['wal_bytes_per_' + unit], unit,
                        r.get('hot_updates', '-'), r['load_before']))
        if want('latency'):
            S['latency'] = []
            for i in range(runs):
                r = latency_once(env, 1000, sizes['lat_s'])
                S['latency'].append(r)
                log('latency run %d: p50 %.1f p99 %.1f ms (load %.2f)' % (
                    i + 1, r['p50_ms'], r['p99_ms'], r['load_before']))
        if want('ingest'):
            S['ingest'] = []
            for i in range(runs):
                r = ingest_once(env, sizes['wrk_s'])
                S['ingest'].append(r)
                log('ingest run %d: %s/s p99 %.1f ms (load %.2f)' % (
                    i + 1, r['per_s'], r['p99_ms'], r['load_before']))
        if want('batch'):
            S['batch'] = []
            for i in range(runs):
                r = batch_once(env, sizes['batch_n'])
                S['batch'].append(r)
                log('batch run %d: %s events/s, PostgreSQL CPU µs/event %s (load %.2f)' % (
                    i + 1, r['per_s'], r['db_cpu_us_by_kind'], r['load_before']))
        if want('memory'):
            # As the issue says (receiver answers after 1 s), then with a 4 s receiver: at 1 s
            # the worker reaches 10,000 in flight only if it claims 10,000 deliveries/s.
            S['memory'] = [memory_once(env, sizes['mem_inflight'], 1000),
                           memory_once(env, sizes['mem_inflight'], 4000)]
            for m in S['memory']:
                log('memory: %s' % m)
        if want('floor'):
            S['floor_memory'] = [floor.memory_once(env, FLOOR_BIN, sizes['mem_inflight'],
                                                   loadavg)]
            log('floor memory: %s' % S['floor_memory'][0])
        if want('slow'):
            S['slow'] = []
            for i in range(runs):
                r = slow_once(env, 1000, sizes['slow_s'])
                S['slow'].append(r)
                log('slow run %d: fast p99 %.1f ms (load %.2f)' % (i + 1, r['fast_p99_ms'],
                                                                   r['load_before']))
        if want('neighbour'):
            S['neighbour'] = []
            for i in range(runs):
                r = neighbour_once(env, sizes['neighbour_backlog'], 500, sizes['neighbour_s'])
                S['neighbour'].append(r)
                log('neighbour run %d: p50 %.1f p99 %.1f ms, database %.2f CPU s/s (load %.2f)'
                    % (i + 1, r['p50_ms'], r['p99_ms'], r['db_cpu_s_per_s'], r['load_before']))
        if want('fairness'):
            for workers in (1, 2):
                key = 'fairness_%dw' % workers
                S[key] = []
                for i in range(runs):
                    r = fairness_once(env, sizes['fairness_backlog'], 50, sizes['fairness_s'],
                                      workers)
                    S[key].append(r)
                    log('fairness %d worker(s) run %d: B idle p99 %.1f ms, beside A\'s backlog '
                        'p99 %.1f ms (A left %d; load %.2f)'
                        % (workers, i + 1, r['idle_p99_ms'], r['busy_p99_ms'], r['a_left'],
                           r['load_before']))
        if want('abuse'):
            S['abuse'] = []
            for i in range(runs):
                r = abuse_once(env, sizes['abuse_ways'], sizes['abuse_backlog'],
                               sizes['abuse_probe_n'])
                S['abuse'].append(r)
                log('abuse run %d: tenant B ingest p99 idle %.1f, sends %.1f, recover %.1f, '
                    'both %.1f ms; hostile %s; flood start-up %s s (load %.2f)'
                    % (i + 1, r['idle_p99_ms'], r['send_p99_ms'], r['recover_p99_ms'],
                       r['both_p99_ms'], [r[m + '_hostile'] for m in ('send', 'recover', 'both')],
                       [r.get(m + '_flood_ready_s') for m in ('send', 'both')],
                       r['load_before']))
    finally:
        env.close()
    res['finished'] = time.strftime('%Y-%m-%dT%H:%M:%S%z')
    res['table'] = table(res)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(res, f, indent=1)
    print()
    print('machine: %(nproc)s cores, %(cpu)s, PostgreSQL %(postgresql)s' % res['machine'])
    print('\n'.join(res['table']))
    print('\nJSON: %s' % args.json)


def table(res):
    S = res['scenarios']
    rows = ['| figure | median | target | load avg (1 min, per run) |', '| --- | --- | --- | --- |']

    def la(key):
        return ', '.join('%.2f' % r['load_before'] for r in S.get(key, []))

    def add(fig, val, target, key):
        rows.append('| %s | %s | %s | %s |' % (fig, val, target, la(key)))

    if 'drain_1w' in S:
        add('drain, 1 worker', '%d deliveries/s' % med(S['drain_1w'], 'per_s'), '≥ 20,000/s',
            'drain_1w')
    if 'drain_2w' in S:
        pairs = ', '.join('%+.0f%%' % (100.0 * (x['per_s'] - y['per_s']) / y['per_s'])
                          for x, y in zip(S['drain_2w'], S.get('drain_1w', [])))
        add('drain, 2 workers', '%d deliveries/s (each round against its 1-worker drain: %s)'
            % (med(S['drain_2w'], 'per_s'), pairs),
            '≥ 20,000/s, ≥ 1 worker', 'drain_2w')
    if 'latency' in S:
        L = S['latency']
        add('end-to-end latency at 1,000 events/s', 'p50 %.1f / p95 %.1f / p99 %.1f / max %.1f ms'
            % (med(L, 'p50_ms'), med(L, 'p95_ms'), med(L, 'p99_ms'), med(L, 'max_ms')),
            'p50 ≤ 5, p99 ≤ 25 ms', 'latency')
        fs = [r['storage_fdatasync'] for r in L if r.get('storage_fdatasync')]
        if fs:
            add('storage during those runs: 8 KiB write + fdatasync every 2 ms',
                'p50 %.2f / p99 %.1f / max %.1f ms, %s flushes over 20 ms'
                % (statistics.median(f['p50_ms'] for f in fs),
                   statistics.median(f['p99_ms'] for f in fs),
                   statistics.median(f['max_ms'] for f in fs),
                   ', '.join(str(f['over_20ms']) for f in fs)), '(context)', 'latency')
    if 'ingest' in S:
        add('single-event ingest, 64 connections', '%d events/s, p99 %.1f ms'
            % (med(S['ingest'], 'per_s'), med(S['ingest'], 'p99_ms')), '≥ 5,000/s, p99 ≤ 50 ms',
            'ingest')
    if 'batch' in S:
        b = S['batch']
        add('batch ingest (1,000/request, 4 clients)', '%d events/s; CPU µs per event: '
            'PostgreSQL %.0f, api %.0f, client %.0f'
            % (med(b, 'per_s'), med(b, 'db_cpu_us_per_event'), med(b, 'api_cpu_us_per_event'),
               med(b, 'client_cpu_us_per_event')), '≥ 50,000/s', 'batch')
    for m in S.get('memory', []):
        rows.append('| worker RSS, %d in flight wanted, %d reached (receiver %.0f s) | %.1f MiB '
                    '(%.1f KiB per delivery in flight) | ≤ 64 MiB | %.2f |'
                    % (m['target_inflight'], m['peak_inflight'], m['receiver_delay_ms'] / 1000,
                       m['rss_mib'], m['kib_per_inflight'], m['load_before']))
    if 'backlog' in S and 'drain_1w' in S:
        b, d = med(S['backlog'], 'per_s'), med(S['drain_1w'], 'per_s')
        pairs = ', '.join('%+.0f%%' % (100.0 * (x['per_s'] - y['per_s']) / y['per_s'])
                          for x, y in zip(S['backlog'], S['drain_1w']))
        add('drain with %d future retries waiting' % res['sizes']['backlog'],
            '%d deliveries/s (%+.0f%% vs drain; each round against its own drain: %s)'
            % (b, 100.0 * (b - d) / d, pairs), 'within 10% of drain', 'backlog')
    if 'drain_1w' in S and S['drain_1w'][0].get('wal_bytes_per_delivery') is not None:
        add('cost per delivery (drain, 1 worker)', '%.0f WAL bytes, %.3f statements; CPU µs: '
            'PostgreSQL %.0f, worker %.0f, receiver %.0f'
            % (med(S['drain_1w'], 'wal_bytes_per_delivery'),
               med(S['drain_1w'], 'statements_per_delivery'),
               med(S['drain_1w'], 'db_cpu_us_per_delivery'),
               med(S['drain_1w'], 'worker_cpu_us_per_delivery'),
               med(S['drain_1w'], 'receiver_cpu_us_per_delivery')), '(tracked)', 'drain_1w')
    floor.rows(S, add)
    for key, what, unit in (('dbcost_pghook', 'pghook_claim + pghook_complete', 'delivery'),
                            ('dbcost_minimal', 'minimal queue (jobs + attempts)', 'delivery'),
                            ('ingestcost_pghook', 'pghook_ingest_rows', 'event'),
                            ('ingestcost_minimal', 'minimal ingest (events + deliveries)',
                             'event'),
                            ('ingestcost_contract', "the contract's tables and indexes, no foreign "
                             'keys', 'event')):
        if key in S:
            add('database alone, one session: %s' % what, '%.0f µs CPU and %.0f WAL bytes per '
                '%s, %d/s' % (med(S[key], 'cpu_us_per_' + unit),
                              med(S[key], 'wal_bytes_per_' + unit), unit,
                              med(S[key], 'per_s_one_session')), '(tracked)', key)
    if 'slow' in S:
        s = S['slow']
        add('fast webhooks beside a 5 s receiver', 'p50 %.1f / p99 %.1f ms, %.0f/s'
            % (med(s, 'fast_p50_ms'), med(s, 'fast_p99_ms'), med(s, 'fast_per_s')),
            'p99 ≤ 2× latency p99', 'slow')
    if 'neighbour' in S:
        s = S['neighbour']
        add('events at 500/s beside a capped webhook with %d due deliveries (1 s receiver)'
            % res['sizes']['neighbour_backlog'],
            'p50 %.1f / p99 %.1f / max %.1f ms; database %.2f CPU s/s'
            % (med(s, 'p50_ms'), med(s, 'p99_ms'), med(s, 'max_ms'), med(s, 'db_cpu_s_per_s')),
            'near latency p99', 'neighbour')
    for workers in (1, 2):
        key = 'fairness_%dw' % workers
        if key in S:
            s = S[key]
            add("tenant B's events at 50/s, alone then beside tenant A's %d due deliveries "
                'over 4 webhooks, %d worker(s)' % (res['sizes']['fairness_backlog'], workers),
                'p99 %.1f ms alone, %.1f ms beside A' % (med(s, 'idle_p99_ms'),
                                                       med(s, 'busy_p99_ms')),
                '≤ 2× alone + 50 ms', key)
    if 'abuse' in S:
        s = S['abuse']
        idle = med(s, 'idle_p99_ms')
        for mode, what in (('send', 'a %d-way manual send' % res['sizes']['abuse_ways']),
                           ('recover', 'a recover of %d failed deliveries'
                            % res['sizes']['abuse_backlog']),
                           ('both', 'both at once')):
            busy = med(s, mode + '_p99_ms')
            add("another tenant's single-event ingest p99 beside %s" % what,
                '%.1f ms against %.1f ms idle: %.2f×' % (busy, idle, busy / idle), '≤ 2× idle',
                'abuse')
    return rows


if __name__ == '__main__':
    main()
