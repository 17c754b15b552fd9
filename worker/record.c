/* SPDX-License-Identifier: MIT
 *
 * record: see record.h. The queue's first nsending outcomes are the ones being written.
 */
#include "record.h"

#include <assert.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "outcome.h"
#include "pq.h"
#include "worker.h"

#define FLUSH_DELAY_MS	   2
#define FLUSH_BACKOFF_MAX  5000
#define FLUSH_MAX_REJECTED 5

/* One finished attempt waiting to be recorded. */
struct outcome {
	char *id;
	long long token;
	enum ph_delivery_status status;
	long code;
	char *body;
	char *error;
	int duration_ms;
	int64_t delay_ms;
	bool gone;
	struct ph_timings timings;
};

struct record {
	struct outcome *queue;
	int nqueued, cap, nsending;
	double write_started_ms;
	struct event *timer;
	int64_t backoff_ms; /* > 0 while the next write waits after a failure */
	int rejected; /* consecutive rejections with the connection fine */
};

static const char complete_sql[] = "select pghook_complete($1::json, $2)";

static void flush(struct worker *w);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

void record_init(struct worker *w)
{
	w->record = ph_xcalloc(1, sizeof(*w->record));
	w->record->timer = evtimer_new(w->base, on_timer, w);
}

static void outcome_free(struct outcome *o)
{
	free(o->id);
	free(o->body);
	free(o->error);
}

void record_finish(struct worker *w)
{
	struct record *r = w->record;
	if (!r)
		return;
	for (int i = 0; i < r->nqueued; i++)
		outcome_free(&r->queue[i]);
	free(r->queue);
	worker_event_free(&r->timer);
	free(r);
	w->record = NULL;
}

int record_pending(const struct worker *w)
{
	return w->record->nqueued;
}

bool record_backing_off(const struct worker *w)
{
	return w->record->backoff_ms > 0;
}

/* A fresh slot at the end of the queue. */
static struct outcome *append(struct record *r)
{
	if (r->nqueued == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->queue = ph_xrealloc(r->queue, (size_t)r->cap * sizeof(*r->queue));
	}
	return &r->queue[r->nqueued++];
}

void record_add(struct worker *w, const struct job *j, const struct ph_request_result *res)
{
	const struct ph_config *cfg = w->cfg;
	struct record *r = w->record;
	struct ph_outcome_plan plan;
	uint32_t rnd;

	ph_random_bytes(&rnd, sizeof(rnd));
	/* The delivery's own schedule (its webhook's when it was created), else the global one. */
	ph_outcome_decide(res->status, res->ok, res->retry_after, time(NULL), j->attempt_count + 1,
		j->schedule ? j->schedule : cfg->retry_schedule,
		j->schedule ? j->schedule_count : cfg->retry_count, rnd, &plan);
	*append(r) = (struct outcome){ .id = ph_xstrdup(j->id),
		.token = j->token,
		.status = plan.next,
		.code = res->status,
		.body = ph_xstrdup(res->body ? res->body : ""),
		.error = res->error[0] ? ph_xstrdup(res->error) : NULL,
		.duration_ms = res->duration_ms,
		.delay_ms = plan.delay_ms,
		.gone = plan.gone,
		.timings = res->timings };
	if (r->nqueued - r->nsending >= cfg->worker_batch && r->backoff_ms == 0) {
		flush(w);
		return;
	}
	if (!evtimer_pending(r->timer, NULL))
		worker_timer_add(r->timer, r->backoff_ms ? r->backoff_ms : FLUSH_DELAY_MS);
}

static json_object *ms_json(int ms)
{
	return ms >= 0 ? json_object_new_int(ms) : NULL;
}

/* {dnsMs, connectMs, tlsMs, firstByteMs, totalMs}, null where a phase did not happen. */
static json_object *timings_json(const struct ph_timings *t)
{
	json_object *x = json_object_new_object();
	json_object_object_add(x, "dnsMs", ms_json(t->dns_ms));
	json_object_object_add(x, "connectMs", ms_json(t->connect_ms));
	json_object_object_add(x, "tlsMs", ms_json(t->tls_ms));
	json_object_object_add(x, "firstByteMs", ms_json(t->first_byte_ms));
	json_object_object_add(x, "totalMs", ms_json(t->total_ms));
	return x;
}

static json_object *outcome_json(const struct outcome *o)
{
	json_object *x = json_object_new_object();
	json_object_object_add(x, "id", json_object_new_string(o->id));
	json_object_object_add(x, "token", json_object_new_int64(o->token));
	json_object_object_add(
		x, "status", json_object_new_string(ph_delivery_status_name(o->status)));
	json_object_object_add(x, "code", o->code ? json_object_new_int((int)o->code) : NULL);
	json_object_object_add(x, "body", json_object_new_string(o->body));
	json_object_object_add(x, "error", o->error ? json_object_new_string(o->error) : NULL);
	json_object_object_add(x, "durationMs", json_object_new_int(o->duration_ms));
	json_object_object_add(x, "delayMs", json_object_new_int64(o->delay_ms));
	json_object_object_add(x, "gone", json_object_new_boolean(o->gone));
	if (o->timings.measured)
		json_object_object_add(x, "timings", timings_json(&o->timings));
	return x;
}

