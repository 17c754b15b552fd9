/* SPDX-License-Identifier: MIT
 *
 * http: the request context every handler gets, and the ways to answer it. A handler answers
 * exactly once, through one of the reply_* functions; the router records the status it sent.
 * Everything here runs on the loop thread that owns the request.
 */
#ifndef PGHOOK_API_HTTP_H
#define PGHOOK_API_HTTP_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "config.h"
#include "db.h"
#include "id.h"
#include "json.h"
#include "ssrf.h"
#include "util.h"

struct server;
struct notifier;
struct offload;
struct committer;
struct route;

#define AUTH_CACHE_SLOTS 64
/* A key already checked, remembered for a short while (see auth.c). */
struct auth_cache_entry {
	char key_hash[65];
	char tenant_id[PH_ID_MAX];
	long long expires_us;
};

/* One loop thread: its own database connection, shared read-only configuration. */
struct api_ctx {
	const struct ph_config *cfg;
	const struct ph_ssrf_policy *ssrf; /* for synchronous sends */
	struct notifier *notifier; /* wakes workers after ingest commits */
	struct offload *offload; /* database work that must not hold this loop (offload.h) */
	struct committer *committer; /* stores single-event ingests in groups (events.c) */
	struct server *srv;
	struct ph_db db;
	int thread_index;
	int deferred; /* requests answered later (defer.h); this loop only */
	long long last_answer_us; /* when this loop last answered, for the shutdown drain */
	struct auth_cache_entry auth_cache[AUTH_CACHE_SLOTS];
};

#define REQ_MAX_PARAMS 3

struct req {
	struct evhttp_request *ev;
	struct api_ctx *ctx;
	const struct route *route;
	const char *params[REQ_MAX_PARAMS]; /* path parameters, pointers into path_buf */
	char path_buf[512];
	struct evkeyvalq query;
	char tenant_id[PH_ID_MAX];
	/* The portal session (console link) that authenticated the request, "" for an API key
	 * (auth.c); a read-only one only ever reaches GET routes. */
	char portal_session[PH_ID_MAX];
	int status; /* 0 until answered */
	bool deferred; /* the handler will answer later (defer.h) */
	size_t route_index; /* for metrics */
	long long start_us;
};

/* Every reply_* function only records the status when r->ev is NULL (the client left). */

/* Answers are compact JSON. What PostgreSQL renders (json_build_object writes
 * {"id" : "wh_1", "url" : ...}) is compacted where it is written into the answer, by
 * reply_rendered and rendered_add; json-c and the api's own renderers write compact JSON. */

/* Answer with a JSON document as it is (compact already, or the OpenAPI document). */
void reply_raw(struct req *r, int status, const char *json, size_t len);
/* Answer with a JSON document PostgreSQL rendered, compacted. */
void reply_rendered(struct req *r, int status, const char *json, size_t len);
/* Append a JSON document PostgreSQL rendered to buf, compacted. */
void rendered_add(struct evbuffer *buf, const char *json, size_t len);
/* Answer with the JSON document in buf, moved into the answer (the caller still frees buf). */
void reply_buffer(struct req *r, int status, struct evbuffer *buf);
/* Answer with a json-c object; takes ownership of obj. */
void reply_json(struct req *r, int status, json_object *obj);
/* Answer {"error": {"code": code, "message": ...}}. */
void reply_error(struct req *r, int status, const char *code, const char *fmt, ...) PH_PRINTF(4, 5);
/* True when v collected no validation error; otherwise answers 422 with them (leaving v
 * empty) and returns false. */
bool req_valid(struct req *r, struct ph_verr *v) PH_MUSTCHECK;
/* Answer 422 for a single problem at [where, name]. */
void reply_invalid(
	struct req *r, const char *where, const char *name, const char *type, const char *msg);
/* Answer after a failed statement: 503 when the database is unreachable, 500 otherwise. */
void reply_db_error(struct req *r);
/* The same for a statement that failed on another connection (offload.h): its SQLSTATE ("" when
 * it was not a server error), the server's message and whether the connection broke. */
void reply_db_failed(struct req *r, const char *sqlstate, const char *message, bool conn_lost);
/* Run a statement whose first row's first column is the JSON to answer with status; answer
 * 404 "no such <what>" when it returns no row or NULL, 503/500 when it fails. */
void reply_query(struct req *r, int status, const char *what, const char *sql, int nparams,
	const char *const *params);
/* Answer with bytes of content_type (a page of the console); content_type NULL sends no body
 * (301, 304). */
void reply_file(struct req *r, int status, const char *content_type, const void *data, size_t len);
/* Answer 204 with no body. */
void reply_no_content(struct req *r);
/* Answer a list: rows of res hold the object's JSON in column json_col (rendered by
 * PostgreSQL) and its id in id_col; res has at most limit + 1 rows, the extra one only tells
 * that another page exists. */
void reply_list(struct req *r, const PGresult *res, int limit, int json_col, int id_col);
/* Turns one rendered object into what the answer shows: a new compact string (the list frees
 * it), or NULL with *ok true to show it as it is; NULL with *ok false fails the whole answer
 * (500). */
typedef char *(*reply_map_fn)(struct req *r, const char *json, bool *ok);
/* reply_list, each object passed through map first. */
void reply_list_mapped(
	struct req *r, const PGresult *res, int limit, int json_col, int id_col, reply_map_fn map);

/* Run a list statement (rows: object JSON, id; at most limit + 1) and answer it with
 * reply_list, or with a database error. */
void reply_list_query(
	struct req *r, int limit, const char *sql, int nparams, const char *const *params);

/* Parse the request body as a JSON object. On failure answers 422 and returns NULL; on success
 * the caller owns the reference. */
json_object *req_body_object(struct req *r) PH_MUSTCHECK;
/* A query parameter, or NULL. */
const char *req_query(struct req *r, const char *name);
/* A request header, or NULL. */
const char *req_header(struct req *r, const char *name);
/* Parse ?limit= and ?cursor= for a list of ids with prefix. On bad input answers 422 and
 * returns false. cursor_id is "" when there is no cursor. */
bool req_page(
	struct req *r, const char *prefix, int *limit, char cursor_id[PH_ID_MAX]) PH_MUSTCHECK;
/* What a filtered list reads from its query string. */
struct list_query {
	int limit;
	char cursor[PH_ID_MAX]; /* "" when there is none */
	char fetch[16]; /* limit + 1 as text: the extra row tells that a page follows */
	const char *status, *since; /* NULL when absent */
};
/* Parse, in this order, ?limit= and ?cursor= (ids with prefix), ?status= (one of the n
 * statuses) and ?since= (RFC 3339). On bad input answers 422 and returns false. */
bool req_list_query(struct req *r, const char *prefix, const char *const *statuses, size_t n,
	struct list_query *q) PH_MUSTCHECK;
/* The query parameter name, which must be one of the n values of set when present (*out NULL
 * when absent). On another value answers 422 naming the allowed ones and returns false. */
bool req_enum_param(struct req *r, const char *name, const char *const *set, size_t n,
	const char **out) PH_MUSTCHECK;
/* Parse an RFC 3339 query parameter into a normalised string for PostgreSQL; NULL when absent.
 * On bad input answers 422 and sets *ok to false. */
const char *req_time_param(struct req *r, const char *name, bool *ok);

#endif
