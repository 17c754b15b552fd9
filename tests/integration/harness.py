# SPDX-License-Identifier: MIT
"""Test harness: a throwaway PostgreSQL cluster, pghook processes, and waiting with deadlines.

Everything here starts real processes and cleans them up. Nothing sleeps and hopes: callers
wait on a condition with wait_for(), which fails loudly at its deadline.
"""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg
import requests

API_BIN = os.environ.get('PGHOOK_API_BIN', 'build/api/pghook-api')
WORKER_BIN = os.environ.get('PGHOOK_WORKER_BIN', 'build/worker/pghook-worker')
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer')


def wait_for(predicate, timeout=30.0, interval=0.02, what='condition'):
    """Call predicate until it returns a truthy value; return it, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a server still starting refuses connections
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1fs waiting for %s (last error: %r)'
                                 % (timeout, what, last_exc))
        time.sleep(interval)


def tcp_sockets():
    """The host's TCP sockets from /proc/net/tcp{,6}: one list of fields per socket (local and
    remote address as hex "addr:port", state, "tx_queue:rx_queue", ...)."""
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            yield line.split()


def tcp_port(address):
    """The port of an address as tcp_sockets() gives it."""
    return int(address.rsplit(':', 1)[1], 16)


def server_has_read(server_port, client):
    """True once the server's end of the client socket's connection has read everything sent
    on it (its receive queue is empty): the server accepted the connection and took the bytes.
    A sign to wait for where a test would otherwise sleep and hope."""
    client_port = client.getsockname()[1]
    for fields in tcp_sockets():
        ends = (tcp_port(fields[1]), tcp_port(fields[2]))
        if ends == (server_port, client_port) and fields[3] == '01':  # established
            return int(fields[4].split(':')[1], 16) == 0
    return False


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def pg_bindir():
    try:
        out = subprocess.run(['pg_config', '--bindir'], capture_output=True, text=True,
                             check=True).stdout.strip()
        if os.path.exists(os.path.join(out, 'initdb')):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    if not found:
        raise RuntimeError('PostgreSQL server binaries (initdb) not found')
    return os.path.dirname(found[-1])


class Proc:
    """A child process with its output in a log file. stop() checks it ended cleanly."""

    def __init__(self, name, args, env, logdir):
        self.name = name
        self.log_path = os.path.join(logdir, '%s-%d.log' % (name, time.monotonic_ns()))
        self._log = open(self.log_path, 'wb')
        self.popen = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def log(self):
        with open(self.log_path, 'r', encoding='utf-8', errors='replace') as f:
            return f.read()

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, sig=None, timeout=30, check=True):
        """End the process (SIGTERM unless sig); with check, assert it exited 0 and no
        sanitizer complained."""
        # The default is resolved here: in the class body, `signal` is the method above.
        sig = sig if sig is not None else signal.SIGTERM
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                if check:
                    raise AssertionError('%s did not stop within %ss\n%s'
                                         % (self.name, timeout, self.log()[-4000:]))
        self._log.close()
        if check:
            self.assert_clean()
        return self.popen.returncode

    def kill(self):
        if self.alive():
            self.popen.kill()
        self.popen.wait()
        self._log.close()

    def assert_clean(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            assert mark not in text, '%s: sanitizer report\n%s' % (self.name, text[-6000:])
        assert self.popen.returncode == 0, '%s exited with %s\n%s' % (
            self.name, self.popen.returncode, text[-4000:])


# How long pg_ctl may wait for the server: a failure timeout. Crash recovery after an
# immediate stop replays the WAL since the last checkpoint, every database the session cloned
# included (CREATE DATABASE logs their pages): on a loaded machine, more than a minute.
PG_CTL_TIMEOUT = '300'


class Postgres:
    """A throwaway cluster: initdb into a temporary folder, started on a free loopback port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
    """

    def __init__(self):
        self.bindir = pg_bindir()
        self.dir = tempfile.mkdtemp(prefix='pghook-pg-')
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
            self.as_user = ['runuser', '-u', 'postgres', '--']
        self._run('initdb', '-D', self.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8',
                  '--no-sync')
        self.opts = ('-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 '
                     '-c shared_buffers=128MB' % (self.port, self.dir))
        self.start()
        self.admin_dsn = 'host=127.0.0.1 port=%d user=postgres dbname=postgres' % self.port
        # The services' login roles (README "Roles and row-level security"): not superusers,
        # so row-level security holds them. Migrations create the NOLOGIN roles they are
        # granted; grant_services() grants them once a database is migrated.
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for role in SERVICE_ROLES.values():
                conn.execute('create role %s login' % role)

    def grant_services(self):
        """Grant the migration's roles to the services' login roles (cluster-wide, once)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for group, role in SERVICE_ROLES.items():
                conn.execute('grant %s to %s' % (group, role))

    def _run(self, tool, *args):
        subprocess.run(self.as_user + [os.path.join(self.bindir, tool)] + list(args),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def dsn(self, dbname):
        return 'host=127.0.0.1 port=%d user=postgres dbname=%s' % (self.port, dbname)

    def create_database(self, name, template=None):
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute('create database %s%s' % (name, ' template ' + template if template else ''))
        return self.dsn(name)

    def start(self):
        self._run('pg_ctl', '-D', self.data, '-o', self.opts, '-l', os.path.join(self.dir, 'log'),
                  '-w', '-t', PG_CTL_TIMEOUT, 'start')

    def halt(self, mode='immediate'):
        """Stop the server, keeping its data, until start(): for a test that acts while the
        database is down (restart() does both at once)."""
        self._run('pg_ctl', '-D', self.data, '-m', mode, '-w', '-t', PG_CTL_TIMEOUT, 'stop')

    def restart(self, mode='immediate'):
        self._run('pg_ctl', '-D', self.data, '-m', mode, '-w', '-t', PG_CTL_TIMEOUT, 'restart')

    def stop(self):
        try:
            self._run('pg_ctl', '-D', self.data, '-m', 'immediate', '-w', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# NOLOGIN role of sql/0004_security.sql -> the login role a service connects as. Two login
# roles, never one with both: policies add up, and the worker's see every tenant.
SERVICE_ROLES = {'pghook_api': 'pghook_app_api', 'pghook_worker': 'pghook_app_worker'}


def service_dsn(dsn, service):
    """dsn as the login role of service ('api' or 'worker') instead of the owner postgres.
    Tests and the admin CLI keep the owner's dsn."""
    return re.sub(r'\buser=postgres\b', 'user=' + SERVICE_ROLES['pghook_' + service], dsn)


def run_cli(dsn, *args, env_extra=None):
    """Run a pghook-api subcommand and return its parsed JSON line."""
    env = dict(os.environ, DATABASE_URL=dsn, **(env_extra or {}))
    out = subprocess.run([API_BIN] + list(args), env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, 'pghook-api %s failed: %s' % (' '.join(args), out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


API_LOOPS = 4  # PGHOOK_API_THREADS: event loops, each with its own database connection


class Api:
    """A running pghook-api on a loopback port the kernel chose.

    The api listens with SO_REUSEPORT (one socket per loop), so a port picked by free_port()
    and bound a moment later could be joined by another process that picked the same one, and
    the two would share its connections. Port 0 cannot collide: the first loop gets a fresh
    port, the others share it, and the api logs it ("listening on ... (port N) ...").
    """

    def __init__(self, dsn, logdir, env_extra=None):
        env = dict(os.environ, DATABASE_URL=service_dsn(dsn, 'api'), PGHOOK_LISTEN='127.0.0.1:0',
                   PGHOOK_API_THREADS=str(API_LOOPS), PGHOOK_ALLOW_CIDRS='127.0.0.0/8')
        env.update(env_extra or {})
        self.proc = Proc('api', [API_BIN, 'serve'], env, logdir)
        self.port = wait_for(self._bound_port, timeout=20, what='pghook-api listening')
        self.url = 'http://127.0.0.1:%d' % self.port
        wait_for(self._healthy, timeout=20, what='pghook-api /healthz')

    def _bound_port(self):
        assert self.proc.alive(), 'pghook-api exited:\n' + self.proc.log()[-3000:]
        m = re.search(r'listening on \S+ \(port (\d+)\)', self.proc.log())
        return int(m.group(1)) if m else None

    def _healthy(self):
        assert self.proc.alive(), 'pghook-api exited:\n' + self.proc.log()[-3000:]
        return requests.get(self.url + '/healthz', timeout=1).status_code == 200


class Tenant:
    """A tenant and its API key, with both header styles of the contract."""

    def __init__(self, info):
        self.id = info['tenantId']
        self.user_id = info['userId']
        self.key = info['apiKey']
        self.headers = {'TENANT': self.id, 'API-KEY': self.key}
        self.bearer_headers = {'x-organization-id': self.id,
                               'Authorization': 'Bearer ' + self.key}
