/* SPDX-License-Identifier: MIT
 *
 * json-c accepts some inputs the API must refuse: it parses 1e999 to infinity (which it then
 * cannot write back as JSON), does not check UTF-8 by default, and keeps the last of duplicate
 * object keys where other parsers keep the first (two readers of one body could disagree on
 * what it says). All are checked here, once, so every route gets the same answer for the same
 * bad input.
 */
#include "json.h"

#include <ctype.h>

#include <math.h>
#include <string.h>

bool ph_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		static const unsigned min_cp[] = { 0, 0x80, 0x800, 0x10000 };
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Walk the tree for what the tokener lets through: non-finite doubles, and 65 levels of
 * arrays or objects when the innermost is empty (see ph_json_parse). depth is the level of o
 * counting the top-level value as 1; recursion is bounded by the tokener. */
static enum ph_json_parse_status check_tree(json_object *o, int depth, size_t *members)
{
	enum ph_json_parse_status st = PH_JSON_OK;
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o)) ? PH_JSON_OK : PH_JSON_NOT_FINITE;
	case json_type_array: {
		if (depth > PH_JSON_MAX_DEPTH)
			return PH_JSON_TOO_DEEP;
		size_t n = json_object_array_length(o);
		for (size_t i = 0; i < n && st == PH_JSON_OK; i++)
			st = check_tree(json_object_array_get_idx(o, i), depth + 1, members);
		return st;
	}
	case json_type_object: {
		if (depth > PH_JSON_MAX_DEPTH)
			return PH_JSON_TOO_DEEP;
		*members += (size_t)json_object_object_length(o);
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			st = check_tree(val, depth + 1, members);
			if (st != PH_JSON_OK)
				return st;
		}
		return PH_JSON_OK;
	}
	default:
		return PH_JSON_OK;
	}
}

/* Count the object members written in buf (already parsed, so valid JSON: every ':' outside a
 * string separates a key from its value) into *members. json-c keeps one member per distinct
 * key, so fewer members in the tree than in the text means a key was repeated. json-c also
 * cuts keys at an escaped NUL ("a\u0000b" becomes "a"), silently renaming a member:
 * PH_JSON_NUL_KEY when a key holds one. And json-c 0.16 takes a single-quoted key even in
 * strict mode ({'a':1}; a single-quoted value it refuses): no quote of JSON is a ', so one
 * outside a string is PH_JSON_SYNTAX (found by fuzz_json_text). */
static enum ph_json_parse_status scan_members(const char *buf, size_t len, size_t *members)
{
	size_t n = 0;
	bool in_string = false, has_nul = false;
	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			if (buf[i] == '"') {
				in_string = true;
				has_nul = false;
			} else if (buf[i] == ':') {
				n++;
			} else if (buf[i] == '\'') {
				return PH_JSON_SYNTAX;
			}
			continue;
		}
		if (buf[i] == '\\') {
			if (i + 5 < len && buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0)
				has_nul = true;
			i++;
		} else if (buf[i] == '"') {
			in_string = false;
			size_t j = i + 1;
			while (j < len && strchr(" \t\r\n", buf[j]) && buf[j] != '\0')
				j++;
			if (has_nul && j < len && buf[j] == ':')
				return PH_JSON_NUL_KEY;
		}
	}
	*members = n;
	return PH_JSON_OK;
}

/* True when the integer literal s (n characters, optional '-') fits int64 or uint64. */
static bool integer_fits(const char *s, size_t n)
{
	bool neg = s[0] == '-';
	const char *digits = s + neg;
	size_t nd = n - neg;
	const char *limit = neg ? "9223372036854775808" : "18446744073709551615";
	size_t nl = strlen(limit);
	return nd < nl || (nd == nl && memcmp(digits, limit, nl) <= 0);
}

/* json-c silently clamps integers that fit neither int64 nor uint64 to the nearest limit, which
 * would change a payload's meaning; refuse them like 1e999. Numbers with a fraction or an
 * exponent are doubles and are checked as such. buf already parsed, so it is valid JSON. */
static bool integers_fit(const char *buf, size_t len)
{
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
			continue;
		}
		if (c != '-' && (c < '0' || c > '9'))
			continue;
		size_t start = i++;
		while (i < len && buf[i] >= '0' && buf[i] <= '9')
			i++;
		bool is_double = i < len && (buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E');
		if (!is_double && !integer_fits(buf + start, i - start))
			return false;
		while (i < len && strchr("0123456789.eE+-", buf[i]) && buf[i] != '\0')
			i++;
		i--;
	}
	return true;
}

/* The 4 hex digits at s as a number, or -1. */
static long hex4(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i >= n || !isxdigit((unsigned char)s[i]))
			return -1;
		v = v * 16 + (isdigit((unsigned char)s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
	}
	return v;
}

/* True when every \u escape of buf (a document json-c accepted, so a backslash only appears
 * inside a string, starting an escape) that names a surrogate is a high one followed by a low
 * one. json-c turns a lone one into bytes that are not UTF-8 (or U+FFFD), which PostgreSQL
 * then refuses or stores as something the sender did not send. */
