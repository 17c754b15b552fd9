/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/json: the status ph_json_parse gives valid documents, syntax errors,
 * trailing garbage, deep nesting, bad UTF-8, non-finite numbers and NUL bytes; the exact 422
 * body the validation-error collector renders; and the compaction of rendered JSON text.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

/* A string literal and its length, so cases may hold NUL bytes. */
#define LIT(s) s, sizeof(s) - 1

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static void check_parse(
	const char *name, const char *buf, size_t len, enum ph_json_parse_status want)
{
	int before = check_failures;
	json_object *obj = (json_object *)&obj; /* must be overwritten */
	enum ph_json_parse_status st = ph_json_parse(buf, len, &obj);
	if (st != want)
		fprintf(stderr, "  status %d, want %d\n", (int)st, (int)want);
	CHECK(st == want);
	/* A reference only on success, and never a dangling one on failure. */
	CHECK(want == PH_JSON_OK ? obj != NULL : obj == NULL);
	if (st == PH_JSON_OK)
		json_object_put(obj);
	case_done(name, before);
}

static const struct {
	const char *name;
	const char *buf;
	size_t len;
	enum ph_json_parse_status want;
} parse_cases[] = {
	/* valid */
	{ "empty object", LIT("{}"), PH_JSON_OK },
	{ "empty array", LIT("[]"), PH_JSON_OK },
	{ "webhook", LIT("{\"url\":\"https://example.com/hook\",\"events\":[\"a.b\"]}"),
		PH_JSON_OK },
	{ "all types", LIT("{\"a\":[1,-2.5e3,\"x\",null,true,false,{}]}"), PH_JSON_OK },
	{ "whitespace around", LIT(" \t\r\n{} \t\r\n"), PH_JSON_OK },
	{ "top-level string", LIT("\"x\""), PH_JSON_OK },
	{ "top-level integer", LIT("123"), PH_JSON_OK },
	{ "top-level negative zero", LIT("-0"), PH_JSON_OK },
	{ "top-level true", LIT("true"), PH_JSON_OK },
	{ "top-level false", LIT("false"), PH_JSON_OK },
	{ "largest finite", LIT("[1.7976931348623157e308]"), PH_JSON_OK },
	{ "big integer", LIT("123456789012345678901234567890"), PH_JSON_NOT_FINITE },
	{ "uint64 max", LIT("18446744073709551615"), PH_JSON_OK },
	{ "uint64 max + 1", LIT("18446744073709551616"), PH_JSON_NOT_FINITE },
	{ "int64 min", LIT("[-9223372036854775808]"), PH_JSON_OK },
	{ "int64 min - 1", LIT("[-9223372036854775809]"), PH_JSON_NOT_FINITE },
	{ "big integer in an object", LIT("{\"a\":[1,12345678901234567890123]}"),
		PH_JSON_NOT_FINITE },
	{ "long digits in a string", LIT("{\"a\":\"12345678901234567890123\"}"), PH_JSON_OK },
	{ "escaped quote then digits", LIT("[\"\\\"12345678901234567890123\"]"), PH_JSON_OK },
	{ "long mantissa double", LIT("[12345678901234567890123.5, 1e400]"), PH_JSON_NOT_FINITE },
	{ "long mantissa finite", LIT("[12345678901234567890123.5]"), PH_JSON_OK },
	{ "escapes", LIT("\"\\u00e9\\n\\\"\\\\\\/\""), PH_JSON_OK },
	{ "escaped NUL", LIT("{\"a\":\"x\\u0000y\"}"), PH_JSON_OK },
	/* syntax */
	{ "empty input", LIT(""), PH_JSON_SYNTAX },
	{ "only spaces", LIT("   "), PH_JSON_SYNTAX },
	{ "open brace", LIT("{"), PH_JSON_SYNTAX },
	{ "close brace", LIT("}"), PH_JSON_SYNTAX },
	{ "unterminated string", LIT("\"abc"), PH_JSON_SYNTAX },
	{ "unterminated array", LIT("[1,2"), PH_JSON_SYNTAX },
	{ "trailing comma in array", LIT("[1,]"), PH_JSON_SYNTAX },
	{ "trailing comma in object", LIT("{\"a\":1,}"), PH_JSON_SYNTAX },
	{ "single-quoted string", LIT("['a']"), PH_JSON_SYNTAX },
	{ "single-quoted key", LIT("{'a':1}"), PH_JSON_SYNTAX },
	{ "single-quoted key after a member", LIT("{\"a\":1,'b c':2}"), PH_JSON_SYNTAX },
	{ "bare key", LIT("{a:1}"), PH_JSON_SYNTAX },
	{ "missing colon", LIT("{\"a\" 1}"), PH_JSON_SYNTAX },
	{ "missing comma", LIT("[1 2]"), PH_JSON_SYNTAX },
	{ "leading zero", LIT("01"), PH_JSON_SYNTAX },
	{ "bare minus", LIT("-"), PH_JSON_SYNTAX },
	{ "exponent without digits", LIT("1e"), PH_JSON_SYNTAX },
	{ "truncated literal", LIT("tru"), PH_JSON_SYNTAX },
	{ "bad escape", LIT("\"\\x41\""), PH_JSON_SYNTAX },
	{ "word", LIT("hello"), PH_JSON_SYNTAX },
	/* trailing garbage */
	{ "garbage after object", LIT("{} x"), PH_JSON_SYNTAX },
	{ "two documents", LIT("{}{}"), PH_JSON_SYNTAX },
	{ "extra bracket", LIT("[1]]"), PH_JSON_SYNTAX },
	{ "two numbers", LIT("1 2"), PH_JSON_SYNTAX },
	{ "comma after", LIT("{},"), PH_JSON_SYNTAX },
	/* NUL bytes */
	{ "NUL in string", LIT("{\"a\":\"x\0y\"}"), PH_JSON_SYNTAX },
	{ "NUL after object", LIT("{}\0"), PH_JSON_SYNTAX },
	{ "NUL then garbage", LIT("{}\0garbage"), PH_JSON_SYNTAX },
	{ "NUL after number", LIT("1\0"), PH_JSON_SYNTAX },
	{ "NUL before", LIT("\0{}"), PH_JSON_SYNTAX },
	{ "NUL in array", LIT("[1,\0 2]"), PH_JSON_SYNTAX },
	/* UTF-8 */
	{ "valid 2, 3, 4 byte", LIT("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\""), PH_JSON_OK },
	{ "U+D7FF", LIT("\"\xed\x9f\xbf\""), PH_JSON_OK },
	{ "U+E000", LIT("\"\xee\x80\x80\""), PH_JSON_OK },
	{ "U+10FFFF", LIT("\"\xf4\x8f\xbf\xbf\""), PH_JSON_OK },
	{ "overlong 2-byte slash", LIT("\"\xc0\xaf\""), PH_JSON_BAD_UTF8 },
	{ "overlong 2-byte C1", LIT("\"\xc1\xbf\""), PH_JSON_BAD_UTF8 },
	{ "overlong 3-byte", LIT("\"\xe0\x80\xaf\""), PH_JSON_BAD_UTF8 },
	{ "overlong 4-byte", LIT("\"\xf0\x80\x80\xaf\""), PH_JSON_BAD_UTF8 },
	{ "surrogate D800", LIT("\"\xed\xa0\x80\""), PH_JSON_BAD_UTF8 },
	{ "surrogate DFFF", LIT("\"\xed\xbf\xbf\""), PH_JSON_BAD_UTF8 },
	{ "above U+10FFFF", LIT("\"\xf4\x90\x80\x80\""), PH_JSON_BAD_UTF8 },
	{ "5-byte form", LIT("\"\xf8\x88\x80\x80\x80\""), PH_JSON_BAD_UTF8 },
	{ "lone continuation", LIT("\"\x80\""), PH_JSON_BAD_UTF8 },
	{ "0xff", LIT("\"\xff\""), PH_JSON_BAD_UTF8 },
	{ "truncated before quote", LIT("\"\xe2\x82\""), PH_JSON_BAD_UTF8 },
	{ "truncated at end", LIT("\"\xe2\x82"), PH_JSON_BAD_UTF8 },
	{ "truncated 4-byte at end", LIT("\"\xf0\x9f\x98"), PH_JSON_BAD_UTF8 },
	{ "lead byte at end", LIT("{}\xc3"), PH_JSON_BAD_UTF8 },
	{ "bad UTF-8 in key", LIT("{\"\xc0\xaf\":1}"), PH_JSON_BAD_UTF8 },
	/* numbers */
	{ "1e999", LIT("1e999"), PH_JSON_NOT_FINITE },
	{ "-1e999", LIT("-1e999"), PH_JSON_NOT_FINITE },
	{ "1E400 in array", LIT("[1,2,1E400]"), PH_JSON_NOT_FINITE },
	{ "1e999 nested", LIT("{\"a\":{\"b\":[{\"c\":1e999}]}}"), PH_JSON_NOT_FINITE },
	{ "tiny underflows to zero", LIT("[1e-999]"), PH_JSON_OK },
	/* duplicate keys: json-c keeps the last, other parsers the first; refused */
	{ "duplicate key", LIT("{\"type\":\"a\",\"type\":\"b\"}"), PH_JSON_DUPLICATE_KEY },
	{ "duplicate key nested", LIT("{\"d\":[{\"x\":1,\"y\":2,\"x\":3}]}"),
		PH_JSON_DUPLICATE_KEY },
	{ "duplicate key replacing an object", LIT("{\"a\":{\"b\":1,\"c\":2},\"a\":{}}"),
		PH_JSON_DUPLICATE_KEY },
	{ "duplicate through an escape", LIT("{\"a\":1,\"\\u0061\":2}"), PH_JSON_DUPLICATE_KEY },
	{ "keys cut at an escaped NUL", LIT("{\"a\\u0000x\":1,\"a\\u0000y\":2}"), PH_JSON_NUL_KEY },
	{ "escaped NUL in a nested key", LIT("{\"d\":{\"k\\u0000\" :1}}"), PH_JSON_NUL_KEY },
	{ "escaped backslash then u0000 in a key", LIT("{\"a\\\\u0000\":1}"), PH_JSON_OK },
	{ "escaped NUL in a value before a colon", LIT("[\"x\\u0000\",{\"a\":1}]"), PH_JSON_OK },
	{ "same key in sibling objects", LIT("[{\"a\":1},{\"a\":2}]"), PH_JSON_OK },
	{ "same key at two levels", LIT("{\"a\":{\"a\":{\"a\":1}}}"), PH_JSON_OK },
	{ "colons and quotes in strings", LIT("{\"a:b\":\"c:\\\"d:\",\"e\":\":\"}"), PH_JSON_OK },
	{ "keys differing in case", LIT("{\"a\":1,\"A\":2}"), PH_JSON_OK },
	/* surrogate escapes: a pair is one character; a lone one is not text (issue 18) */
	{ "surrogate pair", LIT("[\"\\ud83d\\ude00\"]"), PH_JSON_OK },
	{ "surrogate pair upper case", LIT("\"\\uD83D\\uDE00\""), PH_JSON_OK },
	{ "lone high surrogate", LIT("\"\\ud800\""), PH_JSON_LONE_SURROGATE },
	{ "lone low surrogate", LIT("\"\\udfff\""), PH_JSON_LONE_SURROGATE },
	{ "high then text", LIT("\"\\ud800ab\""), PH_JSON_LONE_SURROGATE },
	{ "high then high", LIT("\"\\ud800\\ud800\""), PH_JSON_LONE_SURROGATE },
	{ "lone surrogate in a key", LIT("{\"\\udc00\":1}"), PH_JSON_LONE_SURROGATE },
	{ "escaped backslash then ud800", LIT("\"\\\\ud800\""), PH_JSON_OK },
	{ "BMP escape", LIT("\"\\u00e9\\ue000\""), PH_JSON_OK },
};

