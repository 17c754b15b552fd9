/* SPDX-License-Identifier: MIT */
#include "lifecycle.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "claim.h"
#include "deliver.h"
#include "log.h"
#include "pq.h"
#include "record.h"
#include "worker.h"

#define FINAL_FLUSH_TRIES    5
#define FINAL_FLUSH_PAUSE_US (200 * 1000)

struct lifecycle {
	enum worker_state state; /* changed by enter() only */
	struct event *sigterm, *sigint;
	struct event *deadline; /* draining ends here at the latest */
};

static const char *const state_names[] = {
	[WORKER_RUNNING] = "running",
	[WORKER_DRAINING] = "draining",
	[WORKER_FINISHED] = "finished",
};

static void enter(struct worker *w, enum worker_state state)
{
	log_debug("worker %s -> %s", state_names[w->lifecycle->state], state_names[state]);
	w->lifecycle->state = state;
}

enum worker_state lifecycle_state(const struct worker *w)
{
	return w->lifecycle->state;
}

static bool jobs_running(const struct worker *w)
{
	return deliver_inflight(w) > 0 || deliver_emails_inflight(w) > 0;
}

/* Release what still runs, write what was received, and stop the loop. */
static void finish(struct worker *w)
{
	if (w->lifecycle->state == WORKER_FINISHED)
		return;
	enter(w, WORKER_FINISHED);
	/* A claim or a write may be in flight: let it land (a claim's rows start, then are
	 * released below with the rest). */
	pq_drain(w);
	claim_release_all(w);
	deliver_abort_all(w);
	/* The database may be restarting: give it a second before the outcomes are given up. */
	for (int i = 0; i < FINAL_FLUSH_TRIES && !record_flush_now(w); i++)
		usleep(FINAL_FLUSH_PAUSE_US);
	if (record_pending(w) > 0)
		log_error("exiting with %d outcomes unrecorded; their leases will expire",
			record_pending(w));
	event_base_loopbreak(w->base);
}

void lifecycle_job_ended(struct worker *w)
{
	if (w->lifecycle->state == WORKER_RUNNING)
		claim_slots_freed(w);
	else if (w->lifecycle->state == WORKER_DRAINING && !jobs_running(w))
		finish(w);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warn("shutdown deadline reached with %d deliveries in flight", deliver_inflight(w));
	finish(w);
}

static void drain(struct worker *w, int sig)
{
	enter(w, WORKER_DRAINING);
	log_info("signal %d: stopping; %d deliveries in flight", sig, deliver_inflight(w));
	if (!jobs_running(w)) {
		finish(w);
		return;
	}
	w->lifecycle->deadline = evtimer_new(w->base, on_deadline, w);
	worker_timer_add(w->lifecycle->deadline, w->cfg->shutdown_timeout_ms);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;

	if (w->lifecycle->state == WORKER_RUNNING) {
		drain(w, (int)sig);
		return;
	}
	/* As the api does on a second signal: whoever sends it wants the process gone now. */
	log_warn("second signal: exiting now");
	_exit(0);
}

void lifecycle_init(struct worker *w)
{
	struct lifecycle *l = ph_xcalloc(1, sizeof(*l));

	w->lifecycle = l;
	l->state = WORKER_RUNNING;
	l->sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
	l->sigint = evsignal_new(w->base, SIGINT, on_signal, w);
	event_add(l->sigterm, NULL);
	event_add(l->sigint, NULL);
}

void lifecycle_finish(struct worker *w)
{
	struct lifecycle *l = w->lifecycle;
	if (!l)
		return;
	worker_event_free(&l->sigterm);
	worker_event_free(&l->sigint);
	worker_event_free(&l->deadline);
	free(l);
	w->lifecycle = NULL;
}
