/* SPDX-License-Identifier: MIT
 *
 * deliveries: reading deliveries and their attempts, recording attempts made elsewhere,
 * and replays.
 */
#include "delivery.h"
#include "offload.h"
#include "routes.h"
#include "validate.h"

void deliveries_list(struct req *r)
{
	struct list_query q;
	if (!req_list_query(r, "dlv", ph_delivery_status_names, PH_DELIVERY_STATUS_COUNT, &q))
		return;
	bool ok = true;
	const char *until = req_time_param(r, "until", &ok);
	if (!ok)
		return;
	const char *params[] = { r->tenant_id, q.cursor[0] ? q.cursor : NULL, q.status,
		req_query(r, "webhookId"), req_query(r, "eventId"), q.since, q.fetch,
		req_query(r, "eventType"), until };
	/* A time range is also an id range (ids begin with created_at's millisecond,
	 * sql/functions/new_id.sql), read from deliveries_tenant; failed deliveries are found
	 * through deliveries_tenant_failed (migration 18). A delivery in flight is pending or
	 * retry_scheduled in its row, shown as delivering (pghook_in_flight, migration 22). */
	reply_list_query(r, q.limit,
		"select pghook_delivery_json(d), d.id from deliveries d where d.tenant_id = $1"
		" and ($2::text is null or d.id < $2) and ($3::text is null or d.status = $3"
		"   or ($3 = 'delivering' and d.status in ('pending', 'retry_scheduled')))"
		" and ($3::text is distinct from 'failed' or d.failed)"
		" and ($3::text is null or $3 not in ('pending', 'retry_scheduled', 'delivering')"
		"   or pghook_in_flight(d) = ($3 = 'delivering'))"
		" and ($4::text is null or d.webhook_id = $4)"
		" and ($5::text is null or d.event_id = $5)"
		" and ($6::timestamptz is null or"
		"   (d.created_at >= $6 and d.id >= pghook_id_at('dlv', $6)))"
		" and ($9::timestamptz is null or (d.created_at < $9"
		"   and d.id < pghook_id_at('dlv', $9::timestamptz + interval '1 millisecond')))"
		" and ($8::text is null or exists (select 1 from events e"
		"   where e.tenant_id = $1 and e.id = d.event_id and e.event_type = $8))"
		" order by d.id desc limit $7::int",
		9, params);
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

void deliveries_record_attempt(struct req *r)
{
	struct ph_attempt_input in;
	struct ph_verr v;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	ph_verr_init(&v);
	ph_validate_attempt(&v, body, &in);
	if (req_valid(r, &v)) {
		const char *params[] = { r->tenant_id, r->params[0], in.status,
			in.code[0] ? in.code : NULL, in.response_body, in.error, in.next_retry };
		/* Off the loop: it waits for the delivery's row lock (a worker's completion, a
		 * send) and answers with every delivery of the event, however many. */
		offload_reply_query(r, 200, "delivery",
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