/* [[...[1]...]] or {"a":{"a":...1...}} nested depth levels deep, or with nothing inside the
 * innermost when depth is negative; the caller frees. */
static char *nested(int depth, bool objects)
{
	bool leaf = depth > 0;
	depth = abs(depth);
	size_t cap = (size_t)depth * 6 + 2, n = 0;
	char *s = malloc(cap);
	if (!s)
		abort();
	for (int i = 0; i < depth; i++) {
		memcpy(s + n, objects ? "{\"a\":" : "[", objects ? 5 : 1);
		n += objects ? 5 : 1;
	}
	if (leaf)
		s[n++] = '1';
	else if (objects)
		n -= 4; /* the innermost is {} rather than {"a":1} */
	for (int i = 0; i < depth; i++)
		s[n++] = objects ? '}' : ']';
	s[n] = '\0';
	return s;
}

/* json-c accepts these although they are not JSON; they must at least never parse as OK. */
static void test_rejected_somehow(void)
{
	static const char *const cases[] = { "NaN", "[NaN]", "Infinity", "-Infinity",
		"[-Infinity]" };
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		json_object *obj = NULL;
		CHECK(ph_json_parse(cases[i], strlen(cases[i]), &obj) != PH_JSON_OK);
		CHECK(obj == NULL);
		case_done(cases[i], before);
	}
}

