/* SPDX-License-Identifier: MIT */
#include "validate.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "rfc3339.h"
#include "sign.h"

/* Statuses an external attempt may set: all but delivering, the worker's own. */
static const char *const attempt_statuses[] = { "pending", "retry_scheduled", "delivered",
	"failed" };

static void field_error(struct ph_verr *v, struct ph_field_loc loc, const char *name,
	const char *type, const char *msg)
{
	if (loc.list)
		ph_verr_add_item(v, loc.list, loc.index, name, type, msg);
	else
		ph_verr_add(v, "body", name, type, msg);
}

static enum ph_field_state lookup(struct ph_verr *v, json_object *obj, struct ph_field_loc loc,
	const char *name, bool required, bool nullable, json_object **val)
{
	*val = NULL;
	if (!json_object_object_get_ex(obj, name, val)) {
		if (required) {
			field_error(v, loc, name, "missing", "field required");
			return PH_FIELD_INVALID;
		}
		return PH_FIELD_ABSENT;
	}
	if (*val == NULL) {
		if (!nullable) {
			field_error(v, loc, name, "null_not_allowed", "field may not be null");
			return PH_FIELD_INVALID;
		}
		return PH_FIELD_NULL;
	}
	return PH_FIELD_SET;
}

/* A string member of 1..maxlen characters (or null when nullable). */
static enum ph_field_state field_string(struct ph_verr *v, json_object *obj,
	struct ph_field_loc loc, const char *name, bool required, bool nullable, size_t maxlen,
	const char **out)
{
	json_object *val;
	*out = NULL;
	enum ph_field_state st = lookup(v, obj, loc, name, required, nullable, &val);
	if (st != PH_FIELD_SET)
		return st;
	if (!json_object_is_type(val, json_type_string)) {
		field_error(v, loc, name, "string_type", "input should be a valid string");
		return PH_FIELD_INVALID;
	}
	size_t len = (size_t)json_object_get_string_len(val);
	const char *s = json_object_get_string(val);
	if (len < 1 || len > maxlen || memchr(s, '\0', len)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "string should have 1 to %zu characters and no NUL",
			maxlen);
		field_error(v, loc, name, "string_length", msg);
		return PH_FIELD_INVALID;
	}
	*out = s;
	return PH_FIELD_SET;
}

/* A member that must be a JSON object (or null when nullable). */
static enum ph_field_state field_object(struct ph_verr *v, json_object *obj,
	struct ph_field_loc loc, const char *name, bool required, bool nullable, json_object **out)
{
	enum ph_field_state st = lookup(v, obj, loc, name, required, nullable, out);
	if (st == PH_FIELD_SET && !json_object_is_type(*out, json_type_object)) {
		field_error(v, loc, name, "dict_type", "input should be a JSON object");
		*out = NULL;
		return PH_FIELD_INVALID;
	}
	return st;
}

bool ph_str_in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, set[i]) == 0)
			return true;
	}
	return false;
}

bool ph_event_type_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 128)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* The host must be one curl can connect to. Non-ASCII (IDN) names are refused: curl converts
 * them with libidn2 only at transfer time and fails there for names it cannot convert (a
 * label over 63 bytes, issue 18), and this curl's CURLU_PUNYCODE cannot convert ahead of time;
 * the xn-- (punycode) form of the same name is accepted and delivers the same. An IP literal
 * comes back unchanged. */
static const char *url_host_problem(CURLU *u)
{
	char *host = NULL;
	const char *why = NULL;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		return "url must be an http or https URL with a host";
	size_t len = host ? strlen(host) : 0, label = 0;
	if (len == 0)
		why = "url must be an http or https URL with a host";
	else if (host[0] != '[' && len > 253)
		why = "the URL's host is longer than 253 characters";
	for (size_t i = 0; !why && host[0] != '[' && i < len; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c == '.') {
			label = 0;
			continue;
		}
		if (c >= 0x80)
			why = "the URL's host must be ASCII: write an internationalized name in its "
			      "xn-- (punycode) form";
		else if (c <= 0x20 || c == '%') /* percent-encoded: curl decodes it later */
			why = "the URL's host is not a valid domain name";
		else if (++label > 63)
			why = "a label of the URL's host is longer than 63 characters";
	}
	curl_free(host);
	return why;
}

