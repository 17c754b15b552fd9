/* SPDX-License-Identifier: MIT
 *
 * worker: what every module of one pghook-worker process shares. Everything runs on one
 * libevent loop in one thread. The modules, each with a header of its own:
 *   lifecycle  running -> draining -> finished: signals, the shutdown deadline, the last writes
 *   claim      claims due deliveries (one statement per batch) when delivery slots are free
 *   deliver    drives libcurl multi from the loop and runs the jobs (job.h: deliveries, emails)
 *   record     queues finished attempts and records them in one statement per batch, retrying
 *              while the database is away so no outcome is lost
 *   notify     drains the notifications outbox as emails over SMTP
 *   listen     LISTEN on the deliveries channel on its own connection, plus the poll fallback
 *   pq         runs claims and completions asynchronously, each on a connection of its own
 *   metrics    the counters and histograms; ops serves them with /healthz and /readyz
 * A module keeps its state in a struct defined in its .c only; struct worker holds a pointer
 * to each (NULL before the module's init), and every other module goes through the functions
 * of its header. main.c wires them together.
 */
#ifndef PGHOOK_WORKER_WORKER_H
#define PGHOOK_WORKER_WORKER_H

#include <event2/event.h>
#include <stdint.h>

#include "config.h"
#include "db.h"

struct worker {
	const struct ph_config *cfg;
	struct event_base *base;
	/* Blocking round trips off the delivery path (notifications, metrics, readiness,
	 * shutdown): short, batched, and never inside a transaction that spans an HTTP request. */
	struct ph_db db;
	char id[128]; /* host:pid, recorded with every attempt */
	struct lifecycle *lifecycle;
	struct pq *pq;
	struct claim *claim;
	struct deliver *deliver;
	struct record *record;
	struct listen *listen;
	struct metrics *metrics;
	struct ops *ops;
};

/* Arm a timer (or re-arm it) to fire after ms. */
static inline void worker_timer_add(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	event_add(ev, &tv);
}

/* Free an event and forget it; NULL is fine (a module torn down before it made one). */
static inline void worker_event_free(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

#endif
