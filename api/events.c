/* SPDX-License-Identifier: MIT
 *
 * events: ingest and reading. Ingest is one call of pghook_ingest() (sql/0001_init.sql), which
 * stores the events, fans out their deliveries and NOTIFYs the workers in the statement's own
 * transaction; the answer is sent only after it committed, so an acknowledged event is durable.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "notifier.h"
#include "routes.h"
#include "validate.h"

#define BATCH_MAX 1000

static const char *const event_statuses[] = { "pending", "delivered", "failed", "skipped" };

/* Run the ingest for a JSON array of validated events. */
static PGresult *ingest(struct req *r, const char *events_json)
{
	const char *params[] = { r->tenant_id, events_json };
	PGresult *res = ph_db_exec(
		&r->ctx->db, "select created, event from pghook_ingest($1, $2::json)", 2, params);
	if (!res)
		reply_db_error(r);
	else
		notifier_poke(r->ctx->notifier);
	return res;
}

/* Single-event ingest, the hottest route: one prepared statement that fans out and renders the
 * answer from what it inserted (through the same pghook_*_obj shapes as every other read), so
 * an ingest is one round trip and one commit. A repeated sourceKey inserts nothing and the
 * stored event is read back instead. */
static const char ingest_one_sql[] =
	"with w as (select id, url, description from webhooks"
	"   where tenant_id = $1 and status = 'active' and deleted_at is null"
	"   and ($3 = any(subscriptions) or '*' = any(subscriptions))),"
	" ev as (insert into events (id, tenant_id, event_type, event_group, source_key, payload,"
	"   status, endpoint_count)"
	"   select $2, $1, $3, $4, $5, $6::json,"
	"   case when count(*) = 0 then 'skipped' else 'pending' end, count(*) from w"
	"   on conflict (tenant_id, source_key) where source_key is not null do nothing"
	"   returning id, status, endpoint_count, payload, created_at),"
	" dl as (insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at)"
	"   select pghook_new_id('dlv'), $1, ev.id, w.id, 'pending', ev.created_at from ev, w"
	"   returning id, webhook_id, created_at)"
	" select pghook_event_obj(ev.id, $1, $3, $4, $5, ev.status, ev.endpoint_count, ev.payload,"
	"   (select json_agg(pghook_delivery_obj(dl.id, ev.id, dl.webhook_id, $3, 'pending', 0,"
	"     dl.created_at, null, null, null, null, null, $1, coalesce(w.description, w.url),"
	"     w.url, dl.created_at, dl.created_at) order by dl.id)"
	"    from dl join w on w.id = dl.webhook_id),"
	"   ev.created_at, ev.created_at)"
	" from ev";

static const char *string_or_null(json_object *obj, const char *key)
{
	json_object *v = ph_json_get(obj, key);
	return v ? json_object_get_string(v) : NULL;
}

void events_create(struct req *r)
{
	struct ph_verr v;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	ph_verr_init(&v);
	validate_event(&v, body, LOC_BODY);
	if (ph_verr_any(&v)) {
		json_object_put(body);
		reply_verr(r, &v);
		return;
	}
	char id[PH_ID_MAX];
	ph_id_new(id, "evt");
	const char *key = string_or_null(body, "sourceKey");
	const char *params[] = { r->tenant_id, id, string_or_null(body, "type"),
		string_or_null(body, "eventGroup"), key,
		ph_json_compact(ph_json_get(body, "data"), NULL) };
	PGresult *res = ph_db_exec_prepared(&r->ctx->db, "ingest_one", ingest_one_sql, 6, params);
	if (!res) {
		reply_db_error(r);
	} else if (PQntuples(res) == 1) {
		notifier_poke(r->ctx->notifier);
		reply_raw(r, 201, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	} else {
		/* A repeated sourceKey: the stored event, 200, nothing created. */
		const char *p2[] = { r->tenant_id, key };
		reply_query(r, 200, "event",
			"select pghook_event_json(e) from events e"
			" where e.tenant_id = $1 and e.source_key = $2",
			2, p2);
	}
	PQclear(res);
	json_object_put(body);
}

static bool check_batch(struct req *r, json_object *body, json_object **events)
{
	struct ph_verr v;
	ph_verr_init(&v);
	*events = ph_json_get(body, "events");
	size_t n = 0;
	if (!*events || !json_object_is_type(*events, json_type_array)) {
		ph_verr_add(&v, "body", "events", "list_type", "events must be an array");
	} else {
		n = json_object_array_length(*events);
		if (n < 1 || n > BATCH_MAX)
			ph_verr_add(&v, "body", "events", "too_long",
				"events must hold 1 to 1000 events");
	}
	for (size_t i = 0; i < n && n <= BATCH_MAX; i++)
		validate_event(&v, json_object_array_get_idx(*events, i),
			(struct field_loc){ "events", (int)i });
	if (!ph_verr_any(&v))
		return true;
	reply_verr(r, &v);
	return false;
}

void events_batch(struct req *r)
{
	json_object *body = req_body_object(r), *events;
	if (!body)
		return;
	if (!check_batch(r, body, &events)) {
		json_object_put(body);
		return;
	}
	PGresult *res = ingest(r, ph_json_compact(events, NULL));
	json_object_put(body);
	if (!res)
		return;
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, "{\"data\":[", 9);
	for (int i = 0; i < PQntuples(res); i++) {
		if (i)
			evbuffer_add(buf, ",", 1);
		evbuffer_add(buf, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
	}
	evbuffer_add(buf, "]}", 2);
	size_t len = evbuffer_get_length(buf);
	reply_raw(r, 201, (const char *)evbuffer_pullup(buf, -1), len);
	evbuffer_free(buf);
	PQclear(res);
}

void events_list(struct req *r)
{
	int limit;
	char cursor[PH_ID_MAX], lim[16];
	bool ok = true;
	if (!req_page(r, "evt", &limit, cursor))
		return;
	const char *status;
	if (!req_enum_param(r, "status", event_statuses, PH_ARRAY_LEN(event_statuses), &status))
		return;
	const char *since = req_time_param(r, "since", &ok);
	const char *until = ok ? req_time_param(r, "until", &ok) : NULL;
	if (!ok)
		return;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	const char *params[] = { r->tenant_id, cursor[0] ? cursor : NULL, req_query(r, "type"),
		status, since, until, lim };
	reply_list_query(r, limit,
		"select pghook_event_json(e), e.id from events e where e.tenant_id = $1"
		" and ($2::text is null or e.id < $2) and ($3::text is null or e.event_type = $3)"
		" and ($4::text is null or e.status = $4)"
		" and ($5::timestamptz is null or e.created_at >= $5)"
		" and ($6::timestamptz is null or e.created_at < $6)"
		" order by e.id desc limit $7::int",
		7, params);
}

void events_get(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(r, 200, "event",
		"select pghook_event_json(e) from events e where e.tenant_id = $1 and e.id = $2", 2,
		params);
}