static void test_depth(void)
{
	static const struct {
		const char *name;
		int depth;
		bool objects;
		enum ph_json_parse_status want;
	} cases[] = {
		{ "1 array", 1, false, PH_JSON_OK },
		{ "64 arrays, innermost empty", -64, false, PH_JSON_OK },
		{ "65 arrays, innermost empty", -65, false, PH_JSON_TOO_DEEP },
		{ "65 objects, innermost empty", -65, true, PH_JSON_TOO_DEEP },
		{ "63 arrays", 63, false, PH_JSON_OK },
		{ "64 arrays", 64, false, PH_JSON_OK },
		{ "65 arrays", 65, false, PH_JSON_TOO_DEEP },
		{ "66 arrays", 66, false, PH_JSON_TOO_DEEP },
		{ "10000 arrays", 10000, false, PH_JSON_TOO_DEEP },
		{ "64 objects", 64, true, PH_JSON_OK },
		{ "65 objects", 65, true, PH_JSON_TOO_DEEP },
		{ "10000 objects", 10000, true, PH_JSON_TOO_DEEP },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		char *s = nested(cases[i].depth, cases[i].objects);
		check_parse(cases[i].name, s, strlen(s), cases[i].want);
		free(s);
	}
	/* Deep but unclosed: the depth limit answers before the missing brackets do. */
	char *s = nested(10000, false);
	check_parse("10000 arrays, truncated", s, 10000, PH_JSON_TOO_DEEP);
	free(s);
}

