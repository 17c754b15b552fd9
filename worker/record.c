/* SPDX-License-Identifier: MIT
 *
 * record: see record.h. The queue's first nsending outcomes are the ones being written.
 */
#include "record.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "id.h"
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

/* A growing text buffer: the JSON argument of pghook_complete(), kept between writes. */
struct text {
	char *p;
	size_t len, cap;
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
	struct text json;
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
	free(r->json.p);
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

/* The completion's JSON is written straight into one buffer: building it as json-c objects
 * (a dozen allocations per outcome, then serialized and freed) was 7% of a draining worker's
 * CPU. The strings are valid UTF-8 (ph_request_result makes them so); they are escaped as
 * json-c would. */
static void text_reserve(struct text *t, size_t more)
{
	if (t->len + more <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more)
		cap *= 2;
	t->p = ph_xrealloc(t->p, cap);
	t->cap = cap;
}

static void text_add(struct text *t, const char *s, size_t n)
{
	text_reserve(t, n + 1);
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

#define text_lit(t, lit) text_add(t, lit, sizeof(lit) - 1)

static void text_int(struct text *t, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);
	text_add(t, num, (size_t)n);
}

/* s as a JSON string, quotes included. */
static void text_string(struct text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);

	text_reserve(t, 6 * n + 3); /* six bytes per byte at worst */
	char *o = t->p + t->len;
	*o++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"':
			*o++ = '\\', *o++ = '"';
			break;
		case '\\':
			*o++ = '\\', *o++ = '\\';
			break;
		case '\b':
			*o++ = '\\', *o++ = 'b';
			break;
		case '\f':
			*o++ = '\\', *o++ = 'f';
			break;
		case '\n':
			*o++ = '\\', *o++ = 'n';
			break;
		case '\r':
			*o++ = '\\', *o++ = 'r';
			break;
		case '\t':
			*o++ = '\\', *o++ = 't';
			break;
		default:
			if (*c < 0x20) {
				memcpy(o, "\\u00", 4);
				o[4] = hex[*c >> 4];
				o[5] = hex[*c & 15];
				o += 6;
			} else {
				*o++ = (char)*c;
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	t->len = (size_t)(o - t->p);
}

/* A duration in ms, or null where a phase did not happen. */
static void text_ms(struct text *t, int ms)
{
	if (ms >= 0)
		text_int(t, ms);
	else
		text_lit(t, "null");
}

/* {dnsMs, connectMs, tlsMs, firstByteMs, totalMs}, null where a phase did not happen. */
static void timings_json(struct text *t, const struct ph_timings *x)
{
	text_lit(t, ",\"timings\":{\"dnsMs\":");
	text_ms(t, x->dns_ms);
	text_lit(t, ",\"connectMs\":");
	text_ms(t, x->connect_ms);
	text_lit(t, ",\"tlsMs\":");
	text_ms(t, x->tls_ms);
	text_lit(t, ",\"firstByteMs\":");
	text_ms(t, x->first_byte_ms);
	text_lit(t, ",\"totalMs\":");
	text_ms(t, x->total_ms);
	text_lit(t, "}");
}

static void outcome_json(struct text *t, const struct outcome *o)
{
	text_lit(t, "{\"id\":");
	text_string(t, o->id);
	text_lit(t, ",\"token\":");
	text_int(t, o->token);
	text_lit(t, ",\"status\":");
	text_string(t, ph_delivery_status_name(o->status));
	text_lit(t, ",\"code\":");
	if (o->code)
		text_int(t, (int)o->code);
	else
		text_lit(t, "null");
	text_lit(t, ",\"body\":");
	text_string(t, o->body);
	text_lit(t, ",\"error\":");
	if (o->error)
		text_string(t, o->error);
	else
		text_lit(t, "null");
	text_lit(t, ",\"durationMs\":");
	text_int(t, o->duration_ms);
	text_lit(t, ",\"delayMs\":");
	text_int(t, (long long)o->delay_ms);
	if (o->gone)
		text_lit(t, ",\"gone\":true");
	else
		text_lit(t, ",\"gone\":false");
	if (o->timings.measured)
		timings_json(t, &o->timings);
	text_lit(t, "}");
}

/* The first n queued outcomes as pghook_complete()'s JSON argument, in r->json. */
static const char *outcomes_json(struct record *r, int n)
{
	struct text *t = &r->json;

	t->len = 0;
	text_lit(t, "[");
	for (int i = 0; i < n; i++) {
		if (i > 0)
			text_lit(t, ",");
		outcome_json(t, &r->queue[i]);
	}
	text_lit(t, "]");
	return t->p;
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
