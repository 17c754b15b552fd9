#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Prints the SQL of a prototype, for PGHOOK_BENCH_EXTRA_SQL: the delivery row written once,
when its attempt ends, instead of also at its claim (issue 17's "delivery row written once").

    PGHOOK_BENCH_EXTRA_SQL="$(tests/bench/write_once.py)" tests/bench/run --only drain,floor

It is built from the current functions (sql/functions/), with three changes:
  * the claim deletes its due rows itself (locked FOR UPDATE SKIP LOCKED, in place of the
    deliveries rows) and inserts its lease row; it does not update deliveries, so no queue
    trigger runs at a claim;
  * a completion applies an outcome when the lease of its token still exists for the
    delivery's webhook and the token is newer than the one the row last ended under (tokens
    come from one sequence), then counts the outcomes off their lease itself; the row keeps
    that token (claim_token) as its fence;
  * the queue trigger skips its delete of due rows during a completion: a delivery in flight
    has none any more.
Only what the drain and dbcost run is covered: not FIFO webhooks, expired leases,
quarantine, release at shutdown, manual sends, nor the status 'delivering' shown by the api
(a delivery in flight keeps its pending or retry_scheduled row). A real change also needs
the fence against a lease taken back after expiry (a list of the ids taken back, on the old
lease), which the prototype leaves out. docs/benchmarks.md ("The delivery row written once,
measured") gives the figures.
"""
import os

FUNCTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'sql',
                         'functions')


def function(file, name):
    src = open(os.path.join(FUNCTIONS, file)).read()
    i = src.index('create or replace function %s(' % name)
    return src[i:src.index('$$;', i) + 3]


def replace(text, old, new):
    # Fails loudly when the function it patches has changed.
    if old not in text:
        raise SystemExit('write_once.py: the function changed; update the prototype')
    return text.replace(old, new)


def schedule():
    f = function('claim.sql', 'pghook_schedule')
    i = f.index('\t\t\tv_got := v_got || array(select d.id\n')
    j = f.index('for update of d skip locked);', i) + len('for update of d skip locked);')
    return f[:i] + '''\t\t\twith g as (
\t\t\t\tdelete from delivery_due q where q.ctid = any(array(
\t\t\t\t\tselect q2.ctid from delivery_due q2
\t\t\t\t\twhere q2.webhook_id = h.webhook_id and q2.due_at <= now()
\t\t\t\t\torder by q2.webhook_id, q2.due_at limit v_grant - cardinality(v_got)
\t\t\t\t\tfor update skip locked))
\t\t\t\treturning q.delivery_id)
\t\t\tselect v_got || coalesce(array_agg(g.delivery_id), '{}') into v_got from g;''' + f[j:]


def claim_take():
    f = function('claim.sql', 'pghook_claim_take')
    i = f.index('\t), upd as (')
    j = f.index('\t)\n\tselect u.id', i)
    return f[:i] + '''\t), upd as (
\t\tselect d.id, d.tenant_id, d.event_id, d.webhook_id, d.attempt_count, tok.t as claim_token,
\t\t\td.next_retry_at as due_at, d.retry_schedule
\t\tfrom deliveries d, tok where d.id = any(p_ids)
\t), lease as (
\t\tinsert into delivery_leases (claim_token, webhook_id, expires_at, in_flight, delivery_ids)
\t\tselect u.claim_token, u.webhook_id, now() + p_lease_ms * interval '1 millisecond',
\t\t\tcount(*), array_agg(u.id)
\t\tfrom upd u group by 1, 2
''' + f[j:]


def complete_apply():
    f = function('complete.sql', 'pghook_complete_apply')
    f = replace(f, '''\t\twhere d.id = any(v_ids) and d.id = i.id and d.claim_token = i.token
\t\t\tand d.status = 'delivering\'''', '''\t\twhere d.id = any(v_ids) and d.id = i.id
\t\t\tand d.status in ('pending', 'retry_scheduled') and coalesce(d.claim_token, 0) < i.token
\t\t\tand exists (select 1 from delivery_leases l where l.claim_token = i.token
\t\t\t\tand l.webhook_id = d.webhook_id)''')
    f = replace(f, 'lease_expires_at = null, claim_token = null, updated_at = now()',
                'lease_expires_at = null, claim_token = i.token, updated_at = now()')
    f = replace(f, '\t\treturning d.id, d.tenant_id, d.event_id, d.webhook_id, d.status, '
                'd.attempt_count,\n', '\t\treturning d.id, d.tenant_id, d.event_id, d.webhook_id, '
                'd.status, d.attempt_count,\n\t\t\ti.token,\n')
    f = replace(f, '\t\treturning 1\n\t)\n\tselect array_agg', '''\t\treturning 1
\t), ended as (
\t\tselect u.token, u.webhook_id, count(*)::int as n from upd u group by 1, 2
\t), gone as (
\t\tdelete from delivery_leases l using ended e
\t\twhere l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight <= e.n
\t), dec as (
\t\tupdate delivery_leases l set in_flight = l.in_flight - e.n from ended e
\t\twhere l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight > e.n
\t)
\tselect array_agg''')
    marker = '\tv_ids := array(select x.id from json_to_recordset(p_outcomes) as x(id text));\n'
    f = replace(f, marker, marker + "\tperform set_config('pghook.completing', 'on', true);\n")
    return replace(f, '\treturn v_done;\nend',
                   "\tperform set_config('pghook.completing', '', true);\n\treturn v_done;\nend")


def queue_sync():
    f = function('queue.sql', 'pghook_queue_sync')
    return replace(f, "\tif tg_op in ('UPDATE', 'DELETE') then\n\t\tdelete from delivery_due q",
                   "\tif tg_op in ('UPDATE', 'DELETE')\n\t\t\tand coalesce(current_setting("
                   "'pghook.completing', true), '') <> 'on' then\n\t\tdelete from delivery_due q")


if __name__ == '__main__':
    print('\n\n'.join([schedule(), claim_take(), complete_apply(), queue_sync(),
                       'grant insert, update, delete on delivery_due, delivery_leases '
                       'to pghook_worker;']))
