/* SPDX-License-Identifier: MIT
 *
 * claim: see claim.h. A claim is taken only when enough delivery slots are free, so a worker
 * never holds leases it cannot work on; "enough" is a full batch (or half the slots when they
 * are fewer than two batches), so a busy worker claims in batches rather than row by row.
 *
 * Which deliveries a claim takes (per-webhook limits, fairness, circuits, FIFO) is decided in
 * pghook_claim for the whole fleet (sql/functions/claim.sql). It may add a row without an id
 * saying when a webhook held back by its rate limit or its circuit can go again: a timer
 * claims then, instead of waiting for the poll.
 */
#include "claim.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "json.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "pq.h"
#include "record.h"
#include "worker.h"

/* A claimed delivery waiting for its claim statement to end. */
struct pending {
	struct job *j;
	struct job_start start; /* its url and event_id point into copy */
	char *copy;
	bool active; /* its webhook is enabled */
};

struct claim {
	struct {
		bool active; /* a claim statement is in flight */
		bool woken; /* claim_wake came while it ran */
		int want; /* rows it asked for */
		double started_ms;
		/* Its rows so far (on_row): started when the statement ends well, dropped if not.
		 */
		struct pending *rows;
		int nrows, cap;
		bool any_row; /* a row came, which says the session's quarantine (held) */
		char *held;
		int64_t next_due_ms; /* the soonest hint row's, -1 for none */
	} running;
	bool more_due; /* the last claim was full: there may be more right now */
	struct event *next_due; /* claims when a held-back webhook may go again */
	double next_due_at_ms; /* when next_due fires (ph_now_ms), 0 when not armed */
};

enum {
	COL_ID,
	COL_TENANT,
	COL_EVENT,
	COL_WEBHOOK,
	COL_ATTEMPTS,
	COL_TOKEN,
	COL_URL,
	COL_SECRET,
	COL_PREVIOUS,
	COL_ACTIVE,
	COL_TYPE,
	COL_PAYLOAD,
	COL_LAG,
	COL_OPTIONS,
	COL_NEXT_DUE, /* only on the row without an id */
	COL_HELD, /* the session's quarantine after the claim (pq_claim_quarantine) */
};

/* A signing secret as stored (encrypted when PGHOOK_SECRET_KEY is set, common/crypto.h),
 * decrypted for its tenant and webhook. One that does not decrypt (its key is not configured
 * here) becomes "", which the request refuses as an invalid secret: the attempt is recorded as
 * failed and retried on schedule, never sent unsigned. */
static char *open_secret(const struct worker *w, const PGresult *res, int r, int c)
{
	const char *stored = ph_db_value(res, r, c), *why = NULL;
	if (!stored)
		return NULL;
	char *plain = ph_crypto_open(&w->cfg->crypto, stored, PQgetvalue(res, r, COL_TENANT),
		PQgetvalue(res, r, COL_WEBHOOK), &why);
	if (plain)
		return plain;
	log_error("delivery %s: cannot decrypt the signing secret of webhook %s: %s",
		PQgetvalue(res, r, COL_ID), PQgetvalue(res, r, COL_WEBHOOK), why);
	return ph_xstrdup("");
}

/* The per-webhook options of the claim (sql/functions/claim_options.sql): custom headers
 * kept as JSON for the request's start, the delivery's retry schedule as milliseconds in j. */
static void read_options(struct job *j, struct job_start *start, const PGresult *res, int r)
{
	const char *text = ph_db_value(res, r, COL_OPTIONS);
	json_object *opt = NULL;
	if (!text || ph_json_parse(text, strlen(text), &opt) != PH_JSON_OK) {
		if (text)
			log_error("delivery %s: unreadable options %s", j->id, text);
		return;
	}
	json_object *h = ph_json_get(opt, "headers"), *s = ph_json_get(opt, "retrySchedule");
	if (h && json_object_is_type(h, json_type_object))
		start->headers = ph_xstrdup(ph_json_compact(h, NULL));
	size_t n = s && json_object_is_type(s, json_type_array) ? json_object_array_length(s) : 0;
	if (n > 0) {
		j->schedule = ph_xcalloc(n, sizeof(*j->schedule));
		for (size_t i = 0; i < n; i++)
			j->schedule[i] = json_object_get_int64(json_object_array_get_idx(s, i));
		j->schedule_count = (int)n;
	}
	json_object_put(opt);
}

/* The row's strings the job keeps are copied after it, in the same allocation: one malloc per
 * delivery instead of one per column. What only the start needs goes into *start (the URL
 * and the event id borrowed from res, which must outlive the start). */