const char *ph_webhook_url_problem(const char *s)
{
	if (strlen(s) > 2048)
		return "url is longer than 2048 characters";
	if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
		return "url must be an http or https URL with a host";
	CURLU *u = curl_url();
	if (!u)
		return "out of memory";
	const char *why = NULL;
	char *user = NULL, *password = NULL;
	/* curl_url is the parser curl delivers with: what it refuses here would fail every
	 * attempt. */
	if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK)
		why = "url is not a URL libcurl can parse";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
		curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
		/* Credentials in a URL are echoed in every delivery record, email and report. */
		why = "url must not carry credentials (user:password@); use the signing secret";
	else
		why = url_host_problem(u);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
	return why;
}

bool ph_webhook_url_valid(const char *s)
{
	return ph_webhook_url_problem(s) == NULL;
}

bool ph_email_valid(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n < 3 || n > 254 || !at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (const char *p = s; *p; p++) {
		/* No spaces or control characters: the address goes into SMTP commands. */
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
			return false;
	}
	return true;
}

void ph_validate_event(struct ph_verr *v, json_object *ev, struct ph_field_loc loc)
{
	const char *type, *s;
	json_object *data;
	if (!json_object_is_type(ev, json_type_object)) {
		field_error(v, loc, NULL, "dict_type", "each event must be a JSON object");
		return;
	}
	if (field_string(v, ev, loc, "type", true, false, 128, &type) == PH_FIELD_SET &&
		!ph_event_type_valid(type))
		field_error(v, loc, "type", "string_pattern_mismatch",
			"type must match ^[A-Za-z0-9_.:-]{1,128}$");
	field_object(v, ev, loc, "data", true, false, &data);
	field_string(v, ev, loc, "sourceKey", false, true, 255, &s);
	field_string(v, ev, loc, "eventGroup", false, true, 255, &s);
	/* FIFO webhooks deliver one event per key at a time (docs/api.md, "Ordering") */
	field_string(v, ev, loc, "orderingKey", false, true, 128, &s);
}

json_object *ph_validate_batch(struct ph_verr *v, json_object *body)
{
	json_object *events = ph_json_get(body, "events");
	size_t n = 0;
	if (!events || !json_object_is_type(events, json_type_array)) {
		ph_verr_add(v, "body", "events", "list_type", "events must be an array");
		return NULL;
	}
	n = json_object_array_length(events);
	if (n < 1 || n > PH_BATCH_MAX) {
		ph_verr_add(v, "body", "events", "too_long", "events must hold 1 to 1000 events");
		return events;
	}
	for (size_t i = 0; i < n; i++)
		ph_validate_event(v, json_object_array_get_idx(events, i),
			(struct ph_field_loc){ "events", (int)i });
	return events;
}

static void check_subscriptions(
	struct ph_verr *v, json_object *body, bool required, struct ph_webhook_input *in)
{
	json_object *subs = NULL;
	if (!json_object_object_get_ex(body, "subscriptions", &subs)) {
		if (required)
			ph_verr_add(v, "body", "subscriptions", "missing", "field required");
		return;
	}
	size_t n = subs && json_object_is_type(subs, json_type_array)
		? json_object_array_length(subs)
		: 0;
	if (n == 0 || n > 500) {
		ph_verr_add(v, "body", "subscriptions", "list_type",
			"subscriptions must be a non-empty array of event types (\"*\" for all)");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(subs, i);
		const char *s =
			json_object_is_type(t, json_type_string) ? json_object_get_string(t) : "";
		if (strcmp(s, "*") != 0 && !ph_event_type_valid(s)) {
			ph_verr_add_item(v, "subscriptions", (int)i, NULL,
				"string_pattern_mismatch",
				"event types match ^[A-Za-z0-9_.:-]{1,128}$");
			return;
		}
	}
	in->subscriptions = ph_json_compact(subs, NULL);
}

/* rateLimit: deliveries per second, a number above 0 up to 1,000,000, or null (no limit). */
static void check_rate_limit(struct ph_verr *v, json_object *body, struct ph_webhook_input *in)
{
	json_object *val;
	in->rate_limit_st = lookup(v, body, PH_LOC_BODY, "rateLimit", false, true, &val);
	if (in->rate_limit_st != PH_FIELD_SET)
		return;
	double x = json_object_is_type(val, json_type_int) ||
			json_object_is_type(val, json_type_double)
		? json_object_get_double(val)
		: -1;
	if (!(x > 0 && x <= 1000000)) {
		ph_verr_add(v, "body", "rateLimit", "greater_than",
			"rateLimit must be a number of deliveries per second above 0 (at most "
			"1000000) or null");
		in->rate_limit_st = PH_FIELD_INVALID;
		return;
	}
	snprintf(in->rate_limit, sizeof(in->rate_limit), "%.17g", x);
}

