/* SPDX-License-Identifier: MIT
 *
 * validate: the checks of request bodies, query values and headers that need no database,
 * shared by the api's handlers and the fuzz targets. A body check reads the members of a parsed
 * body, adds every problem to v in the 422 shape (json.h), and hands the values back borrowed
 * from the body. "Absent" and "null" are told apart because PATCH and the mirrored routes
 * (api/compat.h) need both.
 */
#ifndef PGHOOK_COMMON_VALIDATE_H
#define PGHOOK_COMMON_VALIDATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* Events one POST /v1/events/batch may carry. */
#define PH_BATCH_MAX 1000
/* ?limit= of the list routes: 1..PH_LIMIT_MAX, PH_LIMIT_DEFAULT when absent. */
#define PH_LIMIT_DEFAULT 50
#define PH_LIMIT_MAX	 250

/* Where a field's error is reported: ["body", name] or ["body", list, index, name]. */
struct ph_field_loc {
	const char *list; /* NULL for a top-level body field */
	int index;
};

#define PH_LOC_BODY ((struct ph_field_loc){ NULL, 0 })

enum ph_field_state {
	PH_FIELD_ABSENT,
	PH_FIELD_NULL,
	PH_FIELD_SET,
	PH_FIELD_INVALID,
};

/* True when s equals one of the n strings of set. */
bool ph_str_in(const char *s, const char *const *set, size_t n);
/* An event type: ^[A-Za-z0-9_.:-]{1,128}$. */
bool ph_event_type_valid(const char *s);
/* Why s is not a deliverable webhook URL (a message for the 422), or NULL when it is: an http(s)
 * URL of at most 2048 characters that libcurl's own parser (curl_url) accepts, with no
 * user:password@, and a host curl can connect to (an IP literal, or a DNS name of ASCII labels
 * of 1..63 characters, 253 at most; IDN names in their xn-- form). */
const char *ph_webhook_url_problem(const char *s);
bool ph_webhook_url_valid(const char *s);
/* A plausible email address: one '@', no spaces or control characters, at most 254. */
bool ph_email_valid(const char *s);

/* One event of POST /v1/events or of a batch: an object with a valid "type", an object "data",
 * and optional "sourceKey" and "eventGroup" strings. */
void ph_validate_event(struct ph_verr *v, json_object *ev, struct ph_field_loc loc);
/* The body of POST /v1/events/batch: "events", an array of 1..PH_BATCH_MAX valid events.
 * Returns the array (borrowed; NULL when it is not one). */
json_object *ph_validate_batch(struct ph_verr *v, json_object *body);

/* Custom headers of a webhook: at most PH_HEADERS_MAX, names ^[A-Za-z0-9-]{1,64}$, values up
 * to PH_HEADER_VALUE_MAX bytes without CR, LF or NUL, and none of the names pghook sets or
 * HTTP owns (ph_header_reserved). */
#define PH_HEADERS_MAX	    20
#define PH_HEADER_VALUE_MAX 1024
/* Entries of a webhook's retrySchedule (as PGHOOK_RETRY_SCHEDULE's). */
#define PH_WEBHOOK_RETRY_MAX 64
/* A retrySchedule as a PostgreSQL bigint[] literal of milliseconds: "{0,5000,...}". */
#define PH_RETRY_LITERAL_MAX (PH_WEBHOOK_RETRY_MAX * 21 + 3)

/* What a webhook create or patch body asked for; strings borrowed from the body. */
struct ph_webhook_input {
	const char *url;
	const char *description;
	const char *email;
	const char *secret;
	const char *subscriptions; /* compact JSON array, or NULL */
	const char *metadata; /* compact JSON object, or NULL */
	enum ph_field_state description_st, email_st, headers_st, retry_st;
	/* the scheduler's limits (docs/api.md, "Scheduling"): as text for SQL, "" when absent
	 * or null; *_st tells which */
	char rate_limit[32], max_in_flight[16];
	enum ph_field_state rate_limit_st, max_in_flight_st;
	const char *ordering; /* "none", "fifo" or NULL */
	const char *headers; /* compact JSON object, or NULL (absent or null: see headers_st) */
	const char *signature; /* "hmac-sha256", "ed25519", or NULL when absent */
	char retry_schedule[PH_RETRY_LITERAL_MAX]; /* "" unless retry_st is PH_FIELD_SET */
};

/* True when name (any case) is one pghook sets or HTTP owns: webhook-*, content-type,
 * content-length, host, user-agent, connection, transfer-encoding, te, upgrade, expect. */
bool ph_header_reserved(const char *name);

/* A webhook body; required fields (url, subscriptions) are enforced only when creating, and
 * the secret may be null only when patching. */
void ph_validate_webhook(
	struct ph_verr *v, json_object *body, bool creating, struct ph_webhook_input *in);

/* An attempt made elsewhere (POST /v1/deliveries/{id}/attempts); strings borrowed from the
 * body. */
struct ph_attempt_input {
	const char *status, *error, *next_retry;
	const char *response_body; /* compact JSON object, or NULL */
	char code[8]; /* responseStatusCode as text, "" when absent or null */
};

void ph_validate_attempt(struct ph_verr *v, json_object *body, struct ph_attempt_input *in);

/* ?limit=: an integer from 1 to PH_LIMIT_MAX as strtol reads it (leading spaces and a sign
 * allowed), with nothing after it. */
bool ph_parse_limit(const char *s, int *out) PH_MUSTCHECK;
/* A boolean query value: true or false in any case, 1 or 0. */
bool ph_parse_bool(const char *s, bool *out) PH_MUSTCHECK;
/* The token of an "Authorization: Bearer <token>" header value, or NULL. */
const char *ph_bearer_token(const char *header);

#endif
