/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "log.h"
#include "rfc3339.h"
#include "server.h"
#include "validate.h"

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 503:
		return "Service Unavailable";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

/* While shutting down, every answer closes its connection, so keep-alive clients reconnect to
 * another replica instead of sending into a loop about to exit. */
static void close_if_draining(struct req *r)
{
	if (server_draining(r->ctx->srv))
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Connection", "close");
}

static void send_buffer(struct req *r, int status, struct evbuffer *buf)
{
	r->status = status;
	if (!r->ev)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	close_if_draining(r);
	evhttp_send_reply(r->ev, status, reason_of(status), buf);
}

void reply_file(struct req *r, int status, const char *content_type, const void *data, size_t len)
{
	r->status = status;
	if (!r->ev)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	struct evbuffer *buf = NULL;
	if (content_type) {
		evhttp_add_header(h, "Content-Type", content_type);
		buf = evbuffer_new();
		evbuffer_add_reference(buf, data, len, NULL, NULL);
	}
	close_if_draining(r);
	evhttp_send_reply(r->ev, status, reason_of(status), buf);
	if (buf)
		evbuffer_free(buf);
}

void reply_raw(struct req *r, int status, const char *json, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, json, len);
	send_buffer(r, status, buf);
	evbuffer_free(buf);
}

void rendered_add(struct evbuffer *buf, const char *json, size_t len)
{
	struct evbuffer_iovec v;
	/* Compacted straight into the answer's memory: one pass, as the copy was before. */
	if (len == 0 || evbuffer_reserve_space(buf, (ev_ssize_t)len, &v, 1) != 1) {
		evbuffer_add(buf, json, len);
		return;
	}
	v.iov_len = ph_json_compact_text(json, len, v.iov_base);
	evbuffer_commit_space(buf, &v, 1);
}

void reply_rendered(struct req *r, int status, const char *json, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	rendered_add(buf, json, len);
	send_buffer(r, status, buf);
	evbuffer_free(buf);
}

void reply_buffer(struct req *r, int status, struct evbuffer *buf)
{
	send_buffer(r, status, buf);
}

void reply_json(struct req *r, int status, json_object *obj)
{
	size_t len;
	const char *s = ph_json_compact(obj, &len);
	reply_raw(r, status, s, len);
	json_object_put(obj);
}

void reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object *body = json_object_new_object();
	json_object_object_add(body, "error", err);
	reply_json(r, status, body);
}

static void reply_verr(struct req *r, struct ph_verr *v)
{
	reply_json(r, 422, ph_verr_take_body(v));
}

bool req_valid(struct req *r, struct ph_verr *v)
{
	if (!ph_verr_any(v))
		return true;
	reply_verr(r, v);
	return false;
}

void reply_invalid(
	struct req *r, const char *where, const char *name, const char *type, const char *msg)
{
	struct ph_verr v;
	ph_verr_init(&v);
	ph_verr_add(&v, where, name, type, msg);
	reply_verr(r, &v);
}

void reply_db_failed(struct req *r, const char *sqlstate, const char *message, bool conn_lost)
{
	/* pghook's own refusals (SQLSTATE class PH, sql/functions/quota.sql): the server's
	 * message says which limit and what was asked. */
	if (strcmp(sqlstate, PH_SQLSTATE_QUOTA) == 0)
		reply_error(r, 403, "quota_exceeded", "%s", message);
	else if (strcmp(sqlstate, "57014") == 0) /* statement_timeout */
		reply_error(r, 503, "timeout",
			"the request took longer than the database statement timeout");
	else if (strcmp(sqlstate, "22P05") == 0 || strcmp(sqlstate, "22021") == 0)
		/* \u0000 in JSON (jsonb cannot hold it), or bytes that are not UTF-8 */
		reply_error(r, 422, "invalid_text", "a string of the request cannot be stored: %s",
			message);
	else if (conn_lost)
		reply_error(r, 503, "unavailable", "database unavailable, try again");
	else
		reply_error(r, 500, "internal", "internal error");
}

void reply_db_error(struct req *r)
{
	const struct ph_db *db = &r->ctx->db;
	reply_db_failed(r, db->sqlstate, db->message, db->last_conn_lost);
}

