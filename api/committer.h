/* SPDX-License-Identifier: MIT
 *
 * committer: work that one tenant's requests on every loop share, run in groups on threads of
 * its own. A loop hands a job over with its tenant; a free committer thread takes the oldest
 * job whose tenant has no group running and, with it, every queued job of that tenant (up to
 * COMMITTER_GROUP_MAX), then runs them together on its own connection. So a tenant has at most
 * one group in flight: what its clients send meanwhile, on any loop, waits for the next group
 * and shares its statement and commit, while other tenants' groups run beside it on the other
 * threads. Single-event ingest uses it (events.c): at 1,000 events/s from one tenant spread
 * over 8 loops, one statement per loop stored 1.1-1.5 events each; gathered here, 2-3.
 * A tenant that floods holds one thread at a time, never all of them.
 */
#ifndef PGHOOK_API_COMMITTER_H
#define PGHOOK_API_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "util.h"

#define COMMITTER_GROUP_MAX 64

struct committer_job;

/* Run the n jobs of one group (same tenant and run, queue order) on db, a committer thread's
 * connection. It must hand each job back to its loop (defer_wake) and never touch a loop. */
typedef void (*committer_run_fn)(struct ph_db *db, struct committer_job **jobs, size_t n);

/* Embed in the job and set tenant and run; tenant must live as long as the job. */
struct committer_job {
	struct committer_job *next;
	const char *tenant;
	committer_run_fn run;
};

struct committer;

/* Start nthreads threads; each connects with conninfo (NULL for libpq's environment). */
struct committer *committer_create(int nthreads, const char *conninfo);
/* Queue a job (any thread). */
void committer_submit(struct committer *c, struct committer_job *job);

/* For /metrics: jobs waiting now, and groups and jobs run so far. */
struct committer_stats {
	uint64_t queued, groups, jobs;
};
struct committer_stats committer_stats(struct committer *c);
/* Run what is queued, stop the threads, free everything. Call after the loops stopped: a loop
 * stops only once every job it queued was answered. Accepts NULL. */
void committer_destroy(struct committer *c);

#endif
