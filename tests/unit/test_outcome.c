/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/outcome (what a finished attempt means for its delivery) and
 * common/request's pure helper ph_utf8_sanitize (response bodies stored as text).
 */
#include <string.h>

#include "check.h"
#include "outcome.h"
#include "request.h"

static const int64_t schedule[] = { 0, 1000, 5000 };
#define COUNT 3
#define NOW   1700000000
#define MID   0x80000000u /* jitter factor 1.0 */

#define DELIVERED PH_DELIVERY_DELIVERED
#define RETRY	  PH_DELIVERY_RETRY_SCHEDULED
#define FAILED	  PH_DELIVERY_FAILED

static const struct {
	const char *name;
	long status;
	bool ok;
	const char *retry_after;
	int attempts_done;
	enum ph_delivery_status next;
	int64_t delay_ms;
	bool gone;
} cases[] = {
	{ "200 delivered", 200, true, NULL, 1, DELIVERED, 0, false },
	{ "204 on the last attempt", 204, true, NULL, 3, DELIVERED, 0, false },
	{ "500 first attempt retries after schedule[1]", 500, false, NULL, 1, RETRY, 1000, false },
	{ "500 second attempt retries after schedule[2]", 500, false, NULL, 2, RETRY, 5000, false },
	{ "500 last attempt fails", 500, false, NULL, 3, FAILED, 0, false },
	{ "network error retries", 0, false, NULL, 1, RETRY, 1000, false },
	{ "network error on the last attempt", 0, false, NULL, 3, FAILED, 0, false },
	{ "410 disables at once", 410, false, NULL, 1, FAILED, 0, true },
	{ "429 Retry-After seconds", 429, false, "7", 1, RETRY, 7000, false },
	{ "503 Retry-After seconds", 503, false, "3", 2, RETRY, 3000, false },
	{ "503 Retry-After date", 503, false, "Tue, 14 Nov 2023 22:13:40 GMT", 1, RETRY, 20000,
		false },
	{ "429 Retry-After below the floor", 429, false, "0", 1, RETRY, 1000, false },
	{ "429 Retry-After over the cap", 429, false, "9999999", 1, RETRY, 24LL * 3600 * 1000,
		false },
	{ "429 garbage Retry-After uses the schedule", 429, false, "soon", 1, RETRY, 1000, false },
	{ "500 ignores Retry-After", 500, false, "30", 1, RETRY, 1000, false },
	{ "429 Retry-After with no attempts left fails", 429, false, "5", 3, FAILED, 0, false },
};

static void test_decide(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int before = check_failures;
		struct ph_outcome_plan p;
		ph_outcome_decide(cases[i].status, cases[i].ok, cases[i].retry_after, NOW,
			cases[i].attempts_done, schedule, COUNT, MID, &p);
		CHECK(p.next == cases[i].next);
		if (p.next == RETRY)
			CHECK(p.delay_ms == cases[i].delay_ms);
		CHECK(p.gone == cases[i].gone);
		if (check_failures != before)
			fprintf(stderr, "  in case \"%s\" (next %d, delay %lld)\n", cases[i].name,
				(int)p.next, (long long)p.delay_ms);
	}
}

static void test_jitter_bounds(void)
{
	struct ph_outcome_plan lo, hi;
	ph_outcome_decide(500, false, NULL, NOW, 2, schedule, COUNT, 0, &lo);
	ph_outcome_decide(500, false, NULL, NOW, 2, schedule, COUNT, 0xffffffffu, &hi);
	CHECK(lo.delay_ms == 4000);
	CHECK(hi.delay_ms >= 5999 && hi.delay_ms <= 6000);
}

static const struct {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
} utf8_cases[] = {
	{ "ascii", "hello", 5, "hello" },
	{ "empty", "", 0, "" },
	{ "two-byte", "caf\xc3\xa9", 5, "caf\xc3\xa9" },
	{ "four-byte", "\xf0\x9f\x98\x80!", 5, "\xf0\x9f\x98\x80!" },
	{ "cut at the end is dropped", "ab\xe2\x82", 4, "ab" },
	{ "stray continuation", "a\x80z", 3, "a?z" },
	{ "invalid lead byte", "a\xffz", 3, "a?z" },
	{ "overlong", "\xc0\xafx", 3, "??x" },
	{ "surrogate", "\xed\xa0\x80x", 4, "???x" },
	{ "NUL inside", "a\0b", 3, "a?b" },
	{ "broken sequence mid-buffer", "\xe2\x82z", 3, "??z" },
};

static void test_utf8_sanitize(void)
{
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		char buf[32];
		memcpy(buf, utf8_cases[i].in, utf8_cases[i].len);
		size_t n = ph_utf8_sanitize(buf, utf8_cases[i].len);
		int before = check_failures;
		CHECK(n == strlen(utf8_cases[i].want));
		CHECK_STR(buf, utf8_cases[i].want);
		if (check_failures != before)
			fprintf(stderr, "  in case \"%s\"\n", utf8_cases[i].name);
	}
}

int main(void)
{
	test_decide();
	test_jitter_bounds();
	test_utf8_sanitize();
	return check_finish("outcome");
}
