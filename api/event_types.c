/* SPDX-License-Identifier: MIT
 *
 * event_types: a tenant's catalog of event types (issue 19). While it is empty every valid
 * type is accepted, as before it existed; once it has entries, webhook subscriptions must name
 * its types (or "*") and events of other types are refused with 422. The enforcement is in the
 * database (sql/functions/event_types.sql), in the statements that store subscriptions and
 * events, so it costs no round trip; this file is the catalog's routes and the answers to a
 * refusal. Deprecated types still deliver and read back flagged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "validate.h"

/* The body of a POST (creating) or PATCH: name (POST only), description, example, deprecated.
 * Strings borrowed from body; example as compact JSON. */
struct type_input {
	const char *name, *description, *example, *deprecated;
	bool set_description, set_example;
};

static bool read_input(struct req *r, json_object *body, bool creating, struct type_input *in)
{
	struct ph_verr v;
	json_object *val = NULL;
	memset(in, 0, sizeof(*in));
	ph_verr_init(&v);
	if (json_object_object_get_ex(body, "name", &val)) {
		if (!creating)
			ph_verr_add(
				&v, "body", "name", "value_error", "a type's name cannot change");
		else if (!json_object_is_type(val, json_type_string) ||
			!ph_event_type_valid(json_object_get_string(val)))
			ph_verr_add(&v, "body", "name", "string_pattern_mismatch",
				"name must match ^[A-Za-z0-9_.:-]{1,128}$");
		else
			in->name = json_object_get_string(val);
	} else if (creating) {
		ph_verr_add(&v, "body", "name", "missing", "field required");
	}
	if (json_object_object_get_ex(body, "description", &val)) {
		in->set_description = true;
		if (val &&
			(!json_object_is_type(val, json_type_string) ||
				json_object_get_string_len(val) > 1024))
			ph_verr_add(&v, "body", "description", "string_type",
				"description must be a string of at most 1024 characters, or null");
		else
			in->description = val ? json_object_get_string(val) : NULL;
	}
	if (json_object_object_get_ex(body, "example", &val)) {
		in->set_example = true;
		in->example = val ? ph_json_compact(val, NULL) : NULL;
	}
	if (json_object_object_get_ex(body, "deprecated", &val)) {
		if (!val || !json_object_is_type(val, json_type_boolean))
			ph_verr_add(&v, "body", "deprecated", "bool_type",
				"deprecated must be a boolean");
		else
			in->deprecated = json_object_get_boolean(val) ? "t" : "f";
	}
	return req_valid(r, &v);
}

void event_types_create(struct req *r)
{
	struct type_input in;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	if (read_input(r, body, true, &in)) {
		const char *params[] = { r->tenant_id, in.name, in.description, in.example,
			in.deprecated };
		/* on conflict do nothing: a name taken answers no row, told apart from a failure */
		PGresult *res = ph_db_exec(&r->ctx->db,
			"insert into event_types as t (tenant_id, name, description, example, deprecated)"
			" values ($1, $2, $3, $4::json, coalesce($5::bool, false))"
			" on conflict do nothing returning pghook_event_type_json(t)",
			5, params);
		if (!res)
			reply_db_error(r);
		else if (PQntuples(res) == 0)
			reply_error(r, 409, "conflict", "the catalog has a type named %s already",
				in.name);
		else
			reply_rendered(
				r, 201, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
		PQclear(res);
	}
	json_object_put(body);
}

void event_types_list(struct req *r)
{
	int limit = PH_LIMIT_DEFAULT;
	const char *l = req_query(r, "limit"), *cursor = req_query(r, "cursor");
	if (l && !ph_parse_limit(l, &limit)) {
		reply_invalid(r, "query", "limit", "value_error", "limit must be 1 to 250");
		return;
	}
	/* The cursor is the last name of the page before (names order the list). */
	if (cursor && *cursor && !ph_event_type_valid(cursor)) {
		reply_invalid(r, "query", "cursor", "value_error", "cursor is not valid");
		return;
	}
	char fetch[16];
	snprintf(fetch, sizeof(fetch), "%d", limit + 1);
	const char *params[] = { r->tenant_id, cursor && *cursor ? cursor : NULL, fetch };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"select pghook_event_type_json(t), t.name from event_types t where t.tenant_id = $1"
		" and ($2::text is null or t.name > $2) order by t.name limit $3::int",
		3, params);
	if (!res) {
		reply_db_error(r);
		return;
	}
	int n = PQntuples(res);
	bool more = n > limit;
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, "{\"data\":[", 9);
	for (int i = 0; i < (more ? limit : n); i++) {
		if (i)
			evbuffer_add(buf, ",", 1);
		rendered_add(buf, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
	}
	if (more)
		evbuffer_add_printf(buf, "],\"nextCursor\":\"%s\"}", PQgetvalue(res, limit - 1, 1));
	else
		evbuffer_add(buf, "],\"nextCursor\":null}", 20);
	reply_buffer(r, 200, buf);
	evbuffer_free(buf);
	PQclear(res);
}

void event_types_get(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(r, 200, "event type",
		"select pghook_event_type_json(t) from event_types t"
		" where t.tenant_id = $1 and t.name = $2",
		2, params);
}

void event_types_patch(struct req *r)
{
	struct type_input in;
	json_object *body = req_body_object(r);
	if (!body)
		return;
	if (read_input(r, body, false, &in)) {
		const char *params[] = { r->tenant_id, r->params[0], in.set_description ? "t" : "f",
			in.description, in.set_example ? "t" : "f", in.example, in.deprecated };
		reply_query(r, 200, "event type",
			"update event_types t set"
			" description = case when $3::bool then $4 else description end,"
			" example = case when $5::bool then $6::json else example end,"
			" deprecated = coalesce($7::bool, deprecated), updated_at = now()"
			" where t.tenant_id = $1 and t.name = $2 returning pghook_event_type_json(t)",
			7, params);
	}
	json_object_put(body);
}

void event_types_delete(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"delete from event_types where tenant_id = $1 and name = $2", 2, params);
	if (!res)
		reply_db_error(r);
	else if (strcmp(PQcmdTuples(res), "0") == 0)
		reply_error(r, 404, "not_found", "no such event type");
	else
		reply_no_content(r);
	PQclear(res);
}
