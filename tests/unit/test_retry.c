/* SPDX-License-Identifier: MIT
 *
 * test_retry: the jittered schedule at its edges, and Retry-After in every form RFC 9110
 * allows, with the clamps and the garbage a receiver might send. HTTP dates are also checked
 * against the C library's own formatting over a wide span of times.
 */
#include "retry.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MIN PH_RETRY_AFTER_MIN_MS
#define MAX PH_RETRY_AFTER_MAX_MS

/* Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date */
#define RFC_DATE 784111777LL
/* 2026-01-01T00:00:00Z */
#define Y2026 1767225600LL

static void test_delay(void)
{
	static const int64_t schedule[] = { 0, 5000, 300000, 1800000 };
	static const struct {
		const char *name;
		int next_attempt;
		uint32_t random;
		int64_t want;
	} cases[] = {
		{ "zero delay stays zero", 1, 0, 0 },
		{ "zero delay, any random", 1, UINT32_MAX, 0 },
		{ "lowest random: -20%", 2, 0, 4000 },
		{ "middle random: exact", 2, 1u << 31, 5000 },
		{ "highest random: +20%", 2, UINT32_MAX, 6000 },
		{ "quarter random: -10%", 3, 1u << 30, 270000 },
		{ "last attempt", 4, 1u << 31, 1800000 },
		{ "past the end", 5, 0, -1 },
		{ "far past the end", 1000, 0, -1 },
		{ "attempt 0", 0, 0, -1 },
		{ "negative attempt", -1, 0, -1 },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int64_t got =
			ph_retry_delay_ms(schedule, 4, cases[i].next_attempt, cases[i].random);
		if (got != cases[i].want)
			fprintf(stderr, "case \"%s\": got %lld\n", cases[i].name, (long long)got);
		CHECK(got == cases[i].want);
	}
	CHECK(ph_retry_delay_ms(NULL, 0, 1, 0) == -1);
	CHECK(ph_retry_delay_ms(schedule, 0, 1, 0) == -1);
}

static void test_delay_bounds(void)
{
	static const int64_t schedule[] = { 10LL * 3600 * 1000, 1, 100LL * 24 * 3600 * 1000 };
	int bad = 0;
	srand(42);
	for (int i = 0; i < 100000; i++) {
		uint32_t r = (uint32_t)rand() << 16 ^ (uint32_t)rand();
		int attempt = 1 + i % 3;
		int64_t d = schedule[attempt - 1];
		int64_t got = ph_retry_delay_ms(schedule, 3, attempt, r);
		/* ±20%, rounded to the millisecond */
		if (got * 10 < d * 8 - 5 || got * 10 > d * 12 + 5)
			bad++;
		if (got != ph_retry_delay_ms(schedule, 3, attempt, r))
			bad++;
	}
	CHECK(bad == 0);
}

