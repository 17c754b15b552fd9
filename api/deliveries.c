/* SPDX-License-Identifier: MIT
 *
 * deliveries: reading deliveries and their attempts, recording attempts made elsewhere
 * (seed 002), and replays (seed 004).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "validate.h"

static const char *const delivery_statuses[] = { "pending", "retry_scheduled", "delivering",
	"delivered", "failed" };

/* Statuses an external attempt may set: all but delivering, the worker's own. */
static const char *const attempt_statuses[] = { "pending", "retry_scheduled", "delivered",
	"failed" };

void deliveries_list(struct req *r)
{
	int limit;
	char cursor[PH_ID_MAX], lim[16];
	bool ok = true;
	if (!req_page(r, "dlv", &limit, cursor))
		return;
	const char *status;
	if (!req_enum_param(
		    r, "status", delivery_statuses, PH_ARRAY_LEN(delivery_statuses), &status))
		return;
	const char *since = req_time_param(r, "since", &ok);
	if (!ok)
		return;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	const char *params[] = { r->tenant_id, cursor[0] ? cursor : NULL, status,
		req_query(r, "webhookId"), req_query(r, "eventId"), since, lim };
	reply_list_query(r, limit,
		"select pghook_delivery_json(d), d.id from deliveries d where d.tenant_id = $1"
		" and ($2::text is null or d.id < $2) and ($3::text is null or d.status = $3)"
		" and ($4::text is null or d.webhook_id = $4)"
		" and ($5::text is null or d.event_id = $5)"
		" and ($6::timestamptz is null or d.created_at >= $6)"
		" order by d.id desc limit $7::int",
		7, params);
}

void deliveries_get(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(r, 200, "delivery",
		"select pghook_delivery_json(d) from deliveries d where d.tenant_id = $1 and d.id = $2",
		2, params);
}

void deliveries_attempts(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	/* Every attempt, oldest first: an audit trail is read in order and stays short. */
	reply_query(r, 200, "delivery",
		"select json_build_object('data', coalesce((select json_agg(pghook_attempt_json(a)"
		"   order by a.attempt_number, a.id) from attempts a where a.delivery_id = d.id), "
		"   '[]'::json), 'nextCursor', null)"
		" from deliveries d where d.tenant_id = $1 and d.id = $2",
		2, params);
}

/* The attempt body of seed 002; strings borrowed from the body object. */
struct attempt_input {
	const char *status, *error, *next_retry, *response_body;
	char code[8];
	bool has_code;
};

static void check_code(struct ph_verr *v, json_object *body, struct attempt_input *in)
{
	json_object *c = NULL;
	if (!json_object_object_get_ex(body, "responseStatusCode", &c) || !c)
		return;
	int64_t n = json_object_is_type(c, json_type_int) ? json_object_get_int64(c) : 0;
	if (n < 100 || n > 599) {
		ph_verr_add(v, "body", "responseStatusCode", "greater_than_equal",
			"responseStatusCode must be an integer from 100 to 599 or null");
		return;
	}
	snprintf(in->code, sizeof(in->code), "%d", (int)n);
	in->has_code = true;
}

static bool check_attempt(struct req *r, json_object *body, struct attempt_input *in)
{
	struct ph_verr v;
	json_object *rb = NULL;
	ph_verr_init(&v);
	memset(in, 0, sizeof(*in));
	if (v_string(&v, body, LOC_BODY, "status", true, false, 32, &in->status) == FIELD_SET &&
		!str_in(in->status, attempt_statuses, PH_ARRAY_LEN(attempt_statuses)))
		ph_verr_add(&v, "body", "status", "enum",
			"status must be pending, retry_scheduled, delivered or failed");
	check_code(&v, body, in);
	if (v_object(&v, body, LOC_BODY, "responseBody", false, true, &rb) == FIELD_SET)
		in->response_body = ph_json_compact(rb, NULL);
	v_string(&v, body, LOC_BODY, "lastError", false, true, 4096, &in->error);
	if (v_string(&v, body, LOC_BODY, "nextRetryAt", false, true, 64, &in->next_retry) ==
			FIELD_SET &&
		!rfc3339_valid(in->next_retry))
		ph_verr_add(&v, "body", "nextRetryAt", "datetime_parsing",
			"nextRetryAt must be an RFC 3339 date-time");
	if (in->status && strcmp(in->status, "retry_scheduled") == 0 && !in->next_retry &&
		!ph_verr_any(&v))
		ph_verr_add(&v, "body", "nextRetryAt", "missing",
			"nextRetryAt is required when status is retry_scheduled");
	if (!ph_verr_any(&v))
		return true;
	reply_verr(r, &v);
	return false;
}

void deliveries_record_attempt(struct req *r)
{
	struct attempt_input in;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	if (check_attempt(r, body, &in)) {
		const char *params[] = { r->tenant_id, r->params[0], in.status,
			in.has_code ? in.code : NULL, in.response_body, in.error, in.next_retry };
		reply_query(r, 200, "delivery",
			"select pghook_record_attempt($1, $2, $3, $4::int, $5, $6, $7::timestamptz,"
			" 'external', null, null, null)",
			7, params);
	}
	json_object_put(body);
}

void deliveries_replay(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(r, 201, "delivery", "select pghook_delivery_json(pghook_replay($1, $2))", 2,
		params);
}

/* Seed 004 answers 200 with its snake_case WebhookDeliveryResponse. */
void deliveries_replay_seed004(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(
		r, 200, "delivery", "select pghook_seed004_json(pghook_replay($1, $2))", 2, params);
}
