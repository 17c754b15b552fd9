# SPDX-License-Identifier: MIT
"""Fixtures for worker tests (loaded by conftest.py as a plugin): pghook-worker processes,
real HTTP and SMTP receivers on loopback, and direct-SQL helpers to make webhooks and events
without going through the api."""
import base64
import json
import os

import psycopg
import pytest
import requests

import faults
import harness
import receivers


class Worker:
    """A running pghook-worker with its metrics endpoint on a free loopback port."""

    def __init__(self, dsn, logdir, smtp_url=None, env_extra=None):
        self.metrics_port = harness.free_port()
        self.metrics_url = 'http://127.0.0.1:%d' % self.metrics_port
        env = dict(os.environ, DATABASE_URL=harness.service_dsn(dsn, 'worker'),
                   PGHOOK_ALLOW_CIDRS='127.0.0.0/8',
                   PGHOOK_RETRY_SCHEDULE='0s,1s,1s', PGHOOK_HTTP_TIMEOUT='10s',
                   PGHOOK_WORKER_POLL='200ms', PGHOOK_SHUTDOWN_TIMEOUT='5s',
                   PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % self.metrics_port)
        if smtp_url:
            env['PGHOOK_SMTP_URL'] = smtp_url
        env.update(env_extra or {})
        self.proc = harness.Proc('worker', [harness.WORKER_BIN], env, logdir)
        harness.wait_for(self._healthy, timeout=20, what='pghook-worker /healthz')
        self.id = harness.wait_for(self._worker_id, what='worker id in its log')

    def _healthy(self):
        assert self.proc.alive(), 'pghook-worker exited:\n' + self.proc.log()[-3000:]
        return requests.get(self.metrics_url + '/healthz', timeout=1).status_code == 200

    def _worker_id(self):
        for line in self.proc.log().splitlines():
            if '"worker ' in line and 'started' in line:
                return json.loads(line)['msg'].split()[1]
        return None

    def draining(self):
        """True once the worker handled SIGTERM: its /readyz fails while it drains."""
        return requests.get(self.metrics_url + '/readyz', timeout=5).status_code == 503

    def metrics(self):
        """The /metrics samples as {name{labels}: value}."""
        text = requests.get(self.metrics_url + '/metrics', timeout=5).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith('#'):
                name, value = line.rsplit(' ', 1)
                out[name] = float(value)
        return out


