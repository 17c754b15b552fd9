/* SPDX-License-Identifier: MIT
 *
 * claim: take due deliveries with pghook_claim() (one statement, FOR UPDATE SKIP LOCKED, commits
 * before any request starts) and turn each row into a running delivery job. The statement runs
 * asynchronously (pq.c); one claim at a time. A claim is taken
 * only when enough delivery slots are free, so a worker never holds leases it cannot work on;
 * "enough" is a full batch (or half the slots when they are fewer than two batches), so a busy
 * worker claims in batches rather than row by row.
 */
#include "worker.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

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
};

static char *dup_value(const PGresult *res, int r, int c)
{
	const char *v = ph_db_value(res, r, c);
	return v ? ph_xstrdup(v) : NULL;
}

/* A signing secret as stored (encrypted when PGHOOK_SECRET_KEY is set, common/crypto.h),
 * decrypted for its tenant and webhook. One that does not decrypt (its key is not configured
 * here) becomes "", which the request refuses as an invalid secret: the attempt is recorded as
 * failed and retried on schedule, never sent unsigned. */
static char *open_secret(struct worker *w, const PGresult *res, int r, int c)
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

static struct job *job_from_row(struct worker *w, const PGresult *res, int r)
{
	struct job *j = ph_xcalloc(1, sizeof(*j));

	j->kind = JOB_DELIVERY;
	j->id = dup_value(res, r, COL_ID);
	j->event_id = dup_value(res, r, COL_EVENT);
	j->webhook_id = dup_value(res, r, COL_WEBHOOK);
	j->attempt_count = atoi(PQgetvalue(res, r, COL_ATTEMPTS));
	j->token = atoll(PQgetvalue(res, r, COL_TOKEN));
	j->url = dup_value(res, r, COL_URL);
	j->secret = open_secret(w, res, r, COL_SECRET);
	j->previous_secret = open_secret(w, res, r, COL_PREVIOUS);
	j->payload = dup_value(res, r, COL_PAYLOAD);
	return j;
}

/* Start every claimed row; a row whose webhook was disabled after the claim is failed at once. */
static void start_rows(struct worker *w, const PGresult *res)
{
	int n = PQntuples(res);

	for (int r = 0; r < n; r++) {
		struct job *j = job_from_row(w, res, r);
		if (strcmp(PQgetvalue(res, r, COL_ACTIVE), "t") != 0) {
			struct ph_request_result out;
			memset(&out, 0, sizeof(out));
			out.body = "";
			snprintf(out.error, sizeof(out.error), "the webhook is disabled");
			/* No attempts left for a disabled webhook: make the plan final. */
			j->attempt_count = w->cfg->retry_count;
			outcome_add(w, j, &out);
			job_destroy(j);
			continue;
		}
		deliver_start(w, j);
	}
}

/* The claim statement finished: start what it took, and claim again if it was full. */
static void on_claimed(struct worker *w, PGresult *res, void *arg)
{
	int want = (int)(intptr_t)arg;

	w->claiming = false;
	w->m.claim_ms += ph_now_ms() - w->claim_started_ms;
	if (!res) {
		w->m.db_errors++;
		w->more_due = false;
		return;
	}
	int n = PQntuples(res);
	w->m.claims++;
	w->m.claimed += (uint64_t)n;
	metrics_batch(&w->m, n);
	if (n > 0)
		log_debug("claimed %d deliveries", n);
	/* Rows claimed while a shutdown began are started too: they finish or are released. */
	start_rows(w, res);
	/* Woken while this claim ran: the rows that woke us may have come after its snapshot. */
	bool woken = w->woken_while_claiming;
	w->woken_while_claiming = false;
	w->more_due = n == want || woken;
	if (w->claim_skipped)
		w->others_dry = n < want && !woken;
	if (w->more_due)
		claim_pump(w);
}

void claim_pump(struct worker *w)
{
	const struct ph_config *cfg = w->cfg;
	/* A full batch when the slots allow one while others run, else half the slots. */
	int half = cfg->worker_concurrency / 2 > 0 ? cfg->worker_concurrency / 2 : 1;
	int threshold = cfg->worker_batch < half ? cfg->worker_batch : half;
	/* Slots held by webhooks at their cap may stay held for long (a slow receiver): waiting
	 * for a batch's worth would hold up every other webhook, so claim what is free. */
	if (w->hooks_full > 0)
		threshold = 1;
	/* A delivery holds its slot until its outcome is recorded, not only while its request
	 * runs: when completions fall behind, claiming on would hold leases for work already done
	 * (they could expire before the outcome is written, and the delivery be sent again) and
	 * spread the completions over rows long out of the caches. */
	int slots = cfg->worker_concurrency - w->inflight - w->npending;

	/* While outcomes cannot be written, claiming more would only pile them up. */
	if (w->stopping || w->flush_backoff_ms > 0 || w->claiming)
		return;
	/* A claim that skips the capped webhooks reads past all of their due rows first (the
	 * whole backlog, when one busy webhook has it): after one found nothing else, reading
	 * them again after every completion took most of the database's time. */
	if (w->hooks_full > 0 && w->others_dry)
		return;
	if (slots <= 0 || (slots < threshold && w->inflight > 0))
		return;
	int want = slots < cfg->worker_batch ? slots : cfg->worker_batch;
	char limit[16], lease[32];
	snprintf(limit, sizeof(limit), "%d", want);
	snprintf(lease, sizeof(lease), "%lld", (long long)cfg->worker_lease_ms);
	char *full = deliver_full_hooks(w); /* webhooks at their in-flight cap: not claimed */
	const char *params[] = { limit, lease, full };

	w->claiming = true;
	w->claim_skipped = w->hooks_full > 0;
	w->claim_started_ms = ph_now_ms();
	pq_submit(w, PQ_CLAIM, "select * from pghook_claim($1::int, $2::bigint, $3::text[])", 3,
		params, on_claimed, (void *)(intptr_t)want);
	free(full);
}

void claim_wake(struct worker *w)
{
	w->others_dry = false;
	if (w->claiming)
		w->woken_while_claiming = true;
	claim_pump(w);
}

void claim_release_all(struct worker *w)
{
	json_object *arr = json_object_new_array();
	int n = 0;

	for (struct job *j = w->jobs; j; j = j->next) {
		if (j->kind != JOB_DELIVERY)
			continue;
		json_object *x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(j->id));
		json_object_object_add(x, "token", json_object_new_int64(j->token));
		json_object_array_add(arr, x);
		n++;
	}
	if (n > 0) {
		const char *params[] = { ph_json_compact(arr, NULL) };
		PGresult *res = ph_db_exec(&w->db, "select pghook_release($1::json)", 1, params);
		if (res) {
			log_info("released %s unfinished deliveries", PQgetvalue(res, 0, 0));
			PQclear(res);
		} else {
			log_warn("cannot release %d deliveries; their leases will expire", n);
		}
	}
	json_object_put(arr);
}