static struct job *job_from_row(
	const struct worker *w, const PGresult *res, int r, struct job_start *start)
{
	static const int cols[] = { COL_ID, COL_WEBHOOK, COL_PAYLOAD };
	size_t len[PH_ARRAY_LEN(cols)], total = 0;

	for (size_t i = 0; i < PH_ARRAY_LEN(cols); i++) {
		len[i] = (size_t)PQgetlength(res, r, cols[i]);
		total += len[i] + 1;
	}
	struct job *j = ph_xcalloc(1, sizeof(*j) + total);
	char *text = j->text, **to[] = { &j->id, &j->webhook_id, &j->payload };
	for (size_t i = 0; i < PH_ARRAY_LEN(cols); i++) {
		memcpy(text, PQgetvalue(res, r, cols[i]), len[i] + 1);
		*to[i] = text;
		text += len[i] + 1;
	}
	j->kind = JOB_DELIVERY;
	j->payload_len = len[PH_ARRAY_LEN(cols) - 1];
	j->attempt_count = atoi(PQgetvalue(res, r, COL_ATTEMPTS));
	j->token = atoll(PQgetvalue(res, r, COL_TOKEN));
	*start = (struct job_start){ .url = PQgetvalue(res, r, COL_URL),
		.event_id = PQgetvalue(res, r, COL_EVENT),
		.secret = open_secret(w, res, r, COL_SECRET),
		.previous_secret = open_secret(w, res, r, COL_PREVIOUS) };
	read_options(j, start, res, r);
	return j;
}

/* Claim again at ms from now, unless a timer fires sooner already. */
static void arm_next_due(struct worker *w, int64_t ms)
{
	struct claim *c = w->claim;
	double at = ph_now_ms() + (double)ms;

	if (c->next_due_at_ms > 0 && c->next_due_at_ms <= at)
		return;
	c->next_due_at_ms = at;
	worker_timer_add(c->next_due, ms);
}

static void on_next_due(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->claim->next_due_at_ms = 0;
	claim_wake(w);
}

/* A row of the running claim, as it arrives: the claim's result is never held whole (1,000
 * rows of payloads would be 2 MB on top of the deliveries made from them). Nothing is started
 * before the statement has ended well: its rows are kept as jobs, with copies of what their
 * start needs. */
static void on_row(struct worker *w, const PGresult *res, int r)
{
	struct claim *c = w->claim;

	if (!c->running.any_row) {
		const char *held = ph_db_value(res, r, COL_HELD);
		c->running.any_row = true;
		c->running.held = held ? ph_xstrdup(held) : NULL;
	}
	if (PQgetisnull(res, r, COL_ID)) {
		int64_t ms = atoll(PQgetvalue(res, r, COL_NEXT_DUE));
		if (c->running.next_due_ms < 0 || ms < c->running.next_due_ms)
			c->running.next_due_ms = ms;
		return;
	}
	if (c->running.nrows == c->running.cap) {
		c->running.cap = c->running.cap ? 2 * c->running.cap : 64;
		c->running.rows = ph_xrealloc(
			c->running.rows, (size_t)c->running.cap * sizeof(*c->running.rows));
	}
	struct pending *p = &c->running.rows[c->running.nrows++];
	p->j = job_from_row(w, res, r, &p->start);
	p->active = strcmp(PQgetvalue(res, r, COL_ACTIVE), "t") == 0;
	size_t ulen = strlen(p->start.url), elen = strlen(p->start.event_id);
	p->copy = ph_xmalloc(ulen + elen + 2);
	memcpy(p->copy, p->start.url, ulen + 1);
	memcpy(p->copy + ulen + 1, p->start.event_id, elen + 1);
	p->start.url = p->copy;
	p->start.event_id = p->copy + ulen + 1;
}

/* Forget the running claim's rows (started or not) and what they said. */
static void rows_reset(struct claim *c, bool destroy)
{
	for (int i = 0; i < c->running.nrows; i++) {
		struct pending *p = &c->running.rows[i];
		job_start_wipe(&p->start);
		free(p->copy);
		if (destroy)
			job_destroy(p->j);
	}
	c->running.nrows = 0;
	c->running.any_row = false;
	free(c->running.held);
	c->running.held = NULL;
	c->running.next_due_ms = -1;
}

/* Start every claimed row; a row whose webhook was disabled after the claim is failed at once.
 * Returns the number of deliveries (the hint row is not one). The rows are taken out of
 * c->running first: starting them may run another claim (a failed start is recorded, which
 * may claim), whose failure would drop c->running's rows. */
static int start_rows(struct worker *w)
{
	struct claim *c = w->claim;
	struct pending *rows = c->running.rows;
	int n = c->running.nrows, cap = c->running.cap;
	int64_t next_due_ms = c->running.next_due_ms;

	c->running.rows = NULL;
	c->running.nrows = c->running.cap = 0;
	rows_reset(c, false);
	if (next_due_ms >= 0)
		arm_next_due(w, next_due_ms);
	for (int i = 0; i < n; i++) {
		struct pending *p = &rows[i];
		struct job *j = p->j;
		if (!p->active) {
			struct ph_request_result out;
			memset(&out, 0, sizeof(out));
			out.body = "";
			snprintf(out.error, sizeof(out.error), "the webhook is disabled");
			/* No attempts left for a disabled webhook: make the plan final. */
			j->attempt_count = j->schedule ? j->schedule_count : w->cfg->retry_count;
			record_add(w, j, &out);
			job_destroy(j);
		} else {
			deliver_start(w, j, &p->start);
		}
		job_start_wipe(&p->start);
		free(p->copy);
	}
	if (!c->running.rows) { /* keep the array for the next claim */
		c->running.rows = rows;
		c->running.cap = cap;
	} else {
		free(rows);
	}
	return n;
}