/* maxInFlight: an integer from 1 to 100,000, or null (the workers' default). */
static void check_max_in_flight(struct ph_verr *v, json_object *body, struct ph_webhook_input *in)
{
	json_object *val;
	in->max_in_flight_st = lookup(v, body, PH_LOC_BODY, "maxInFlight", false, true, &val);
	if (in->max_in_flight_st != PH_FIELD_SET)
		return;
	int64_t n = json_object_is_type(val, json_type_int) ? json_object_get_int64(val) : 0;
	if (n < 1 || n > 100000) {
		ph_verr_add(v, "body", "maxInFlight", "greater_than_equal",
			"maxInFlight must be an integer from 1 to 100000 or null");
		in->max_in_flight_st = PH_FIELD_INVALID;
		return;
	}
	snprintf(in->max_in_flight, sizeof(in->max_in_flight), "%d", (int)n);
}

static void check_scheduling(struct ph_verr *v, json_object *body, struct ph_webhook_input *in)
{
	static const char *const orderings[] = { "none", "fifo" };
	check_rate_limit(v, body, in);
	check_max_in_flight(v, body, in);
	if (field_string(v, body, PH_LOC_BODY, "ordering", false, false, 16, &in->ordering) ==
			PH_FIELD_SET &&
		!ph_str_in(in->ordering, orderings, PH_ARRAY_LEN(orderings))) {
		ph_verr_add(v, "body", "ordering", "enum", "ordering must be none or fifo");
		in->ordering = NULL;
	}
}

bool ph_header_reserved(const char *name)
{
	static const char *const reserved[] = { "content-type", "content-length", "host",
		"user-agent", "connection", "transfer-encoding", "te", "upgrade", "expect" };
	if (strncasecmp(name, "webhook-", 8) == 0)
		return true;
	for (size_t i = 0; i < PH_ARRAY_LEN(reserved); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	return false;
}

static bool header_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/* One header value: a string of at most PH_HEADER_VALUE_MAX bytes with no CR, LF or NUL (they
 * would end the header line: header injection). */
static bool header_value_valid(json_object *val)
{
	if (!json_object_is_type(val, json_type_string))
		return false;
	size_t len = (size_t)json_object_get_string_len(val);
	const char *s = json_object_get_string(val);
	return len <= PH_HEADER_VALUE_MAX && !memchr(s, '\0', len) && !memchr(s, '\r', len) &&
		!memchr(s, '\n', len);
}

static void check_headers(struct ph_verr *v, json_object *body, struct ph_webhook_input *in)
{
	json_object *h = NULL;
	in->headers_st = field_object(v, body, PH_LOC_BODY, "headers", false, true, &h);
	if (in->headers_st != PH_FIELD_SET)
		return;
	if (json_object_object_length(h) > PH_HEADERS_MAX) {
		ph_verr_add(v, "body", "headers", "too_long", "at most 20 headers");
		in->headers_st = PH_FIELD_INVALID;
		return;
	}
	json_object_object_foreach(h, name, val)
	{
		const char *why = !header_name_valid(name)
			? "header names match ^[A-Za-z0-9-]{1,64}$"
			: ph_header_reserved(name)
			? "this header is set by pghook or by HTTP and cannot be replaced"
			: !header_value_valid(val)
			? "header values are strings of at most 1024 bytes without CR, LF or NUL"
			: NULL;
		if (why) {
			char msg[256];
			snprintf(msg, sizeof(msg), "header \"%.64s\": %s", name, why);
			ph_verr_add(v, "body", "headers", "value_error", msg);
			in->headers_st = PH_FIELD_INVALID;
			return;
		}
	}
	in->headers = ph_json_compact(h, NULL);
}

/* retrySchedule: null (the global schedule) or 1..PH_WEBHOOK_RETRY_MAX durations as
 * PGHOOK_RETRY_SCHEDULE writes them, turned into a bigint[] literal of milliseconds. */
static void check_retry_schedule(struct ph_verr *v, json_object *body, struct ph_webhook_input *in)
{
	json_object *a = NULL;
	in->retry_st = lookup(v, body, PH_LOC_BODY, "retrySchedule", false, true, &a);
	if (in->retry_st != PH_FIELD_SET)
		return;
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	if (n < 1 || n > PH_WEBHOOK_RETRY_MAX) {
		ph_verr_add(v, "body", "retrySchedule", "list_type",
			"retrySchedule must be null or a list of 1 to 64 durations");
		in->retry_st = PH_FIELD_INVALID;
		return;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(a, i);
		int64_t ms;
		if (!json_object_is_type(d, json_type_string) ||
			!ph_duration_parse(json_object_get_string(d), &ms)) {
			ph_verr_add_item(v, "retrySchedule", (int)i, NULL, "value_error",
				"a duration like 0s, 500ms, 5m, 2h or 1d (at most 100 days)");
			in->retry_st = PH_FIELD_INVALID;
			return;
		}
		off += (size_t)snprintf(in->retry_schedule + off, sizeof(in->retry_schedule) - off,
			"%s%lld", i ? "," : "{", (long long)ms);
	}
	snprintf(in->retry_schedule + off, sizeof(in->retry_schedule) - off, "}");
}

void ph_validate_webhook(
	struct ph_verr *v, json_object *body, bool creating, struct ph_webhook_input *in)
{
	const struct ph_field_loc b = PH_LOC_BODY;
	memset(in, 0, sizeof(*in));
	const char *why = NULL;
	if (field_string(v, body, b, "url", creating, false, 2048, &in->url) == PH_FIELD_SET &&
		(why = ph_webhook_url_problem(in->url)))
		ph_verr_add(v, "body", "url", "url_scheme", why);
	check_subscriptions(v, body, creating, in);
	in->description_st =
		field_string(v, body, b, "description", false, true, 1024, &in->description);
	in->email_st = field_string(v, body, b, "notificationEmail", false, true, 254, &in->email);
	if (in->email_st == PH_FIELD_SET && !ph_email_valid(in->email))
		ph_verr_add(
			v, "body", "notificationEmail", "value_error", "not a valid email address");
	if (field_string(v, body, b, "secret", false, !creating, 128, &in->secret) ==
			PH_FIELD_SET &&
		!ph_sign_secret_valid(in->secret))
		ph_verr_add(v, "body", "secret", "value_error",
			"secret must be whsec_ followed by base64 of 24 to 64 bytes");
	json_object *meta = NULL;
	if (field_object(v, body, b, "metadata", false, false, &meta) == PH_FIELD_SET)
		in->metadata = ph_json_compact(meta, NULL);
	check_scheduling(v, body, in);
	check_headers(v, body, in);
	check_retry_schedule(v, body, in);
	static const char *const signatures[] = { "hmac-sha256", "ed25519" };
	if (field_string(v, body, b, "signature", false, false, 32, &in->signature) ==
			PH_FIELD_SET &&
		!ph_str_in(in->signature, signatures, PH_ARRAY_LEN(signatures))) {
		ph_verr_add(
			v, "body", "signature", "enum", "signature must be hmac-sha256 or ed25519");
		in->signature = NULL;
	}
	if (in->signature && strcmp(in->signature, "ed25519") == 0 && in->secret)
		ph_verr_add(v, "body", "secret", "value_error",
			"a secret is for hmac-sha256; pghook makes the ed25519 key pair itself");
}

static void check_code(struct ph_verr *v, json_object *body, struct ph_attempt_input *in)
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
}

