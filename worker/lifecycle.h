/* SPDX-License-Identifier: MIT
 *
 * lifecycle: the worker's one state, and the shutdown that moves it on.
 *   running   claims, delivers, sends emails
 *   draining  after the first SIGTERM (or SIGINT): no new claims or emails; the jobs running
 *             finish, up to PGHOOK_SHUTDOWN_TIMEOUT
 *   finished  what is still running was released (due again at once, lease cleared), the
 *             outcomes received were written, and the loop stops: exit 0
 * A second signal exits at once, as the api does: the leases cover whatever was left.
 */
#ifndef PGHOOK_WORKER_LIFECYCLE_H
#define PGHOOK_WORKER_LIFECYCLE_H

struct worker;

enum worker_state {
	WORKER_RUNNING,
	WORKER_DRAINING,
	WORKER_FINISHED,
};

/* Start in the running state, with SIGTERM and SIGINT handled on the loop. */
void lifecycle_init(struct worker *w);
void lifecycle_finish(struct worker *w);
enum worker_state lifecycle_state(const struct worker *w);
/* Jobs ended: while running, claim into the freed slots; while draining, finish once none is
 * left. */
void lifecycle_job_ended(struct worker *w);

#endif
