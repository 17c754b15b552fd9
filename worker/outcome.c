/* SPDX-License-Identifier: MIT
 *
 * outcome: finished attempts wait in w->pending until one pghook_complete() call records them
 * all. A flush happens when a batch's worth is queued or a few milliseconds after the first
 * one, whichever comes first. When the database is away the queue is kept and the write
 * retried with backoff: an outcome received is never dropped (if our lease expired meanwhile
 * and another worker re-claimed the row, the claim token no longer matches and the write
 * changes nothing, which is the at-least-once contract).
 */
#include "worker.h"

#include <assert.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "json.h"
#include "log.h"
#include "outcome.h"

#define FLUSH_DELAY_MS	   2
#define FLUSH_BACKOFF_MAX  5000
#define FLUSH_MAX_REJECTED 5

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
	outcome_flush(arg);
}

static void arm_flush(struct worker *w, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(w->flush_timer, &tv);
}

void outcome_init(struct worker *w)
{
	w->flush_timer = evtimer_new(w->base, on_flush_timer, w);
}

static void outcome_free(struct outcome *o)
{
	free(o->id);
	free(o->body);
	free(o->error);
}

void outcome_finish(struct worker *w)
{
	for (int i = 0; i < w->npending; i++)
		outcome_free(&w->pending[i]);
	free(w->pending);
	w->pending = NULL;
	w->npending = w->pending_cap = 0;
	if (w->flush_timer)
		event_free(w->flush_timer);
	w->flush_timer = NULL;
}

void outcome_add(struct worker *w, const struct job *j, const struct ph_request_result *res)
{
	struct ph_outcome_plan plan;
	uint32_t rnd;

	ph_random_bytes(&rnd, sizeof(rnd));
	ph_outcome_decide(res->status, res->ok, res->retry_after, time(NULL), j->attempt_count + 1,
		w->cfg->retry_schedule, w->cfg->retry_count, rnd, &plan);
	if (w->npending == w->pending_cap) {
		w->pending_cap = w->pending_cap ? 2 * w->pending_cap : 64;
		w->pending = ph_xrealloc(w->pending, (size_t)w->pending_cap * sizeof(*w->pending));
	}
	struct outcome *o = &w->pending[w->npending++];
	o->id = ph_xstrdup(j->id);
	o->token = j->token;
	o->status = plan.next;
	o->code = res->status;
	o->body = ph_xstrdup(res->body ? res->body : "");
	o->error = res->error[0] ? ph_xstrdup(res->error) : NULL;
	o->duration_ms = res->duration_ms;
	o->delay_ms = plan.delay_ms;
	o->gone = plan.gone;

	if (w->npending - w->nsending >= w->cfg->worker_batch && w->flush_backoff_ms == 0) {
		outcome_flush(w);
		return;
	}
	if (!evtimer_pending(w->flush_timer, NULL))
		arm_flush(w, w->flush_backoff_ms ? w->flush_backoff_ms : FLUSH_DELAY_MS);
}

/* The first n queued outcomes as pghook_complete()'s JSON argument. */
static json_object *outcomes_json(const struct worker *w, int n)
{
	json_object *arr = json_object_new_array_ext(n);

	for (int i = 0; i < n; i++) {
		const struct outcome *o = &w->pending[i];
		json_object *x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(o->id));
		json_object_object_add(x, "token", json_object_new_int64(o->token));
		json_object_object_add(
			x, "status", json_object_new_string(ph_delivery_status_name(o->status)));
		json_object_object_add(
			x, "code", o->code ? json_object_new_int((int)o->code) : NULL);
		json_object_object_add(x, "body", json_object_new_string(o->body));
		json_object_object_add(
			x, "error", o->error ? json_object_new_string(o->error) : NULL);
		json_object_object_add(x, "durationMs", json_object_new_int(o->duration_ms));
		json_object_object_add(x, "delayMs", json_object_new_int64(o->delay_ms));
		json_object_object_add(x, "gone", json_object_new_boolean(o->gone));
		json_object_array_add(arr, x);
	}
	return arr;
}