class Hooks:
    """Tenants, webhooks and events straight through SQL: pghook_ingest fans out as the api
    does, then a NOTIFY wakes the workers as the api's notifier does."""

    def __init__(self, dsn):
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.tenant = 'ten_' + os.urandom(8).hex()
        self.conn.execute("insert into tenants (id, name) values (%s, 'worker-tests')",
                          (self.tenant,))

    def sql(self, query, params=None):
        cur = self.conn.execute(query, params)
        return cur.fetchall() if cur.description else []

    def webhook(self, url, email=None, subscriptions=('*',), previous_secret=None):
        """Create an active webhook; returns (id, secret)."""
        secret = 'whsec_' + base64.b64encode(os.urandom(24)).decode()
        wid = self.sql("select pghook_new_id('wh')")[0][0]
        self.sql('insert into webhooks (id, tenant_id, url, subscriptions, secret, '
                 'notification_email, previous_secret, previous_secret_until) '
                 "values (%s, %s, %s, %s, %s, %s, %s, case when %s::text is not null "
                 "then now() + interval '1 hour' end)",
                 (wid, self.tenant, url, list(subscriptions), secret, email, previous_secret,
                  previous_secret))
        return wid, secret

    def ingest(self, events):
        """Store events [{type, data}] and fan them out; returns the event ids in order."""
        rows = self.sql('select event from pghook_ingest(%s, %s) order by idx',
                        (self.tenant, json.dumps(events)))
        # The api wakes workers after its commit, outside the ingest transaction; so do we.
        self.sql("select pg_notify('pghook_deliveries', '')")
        return [r[0]['id'] for r in rows]

    def event(self, type_='order.created', data=None):
        return self.ingest([{'type': type_, 'data': data if data is not None else {'n': 1}}])[0]

    def worker_woken(self, timeout=30):
        """Queue an email, wake the workers with a NOTIFY and wait until the email is sent. On
        every wake-up a worker looks for due deliveries before it takes emails, so once the
        email is sent a worker has looked for work since this call: a sign to wait for instead
        of sleeping. The worker needs PGHOOK_SMTP_URL (worker_factory's has it)."""
        nid = self.sql("insert into notifications (tenant_id, kind, to_email, subject, body) "
                       "values (%s, 'delivery_failed', 'marker@example.com', 'marker', "
                       "'marker') returning id", (self.tenant,))[0][0]
        self.sql("select pg_notify('pghook_deliveries', '')")
        harness.wait_for(lambda: self.sql('select status from notifications where id = %s',
                                          (nid,))[0][0] == 'sent',
                         timeout=timeout, what='marker email %d sent' % nid)

    def deliveries(self, event_id=None, webhook_id=None):
        """Delivery rows as dicts, status as the api shows it (delivering while in flight,
        migration 22); the row's own under row_status."""
        cur = self.conn.cursor(row_factory=psycopg.rows.dict_row)
        cur.execute('select d.*, pghook_delivery_status(d) as shown from deliveries d '
                    'where (%s::text is null or event_id = %s) '
                    'and (%s::text is null or webhook_id = %s) order by id',
                    (event_id, event_id, webhook_id, webhook_id))
        rows = cur.fetchall()
        for r in rows:
            r['row_status'], r['status'] = r['status'], r.pop('shown')
        return rows

    def leases(self):
        """{delivery id: its lease's expiry} of the deliveries in flight (migration 22: listed
        by a lease with a token above the row's claim_token)."""
        return dict(self.sql(
            "select d.id, l.expires_at from deliveries d join delivery_leases l "
            "on l.webhook_id = d.webhook_id and d.id = any(l.delivery_ids) "
            "and l.claim_token > coalesce(d.claim_token, 0) "
            "where d.status in ('pending', 'retry_scheduled')"))

    def lease(self, ids, seconds):
        """Put waiting deliveries in flight as a claim would, under a lease of their own that
        expires in `seconds` (negative: expired already): out of delivery_due, listed in a
        delivery_leases row per webhook."""
        self.sql("with t as (select nextval('pghook_claim_token_seq') as t), g as ("
                 "delete from delivery_due where delivery_id = any(%s) "
                 "returning delivery_id, webhook_id) "
                 "insert into delivery_leases (claim_token, webhook_id, expires_at, in_flight, "
                 "delivery_ids) select t.t, g.webhook_id, now() + %s * interval '1 second', "
                 "count(*), array_agg(g.delivery_id) from g, t group by 1, 2",
                 (list(ids), seconds))

    def attempts(self, delivery_id):
        cur = self.conn.cursor(row_factory=psycopg.rows.dict_row)
        cur.execute('select * from attempts where delivery_id = %s order by attempt_number',
                    (delivery_id,))
        return cur.fetchall()

    def status_of(self, delivery_id):
        rows = self.sql('select pghook_delivery_status(d) from deliveries d where id = %s',
                        (delivery_id,))
        return rows[0][0] if rows else None

    def event_status(self, event_id):
        """Worked out from the deliveries on read (migration 7): there is no column."""
        rows = self.sql('select s.status from events e, pghook_event_state(e) s where e.id = %s',
                        (event_id,))
        return rows[0][0] if rows else None

    def reconnect(self):
        self.conn.close()
        self.conn = psycopg.connect(self.dsn, autocommit=True)

    def close(self):
        self.conn.close()


@pytest.fixture
def hooks(dsn):
    h = Hooks(dsn)
    yield h
    h.close()


@pytest.fixture
def smtp():
    s = receivers.SmtpReceiver()
    yield s
    s.close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(**kw):
        r = receivers.HttpReceiver(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


@pytest.fixture
def gate_factory():
    """Receivers whose answers a test holds back until it releases them (faults.GateReceiver):
    "the receiver is still busy" as a state the test controls, not a delay it hopes is long
    enough."""
    made = []

    def make():
        g = faults.GateReceiver()
        made.append(g)
        return g
    yield make
    for g in made:
        g.close()


@pytest.fixture
def worker_factory(dsn, logdir, smtp):
    started = []

    def start(**env):
        w = Worker(dsn, logdir, smtp.url, {k: str(v) for k, v in env.items()})
        started.append(w)
        return w
    yield start
    for w in started:
        # Captured: pytest shows it only when the test failed.
        print('--- %s log (tail) ---\n%s' % (w.id, w.proc.log()[-6000:]))
        if w.proc.alive():
            w.proc.stop()
        else:
            w.proc.kill()  # reaps it and closes its log


@pytest.fixture
def worker(worker_factory):
    return worker_factory()
