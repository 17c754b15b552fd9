# SPDX-License-Identifier: MIT
"""Fixtures: one PostgreSQL cluster per pytest process, one fresh database per test (cloned
from a migrated template, so tests never see each other's rows), the api, and tenants."""
import itertools
import os
import tempfile

import psycopg
import pytest
import requests

import harness

pytest_plugins = ['worker_fixtures'] if os.path.exists(
    os.path.join(os.path.dirname(__file__), 'worker_fixtures.py')) else []

_db_counter = itertools.count()


@pytest.fixture(scope='session')
def pg():
    cluster = harness.Postgres()
    try:
        template_dsn = cluster.create_database('pghook_template')
        harness.run_cli(template_dsn, 'migrate')
        cluster.grant_services()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def logdir():
    with tempfile.TemporaryDirectory(prefix='pghook-logs-') as d:
        yield d


@pytest.fixture
def dsn(pg):
    """A migrated database of this test's own."""
    return pg.create_database('t%d_%d' % (os.getpid(), next(_db_counter)),
                              template='pghook_template')


@pytest.fixture
def sql(dsn):
    """Run SQL on the test's database: sql('select ...', params) -> list of rows."""
    conn = psycopg.connect(dsn, autocommit=True)

    def run(query, params=None):
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
    yield run
    conn.close()


@pytest.fixture
def api_factory(dsn, logdir):
    started = []

    def start(**env):
        api = harness.Api(dsn, logdir, {k: str(v) for k, v in env.items()})
        started.append(api)
        return api
    yield start
    for api in started:
        api.proc.stop()


@pytest.fixture
def api(api_factory):
    return api_factory()


@pytest.fixture
def tenant_factory(dsn):
    def create(name='acme'):
        return harness.Tenant(harness.run_cli(dsn, 'tenant', 'create', name))
    return create


@pytest.fixture
def tenant(tenant_factory):
    return tenant_factory('acme')


class Client:
    """requests against the api as one tenant."""

    def __init__(self, api, tenant, bearer=False):
        self.base = api.url
        self.headers = tenant.bearer_headers if bearer else tenant.headers
        self.session = requests.Session()

    def request(self, method, path, **kw):
        headers = dict(self.headers, **kw.pop('headers', {}))
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, **kw):
        return self.request('POST', path, **kw)

    def patch(self, path, **kw):
        return self.request('PATCH', path, **kw)

    def delete(self, path, **kw):
        return self.request('DELETE', path, **kw)


@pytest.fixture
def client(api, tenant):
    return Client(api, tenant)


@pytest.fixture
def client_factory(api):
    def make(tenant, bearer=False):
        return Client(api, tenant, bearer)
    return make
