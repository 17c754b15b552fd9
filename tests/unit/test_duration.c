/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/duration: parsing one duration, formatting it back in the shortest
 * exact unit, and comma-separated lists such as the default retry schedule.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "duration.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static void test_parse_valid(void)
{
	static const struct {
		const char *in;
		int64_t ms;
	} cases[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "0ms", 0 },
		{ "1ms", 1 },
		{ "500ms", 500 },
		{ "15s", 15 * SEC },
		{ "5m", 5 * MIN },
		{ "2h", 2 * HOUR },
		{ "1d", DAY },
		{ "90s", 90 * SEC },
		{ "007s", 7 * SEC },
		{ "100d", 100 * DAY },
		{ "2400h", 100 * DAY },
		{ "8640000000ms", 100 * DAY },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		int64_t ms = -1;
		CHECK(ph_duration_parse(cases[i].in, &ms));
		CHECK(ms == cases[i].ms);
		case_done(cases[i].in, before);
	}
}

static void test_parse_invalid(void)
{
	static const struct {
		const char *name;
		const char *in;
	} cases[] = {
		{ "empty", "" },
		{ "no unit", "5" },
		{ "unit only", "s" },
		{ "ms only", "ms" },
		{ "negative", "-1s" },
		{ "plus sign", "+1s" },
		{ "fraction", "1.5s" },
		{ "unknown unit", "10x" },
		{ "capital unit", "5S" },
		{ "leading space", " 5s" },
		{ "trailing space", "5s " },
		{ "space before unit", "5 s" },
		{ "two units", "5m30s" },
		{ "digits after unit", "5ms5" },
		{ "over 100 days", "101d" },
		{ "over 100 days in ms", "8640000001ms" },
		{ "over 100 days in s", "8640001s" },
		{ "over 100 days in h", "2401h" },
		{ "int64 overflow", "99999999999999999999999999s" },
		{ "int64 max", "9223372036854775807ms" },
		{ "largest digits, days", "8640000000d" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		int64_t ms = 0;
		CHECK(!ph_duration_parse(cases[i].in, &ms));
		case_done(cases[i].name, before);
	}
	int64_t ms = 0;
	CHECK(!ph_duration_parse(NULL, &ms));
}

static void test_format(void)
{
	static const struct {
		int64_t ms;
		const char *out;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1ms" },
		{ 500, "500ms" },
		{ 1000, "1s" },
		{ 1500, "1500ms" },
		{ 15 * SEC, "15s" },
		{ 90 * SEC, "90s" },
		{ 5 * MIN, "5m" },
		{ 90 * MIN, "90m" },
		{ 2 * HOUR, "2h" },
		{ 25 * HOUR, "25h" },
		{ DAY, "1d" },
		{ 100 * DAY, "100d" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char buf[32];
		int n = ph_duration_format(cases[i].ms, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].out);
		CHECK(n == (int)strlen(cases[i].out));
		/* What format writes, parse reads back to the same value. */
		int64_t back = -1;
		CHECK(ph_duration_parse(buf, &back));
		CHECK(back == cases[i].ms);
		case_done(cases[i].out, before);
	}
	/* snprintf semantics: the full length is returned even when the buffer is too small. */
	char small[3];
	CHECK(ph_duration_format(1500, small, sizeof(small)) == 6);
	CHECK_STR(small, "15");
}

static void test_list_default(void)
{
	static const int64_t want[] = { 0, 5 * SEC, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR,
		10 * HOUR, 10 * HOUR };
	int64_t out[64];
	int n = ph_duration_list_parse("0s,5s,5m,30m,2h,5h,10h,10h", out, 64);
	CHECK(n == 8);
	for (size_t i = 0; i < PH_ARRAY_LEN(want) && n == 8; i++)
		CHECK(out[i] == want[i]);
}

static void test_list(void)
{
	static const struct {
		const char *name;
		const char *in;
		int cap;
		int count; /* -1: rejected */
		int64_t first, last;
	} cases[] = {
		{ "one", "5s", 8, 1, 5 * SEC, 5 * SEC },
		{ "two", "500ms,1d", 8, 2, 500, DAY },
		{ "exactly cap", "1s,2s,3s", 3, 3, SEC, 3 * SEC },
		{ "over cap", "1s,2s,3s", 2, -1, 0, 0 },
		{ "zero cap", "1s", 0, -1, 0, 0 },
		{ "31-char entry", "000000000000000000000000000001s", 8, 1, SEC, SEC },
		{ "32-char entry", "0000000000000000000000000000001s", 8, -1, 0, 0 },
		{ "empty", "", 8, -1, 0, 0 },
		{ "comma only", ",", 8, -1, 0, 0 },
		{ "trailing comma", "5s,", 8, -1, 0, 0 },
		{ "leading comma", ",5s", 8, -1, 0, 0 },
		{ "empty middle", "5s,,5m", 8, -1, 0, 0 },
		{ "space after comma", "5s, 5m", 8, -1, 0, 0 },
		{ "bad entry", "5s,soon", 8, -1, 0, 0 },
		{ "missing unit", "5s,5", 8, -1, 0, 0 },
		{ "negative entry", "5s,-5m", 8, -1, 0, 0 },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		int64_t out[8] = { 0 };
		int n = ph_duration_list_parse(cases[i].in, out, cases[i].cap);
		CHECK(n == cases[i].count);
		if (n > 0 && n == cases[i].count) {
			CHECK(out[0] == cases[i].first);
			CHECK(out[n - 1] == cases[i].last);
		}
		case_done(cases[i].name, before);
	}
	int64_t out[1];
	CHECK(ph_duration_list_parse(NULL, out, 1) == -1);
}

int main(void)
{
	test_parse_valid();
	test_parse_invalid();
	test_format();
	test_list_default();
	test_list();
	return check_finish("duration");
}
