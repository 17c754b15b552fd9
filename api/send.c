/* SPDX-License-Identifier: MIT
 *
 * send: one delivery attempt now, on request (POST /v1/deliveries/{id}/send, and Decoda's
 * Webhook Event Send in compat.c). The attempt blocks for up to PGHOOK_HTTP_TIMEOUT, so it runs
 * on a thread of its own (defer.h) with the same request code, signing and SSRF policy as the
 * worker. That thread then records the attempt (pghook_manual_attempt) on an offload connection
 * (offload.h), not on the loop's: recording waits for the delivery's row lock, which a worker or
 * another send of the same delivery may hold, and the loop serves other tenants meanwhile. Back
 * on the loop, the answer is the recorded delivery in the shape of Decoda's Event. If the client
 * hung up meanwhile, the attempt is still recorded: it happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "defer.h"
#include "delivery.h"
#include "log.h"
#include "offload.h"
#include "quota.h"
#include "request.h"
#include "routes.h"
#include "validate.h"

struct send_job {
	struct deferred d; /* first: the job is found from it */
	bool notify_failure;
	char delivery_id[PH_ID_MAX], event_id[PH_ID_MAX];
	enum ph_delivery_status status;
	char *url, *secret, *previous_secret, *payload, *headers;
	long long timestamp;
	struct ph_request_result result;
	char started[40];
	PGresult *recorded; /* pghook_manual_attempt's answer, NULL when it failed */
	struct ph_db_failure failure; /* why it failed */
};

static void job_free(struct send_job *j)
{
	free(j->url);
	free(j->secret);
	free(j->previous_secret);
	free(j->payload);
	free(j->headers);
	PQclear(j->recorded);
	free(j);
}

/* A failed manual attempt does not move the delivery's schedule: a delivered or failed one
 * keeps its final state, a pending one stays due as it was. */
static const char *status_after(const struct send_job *j)
{
	if (j->result.ok)
		return ph_delivery_status_name(PH_DELIVERY_DELIVERED);
	if (j->status == PH_DELIVERY_DELIVERED || j->status == PH_DELIVERY_FAILED)
		return ph_delivery_status_name(j->status);
	return ph_delivery_status_name(PH_DELIVERY_RETRY_SCHEDULED);
}

/* On an offload connection: record the attempt, keep the answer for the loop. */
static void record(struct ph_db *db, void *arg)
{
	struct send_job *j = arg;
	const char *tenant = j->d.r.tenant_id;
	char code[16], duration[16];
	snprintf(code, sizeof(code), "%ld", j->result.status);
	snprintf(duration, sizeof(duration), "%d", j->result.duration_ms);
	const char *params[] = { tenant, j->delivery_id, status_after(j),
		j->result.status ? code : NULL, j->result.error[0] ? j->result.error : NULL,
		duration, j->notify_failure && !j->result.ok ? "t" : "f", j->started };
	j->recorded = offload_exec(db, tenant,
		"select pghook_manual_attempt($1, $2, $3, $4::int, $5, $6::int, $7::bool,"
		" $8::timestamptz)",
		8, params, &j->failure);
}

/* On the send's own thread: the HTTP attempt, then its record. */
static void attempt(struct deferred *d)
{
	struct send_job *j = (struct send_job *)d;
	struct ph_request req;
	struct ph_request_params p = { .url = j->url,
		.msg_id = j->event_id,
		.secret = j->secret,
		.previous_secret = j->previous_secret,
		.headers = j->headers,
		.body = j->payload,
		.body_len = strlen(j->payload),
		.timestamp = j->timestamp,
		.timeout_ms = d->r.ctx->cfg->http_timeout_ms,
		.ssrf = d->r.ctx->ssrf };
	memset(&req, 0, sizeof(req));
	if (ph_request_init(&req, &p, j->result.error, sizeof(j->result.error))) {
		CURLcode rc = ph_request_perform(&req);
		ph_request_result(&req, rc, &j->result);
		/* The body is borrowed from req, which ends here: keep only the status and error.
		 */
		j->result.body = NULL;
		j->result.retry_after = NULL;
	}
	ph_request_finish(&req);
	offload_call(d->r.ctx->offload, record, j);
}

