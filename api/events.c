/* SPDX-License-Identifier: MIT
 *
 * events: ingest and reading. Ingest stores the events and fans out their deliveries in one
 * statement's own transaction, then pokes the notifier (api/notifier.c) to wake the workers;
 * the answer is sent only after the commit, so an acknowledged event is durable. The database
 * returns only what the api cannot know (ids, statuses, the timestamp, the webhooks): the
 * answer is rendered here from the parsed request, in exactly the shape pghook_event_obj
 * (sql/functions/render.sql) gives stored events once compacted (http.h).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "log.h"
#include "quota.h"

#include "defer.h"
#include "notifier.h"
#include "routes.h"
#include "validate.h"

static const char *const event_statuses[] = { "pending", "delivered", "failed", "skipped" };

/* What the api knows of one event it stores, borrowed from the parsed body. The answer is
 * rendered from these and the few columns the database adds (pghook_ingest_rows, 0005). */
struct ingest_event {
	const char *type, *group, *key, *ordering_key;
	const char *data; /* compact JSON: the exact text stored as the payload */
	size_t data_len;
};

/* Columns of pghook_ingest_rows (sql/functions/ingest.sql). */
enum {
	COL_ORD,
	COL_CREATED,
	COL_ID,
	COL_STATUS,
	COL_COUNT,
	COL_TS,
	COL_SAME_AS,
	COL_STORED,
	COL_DELIVERY,
	COL_WEBHOOK,
	COL_URL,
	COL_DESCRIPTION,
};

/* Append `,"key":"s"` (sep_key is the separator and the key). */
static void add_member(struct evbuffer *b, const char *sep_key, const char *s)
{
	evbuffer_add(b, sep_key, strlen(sep_key));
	ph_json_out_string(b, s);
}

/* One delivery of row row, as pghook_delivery_obj renders a new one. */
static void add_delivery(struct evbuffer *b, const char *tenant, const struct ingest_event *e,
	const PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, COL_ID), *ts = PQgetvalue(res, row, COL_TS);
	const char *webhook = PQgetvalue(res, row, COL_WEBHOOK);
	const char *url = PQgetvalue(res, row, COL_URL);
	const char *name = ph_db_value(res, row, COL_DESCRIPTION);
	add_member(b, "{\"id\":", PQgetvalue(res, row, COL_DELIVERY));
	add_member(b, ",\"eventId\":", id);
	add_member(b, ",\"webhookId\":", webhook);
	add_member(b, ",\"eventType\":", e->type);
	PH_JSON_LIT(b, ",\"status\":\"pending\",\"attemptCount\":0");
	add_member(b, ",\"nextRetryAt\":", ts);
	PH_JSON_LIT(b,
		",\"lastAttemptAt\":null,\"deliveredAt\":null,\"responseStatusCode\":null,"
		"\"lastError\":null,\"replayOfDeliveryId\":null");
	add_member(b, ",\"organizationId\":", tenant);
	add_member(b, ",\"endpointId\":", webhook);
	add_member(b, ",\"endpointName\":", name ? name : url);
	add_member(b, ",\"endpointUrl\":", url);
	PH_JSON_LIT(b, ",\"attemptedAt\":null");
	add_member(b, ",\"createdAt\":", ts);
	add_member(b, ",\"updatedAt\":", ts);
	PH_JSON_LIT(b, "}");
}

/* The event created at row first (its deliveries on the rows after it with the same ord), as
 * pghook_event_obj renders it. */
