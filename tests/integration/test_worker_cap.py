# SPDX-License-Identifier: MIT
"""The per-webhook in-flight cap (PGHOOK_WORKER_PER_WEBHOOK): a slow receiver holds at most its
cap of a worker's slots, and the other webhooks' deliveries go on meanwhile."""
import harness


def test_slow_webhook_cannot_take_every_slot(worker_factory, hooks, receiver_factory):
    slow = receiver_factory(delay=4.0)
    fast = receiver_factory()
    hooks.webhook(slow.url, subscriptions=['slow'])
    hooks.webhook(fast.url, subscriptions=['fast'])
    # The slow webhook's deliveries are due first: without the cap they would fill all four
    # slots and the fast ones would wait for the 4 s answers.
    hooks.ingest([{'type': 'slow', 'data': {'i': i}} for i in range(6)])
    hooks.ingest([{'type': 'fast', 'data': {'i': i}} for i in range(5)])
    worker_factory(PGHOOK_WORKER_CONCURRENCY=4, PGHOOK_WORKER_PER_WEBHOOK=2,
                   PGHOOK_WORKER_BATCH=1)
    harness.wait_for(lambda: fast.count() == 5, timeout=3.0,
                     what='fast deliveries while the slow webhook holds its cap')
    assert slow.count() == 2
    # The slow webhook's rest is delivered as its slots free up.
    harness.wait_for(lambda: slow.count() == 6, timeout=20, what='every slow delivery')