static void attempt_done(struct deferred *d)
{
	struct send_job *j = (struct send_job *)d;
	quota_send_end(d->r.tenant_id);
	offload_reply_result(&d->r, 200, "delivery", j->recorded, &j->failure);
	defer_end(d);
	job_free(j);
}

/* Decrypt the webhook's secrets (stored encrypted when PGHOOK_SECRET_KEY is set, see
 * common/crypto.h) into the job. False, logged, when one does not decrypt. */
static bool open_secrets(struct send_job *j, const struct req *r, const char *webhook_id,
	const char *secret, const char *previous)
{
	const struct ph_crypto *c = &r->ctx->cfg->crypto;
	const char *why = NULL;
	j->secret = ph_crypto_open(c, secret, r->tenant_id, webhook_id, &why);
	if (j->secret && previous)
		j->previous_secret = ph_crypto_open(c, previous, r->tenant_id, webhook_id, &why);
	if (j->secret && (!previous || j->previous_secret))
		return true;
	log_error("cannot decrypt the signing secret of webhook %s: %s", webhook_id, why);
	return false;
}

/* Load what the attempt needs; false after answering 404 or a database error. */
static bool load(struct send_job *j, struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"select d.id, e.id, e.payload::text, w.url, w.secret,"
		" case when w.previous_secret_until > now() then w.previous_secret end,"
		" extract(epoch from now())::bigint, d.status, pghook_ts(now()), w.id, w.headers::text"
		" from deliveries d join events e on e.id = d.event_id"
		" join webhooks w on w.id = d.webhook_id and w.deleted_at is null"
		" where d.tenant_id = $1 and d.id = $2",
		2, params);
	if (!res || PQntuples(res) == 0) {
		if (res)
			reply_error(r, 404, "not_found", "no such delivery");
		else
			reply_db_error(r);
		PQclear(res);
		return false;
	}
	snprintf(j->delivery_id, sizeof(j->delivery_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(j->event_id, sizeof(j->event_id), "%s", PQgetvalue(res, 0, 1));
	j->payload = ph_xstrdup(PQgetvalue(res, 0, 2));
	j->url = ph_xstrdup(PQgetvalue(res, 0, 3));
	if (ph_db_value(res, 0, 10))
		j->headers = ph_xstrdup(PQgetvalue(res, 0, 10));
	if (!open_secrets(
		    j, r, PQgetvalue(res, 0, 9), PQgetvalue(res, 0, 4), ph_db_value(res, 0, 5))) {
		reply_error(r, 500, "internal", "internal error");
		PQclear(res);
		return false;
	}
	j->timestamp = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	if (!ph_delivery_status_parse(PQgetvalue(res, 0, 7), &j->status)) {
		log_error("delivery %s has an unknown status", j->delivery_id);
		reply_error(r, 500, "internal", "internal error");
		PQclear(res);
		return false;
	}
	snprintf(j->started, sizeof(j->started), "%s", PQgetvalue(res, 0, 8));
	PQclear(res);
	return true;
}

void deliveries_send(struct req *r)
{
	const char *nf = req_query(r, "notify_failure");
	bool notify_failure = true;
	if (nf && !ph_parse_bool(nf, &notify_failure)) {
		reply_invalid(r, "query", "notify_failure", "bool_parsing",
			"notify_failure must be true or false");
		return;
	}
	/* A slot first: a tenant looping on this route waits for its own sends, and the
	 * process never runs more than PGHOOK_SEND_CONCURRENCY threads for them. */
	if (!quota_send_begin(r))
		return;
	struct send_job *j = ph_xcalloc(1, sizeof(*j));
	j->notify_failure = notify_failure;
	if (!load(j, r)) {
		quota_send_end(r->tenant_id);
		job_free(j);
		return;
	}
	/* The loop does not exit at shutdown before this attempt ends. */
	if (!defer_to_thread(&j->d, r, attempt, attempt_done)) {
		quota_send_end(r->tenant_id);
		job_free(j);
		reply_error(r, 503, "unavailable", "cannot start the attempt, try again");
	}
}