/* The buffer need not be NUL-terminated: only len bytes are read. */
static void test_unterminated_buffer(void)
{
	char buf[8];
	memcpy(buf, "[1,2]xyz", 8);
	check_parse("array in a longer buffer", buf, 5, PH_JSON_OK);
	memcpy(buf, "12345678", 8);
	check_parse("number filling the buffer", buf, 8, PH_JSON_OK);
	check_parse("number cut short", buf, 3, PH_JSON_OK);
}

static void test_parsed_values(void)
{
	json_object *obj = NULL;
	CHECK(ph_json_parse(LIT("{\"n\":42,\"s\":\"h\xc3\xa9\",\"a\":[1,2]} "), &obj) ==
		PH_JSON_OK);
	CHECK(json_object_get_int(ph_json_get(obj, "n")) == 42);
	CHECK_STR(json_object_get_string(ph_json_get(obj, "s")), "h\xc3\xa9");
	CHECK(json_object_array_length(ph_json_get(obj, "a")) == 2);
	CHECK(ph_json_get(obj, "missing") == NULL);
	CHECK(ph_json_get(ph_json_get(obj, "n"), "x") == NULL); /* not an object */
	CHECK(ph_json_get(NULL, "n") == NULL);
	json_object_put(obj);

	obj = NULL;
	CHECK(ph_json_parse(LIT("123"), &obj) == PH_JSON_OK);
	CHECK(json_object_get_int(obj) == 123);
	json_object_put(obj);
}