static const struct {
	const char *name, *value;
	long long now;
	bool ok;
	int64_t want;
} after_cases[] = {
	{ "seconds", "120", 0, true, 120000 },
	{ "zero clamps to min", "0", 0, true, MIN },
	{ "one second is min", "1", 0, true, 1000 },
	{ "two seconds", "2", 0, true, 2000 },
	{ "leading zeros", "007", 0, true, 7000 },
	{ "surrounding whitespace", " \t30\r\n", 0, true, 30000 },
	{ "a day is max", "86400", 0, true, MAX },
	{ "over a day clamps", "86401", 0, true, MAX },
	{ "huge clamps", "999999999999", 0, true, MAX },
	{ "int64 max clamps", "9223372036854775807", 0, true, MAX },
	{ "overflow", "9223372036854775808", 0, false, 0 },
	{ "far overflow", "99999999999999999999999999", 0, false, 0 },
	{ "negative", "-1", 0, false, 0 },
	{ "plus sign", "+5", 0, false, 0 },
	{ "unit", "5s", 0, false, 0 },
	{ "fraction", "1.5", 0, false, 0 },
	{ "hex", "0x10", 0, false, 0 },
	{ "two numbers", "5 5", 0, false, 0 },
	{ "empty", "", 0, false, 0 },
	{ "blank", "  ", 0, false, 0 },
	{ "word", "soon", 0, false, 0 },
	{ "IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE - 60, true, 60000 },
	{ "RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT", RFC_DATE - 60, true, 60000 },
	{ "asctime", "Sun Nov  6 08:49:37 1994", RFC_DATE - 60, true, 60000 },
	{ "asctime, two-digit day", "Sun Nov 06 08:49:37 1994", RFC_DATE - 60, true, 60000 },
	{ "date with whitespace", " Sun, 06 Nov 1994 08:49:37 GMT\r\n", RFC_DATE - 90, true,
		90000 },
	{ "date now", "Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE, true, MIN },
	{ "date past", "Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE + 3600, true, MIN },
	{ "date far future", "Fri, 31 Dec 9999 23:59:59 GMT", RFC_DATE, true, MAX },
	{ "leap day", "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800LL - 5, true, 5000 },
	{ "leap day 2000", "Tue, 29 Feb 2000 12:00:00 GMT", 951825600LL - 5, true, 5000 },
	{ "leap second", "Sat, 31 Dec 2016 23:59:60 GMT", 1483228800LL - 10, true, 10000 },
	{ "RFC 850 this century", "Thursday, 01-Jan-26 01:00:00 GMT", Y2026, true, 3600000 },
	{ "RFC 850 49 years ahead", "Friday, 01-Jan-75 00:00:00 GMT", Y2026, true, MAX },
	{ "RFC 850 51 years ahead is past", "Friday, 01-Jan-77 00:00:00 GMT", Y2026, true, MIN },
	{ "no leap day 2023", "Wed, 29 Feb 2023 00:00:00 GMT", 0, false, 0 },
	{ "no leap day 2100", "Mon, 29 Feb 2100 00:00:00 GMT", 0, false, 0 },
	{ "31 April", "Thu, 31 Apr 2026 00:00:00 GMT", 0, false, 0 },
	{ "day 0", "Thu, 00 Jan 2026 00:00:00 GMT", 0, false, 0 },
	{ "hour 24", "Sun, 06 Nov 1994 24:00:00 GMT", 0, false, 0 },
	{ "minute 60", "Sun, 06 Nov 1994 08:60:37 GMT", 0, false, 0 },
	{ "second 61", "Sun, 06 Nov 1994 08:49:61 GMT", 0, false, 0 },
	{ "UTC, not GMT", "Sun, 06 Nov 1994 08:49:37 UTC", 0, false, 0 },
	{ "one-digit day", "Sun, 6 Nov 1994 08:49:37 GMT", 0, false, 0 },
	{ "lowercase", "sun, 06 nov 1994 08:49:37 GMT", 0, false, 0 },
	{ "unknown month", "Sun, 06 Nox 1994 08:49:37 GMT", 0, false, 0 },
	{ "long day name in IMF", "Sunday, 06 Nov 1994 08:49:37 GMT", 0, false, 0 },
	{ "short day name in RFC 850", "Sun, 06-Nov-94 08:49:37 GMT", 0, false, 0 },
	{ "trailing garbage", "Sun, 06 Nov 1994 08:49:37 GMT x", 0, false, 0 },
	{ "truncated", "Sun, 06 Nov 1994 08:49", 0, false, 0 },
	{ "two-digit year in IMF", "Sun, 06 Nov 94 08:49:37 GMT", 0, false, 0 },
	{ "asctime with zone", "Sun Nov  6 08:49:37 1994 GMT", 0, false, 0 },
	{ "ISO 8601", "1994-11-06T08:49:37Z", 0, false, 0 },
};

static void test_retry_after(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(after_cases); i++) {
		int64_t got = -1;
		bool ok = ph_retry_after_parse(
			after_cases[i].value, (time_t)after_cases[i].now, &got);
		bool pass = ok == after_cases[i].ok && (!ok || got == after_cases[i].want);
		if (!pass)
			fprintf(stderr, "case \"%s\": ok=%d got %lld\n", after_cases[i].name, ok,
				(long long)got);
		CHECK(pass);
	}
	int64_t untouched = 7;
	CHECK(!ph_retry_after_parse(NULL, 0, &untouched));
	CHECK(!ph_retry_after_parse("garbage", 0, &untouched));
	CHECK(untouched == 7);
}

/* strftime with literal formats, so -Wformat=2 can check them. */
static void format_date(char *buf, size_t n, int form, const struct tm *tm)
{
	switch (form) {
	case 0:
		strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", tm);
		break;
	case 1: { /* written by hand: -Wformat-y2k objects to %y */
		size_t k = strftime(buf, n, "%A, %d-%b-", tm);
		k += (size_t)snprintf(buf + k, n - k, "%02d", tm->tm_year % 100);
		strftime(buf + k, n - k, " %H:%M:%S GMT", tm);
		break;
	}
	default:
		strftime(buf, n, "%a %b %e %H:%M:%S %Y", tm);
		break;
	}
}

/* Every form, as the C library writes it, parses back to the same second. */
static void test_dates_round_trip(void)
{
	int bad = 0;
	for (long long t = -2000000000LL; t < 8000000000LL; t += 7777777) {
		time_t tt = (time_t)t;
		struct tm tm;
		if (!gmtime_r(&tt, &tm))
			continue;
		for (int form = 0; form < 3; form++) {
			char buf[64];
			int64_t got = 0;
			format_date(buf, sizeof(buf), form, &tm);
			if (!ph_retry_after_parse(buf, tt - 100, &got) || got != 100000) {
				fprintf(stderr, "round trip \"%s\": got %lld\n", buf,
					(long long)got);
				bad++;
			}
		}
	}
	CHECK(bad == 0);
}

int main(void)
{
	test_delay();
	test_delay_bounds();
	test_retry_after();
	test_dates_round_trip();
	return check_finish("retry");
}