/* The claim statement finished: start what it took, and claim again if it was full. */
static void on_claimed(struct worker *w, PGresult *res, bool conn_lost)
{
	struct claim *c = w->claim;
	int want = c->running.want;
	double ms = ph_now_ms() - c->running.started_ms;

	c->running.active = false;
	if (!res) {
		rows_reset(c, true);
		metrics_claim(w, ms, -1);
		c->more_due = false;
		return;
	}
	/* A claim that returned rows says which quarantine the session holds now; one that
	 * returned none left it as it was (held, or none). */
	if (c->running.any_row)
		pq_claim_quarantine(w, c->running.held);
	/* Woken while this claim ran: the rows that woke us may have come after its snapshot. */
	bool woken = c->running.woken;
	c->running.woken = false;
	/* Rows claimed while a shutdown began are started too: they finish or are released. */
	int n = start_rows(w);
	metrics_claim(w, ms, n);
	if (n > 0)
		log_debug("claimed %d deliveries", n);
	c->more_due = n == want || woken;
	if (c->more_due)
		claim_pump(w);
}

/* Slots a claim needs free before it runs: a full batch when the slots allow one while others
 * run, else half the slots. After a claim that came back short, though, what is due is held
 * back by its webhooks' limits, and the slots in use may stay so for long (slow receivers):
 * waiting for a batch's worth would hold up every other webhook, so claim what is free. */
static int threshold(const struct worker *w)
{
	const struct ph_config *cfg = w->cfg;
	if (!w->claim->more_due)
		return 1;
	int half = cfg->worker_concurrency / 2 > 0 ? cfg->worker_concurrency / 2 : 1;
	return cfg->worker_batch < half ? cfg->worker_batch : half;
}

/* Whether a claim should run now, and for how many rows (*want). */
static bool should_claim(const struct worker *w, int *want)
{
	const struct claim *c = w->claim;
	int inflight = deliver_inflight(w);
	/* A delivery holds its slot until its outcome is recorded, not only while its request
	 * runs: when completions fall behind, claiming on would hold leases for work already done
	 * (they could expire before the outcome is written, and the delivery be sent again) and
	 * spread the completions over rows long out of the caches. */
	int slots = w->cfg->worker_concurrency - inflight - record_pending(w);

	/* While outcomes cannot be written, claiming more would only pile them up. */
	if (lifecycle_state(w) != WORKER_RUNNING || record_backing_off(w) || c->running.active)
		return false;
	if (slots <= 0 || (slots < threshold(w) && inflight > 0))
		return false;
	*want = slots < w->cfg->worker_batch ? slots : w->cfg->worker_batch;
	return true;
}

void claim_pump(struct worker *w)
{
	struct claim *c = w->claim;
	int want;

	if (!should_claim(w, &want))
		return;
	char limit[16], lease[32];
	snprintf(limit, sizeof(limit), "%d", want);
	snprintf(lease, sizeof(lease), "%lld", (long long)w->cfg->worker_lease_ms);
	const char *params[] = { limit, lease };

	c->running.active = true;
	c->running.want = want;
	c->running.started_ms = ph_now_ms();
	pq_submit_rows(w, PQ_CLAIM,
		"select c.*, current_setting('pghook.quarantine', true) from "
		"pghook_claim($1::int, $2::bigint) c",
		2, params, on_row, on_claimed);
}

void claim_wake(struct worker *w)
{
	struct claim *c = w->claim;

	if (c->running.active)
		c->running.woken = true;
	claim_pump(w);
}

void claim_slots_freed(struct worker *w)
{
	if (w->claim->more_due)
		claim_pump(w);
}

void claim_init(struct worker *w)
{
	w->claim = ph_xcalloc(1, sizeof(*w->claim));
	w->claim->running.next_due_ms = -1;
	w->claim->next_due = evtimer_new(w->base, on_next_due, w);
}

void claim_finish(struct worker *w)
{
	if (!w->claim)
		return;
	worker_event_free(&w->claim->next_due);
	rows_reset(w->claim, true);
	free(w->claim->running.rows);
	free(w->claim);
	w->claim = NULL;
}

static void add_release(const struct job *j, void *arg)
{
	json_object *x = json_object_new_object();
	json_object_object_add(x, "id", json_object_new_string(j->id));
	json_object_object_add(x, "token", json_object_new_int64(j->token));
	json_object_array_add(arg, x);
}

void claim_release_all(struct worker *w)
{
	json_object *arr = json_object_new_array();
	deliver_each_running(w, add_release, arr);
	size_t n = json_object_array_length(arr);

	if (n > 0) {
		const char *params[] = { ph_json_compact(arr, NULL) };
		PGresult *res = ph_db_exec(&w->db, "select pghook_release($1::json)", 1, params);
		if (res) {
			log_info("released %s unfinished deliveries", PQgetvalue(res, 0, 0));
			PQclear(res);
		} else {
			log_warn("cannot release %zu deliveries; their leases will expire", n);
		}
	}
	json_object_put(arr);
}
