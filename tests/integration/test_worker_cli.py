# SPDX-License-Identifier: MIT
"""pghook-worker as an operator meets it first: its command line, its operations endpoint on
an IPv6 address, readiness before and after the migrations, and a second signal while it
drains (it must go at once, as the api does)."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def run_worker(*args, **env):
    """Run pghook-worker to its end. The database cannot be reached: what must not start,
    cannot."""
    full_env = dict(os.environ, DATABASE_URL='host=/nonexistent dbname=none', **env)
    return subprocess.run([harness.WORKER_BIN] + list(args), env=full_env,
                          capture_output=True, text=True, timeout=60)


def log_messages(stderr):
    return [json.loads(line)['msg'] for line in stderr.splitlines() if line.startswith('{')]


def project_version():
    with open(os.path.join(HERE, '..', '..', 'meson.build'), encoding='utf-8') as f:
        return re.search(r"version: '([^']+)'", f.read()).group(1)


def start_worker(dsn, logdir, listen):
    env = dict(os.environ, DATABASE_URL=harness.service_dsn(dsn, 'worker'),
               PGHOOK_METRICS_LISTEN=listen, PGHOOK_WORKER_POLL='200ms')
    return harness.Proc('worker', [harness.WORKER_BIN], env, logdir)


def answers(proc, url):
    assert proc.alive(), 'pghook-worker exited:\n' + proc.log()[-3000:]
    return requests.get(url + '/healthz', timeout=1).status_code == 200


def test_help_prints_usage_and_starts_nothing():
    # An invalid setting does not matter: --help reads no configuration.
    out = run_worker('--help', PGHOOK_WORKER_BATCH='many')
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('usage: pghook-worker [--help | --version]\n')
    assert 'README.md' in out.stdout
    assert out.stderr == ''  # not a log line: nothing was started
    assert run_worker('-h').stdout == out.stdout


def test_version_prints_the_project_version():
    out = run_worker('--version')
    assert (out.returncode, out.stdout, out.stderr) == (
        0, 'pghook-worker %s\n' % project_version(), '')


def test_an_unknown_argument_is_a_usage_error():
    out = run_worker('serve')
    assert out.returncode == 2
    assert out.stdout == ''
    assert out.stderr.startswith('pghook-worker: unexpected argument "serve"\nusage: ')


@pytest.mark.parametrize('value', ['9090', '[::1]', '[::1:9090', '[::1]9090', 'localhost:http',
                                   '127.0.0.1:65536'])
def test_a_bad_metrics_listen_is_refused_by_name(value):
    out = run_worker(PGHOOK_METRICS_LISTEN=value)
    assert out.returncode == 2, out.stderr
    assert log_messages(out.stderr) == [
        'configuration: PGHOOK_METRICS_LISTEN: expected host:port or [ipv6]:port with a port '
        'in 0..65535, got "%s"' % value]


def free_port_v6():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(('::1', 0))
        return s.getsockname()[1]


def test_metrics_listen_on_a_bracketed_ipv6_address(dsn, logdir):
    port = free_port_v6()
    url = 'http://[::1]:%d' % port
    w = start_worker(dsn, logdir, '[::1]:%d' % port)
    try:
        harness.wait_for(lambda: answers(w, url), timeout=20, what='/healthz on [::1]')
        harness.wait_for(lambda: requests.get(url + '/readyz', timeout=2).status_code == 200,
                         timeout=10, what='/readyz on [::1]')
        assert 'pghook_inflight 0\n' in requests.get(url + '/metrics', timeout=5).text
        assert 'metrics on [::1]:%d' % port in log_messages(w.log())
    finally:
        w.stop()


def test_readyz_fails_until_the_database_is_migrated(pg, logdir):
    dsn = pg.create_database('wnomig_%d_%d' % (os.getpid(), time.monotonic_ns()))
    port = harness.free_port()
    url = 'http://127.0.0.1:%d' % port
    w = start_worker(dsn, logdir, '127.0.0.1:%d' % port)
    try:
        harness.wait_for(lambda: answers(w, url), timeout=20, what='worker /healthz')
        r = requests.get(url + '/readyz', timeout=5)
        assert (r.status_code, r.text) == (503, 'not ready\n')
        harness.run_cli(dsn, 'migrate')
        harness.wait_for(lambda: requests.get(url + '/readyz', timeout=2).status_code == 200,
                         timeout=20, what='worker /readyz 200 after migrate')
    finally:
        w.stop()


def test_a_second_sigterm_while_draining_exits_at_once(worker_factory, hooks, receiver_factory):
    slow = receiver_factory(delay=60)
    hooks.webhook(slow.url)
    hooks.event()
    # The drain would wait two minutes for the attempt in flight.
    w = worker_factory(PGHOOK_SHUTDOWN_TIMEOUT='120s')
    harness.wait_for(lambda: slow.count() == 1, timeout=10, what='the attempt in flight')
    w.proc.signal(signal.SIGTERM)
    harness.wait_for(lambda: requests.get(w.metrics_url + '/readyz', timeout=2).status_code
                     == 503, timeout=10, what='worker draining')
    w.proc.signal(signal.SIGTERM)
    # The api's answer to a second signal: exit 0 at once, saying so.
    assert w.proc.popen.wait(timeout=30) == 0
    lines = [json.loads(x) for x in w.proc.log().splitlines() if x.startswith('{')]
    assert {'level': 'warn', 'msg': 'second signal: exiting now'} in [
        {'level': x['level'], 'msg': x['msg']} for x in lines]
    # Nothing was written on the way out: the lease covers the delivery, as after a crash.
    [d] = hooks.deliveries()
    assert d['status'] == 'delivering' and d['id'] in hooks.leases(), d
    assert hooks.attempts(d['id']) == []