static void add_created(struct evbuffer *b, const char *tenant, const struct ingest_event *e,
	const PGresult *res, int first)
{
	const char *ts = PQgetvalue(res, first, COL_TS);
	add_member(b, "{\"id\":", PQgetvalue(res, first, COL_ID));
	add_member(b, ",\"organizationId\":", tenant);
	add_member(b, ",\"eventType\":", e->type);
	add_member(b, ",\"eventGroup\":", e->group);
	add_member(b, ",\"sourceKey\":", e->key);
	add_member(b, ",\"orderingKey\":", e->ordering_key);
	add_member(b, ",\"status\":", PQgetvalue(res, first, COL_STATUS));
	PH_JSON_LIT(b, ",\"endpointCount\":");
	evbuffer_add(
		b, PQgetvalue(res, first, COL_COUNT), (size_t)PQgetlength(res, first, COL_COUNT));
	PH_JSON_LIT(b, ",\"payload\":");
	evbuffer_add(b, e->data, e->data_len);
	PH_JSON_LIT(b, ",\"deliveries\":[");
	const char *ord = PQgetvalue(res, first, COL_ORD);
	for (int i = first; i < PQntuples(res) && strcmp(PQgetvalue(res, i, COL_ORD), ord) == 0;
		i++) {
		if (PQgetisnull(res, i, COL_DELIVERY))
			continue;
		if (i > first)
			PH_JSON_LIT(b, ",");
		add_delivery(b, tenant, e, res, i);
	}
	PH_JSON_LIT(b, "]");
	add_member(b, ",\"createdAt\":", ts);
	add_member(b, ",\"updatedAt\":", ts);
	PH_JSON_LIT(b, "}");
}

static const char *string_or_null(json_object *obj, const char *key)
{
	json_object *v = ph_json_get(obj, key);
	return v ? json_object_get_string(v) : NULL;
}

/* Fill e from a validated event object (borrowed: e lives as long as obj). */
static void ingest_event_init(struct ingest_event *e, json_object *obj)
{
	e->type = string_or_null(obj, "type");
	e->group = string_or_null(obj, "eventGroup");
	e->key = string_or_null(obj, "sourceKey");
	e->ordering_key = string_or_null(obj, "orderingKey");
	e->data = ph_json_compact(ph_json_get(obj, "data"), &e->data_len);
}

static bool check_batch(struct req *r, json_object *body, json_object **events)
{
	struct ph_verr v;
	ph_verr_init(&v);
	*events = ph_validate_batch(&v, body);
	return req_valid(r, &v);
}

/* The JSON array pghook_ingest_rows reads, written from evs (each payload serialized once,
 * for this and for the answer). NUL-terminated. */
static void add_events_json(struct evbuffer *b, const struct ingest_event *evs, size_t n)
{
	PH_JSON_LIT(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			PH_JSON_LIT(b, ",");
		PH_JSON_LIT(b, "{\"type\":");
		ph_json_out_string(b, evs[i].type);
		PH_JSON_LIT(b, ",\"eventGroup\":");
		ph_json_out_string(b, evs[i].group);
		PH_JSON_LIT(b, ",\"sourceKey\":");
		ph_json_out_string(b, evs[i].key);
		PH_JSON_LIT(b, ",\"orderingKey\":");
		ph_json_out_string(b, evs[i].ordering_key);
		PH_JSON_LIT(b, ",\"data\":");
		evbuffer_add(b, evs[i].data, evs[i].data_len);
		PH_JSON_LIT(b, "}");
	}
	evbuffer_add(b, "]", 2);
}

/* Where each of the n events' rows of res start (pghook_ingest_rows: ordered by ord, at least
 * one row per event). False when the rows do not match the request (they always should). */
static bool index_rows(const PGresult *res, size_t n, int *first)
{
	int rows = PQntuples(res), row = 0;
	for (size_t i = 0; i < n; i++) {
		if (row >= rows || atoi(PQgetvalue(res, row, COL_ORD)) != (int)i + 1)
			return false;
		first[i] = row;
		while (row < rows && atoi(PQgetvalue(res, row, COL_ORD)) == (int)i + 1)
			row++;
	}
	return row == rows;
}

enum shown {
	SHOWN_CREATED, /* stored by this statement: 201 */
	SHOWN_REPEAT, /* a sourceKey seen before, the event stored with it: 200 */
	SHOWN_FAILED, /* the stored event could not be read: nothing appended */
};

/* Append the event stored with key (NULL when it is gone: deleted since). False after
 * logging when the statement failed. */