static void test_messages(void)
{
	CHECK_STR(ph_json_parse_message(PH_JSON_OK), "ok");
	CHECK_STR(ph_json_parse_message(PH_JSON_SYNTAX), "request body is not valid JSON");
	CHECK_STR(ph_json_parse_message(PH_JSON_TOO_DEEP), "JSON nested deeper than 64 levels");
	CHECK_STR(ph_json_parse_message(PH_JSON_BAD_UTF8), "request body is not valid UTF-8");
	CHECK_STR(ph_json_parse_message(PH_JSON_NOT_FINITE), "number out of range");
}

static void test_utf8_valid(void)
{
	CHECK(ph_utf8_valid("", 0));
	CHECK(ph_utf8_valid(LIT("plain ascii")));
	CHECK(ph_utf8_valid(LIT("\xc3\xa9")));
	CHECK(!ph_utf8_valid(LIT("\xc3")));
	CHECK(ph_utf8_valid("\xc3\xa9", 0)); /* only len bytes are read */
	CHECK(!ph_utf8_valid("\xc3\xa9", 1));
	CHECK(ph_utf8_valid(LIT("a\0b"))); /* NUL is valid UTF-8; JSON rejects it elsewhere */
}

/* Compact rendering of a verr body; checks and drops the reference. */
static void check_body(struct ph_verr *v, const char *want)
{
	json_object *body = ph_verr_take_body(v);
	size_t len = 0;
	const char *s = ph_json_compact(body, &len);
	CHECK_STR(s, want);
	CHECK(len == strlen(want));
	CHECK(!ph_verr_any(v));
	json_object_put(body);
}

static void test_verr(void)
{
	struct ph_verr v;
	ph_verr_init(&v);
	CHECK(!ph_verr_any(&v));
	check_body(&v, "{\"detail\":[]}");

	ph_verr_add(&v, "body", "url", "value_error.url", "must be an http:// or https:// URL");
	CHECK(ph_verr_any(&v));
	check_body(&v,
		"{\"detail\":[{\"loc\":[\"body\",\"url\"],"
		"\"msg\":\"must be an http:// or https:// URL\","
		"\"type\":\"value_error.url\"}]}");

	ph_verr_add_item(&v, "events", 3, "type", "value_error.missing", "field required");
	check_body(&v,
		"{\"detail\":[{\"loc\":[\"body\",\"events\",3,\"type\"],"
		"\"msg\":\"field required\",\"type\":\"value_error.missing\"}]}");

	/* Several errors, in the order added; NULL name and field shorten loc. */
	ph_verr_add(&v, "query", "limit", "value_error", "must be 1..100");
	ph_verr_add(&v, "body", NULL, "type_error.dict", "expected an object");
	ph_verr_add_item(&v, "events", 0, NULL, "type_error.str", "expected a string");
	ph_verr_add(&v, "body", "description", "value_error", "say \"hi\"\n");
	check_body(&v,
		"{\"detail\":["
		"{\"loc\":[\"query\",\"limit\"],\"msg\":\"must be 1..100\","
		"\"type\":\"value_error\"},"
		"{\"loc\":[\"body\"],\"msg\":\"expected an object\","
		"\"type\":\"type_error.dict\"},"
		"{\"loc\":[\"body\",\"events\",0],\"msg\":\"expected a string\","
		"\"type\":\"type_error.str\"},"
		"{\"loc\":[\"body\",\"description\"],\"msg\":\"say \\\"hi\\\"\\n\","
		"\"type\":\"value_error\"}]}");

	/* The index is a JSON integer, not a string. */
	ph_verr_add_item(&v, "events", 3, "type", "t", "m");
	json_object *body = ph_verr_take_body(&v);
	json_object *e = json_object_array_get_idx(ph_json_get(body, "detail"), 0);
	json_object *idx = json_object_array_get_idx(ph_json_get(e, "loc"), 2);
	CHECK(json_object_is_type(idx, json_type_int));
	CHECK(json_object_get_int(idx) == 3);
	json_object_put(body);

	/* finish frees pending errors and leaves v empty; twice is harmless. */
	ph_verr_add(&v, "body", "url", "t", "m");
	ph_verr_finish(&v);
	CHECK(!ph_verr_any(&v));
	ph_verr_finish(&v);
}