void reply_query(struct req *r, int status, const char *what, const char *sql, int nparams,
	const char *const *params)
{
	PGresult *res = ph_db_exec(&r->ctx->db, sql, nparams, params);
	if (!res)
		reply_db_error(r);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		reply_error(r, 404, "not_found", "no such %s", what);
	else
		reply_rendered(r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	PQclear(res);
}

void reply_no_content(struct req *r)
{
	r->status = 204;
	if (!r->ev)
		return;
	close_if_draining(r);
	evhttp_send_reply(r->ev, 204, reason_of(204), NULL);
}

void reply_list(struct req *r, const PGresult *res, int limit, int json_col, int id_col)
{
	reply_list_mapped(r, res, limit, json_col, id_col, NULL);
}

/* Add row i's object to buf, through map when there is one. False when map failed. */
static bool add_mapped(
	struct req *r, struct evbuffer *buf, const PGresult *res, int i, int col, reply_map_fn map)
{
	bool ok = true;
	char *shown = map ? map(r, PQgetvalue(res, i, col), &ok) : NULL;
	if (shown)
		evbuffer_add(buf, shown, strlen(shown));
	else if (ok)
		rendered_add(buf, PQgetvalue(res, i, col), (size_t)PQgetlength(res, i, col));
	free(shown);
	return ok;
}

void reply_list_mapped(
	struct req *r, const PGresult *res, int limit, int json_col, int id_col, reply_map_fn map)
{
	int n = PQntuples(res);
	bool more = n > limit;
	if (more)
		n = limit;
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, "{\"data\":[", 9);
	for (int i = 0; i < n; i++) {
		if (i)
			evbuffer_add(buf, ",", 1);
		if (!add_mapped(r, buf, res, i, json_col, map)) {
			evbuffer_free(buf);
			reply_error(r, 500, "internal", "internal error");
			return;
		}
	}
	if (more) {
		char cursor[PH_CURSOR_MAX];
		ph_cursor_encode(PQgetvalue(res, n - 1, id_col), cursor);
		evbuffer_add_printf(buf, "],\"nextCursor\":\"%s\"}", cursor);
	} else {
		evbuffer_add(buf, "],\"nextCursor\":null}", 20);
	}
	send_buffer(r, 200, buf);
	evbuffer_free(buf);
}

json_object *req_body_object(struct req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	size_t len = evbuffer_get_length(in);
	const char *data = (const char *)evbuffer_pullup(in, -1);
	json_object *obj = NULL;
	enum ph_json_parse_status st = ph_json_parse(data ? data : "", len, &obj);
	if (st != PH_JSON_OK) {
		reply_invalid(r, "body", NULL,
			st == PH_JSON_TOO_DEEP ? "json_too_deep" : "json_invalid",
			ph_json_parse_message(st));
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		reply_invalid(r, "body", NULL, "model_type", "request body must be a JSON object");
		return NULL;
	}
	return obj;
}

const char *req_query(struct req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

const char *req_header(struct req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

bool req_page(struct req *r, const char *prefix, int *limit, char cursor_id[PH_ID_MAX])
{
	const char *l = req_query(r, "limit");
	const char *c = req_query(r, "cursor");
	*limit = PH_LIMIT_DEFAULT;
	cursor_id[0] = '\0';
	if (l && !ph_parse_limit(l, limit)) {
		reply_invalid(r, "query", "limit", "less_than_equal",
			"limit must be an integer from 1 to 250");
		return false;
	}
	if (c && *c && !ph_cursor_decode(c, prefix, cursor_id)) {
		reply_invalid(r, "query", "cursor", "value_error", "cursor is not valid");
		return false;
	}
	return true;
}

const char *req_time_param(struct req *r, const char *name, bool *ok)
{
	const char *v = req_query(r, name);
	if (!v)
		return NULL;
	if (!ph_rfc3339_valid(v)) {
		reply_invalid(r, "query", name, "datetime_parsing",
			"expected an RFC 3339 date-time such as 2026-11-22T10:01:02Z");
		*ok = false;
	}
	return v;
}

bool req_enum_param(
	struct req *r, const char *name, const char *const *set, size_t n, const char **out)
{
	*out = req_query(r, name);
	if (!*out || ph_str_in(*out, set, n))
		return true;
	char msg[256];
	int len = snprintf(msg, sizeof(msg), "%s must be one of", name);
	for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof(msg); i++)
		len += snprintf(
			msg + len, sizeof(msg) - (size_t)len, "%s %s", i ? "," : "", set[i]);
	reply_invalid(r, "query", name, "enum", msg);
	return false;
}

bool req_list_query(struct req *r, const char *prefix, const char *const *statuses, size_t n,
	struct list_query *q)
{
	bool ok = true;
	if (!req_page(r, prefix, &q->limit, q->cursor) ||
		!req_enum_param(r, "status", statuses, n, &q->status))
		return false;
	q->since = req_time_param(r, "since", &ok);
	snprintf(q->fetch, sizeof(q->fetch), "%d", q->limit + 1);
	return ok;
}

void reply_list_query(
	struct req *r, int limit, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = ph_db_exec(&r->ctx->db, sql, nparams, params);
	if (!res) {
		reply_db_error(r);
		return;
	}
	reply_list(r, res, limit, 0, 1);
	PQclear(res);
}