static bool add_stored(struct evbuffer *b, struct ph_db *db, const char *tenant, const char *key)
{
	const char *p[] = { tenant, key };
	PGresult *res = ph_db_exec(db,
		"select pghook_event_json(e) from events e where e.tenant_id = $1 and e.source_key = $2",
		2, p);
	if (!res)
		return false;
	if (PQntuples(res) == 1)
		rendered_add(b, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	else
		PH_JSON_LIT(b, "null");
	PQclear(res);
	return true;
}

/* Append event i of evs as the answer shows it. A key repeated within the statement shows the
 * first event with it; one stored before, the stored event. A key stored by a transaction
 * that committed while the statement waited on it is not in the statement's snapshot: a new
 * statement reads it. */
static enum shown add_event(struct evbuffer *b, struct ph_db *db, const char *tenant,
	const struct ingest_event *evs, size_t i, const PGresult *res, const int *first)
{
	int row = first[i];
	int same = PQgetisnull(res, row, COL_SAME_AS) ? 0 : atoi(PQgetvalue(res, row, COL_SAME_AS));
	if (PQgetvalue(res, row, COL_CREATED)[0] == 't') {
		add_created(b, tenant, &evs[i], res, row);
		return SHOWN_CREATED;
	}
	if (same >= 1 && (size_t)same <= i) {
		add_created(b, tenant, &evs[same - 1], res, first[same - 1]);
		return SHOWN_REPEAT;
	}
	if (!PQgetisnull(res, row, COL_STORED)) {
		rendered_add(b, PQgetvalue(res, row, COL_STORED),
			(size_t)PQgetlength(res, row, COL_STORED));
		return SHOWN_REPEAT;
	}
	return add_stored(b, db, tenant, evs[i].key) ? SHOWN_REPEAT : SHOWN_FAILED;
}

/* Store n events of tenant in one statement; NULL after logging when it failed. *first gets
 * each event's first row (see index_rows). */
static PGresult *store(
	struct ph_db *db, const char *tenant, const struct ingest_event *evs, size_t n, int *first)
{
	struct evbuffer *in = evbuffer_new();
	add_events_json(in, evs, n);
	const char *params[] = { tenant, (const char *)evbuffer_pullup(in, -1) };
	PGresult *res = ph_db_exec_prepared(
		db, "ingest", "select * from pghook_ingest_rows($1, $2::json)", 2, params);
	evbuffer_free(in);
	if (res && !index_rows(res, n, first)) {
		log_error("pghook_ingest_rows answered rows that do not match the request");
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The statement failed because the tenant's event-type catalog lacks a type (SQLSTATE PH001,
 * sql/functions/event_types.sql): answer 422 naming each such event, at
 * ["body", "events", i, "type"] for a batch, ["body", "type"] for one event. A rare path: the
 * catalog is read again to name them all. False when the failure was something else (nothing
 * answered). */
static bool reply_unknown_types(struct req *r, const struct ingest_event *evs, size_t n, bool batch)
{
	if (!ph_db_failed_with(&r->ctx->db, "PH001"))
		return false;
	json_object *types = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(types, json_object_new_string(evs[i].type));
	const char *params[] = { r->tenant_id, ph_json_compact(types, NULL) };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"select u.o - 1 from json_array_elements_text($2::json) with ordinality u(ty, o)"
		" where not exists (select 1 from event_types t where t.tenant_id = $1"
		" and t.name = u.ty) order by u.o",
		2, params);
	json_object_put(types);
	if (!res) {
		reply_db_error(r);
		return true;
	}
	struct ph_verr v;
	ph_verr_init(&v);
	const char *msg = "type is not in the tenant's event-type catalog (GET /v1/event-types)";
	for (int i = 0; i < PQntuples(res); i++) {
		if (batch)
			ph_verr_add_item(&v, "events", atoi(PQgetvalue(res, i, 0)), "type",
				"value_error", msg);
		else
			ph_verr_add(&v, "body", "type", "value_error", msg);
	}
	PQclear(res);
	if (!ph_verr_any(&v)) /* the catalog changed since: say so plainly */
		ph_verr_add(&v, "body", batch ? "events" : "type", "value_error", msg);
	bool valid = req_valid(r, &v);
	(void)valid;
	return true;
}

/* After a group of several events, the next flush waits this long for more: a loop's
 * connections send their next requests over about that time once answered, and waiting
 * gathers them into one commit (wrk, 64 connections, 16 loops: 3.9 events a statement instead
 * of 2.3). After a group of one (a quiet loop, or one client sending one request at a time)
 * the flush waits for nothing. */
#define GROUP_WAIT_US 1000

/*
 * Single-event ingest, the hottest route, commits in groups. A loop runs one statement at a
 * time, so the requests its other connections send meanwhile wait in their sockets; the
 * handler only queues its event (the request is deferred) and the loop's next iteration,
 * once it has read every request that arrived, stores the whole queue with one statement and
 * one commit, then answers each request. Under load that shares a commit, its fsync and a
 * statement's fixed cost between several events.
 * Answers are sent only after the commit, so an acknowledged event is still durable, and each
 * request gets the answer it would get alone: a sourceKey repeated within a group is a repeat
 * of the earlier request's event (200), as it would be one statement later.
 */
struct ingest_job {
	struct deferred d;
	json_object *body;
	struct ingest_event e; /* borrowed from body */
};

/* Answer job i of a stored group (res NULL when the statement failed) and count it. The
 * group's other events stay alive: a repeated sourceKey shows an earlier job's event. */
static void job_finish(
	struct ingest_job *j, const struct ingest_event *evs, size_t i, PGresult *res, int *first)
{
	struct req *r = &j->d.r;
	defer_resume(&j->d);
	struct evbuffer *out = evbuffer_new();
	enum shown shown =
		res ? add_event(out, &r->ctx->db, r->tenant_id, evs, i, res, first) : SHOWN_FAILED;
	if (shown == SHOWN_FAILED && !(res == NULL && reply_unknown_types(r, &evs[i], 1, false)))
		reply_db_error(r);
	else
		reply_buffer(r, shown == SHOWN_CREATED ? 201 : 200, out);
	evbuffer_free(out);
	defer_end(&j->d);
}

/* Store the n (>= 1) queued jobs of one tenant with one statement and answer them. */
static void store_group(struct api_ctx *ctx, struct ingest_job **g, size_t n)
{
	struct ingest_event evs[INGEST_QUEUE_MAX] = { 0 };
	int first[INGEST_QUEUE_MAX];
	for (size_t i = 0; i < n; i++)
		evs[i] = g[i]->e;
	PGresult *res = NULL;
	/* The router ended each request's tenant scope when its handler returned: scope again. */
	const char *tenant = g[0]->d.r.tenant_id;
	if (!ph_db_set_tenant(&ctx->db, tenant)) {
		log_error("cannot set the tenant scope");
	} else {
		res = store(&ctx->db, tenant, evs, n, first);
		/* The fan-out quota is per request, and one event of a type the catalog lacks fails
		 * the group's statement: a group refused for either is stored one request at a
		 * time, so only the requests at fault are refused. */
		if (!res && n > 1 &&
			(ph_db_failed_with(&ctx->db, PH_SQLSTATE_QUOTA) ||
				ph_db_failed_with(&ctx->db, "PH001"))) {
			for (size_t i = 0; i < n; i++)
				store_group(ctx, &g[i], 1);
			return;
		}
	}
	if (res)
		notifier_poke(ctx->notifier);
	for (size_t i = 0; i < n; i++)
		job_finish(g[i], evs, i, res, first); /* may read again, in the tenant's scope */
	if (!ph_db_set_tenant(&ctx->db, NULL))
		log_warn("cannot clear the tenant scope");
	PQclear(res);
	for (size_t i = 0; i < n; i++) {
		json_object_put(g[i]->body);
		free(g[i]);
	}
}

/* Store everything queued on this loop: one statement per tenant, in queue order. The queue
 * is emptied first, so a request dispatched while answering queues for the next flush. */
static void ingest_flush(struct api_ctx *ctx)
{
	struct ingest_job *jobs[INGEST_QUEUE_MAX], *group[INGEST_QUEUE_MAX];
	size_t n = (size_t)ctx->ingest_queued;
	if (n == 0) /* flushed already, because the queue was full */
		return;
	memcpy(jobs, ctx->ingest_queue, n * sizeof(*jobs));
	ctx->ingest_queued = 0;
	ctx->ingest_last_group = (int)n;
	for (size_t i = 0; i < n; i++) {
		if (!jobs[i])
			continue;
		size_t k = 0;
		for (size_t j = i; j < n; j++) {
			if (jobs[j] &&
				strcmp(jobs[j]->d.r.tenant_id, jobs[i]->d.r.tenant_id) == 0) {
				group[k++] = jobs[j];
				if (j > i)
					jobs[j] = NULL;
			}
		}
		store_group(ctx, group, k);
	}
}

static void ingest_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	ingest_flush(arg);
}