/* PostgreSQL's rendering, compacted to what json-c writes; strings and key order untouched. */
static void test_compact_text(void)
{
	static const struct {
		const char *name, *in, *want;
	} cases[] = {
		{ "json_build_object", "{\"id\" : \"wh_1\", \"n\" : 1, \"ok\" : true}",
			"{\"id\":\"wh_1\",\"n\":1,\"ok\":true}" },
		{ "json_agg", "[{\"a\" : 1}, \n {\"a\" : null}]", "[{\"a\":1},{\"a\":null}]" },
		{ "jsonb", "{\"k\": [1, 2.5e3, -0], \"m\": {}}", "{\"k\":[1,2.5e3,-0],\"m\":{}}" },
		{ "compact already", "{\"a\":[1,{\"b\":\"c\"}]}", "{\"a\":[1,{\"b\":\"c\"}]}" },
		{ "spaces in strings", "{\"a b\" : \" x , y : \\t\"}",
			"{\"a b\":\" x , y : \\t\"}" },
		{ "escaped quote", "[\"say \\\" , \\\"\" , 1]", "[\"say \\\" , \\\"\",1]" },
		{ "escaped backslash ends the string", "[\"a\\\\\" , \" b\"]",
			"[\"a\\\\\",\" b\"]" },
		{ "all four blanks", " \t{\r\n} \n", "{}" },
		{ "unicode", "{\"\xc3\xa9\" : \"\xe2\x82\xac \xe2\x82\xac\"}",
			"{\"\xc3\xa9\":\"\xe2\x82\xac \xe2\x82\xac\"}" },
		{ "empty", "", "" },
		{ "not JSON: a string left open", "[\"a  b", "[\"a  b" },
		{ "not JSON: a backslash at the end", "[\"a \\", "[\"a \\" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char out[128], again[128];
		size_t len = strlen(cases[i].in);
		size_t n = ph_json_compact_text(cases[i].in, len, out);
		out[n] = '\0';
		CHECK_STR(out, cases[i].want);
		CHECK(n <= len);
		/* In place, and a second time, change nothing more. */
		memcpy(again, cases[i].in, len);
		CHECK(ph_json_compact_text(again, len, again) == n && memcmp(again, out, n) == 0);
		CHECK(ph_json_compact_text(out, n, out) == n);
		case_done(cases[i].name, before);
	}
}

int main(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(parse_cases); i++)
		check_parse(parse_cases[i].name, parse_cases[i].buf, parse_cases[i].len,
			parse_cases[i].want);
	test_rejected_somehow();
	test_depth();
	test_unterminated_buffer();
	test_parsed_values();
	test_messages();
	test_utf8_valid();
	test_verr();
	test_compact_text();
	return check_finish("json");
}
