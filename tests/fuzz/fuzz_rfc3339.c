/* SPDX-License-Identifier: MIT
 *
 * fuzz_rfc3339: the date-times clients send in ?since=, ?until= and nextRetryAt. Whatever is
 * accepted has the fixed YYYY-MM-DDTHH:MM:SS shape, names a real calendar date and time (checked
 * here independently, by normalising it with timegm and reading it back: February 30 would come
 * back as March 2), a second of 60 only with no fraction past it, and an offset of at most
 * 15:59. The case of the 'T' separator never changes the verdict.
 */
#include "fuzz.h"

#include <time.h>

#include "rfc3339.h"

static int field(const char *s, int at, int len)
{
	int n = 0;
	for (int i = 0; i < len; i++)
		n = n * 10 + (s[at + i] - '0');
	return n;
}

/* The calendar fields of an accepted s survive timegm's normalisation unchanged. */
static void check_calendar(const char *s)
{
	struct tm tm = { .tm_year = field(s, 0, 4) - 1900,
		.tm_mon = field(s, 5, 2) - 1,
		.tm_mday = field(s, 8, 2),
		.tm_hour = field(s, 11, 2),
		.tm_min = field(s, 14, 2),
		.tm_sec = 0 };
	struct tm want = tm;
	time_t t = timegm(&tm);
	struct tm back;
	FUZZ_CHECK(gmtime_r(&t, &back) != NULL);
	FUZZ_CHECK(back.tm_year == want.tm_year && back.tm_mon == want.tm_mon &&
		back.tm_mday == want.tm_mday && back.tm_hour == want.tm_hour &&
		back.tm_min == want.tm_min);
	FUZZ_CHECK(want.tm_year + 1900 >= 1);
	FUZZ_CHECK(field(s, 17, 2) <= 60);
}

/* After the seconds: an optional fraction, then Z or an offset up to 15:59, then the end. */
static void check_tail(const char *s)
{
	const char *p = s + 19;
	bool fraction = false;
	if (*p == '.') {
		FUZZ_CHECK(p[1] >= '0' && p[1] <= '9');
		for (p++; *p >= '0' && *p <= '9'; p++)
			fraction = fraction || *p != '0';
	}
	FUZZ_CHECK(!(fraction && field(s, 17, 2) == 60));
	if (*p == 'Z' || *p == 'z') {
		FUZZ_CHECK(p[1] == '\0');
		return;
	}
	FUZZ_CHECK((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':');
	FUZZ_CHECK(field(p, 1, 2) * 60 + field(p, 4, 2) <= 15 * 60 + 59);
	FUZZ_CHECK(field(p, 4, 2) <= 59);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	bool ok = ph_rfc3339_valid(s);
	if (ok) {
		FUZZ_CHECK(strlen(s) >= 20);
		for (int i = 0; i < 19; i++)
			FUZZ_CHECK(strchr("-T:t", s[i])
					? i == 4 || i == 7 || i == 10 || i == 13 || i == 16
					: s[i] >= '0' && s[i] <= '9');
		check_calendar(s);
		check_tail(s);
	}
	if (strlen(s) > 10 && (s[10] == 'T' || s[10] == 't')) {
		s[10] = s[10] == 'T' ? 't' : 'T';
		FUZZ_CHECK(ph_rfc3339_valid(s) == ok);
	}
	free(s);
	return 0;
}
