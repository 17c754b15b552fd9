/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "log.h"

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
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
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

static void send_buffer(struct req *r, int status, struct evbuffer *buf)
{
	r->status = status;
	if (!r->ev)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	evhttp_send_reply(r->ev, status, reason_of(status), buf);
}

void reply_raw(struct req *r, int status, const char *json, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, json, len);
	send_buffer(r, status, buf);
	evbuffer_free(buf);
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

void reply_verr(struct req *r, struct ph_verr *v)
{
	reply_json(r, 422, ph_verr_take_body(v));
}

void reply_invalid(struct req *r, const char *where, const char *name, const char *type,
	const char *msg)
{
	struct ph_verr v;
	ph_verr_init(&v);
	ph_verr_add(&v, where, name, type, msg);
	reply_verr(r, &v);
}

void reply_db_error(struct req *r)
{
	if (r->ctx->db.last_conn_lost)
		reply_error(r, 503, "unavailable", "database unavailable, try again");
	else
		reply_error(r, 500, "internal", "internal error");
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
		reply_raw(r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	PQclear(res);
}

void reply_no_content(struct req *r)
{
	r->status = 204;
	if (r->ev)
		evhttp_send_reply(r->ev, 204, reason_of(204), NULL);
}

void reply_list(struct req *r, const PGresult *res, int limit, int json_col, int id_col)
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
		evbuffer_add(buf, PQgetvalue(res, i, json_col),
			(size_t)PQgetlength(res, i, json_col));
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
		reply_invalid(r, "body", NULL, st == PH_JSON_TOO_DEEP ? "json_too_deep" : "json_invalid",
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
	*limit = 50;
	cursor_id[0] = '\0';
	if (l) {
		char *end;
		long v = strtol(l, &end, 10);
		if (end == l || *end || v < 1 || v > 250) {
			reply_invalid(r, "query", "limit", "less_than_equal",
				"limit must be an integer from 1 to 250");
			return false;
		}
		*limit = (int)v;
	}
	if (c && *c && !ph_cursor_decode(c, prefix, cursor_id)) {
		reply_invalid(r, "query", "cursor", "value_error", "cursor is not valid");
		return false;
	}
	return true;
}

bool rfc3339_valid(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	int oh, om;
	n = 0;
	return (*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5 &&
	       p[6] == '\0' && oh < 24 && om < 60;
}

const char *req_time_param(struct req *r, const char *name, bool *ok)
{
	const char *v = req_query(r, name);
	if (!v)
		return NULL;
	if (!rfc3339_valid(v)) {
		reply_invalid(r, "query", name, "datetime_parsing",
			"expected an RFC 3339 date-time such as 2026-11-22T10:01:02Z");
		*ok = false;
	}
	return v;
}
