# SPDX-License-Identifier: MIT
"""The least a sender built on libcurl spends on this machine (bench.py scenario "floor").

tests/bench/curlfloor.c sends the drain's requests (1 KB JSON bodies, pghook's header lines and
libcurl options, handles reused) to the same receiver with no signing and no JSON. Three runs:

  throughput   no database: as many requests as a drain, 1,024 in flight (the worker's
               default slots): requests/s, CPU per request in the sender and in the receiver,
               and the requests/s two cores could reach at that cost if nothing else ran
  queue        the same with dbcost.py's minimal queue behind it: the drain's rows claimed 400
               at a time with FOR UPDATE SKIP LOCKED, each outcome recorded (status, attempt
               row) before its slot is reused, as pghook does: the smallest Postgres-backed
               sender, and the CPU its database spends per delivery
  memory       10,000 requests in flight against the receiver's 1 s path: peak RSS

Set beside the drain and the worker's RSS, they show how much of each figure pghook adds.
"""
import json
import statistics
import subprocess
import time

import dbcost

INFLIGHT = 1024
BATCH = 400  # pghook-worker's default batch


def _run(floor_bin, url, total, inflight, queue=()):
    out = subprocess.run([floor_bin, url, str(total), str(inflight)] + list(queue),
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError('curlfloor failed: %s %s' % (out.stdout, out.stderr[-2000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput_once(env, floor_bin, total, cpu_seconds, loadavg):
    env.recv_reset()
    la0 = loadavg()
    r0 = cpu_seconds(env.recv.pid)
    r = _run(floor_bin, env.recv_url + '/floor', total, INFLIGHT)
    recv_us = (cpu_seconds(env.recv.pid) - r0) * 1e6 / total
    got = env.recv_stats()['names'].get('floor', {}).get('count', 0)
    if got != total:
        raise RuntimeError('the receiver got %d of %d requests' % (got, total))
    both = r['cpu_us_per_request'] + recv_us
    return {'requests': total, 'inflight': INFLIGHT, 'per_s': r['per_s'],
            'sender_cpu_us_per_request': r['cpu_us_per_request'],
            'receiver_cpu_us_per_request': round(recv_us, 1),
            'two_core_bound_per_s': round(2e6 / both), 'sender_rss_mib':
            round(r['peak_rss_kib'] / 1024, 1), 'load_before': la0, 'load_after': loadavg()}


def queue_once(env, floor_bin, total, cpu_seconds, cluster_cpu, loadavg, pad):
    with dbcost._minimal_db(env, dbcost.MINIMAL_SCHEMA) as c:
        payload = json.dumps({'type': 'bench.drain', 'data': {'pad': pad}})
        c.execute('insert into jobs (payload) select %s::json from generate_series(1, %s)',
                  (payload, total))
        c.execute('vacuum analyze')
        c.execute('checkpoint')
        env.recv_reset()
        la0 = loadavg()
        r0, db0 = cpu_seconds(env.recv.pid), cluster_cpu()
        lsn0 = c.execute('select pg_current_wal_lsn()').fetchone()[0]
        r = _run(floor_bin, env.recv_url + '/floorq', total, INFLIGHT,
                 (env.pg.dsn(c.info.dbname), str(BATCH)))
        recv_us = (cpu_seconds(env.recv.pid) - r0) * 1e6 / total
        db_us = (sum(cluster_cpu().values()) - sum(db0.values())) * 1e6 / total
        wal = c.execute('select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)',
                        (lsn0,)).fetchone()[0]
        left = c.execute("select count(*) from jobs where status <> 'done'").fetchone()[0]
        attempts = c.execute('select count(*) from job_attempts').fetchone()[0]
    if left or attempts != total:
        raise RuntimeError('minimal queue: %d rows not done, %d attempts' % (left, attempts))
    return {'deliveries': total, 'inflight': INFLIGHT, 'batch': BATCH, 'per_s': r['per_s'],
            'sender_cpu_us_per_delivery': r['cpu_us_per_request'],
            'receiver_cpu_us_per_delivery': round(recv_us, 1),
            'db_cpu_us_per_delivery': round(db_us, 1),
            'wal_bytes_per_delivery': round(float(wal) / total, 1), 'load_before': la0,
            'load_after': loadavg()}


def memory_once(env, floor_bin, inflight, loadavg, delay_ms=1000):
    env.recv_reset()
    la0 = loadavg()
    t0 = time.monotonic()
    r = _run(floor_bin, '%s/d/%d/floormem' % (env.recv_url, delay_ms), inflight, inflight)
    peak = env.recv_stats()['maxInflight']
    return {'target_inflight': inflight, 'peak_inflight': peak, 'receiver_delay_ms': delay_ms,
            'rss_mib': round(r['peak_rss_kib'] / 1024, 1),
            'kib_per_inflight': round(r['peak_rss_kib'] / max(1, peak), 1),
            'seconds': round(time.monotonic() - t0, 1), 'load_before': la0,
            'load_after': loadavg()}


def rows(S, add):
    """The scenario's lines in bench.py's table."""
    def med(key, k):
        return statistics.median(r[k] for r in S[key])

    if S.get('floor'):
        add('libcurl alone, no database (curlfloor, %d in flight, same receiver)' % INFLIGHT,
            '%d requests/s; CPU µs per request: sender %.0f, receiver %.0f (two cores: at most '
            '%d/s)' % (med('floor', 'per_s'), med('floor', 'sender_cpu_us_per_request'),
                       med('floor', 'receiver_cpu_us_per_request'),
                       med('floor', 'two_core_bound_per_s')),
            '(floor under drain)', 'floor')
    if S.get('floor_queue'):
        add('smallest Postgres-backed sender: curlfloor + minimal queue, %d in flight, batches '
            'of %d' % (INFLIGHT, BATCH),
            '%d deliveries/s; CPU µs per delivery: PostgreSQL %.0f, sender %.0f, receiver %.0f;'
            ' %.0f WAL bytes per delivery'
            % tuple(med('floor_queue', k) for k in ('per_s', 'db_cpu_us_per_delivery',
                                                    'sender_cpu_us_per_delivery',
                                                    'receiver_cpu_us_per_delivery',
                                                    'wal_bytes_per_delivery')),
            '(floor under drain)', 'floor_queue')
    for m in S.get('floor_memory', []):
        add('libcurl alone, %d in flight (receiver %.0f s)'
            % (m['peak_inflight'], m['receiver_delay_ms'] / 1000),
            '%.1f MiB RSS (%.1f KiB per request in flight)' % (m['rss_mib'],
                                                               m['kib_per_inflight']),
            '(floor under worker RSS)', 'floor_memory')