/* Count the first n outcomes, written; true when one failed (an email may be queued). */
static bool count_outcomes(struct worker *w, int n, int applied)
{
	bool failed = false;

	for (int i = 0; i < n; i++) {
		enum ph_delivery_status s = w->pending[i].status;
		if (s == PH_DELIVERY_DELIVERED)
			w->m.delivered++;
		else if (s == PH_DELIVERY_RETRY_SCHEDULED)
			w->m.retried++;
		else
			w->m.failed++;
		failed = failed || s == PH_DELIVERY_FAILED;
	}
	if (applied < n) {
		w->m.stale += (uint64_t)(n - applied);
		log_warn("%d outcomes not recorded: their claim was taken over after the lease",
			n - applied);
	}
	return failed;
}

/* Forget the first n outcomes (written, or given up). */
static void drop_first(struct worker *w, int n)
{
	for (int i = 0; i < n; i++)
		outcome_free(&w->pending[i]);
	memmove(w->pending, w->pending + n, (size_t)(w->npending - n) * sizeof(*w->pending));
	w->npending -= n;
}

/* The write failed: keep the outcomes and try again later. A statement the server keeps
 * rejecting while the connection is fine would block the worker for good; after
 * FLUSH_MAX_REJECTED such rejections the batch is dropped, which loses no delivery: its rows
 * stay claimed until the lease expires and are then attempted again. */
static void flush_failed(struct worker *w, int n, bool conn_lost)
{
	w->m.db_errors++;
	if (!conn_lost && ++w->flush_rejected >= FLUSH_MAX_REJECTED) {
		log_error("dropping %d outcomes the database keeps rejecting; their deliveries "
			  "will be retried after the lease",
			n);
		drop_first(w, n);
		w->flush_rejected = 0;
		w->flush_backoff_ms = 0;
		if (w->npending > 0)
			arm_flush(w, FLUSH_DELAY_MS);
		return;
	}
	w->flush_backoff_ms = w->flush_backoff_ms ? 2 * w->flush_backoff_ms : 100;
	if (w->flush_backoff_ms > FLUSH_BACKOFF_MAX)
		w->flush_backoff_ms = FLUSH_BACKOFF_MAX;
	log_warn("cannot record %d outcomes; retrying in %lld ms", w->npending,
		(long long)w->flush_backoff_ms);
	evtimer_del(w->flush_timer);
	arm_flush(w, w->flush_backoff_ms);
}

/* pghook_complete() returned for the first n outcomes. */
static void written(struct worker *w, int n, PGresult *res)
{
	bool failed = count_outcomes(w, n, atoi(PQgetvalue(res, 0, 0)));

	drop_first(w, n);
	w->flush_backoff_ms = 0;
	w->flush_rejected = 0;
	evtimer_del(w->flush_timer);
	if (w->npending > 0)
		arm_flush(w, FLUSH_DELAY_MS);
	if (failed)
		notify_pump(w); /* the failures may have queued emails */
}

static void on_completed(struct worker *w, PGresult *res, void *arg)
{
	int n = w->nsending;

	w->nsending = 0;
	w->m.complete_ms += ph_now_ms() - w->flush_started_ms;
	w->m.completes++;
	if (!res) {
		flush_failed(w, n, w->pq[PQ_COMPLETE].conn_lost);
		return;
	}
	written(w, n, res);
	claim_pump(w);
}

static const char complete_sql[] = "select pghook_complete($1::json, $2)";

void outcome_flush(struct worker *w)
{
	if (w->npending == 0 || w->nsending > 0)
		return;
	int n = w->npending < w->cfg->worker_batch ? w->npending : w->cfg->worker_batch;
	json_object *arr = outcomes_json(w, n);
	const char *params[] = { ph_json_compact(arr, NULL), w->worker_id };

	evtimer_del(w->flush_timer);
	w->nsending = n;
	w->flush_started_ms = ph_now_ms();
	pq_submit(w, PQ_COMPLETE, complete_sql, 2, params, on_completed, NULL);
	json_object_put(arr);
}

bool outcome_flush_now(struct worker *w)
{
	assert(w->nsending == 0);
	while (w->npending > 0) {
		int n = w->npending;
		json_object *arr = outcomes_json(w, n);
		const char *params[] = { ph_json_compact(arr, NULL), w->worker_id };
		PGresult *res = ph_db_exec(&w->db, complete_sql, 2, params);
		json_object_put(arr);
		if (!res)
			return false;
		written(w, n, res);
		PQclear(res);
	}
	return true;
}
