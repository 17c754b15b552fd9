/* SPDX-License-Identifier: MIT
 *
 * record: see record.h. The queue's first nsending outcomes are the ones being written.
 */
#include "record.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "id.h"
#include "jsonout.h"
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

/* Random words for the retry jitter, drawn from the kernel a block at a time: one getrandom()
 * per outcome was 3% of a draining worker's CPU. */
struct jitter {
	uint32_t words[256];
	int left;
};

struct record {
	struct outcome *queue;
	int nqueued, cap, nsending;
	double write_started_ms;
	struct event *timer;
	int64_t backoff_ms; /* > 0 while the next write waits after a failure */
	int rejected; /* consecutive rejections with the connection fine */
	struct evbuffer *json; /* pghook_complete()'s argument, reused between writes */
	struct jitter jitter;
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
	w->record->json = evbuffer_new();
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
	evbuffer_free(r->json);
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

static uint32_t jitter_next(struct jitter *j)
{
	if (j->left == 0) {
		ph_random_bytes(j->words, sizeof(j->words));
		j->left = (int)PH_ARRAY_LEN(j->words);
	}
	return j->words[--j->left];
}

void record_add(struct worker *w, const struct job *j, const struct ph_request_result *res)
{
	const struct ph_config *cfg = w->cfg;
	struct record *r = w->record;
	struct ph_outcome_plan plan;
	uint32_t rnd = jitter_next(&r->jitter);
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

/* The completion's JSON is written straight into one buffer (common/jsonout.h): building
 * it as json-c objects (a dozen allocations per outcome, then serialized and freed) was 7% of
 * a draining worker's CPU. */

/* A duration in ms, or null where a phase did not happen. */
static void add_ms(struct evbuffer *b, int ms)
{
	if (ms >= 0)
		evbuffer_add_printf(b, "%d", ms);
	else
		PH_JSON_LIT(b, "null");
}

/* dnsMs, connectMs, tlsMs, firstByteMs, totalMs as fields of the outcome, null where a phase
 * did not happen: flat, because PostgreSQL parses a json object again for each field read
 * out of it (sql/functions/complete.sql). */
static void timings_json(struct evbuffer *b, const struct ph_timings *x)
{
	PH_JSON_LIT(b, ",\"dnsMs\":");
	add_ms(b, x->dns_ms);
	PH_JSON_LIT(b, ",\"connectMs\":");
	add_ms(b, x->connect_ms);
	PH_JSON_LIT(b, ",\"tlsMs\":");
	add_ms(b, x->tls_ms);
	PH_JSON_LIT(b, ",\"firstByteMs\":");
	add_ms(b, x->first_byte_ms);
	PH_JSON_LIT(b, ",\"totalMs\":");
	add_ms(b, x->total_ms);
}

static void outcome_json(struct evbuffer *b, const struct outcome *o)
{
	PH_JSON_LIT(b, "{\"id\":");
	ph_json_out_string(b, o->id);
	evbuffer_add_printf(b, ",\"token\":%lld,\"status\":\"%s\",\"code\":", (long long)o->token,
		ph_delivery_status_name(o->status));
	if (o->code)
		evbuffer_add_printf(b, "%d", (int)o->code);
	else
		PH_JSON_LIT(b, "null");
	PH_JSON_LIT(b, ",\"body\":");
	ph_json_out_string(b, o->body);
	PH_JSON_LIT(b, ",\"error\":");
	ph_json_out_string(b, o->error);
	evbuffer_add_printf(b, ",\"durationMs\":%d,\"delayMs\":%lld,\"gone\":%s", o->duration_ms,
		(long long)o->delay_ms, o->gone ? "true" : "false");
	if (o->timings.measured)
		timings_json(b, &o->timings);
	PH_JSON_LIT(b, "}");
}

/* The first n queued outcomes as pghook_complete()'s JSON argument, in r->json. */
static const char *outcomes_json(struct record *r, int n)
{
	struct evbuffer *b = r->json;

	evbuffer_drain(b, evbuffer_get_length(b));
	PH_JSON_LIT(b, "[");
	for (int i = 0; i < n; i++) {
		if (i > 0)
			PH_JSON_LIT(b, ",");
		outcome_json(b, &r->queue[i]);
	}
	evbuffer_add(b, "]", 2); /* with its terminating NUL, for libpq */
	return (const char *)evbuffer_pullup(b, -1);
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
	const char *params[] = { outcomes_json(r, n), w->id };

	evtimer_del(r->timer);
	r->nsending = n;
	r->write_started_ms = ph_now_ms();
	pq_submit(w, PQ_COMPLETE, complete_sql, 2, params, on_completed);
}

bool record_flush_now(struct worker *w)
{
	struct record *r = w->record;

	assert(r->nsending == 0);
	while (r->nqueued > 0) {
		int n = r->nqueued;
		const char *params[] = { outcomes_json(r, n), w->id };
		PGresult *res = ph_db_exec(&w->db, complete_sql, 2, params);
		if (!res)
			return false;
		written(w, n, res);
		PQclear(res);
	}
	return true;
}