void events_create(struct req *r)
{
	struct ph_verr v;
	struct api_ctx *ctx = r->ctx;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	ph_verr_init(&v);
	ph_validate_event(&v, body, PH_LOC_BODY);
	if (!req_valid(r, &v) || !quota_take_events(r, 1)) {
		json_object_put(body);
		return;
	}
	if (ctx->ingest_queued == INGEST_QUEUE_MAX)
		ingest_flush(ctx);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->ev);
	struct timeval wait = { 0, ctx->ingest_last_group > 1 ? GROUP_WAIT_US : 0 };
	/* Even a zero timeout runs after the I/O callbacks of the loop's next iteration. */
	if (ctx->ingest_queued == 0 &&
		event_base_once(evhttp_connection_get_base(conn), -1, EV_TIMEOUT, ingest_flush_cb,
			ctx, &wait) != 0) {
		log_error("cannot schedule the ingest flush");
		reply_error(r, 503, "unavailable", "cannot store the event now, try again");
		json_object_put(body);
		return;
	}
	struct ingest_job *j = ph_xcalloc(1, sizeof(*j));
	j->body = body;
	ingest_event_init(&j->e, body);
	defer_begin(&j->d, r);
	ctx->ingest_queue[ctx->ingest_queued++] = j;
}

void events_batch(struct req *r)
{
	json_object *body = req_body_object(r), *events;
	struct ingest_event *evs = NULL;
	struct evbuffer *out = NULL;
	PGresult *res = NULL;
	int first[PH_BATCH_MAX];
	if (!body)
		return;
	if (!check_batch(r, body, &events))
		goto out;
	size_t n = json_object_array_length(events);
	if (!quota_take_events(r, (int)n))
		goto out;
	evs = ph_xcalloc(n, sizeof(*evs));
	for (size_t i = 0; i < n; i++)
		ingest_event_init(&evs[i], json_object_array_get_idx(events, i));
	res = store(&r->ctx->db, r->tenant_id, evs, n, first);
	if (!res) {
		if (!reply_unknown_types(r, evs, n, true))
			reply_db_error(r);
		goto out;
	}
	notifier_poke(r->ctx->notifier);
	out = evbuffer_new();
	PH_JSON_LIT(out, "{\"data\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			PH_JSON_LIT(out, ",");
		if (add_event(out, &r->ctx->db, r->tenant_id, evs, i, res, first) == SHOWN_FAILED) {
			reply_db_error(r);
			goto out;
		}
	}
	PH_JSON_LIT(out, "]}");
	reply_buffer(r, 201, out);
out:
	PQclear(res);
	if (out)
		evbuffer_free(out);
	free(evs);
	json_object_put(body);
}

void events_list(struct req *r)
{
	struct list_query q;
	bool ok = true;
	if (!req_list_query(r, "evt", event_statuses, PH_ARRAY_LEN(event_statuses), &q))
		return;
	const char *until = req_time_param(r, "until", &ok);
	if (!ok)
		return;
	const char *params[] = { r->tenant_id, q.cursor[0] ? q.cursor : NULL, req_query(r, "type"),
		q.status, q.since, until, q.fetch };
	reply_list_query(r, q.limit,
		"select pghook_event_json(e), e.id from events e where e.tenant_id = $1"
		" and ($2::text is null or e.id < $2) and ($3::text is null or e.event_type = $3)"
		" and ($4::text is null or (pghook_event_state(e)).status = $4)"
		" and ($5::timestamptz is null or"
		"   (e.created_at >= $5 and e.id >= pghook_id_at('evt', $5)))"
		" and ($6::timestamptz is null or (e.created_at < $6"
		"   and e.id < pghook_id_at('evt', $6::timestamptz + interval '1 millisecond')))"
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
