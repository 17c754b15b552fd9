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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "log.h"
#include "quota.h"

#include "committer.h"
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
 * catalog is read again, on the loop's connection, to name them all. */
static void reply_unknown_types(struct req *r, const struct ingest_event *evs, size_t n, bool batch)
{
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
		return;
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
}

/*
 * Single-event ingest, the hottest route, commits in groups. The handler checks the event and
 * hands it to the committer (committer.h): a committer thread stores it together with the
 * events its tenant sent meanwhile on every loop, with one statement and one commit, and
 * renders each request's answer; the request's loop then sends it. Under load that shares a
 * commit, its fsync and a statement's fixed cost between several events.
 * Answers are sent only after the commit, so an acknowledged event is still durable, and each
 * request gets the answer it would get alone: a sourceKey repeated within a group is a repeat
 * of the earlier request's event (200), as it would be one statement later.
 */
struct ingest_job {
	struct committer_job cj; /* first: the committer hands back this */
	struct deferred d;
	json_object *body;
	struct ingest_event e; /* borrowed from body */
	/* the answer, rendered on the committer thread: out with status, or failure */
	struct evbuffer *out;
	int status;
	struct ph_db_failure failure;
};

/* On the committer thread: render job i's answer from the group's result (res NULL when the
 * statement failed, then scoped says whether db's failure is the statement's). */
static void render_job(struct ingest_job *j, struct ph_db *db, const char *tenant,
	const struct ingest_event *evs, size_t i, const PGresult *res, const int *first,
	bool scoped)
{
	enum shown shown = SHOWN_FAILED;
	if (res) {
		j->out = evbuffer_new();
		shown = add_event(j->out, db, tenant, evs, i, res, first);
	}
	if (shown != SHOWN_FAILED) {
		j->status = shown == SHOWN_CREATED ? 201 : 200;
		return;
	}
	if (j->out)
		evbuffer_free(j->out);
	j->out = NULL;
	if (scoped)
		ph_db_failure_keep(&j->failure, db);
}

/* On a committer thread: store one tenant's jobs with one statement, render each answer, then
 * hand each job back to its loop (committer_run_fn). */
static void store_group(struct ph_db *db, struct committer_job **jobs, size_t n)
{
	struct ingest_job *g[COMMITTER_GROUP_MAX] = { 0 };
	struct ingest_event evs[COMMITTER_GROUP_MAX] = { 0 };
	int first[COMMITTER_GROUP_MAX];
	for (size_t i = 0; i < n; i++) {
		g[i] = (struct ingest_job *)jobs[i]; /* cj is the job's first member */
		evs[i] = g[i]->e;
	}
	PGresult *res = NULL;
	const char *tenant = g[0]->d.r.tenant_id;
	bool scoped = ph_db_set_tenant(db, tenant);
	if (!scoped) {
		log_error("cannot set the tenant scope");
	} else {
		res = store(db, tenant, evs, n, first);
		/* The fan-out quota is per request, and one event of a type the catalog lacks fails
		 * the group's statement: a group refused for either is stored one request at a
		 * time, so only the requests at fault are refused. */
		if (!res && n > 1 &&
			(ph_db_failed_with(db, PH_SQLSTATE_QUOTA) ||
				ph_db_failed_with(db, "PH001"))) {
			for (size_t i = 0; i < n; i++)
				store_group(db, &jobs[i], 1);
			return;
		}
	}
	if (res)
		notifier_poke(g[0]->d.r.ctx->notifier);
	for (size_t i = 0; i < n; i++)
		render_job(g[i], db, tenant, evs, i, res, first, scoped); /* may read again */
	if (!ph_db_set_tenant(db, NULL))
		log_warn("cannot clear the tenant scope");
	PQclear(res);
	/* last: each loop may free its job as soon as it is woken */
	for (size_t i = 0; i < n; i++)
		defer_wake(&g[i]->d);
}

/* reply_unknown_types for one event, after its handler returned: the router ended the
 * request's tenant scope then, so scope the loop's connection again. */
static void reply_unknown_type(struct req *r, const struct ingest_event *e)
{
	if (!ph_db_set_tenant(&r->ctx->db, r->tenant_id)) {
		log_error("cannot set the tenant scope");
		reply_db_failed(r, "", "", false);
		return;
	}
	reply_unknown_types(r, e, 1, false);
	if (!ph_db_set_tenant(&r->ctx->db, NULL))
		log_warn("cannot clear the tenant scope");
}

/* Back on the request's loop: send what the committer rendered. */
static void ingest_answer(struct deferred *d)
{
	struct ingest_job *j = (struct ingest_job *)((char *)d - offsetof(struct ingest_job, d));
	struct req *r = &d->r;
	if (j->out)
		reply_buffer(r, j->status, j->out);
	else if (strcmp(j->failure.sqlstate, "PH001") == 0)
		reply_unknown_type(r, &j->e);
	else
		reply_db_failed(r, j->failure.sqlstate, j->failure.message, j->failure.conn_lost);
	defer_end(d);
	if (j->out)
		evbuffer_free(j->out);
	json_object_put(j->body);
	free(j);
}

void events_create(struct req *r)
{
	struct ph_verr v;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	ph_verr_init(&v);
	ph_validate_event(&v, body, PH_LOC_BODY);
	if (!req_valid(r, &v) || !quota_take_events(r, 1)) {
		json_object_put(body);
		return;
	}
	struct ingest_job *j = ph_xcalloc(1, sizeof(*j));
	if (!defer_prepare(&j->d, r, NULL, ingest_answer)) {
		log_error("cannot defer an ingest");
		reply_error(r, 503, "unavailable", "cannot store the event now, try again");
		json_object_put(body);
		free(j);
		return;
	}
	j->body = body;
	ingest_event_init(&j->e, body);
	j->cj.tenant = j->d.r.tenant_id; /* the job's own copy of the request */
	j->cj.run = store_group;
	defer_hold(&j->d, r);
	committer_submit(r->ctx->committer, &j->cj);
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
		if (ph_db_failed_with(&r->ctx->db, "PH001"))
			reply_unknown_types(r, evs, n, true);
		else
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