static bool surrogates_paired(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\\')
			continue;
		if (buf[i + 1] != 'u') {
			i++; /* \" \\ \n ...: skip the escaped character */
			continue;
		}
		long cp = hex4(buf + i + 2, len - i - 2);
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return false;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			long lo = i + 12 <= len && buf[i + 6] == '\\' && buf[i + 7] == 'u'
				? hex4(buf + i + 8, len - i - 8)
				: -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return false;
			i += 6;
		}
		i += 5;
	}
	return true;
}

enum ph_json_parse_status ph_json_parse(const char *buf, size_t len, json_object **out)
{
	*out = NULL;
	if (!ph_utf8_valid(buf, len))
		return PH_JSON_BAD_UTF8;
	/* json-c counts every value as a level, a scalar inside the innermost array included, so
	 * it must allow one more than the promise; check_tree rejects 65 levels of containers. */
	json_tokener *tok = json_tokener_new_ex(PH_JSON_MAX_DEPTH + 1);
	if (!tok)
		return PH_JSON_SYNTAX;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	if (err == json_tokener_continue) {
		/* All of buf was read, but a top-level number or literal has no end of its own:
		 * json-c needs a final NUL to know the input is over (json_tokener_parse_ex). */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		used = len;
	}
	json_tokener_free(tok);
	if (err == json_tokener_error_depth)
		return PH_JSON_TOO_DEEP;
	if (err != json_tokener_success || !obj) {
		json_object_put(obj);
		return PH_JSON_SYNTAX;
	}
	for (; used < len; used++) {
		/* strchr would match a NUL byte against the terminator of its set. */
		if (buf[used] == '\0' || !strchr(" \t\r\n", buf[used])) {
			json_object_put(obj);
			return PH_JSON_SYNTAX; /* trailing garbage after the document */
		}
	}
	size_t members = 0;
	enum ph_json_parse_status st = check_tree(obj, 1, &members);
	if (st == PH_JSON_OK && !integers_fit(buf, len))
		st = PH_JSON_NOT_FINITE;
	size_t written = 0;
	if (st == PH_JSON_OK)
		st = scan_members(buf, len, &written);
	if (st == PH_JSON_OK && members != written)
		st = PH_JSON_DUPLICATE_KEY;
	if (st == PH_JSON_OK && !surrogates_paired(buf, len))
		st = PH_JSON_LONE_SURROGATE;
	if (st != PH_JSON_OK) {
		json_object_put(obj);
		return st;
	}
	*out = obj;
	return PH_JSON_OK;
}

const char *ph_json_parse_message(enum ph_json_parse_status st)
{
	static const char *const messages[] = {
		[PH_JSON_OK] = "ok",
		[PH_JSON_SYNTAX] = "request body is not valid JSON",
		[PH_JSON_TOO_DEEP] = "JSON nested deeper than 64 levels",
		[PH_JSON_BAD_UTF8] = "request body is not valid UTF-8",
		[PH_JSON_NOT_FINITE] = "number out of range",
		[PH_JSON_DUPLICATE_KEY] = "a JSON object has the same key twice",
		[PH_JSON_NUL_KEY] = "a JSON object key contains a NUL character",
		[PH_JSON_LONE_SURROGATE] =
			"a JSON string has a lone surrogate \\u escape: not text",
	};
	if ((size_t)st >= PH_ARRAY_LEN(messages))
		return messages[PH_JSON_SYNTAX];
	return messages[st];
}

void ph_verr_init(struct ph_verr *v)
{
	v->detail = NULL;
}

void ph_verr_finish(struct ph_verr *v)
{
	json_object_put(v->detail);
	v->detail = NULL;
}

bool ph_verr_any(const struct ph_verr *v)
{
	return v->detail != NULL;
}

static void push(struct ph_verr *v, json_object *loc, const char *type, const char *msg)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "loc", loc);
	json_object_object_add(e, "msg", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string(type));
	if (!v->detail)
		v->detail = json_object_new_array();
	json_object_array_add(v->detail, e);
}

void ph_verr_add(
	struct ph_verr *v, const char *where, const char *name, const char *type, const char *msg)
{
	json_object *loc = json_object_new_array();
	json_object_array_add(loc, json_object_new_string(where));
	if (name)
		json_object_array_add(loc, json_object_new_string(name));
	push(v, loc, type, msg);
}

void ph_verr_add_item(struct ph_verr *v, const char *list, int index, const char *field,
	const char *type, const char *msg)
{
	json_object *loc = json_object_new_array();
	json_object_array_add(loc, json_object_new_string("body"));
	json_object_array_add(loc, json_object_new_string(list));
	json_object_array_add(loc, json_object_new_int(index));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	push(v, loc, type, msg);
}

json_object *ph_verr_take_body(struct ph_verr *v)
{
	json_object *body = json_object_new_object();
	json_object_object_add(body, "detail", v->detail ? v->detail : json_object_new_array());
	v->detail = NULL;
	return body;
}

json_object *ph_json_get(json_object *obj, const char *key)
{
	json_object *val = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	return json_object_object_get_ex(obj, key, &val) ? val : NULL;
}

const char *ph_json_compact(json_object *obj, size_t *len)
{
	return json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

size_t ph_json_compact_text(const char *in, size_t len, char *out)
{
	size_t n = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (in_string) {
			if (c == '\\' && i + 1 < len) {
				out[n++] = c; /* the escaped character is copied as it is */
				c = in[++i];
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
			continue;
		} else if (c == '"') {
			in_string = true;
		}
		out[n++] = c;
	}
	return n;
}