void ph_validate_attempt(struct ph_verr *v, json_object *body, struct ph_attempt_input *in)
{
	const struct ph_field_loc b = PH_LOC_BODY;
	json_object *rb = NULL;
	memset(in, 0, sizeof(*in));
	if (field_string(v, body, b, "status", true, false, 32, &in->status) == PH_FIELD_SET &&
		!ph_str_in(in->status, attempt_statuses, PH_ARRAY_LEN(attempt_statuses)))
		ph_verr_add(v, "body", "status", "enum",
			"status must be pending, retry_scheduled, delivered or failed");
	check_code(v, body, in);
	if (field_object(v, body, b, "responseBody", false, true, &rb) == PH_FIELD_SET)
		in->response_body = ph_json_compact(rb, NULL);
	field_string(v, body, b, "lastError", false, true, 4096, &in->error);
	if (field_string(v, body, b, "nextRetryAt", false, true, 64, &in->next_retry) ==
			PH_FIELD_SET &&
		!ph_rfc3339_valid(in->next_retry))
		ph_verr_add(v, "body", "nextRetryAt", "datetime_parsing",
			"nextRetryAt must be an RFC 3339 date-time");
	if (in->status && strcmp(in->status, "retry_scheduled") == 0 && !in->next_retry &&
		!ph_verr_any(v))
		ph_verr_add(v, "body", "nextRetryAt", "missing",
			"nextRetryAt is required when status is retry_scheduled");
}

bool ph_parse_limit(const char *s, int *out)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (end == s || *end || n < 1 || n > PH_LIMIT_MAX)
		return false;
	*out = (int)n;
	return true;
}

bool ph_parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

const char *ph_bearer_token(const char *header)
{
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	header += 7;
	while (*header == ' ')
		header++;
	return *header ? header : NULL;
}