/* The first n queued outcomes as pghook_complete()'s JSON argument. */
static json_object *outcomes_json(const struct record *r, int n)
{
	json_object *arr = json_object_new_array_ext(n);
	for (int i = 0; i < n; i++)
		json_object_array_add(arr, outcome_json(&r->queue[i]));
	return arr;
}

/* Count the first n outcomes, written; true when one failed (an email may be queued). */
static bool count_outcomes(struct worker *w, int n, int applied)
{
	bool failed = false;

	for (int i = 0; i < n; i++) {
		enum ph_delivery_status s = w->record->queue[i].status;
		metrics_recorded(w, s);
		failed = failed || s == PH_DELIVERY_FAILED;
	}
	if (applied < n) {
		metrics_stale(w, n - applied);
		log_warn("%d outcomes not recorded: their claim was taken over after the lease",
			n - applied);
	}
	return failed;
}

/* Forget the first n outcomes (written, or given up). */
static void drop_first(struct record *r, int n)
{
	for (int i = 0; i < n; i++)
		outcome_free(&r->queue[i]);
	memmove(r->queue, r->queue + n, (size_t)(r->nqueued - n) * sizeof(*r->queue));
	r->nqueued -= n;
}

/* The last write is settled: no backoff, and the next write soon if outcomes are left. */
static void settle(struct record *r)
{
	r->backoff_ms = 0;
	r->rejected = 0;
	if (r->nqueued > 0)
		worker_timer_add(r->timer, FLUSH_DELAY_MS);
}

/* The write failed: keep the outcomes and try again later. A statement the server keeps
 * rejecting while the connection is fine would block the worker for good; after
 * FLUSH_MAX_REJECTED such rejections the batch is dropped, which loses no delivery: its rows
 * stay claimed until the lease expires and are then attempted again. */
static void write_failed(struct record *r, int n, bool conn_lost)
{
	if (!conn_lost && ++r->rejected >= FLUSH_MAX_REJECTED) {
		log_error("dropping %d outcomes the database keeps rejecting; their deliveries "
			  "will be retried after the lease",
			n);
		drop_first(r, n);
		settle(r);
		return;
	}
	r->backoff_ms = r->backoff_ms ? 2 * r->backoff_ms : 100;
	if (r->backoff_ms > FLUSH_BACKOFF_MAX)
		r->backoff_ms = FLUSH_BACKOFF_MAX;
	log_warn("cannot record %d outcomes; retrying in %lld ms", r->nqueued,
		(long long)r->backoff_ms);
	evtimer_del(r->timer);
	worker_timer_add(r->timer, r->backoff_ms);
}

/* pghook_complete() returned for the first n outcomes. */
static void written(struct worker *w, int n, PGresult *res)
{
	struct record *r = w->record;
	bool failed = count_outcomes(w, n, atoi(PQgetvalue(res, 0, 0)));

	drop_first(r, n);
	evtimer_del(r->timer);
	settle(r);
	if (failed)
		notify_pump(w); /* the failures may have queued emails */
}

static void on_completed(struct worker *w, PGresult *res, bool conn_lost)
{
	struct record *r = w->record;
	int n = r->nsending;

	r->nsending = 0;
	metrics_completion(w, ph_now_ms() - r->write_started_ms, res != NULL);
	if (!res) {
		write_failed(r, n, conn_lost);
		return;
	}
	written(w, n, res);
	claim_pump(w); /* the written outcomes' slots are free */
}

/* Start writing the queued outcomes (one statement; no-op while a write is in flight). */
static void flush(struct worker *w)
{
	struct record *r = w->record;
	if (r->nqueued == 0 || r->nsending > 0)
		return;
	int n = r->nqueued < w->cfg->worker_batch ? r->nqueued : w->cfg->worker_batch;
	json_object *arr = outcomes_json(r, n);
	const char *params[] = { ph_json_compact(arr, NULL), w->id };

	evtimer_del(r->timer);
	r->nsending = n;
	r->write_started_ms = ph_now_ms();
	pq_submit(w, PQ_COMPLETE, complete_sql, 2, params, on_completed);
	json_object_put(arr);
}

bool record_flush_now(struct worker *w)
{
	struct record *r = w->record;

	assert(r->nsending == 0);
	while (r->nqueued > 0) {
		int n = r->nqueued;
		json_object *arr = outcomes_json(r, n);
		const char *params[] = { ph_json_compact(arr, NULL), w->id };
		PGresult *res = ph_db_exec(&w->db, complete_sql, 2, params);
		json_object_put(arr);
		if (!res)
			return false;
		written(w, n, res);
		PQclear(res);
	}
	return true;
}
