/* SPDX-License-Identifier: MIT */
#include "validate.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void verr_field(struct ph_verr *v, struct field_loc loc, const char *name, const char *type,
	const char *msg)
{
	if (loc.list)
		ph_verr_add_item(v, loc.list, loc.index, name, type, msg);
	else
		ph_verr_add(v, "body", name, type, msg);
}

static enum field_state lookup(struct ph_verr *v, json_object *obj, struct field_loc loc,
	const char *name, bool required, bool nullable, json_object **val)
{
	*val = NULL;
	if (!json_object_object_get_ex(obj, name, val)) {
		if (required) {
			verr_field(v, loc, name, "missing", "field required");
			return FIELD_INVALID;
		}
		return FIELD_ABSENT;
	}
	if (*val == NULL) {
		if (!nullable) {
			verr_field(v, loc, name, "null_not_allowed", "field may not be null");
			return FIELD_INVALID;
		}
		return FIELD_NULL;
	}
	return FIELD_SET;
}

enum field_state v_string(struct ph_verr *v, json_object *obj, struct field_loc loc,
	const char *name, bool required, bool nullable, size_t maxlen, const char **out)
{
	json_object *val;
	*out = NULL;
	enum field_state st = lookup(v, obj, loc, name, required, nullable, &val);
	if (st != FIELD_SET)
		return st;
	if (!json_object_is_type(val, json_type_string)) {
		verr_field(v, loc, name, "string_type", "input should be a valid string");
		return FIELD_INVALID;
	}
	size_t len = (size_t)json_object_get_string_len(val);
	const char *s = json_object_get_string(val);
	if (len < 1 || len > maxlen || memchr(s, '\0', len)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "string should have 1 to %zu characters and no NUL",
			maxlen);
		verr_field(v, loc, name, "string_length", msg);
		return FIELD_INVALID;
	}
	*out = s;
	return FIELD_SET;
}

enum field_state v_object(struct ph_verr *v, json_object *obj, struct field_loc loc,
	const char *name, bool required, bool nullable, json_object **out)
{
	enum field_state st = lookup(v, obj, loc, name, required, nullable, out);
	if (st == FIELD_SET && !json_object_is_type(*out, json_type_object)) {
		verr_field(v, loc, name, "dict_type", "input should be a JSON object");
		*out = NULL;
		return FIELD_INVALID;
	}
	return st;
}

bool str_in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, set[i]) == 0)
			return true;
	}
	return false;
}

bool event_type_valid(const char *s)
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

bool webhook_url_valid(const char *s)
{
	if (strlen(s) > 2048 ||
		(strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0))
		return false;
	CURLU *u = curl_url();
	char *host = NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host;
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

bool email_valid(const char *s)
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

void validate_event(struct ph_verr *v, json_object *ev, struct field_loc loc)
{
	const char *type, *s;
	json_object *data;
	if (!json_object_is_type(ev, json_type_object)) {
		verr_field(v, loc, NULL, "dict_type", "each event must be a JSON object");
		return;
	}
	if (v_string(v, ev, loc, "type", true, false, 128, &type) == FIELD_SET &&
		!event_type_valid(type))
		verr_field(v, loc, "type", "string_pattern_mismatch",
			"type must match ^[A-Za-z0-9_.:-]{1,128}$");
	v_object(v, ev, loc, "data", true, false, &data);
	v_string(v, ev, loc, "sourceKey", false, true, 255, &s);
	v_string(v, ev, loc, "eventGroup", false, true, 255, &s);
}
