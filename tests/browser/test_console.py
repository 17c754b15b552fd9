# SPDX-License-Identifier: MIT
"""The web console in a real browser: Debian's chromium, driven by playwright-core
(console.mjs), against a real pghook-api and pghook-worker on a throwaway PostgreSQL (the
integration suite's harness) and a real HTTP receiver (in console.mjs). What it walks through
is console.mjs's docstring. Screenshots of every page land in SCREENSHOT_DIR (meson: the build
folder's tests/browser/screenshots)."""
import os
import shutil
import subprocess
import sys
import tempfile

import psycopg
import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import harness  # noqa: E402
from worker_fixtures import Worker  # noqa: E402

# Debian's chromium (deploy/local/common.sh installs it).
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'


def node_modules():
    out = subprocess.run([os.path.join(HERE, 'install')], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        if 'not installed' in out.stderr or 'npm error' in out.stderr.lower():
            pytest.skip('cannot install the browser suite\'s npm packages: ' + out.stderr[-500:])
        raise AssertionError('tests/browser/install failed:\n' + out.stderr)
    return out.stdout.strip()


@pytest.fixture(scope='module')
def stack():
    cluster = harness.Postgres()
    logdir = tempfile.mkdtemp(prefix='pghook-browser-')
    procs = []
    try:
        dsn = cluster.create_database('console')
        harness.run_cli(dsn, 'migrate')
        cluster.grant_services()
        api = harness.Api(dsn, logdir)
        procs.append(api.proc)
        # Retries three seconds apart, twenty of them: a minute for the browser to see an
        # attempt fail before the receiver recovers, even on a loaded machine.
        worker = Worker(dsn, logdir, env_extra={
            'PGHOOK_RETRY_SCHEDULE': ','.join(['0s'] + ['3s'] * 20)})
        procs.append(worker.proc)
        yield dsn, api
    finally:
        for p in procs:
            if p.alive():
                p.stop(check=False)
        cluster.stop()


def test_console_in_chromium(stack):
    assert os.access(CHROMIUM, os.X_OK), 'chromium is not installed (deploy/local/common.sh)'
    modules = node_modules()
    dsn, api = stack
    tenant = harness.Tenant(harness.run_cli(dsn, 'tenant', 'create', 'Acme Inc'))
    headers = tenant.headers

    def link(**body):
        r = requests.post(api.url + '/v1/portal-sessions', json=body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()
    expired = link()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("update portal_sessions set expires_at = now() - interval '1 minute'"
                     " where id = %s", (expired['id'],))
    revoked = link()
    assert requests.delete(api.url + '/v1/portal-sessions/' + revoked['id'],
                           headers=headers).status_code == 204
    shots = os.environ.get('SCREENSHOT_DIR') or os.path.join(HERE, 'screenshots')
    os.makedirs(shots, exist_ok=True)
    env = dict(os.environ, NODE_PATH=modules, CHROMIUM=CHROMIUM, API_URL=api.url,
               TENANT_ID=tenant.id, API_KEY=tenant.key, SCREENSHOT_DIR=shots,
               LINK=link()['url'], READ_ONLY_LINK=link(readOnly=True)['url'],
               EXPIRED_LINK=expired['url'], REVOKED_LINK=revoked['url'])
    out = subprocess.run(['node', os.path.join(HERE, 'console.mjs')], env=env,
                         capture_output=True, text=True, timeout=420)
    print(out.stdout)
    assert out.returncode == 0, 'console.mjs failed:\n' + out.stdout[-4000:] + out.stderr[-6000:]
    for page in ('overview', 'endpoints', 'endpoint', 'deliveries', 'delivery', 'events',
                 'event', 'read-only', 'expired', 'narrow-320', 'endpoint-invalid',
                 'circuit-open'):
        assert os.path.getsize(os.path.join(shots, page + '.png')) > 1000, page
