/* SPDX-License-Identifier: MIT
 *
 * retry: the jittered schedule and the Retry-After header (see retry.h). Both are pure
 * functions of their arguments: the caller supplies the random value and the current time, so
 * tests can pin them down.
 *
 * HTTP dates are parsed by hand rather than with strptime(), which depends on the locale and
 * accepts more than RFC 9110 allows, and converted with days-from-civil arithmetic rather than
 * timegm(), which is not in C17 or POSIX.1-2008.
 */
#include "retry.h"

#include <math.h>
#include <string.h>

#define JITTER 0.2 /* ±20% */

int64_t ph_retry_delay_ms(const int64_t *schedule, int count, int next_attempt, uint32_t random)
{
	if (!schedule || next_attempt < 1 || next_attempt > count)
		return -1;
	int64_t delay = schedule[next_attempt - 1];
	if (delay <= 0)
		return 0; /* "retry at once" stays at once */
	/* random / 2^32 is uniform over [0, 1): the factor is uniform over [0.8, 1.2). A double
	 * holds any delay we accept (under 2^53 ms) exactly. */
	double factor = 1.0 - JITTER + 2.0 * JITTER * ((double)random / 4294967296.0);
	return (int64_t)llround((double)delay * factor);
}

static int64_t clamp_ms(int64_t seconds)
{
	if (seconds <= PH_RETRY_AFTER_MIN_MS / 1000)
		return PH_RETRY_AFTER_MIN_MS;
	if (seconds >= PH_RETRY_AFTER_MAX_MS / 1000)
		return PH_RETRY_AFTER_MAX_MS;
	return seconds * 1000;
}

/* delta-seconds = 1*DIGIT. Values past 64 bits are refused as garbage; large ones clamp. */
static bool parse_delta_seconds(const char *s, size_t n, int64_t *seconds)
{
	int64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*seconds = v;
	return true;
}

/* A cursor over the header value; every step consumes on success only. */
struct cursor {
	const char *p, *end;
};

static bool take_literal(struct cursor *c, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Exactly n digits. A leading space counts as a zero when space_pad is set (asctime's day). */
static bool take_digits(struct cursor *c, int n, bool space_pad, int *out)
{
	int v = 0;
	if (c->end - c->p < n)
		return false;
	for (int i = 0; i < n; i++) {
		char ch = c->p[i];
		if (i == 0 && space_pad && ch == ' ' && n > 1)
			continue;
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	c->p += n;
	*out = v;
	return true;
}

/* Index of the word of words[n] at the cursor, or -1. */
static int take_word(struct cursor *c, const char *const *words, int n)
{
	for (int i = 0; i < n; i++) {
		if (take_literal(c, words[i]))
			return i;
	}
	return -1;
}

static const char *const short_days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const long_days[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday", "Sunday" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec" };

struct http_date {
	int year, month, day; /* month 1..12 */
	int hour, minute, second;
};

static bool take_month(struct cursor *c, struct http_date *d)
{
	d->month = take_word(c, months, 12) + 1;
	return d->month > 0;
}

/* "hh:mm:ss" */
static bool take_time(struct cursor *c, struct http_date *d)
{
	return take_digits(c, 2, false, &d->hour) && take_literal(c, ":") &&
		take_digits(c, 2, false, &d->minute) && take_literal(c, ":") &&
		take_digits(c, 2, false, &d->second);
}

/* "<day name>, dd<sep>Mon<sep>year hh:mm:ss GMT": the layout IMF-fixdate and RFC 850 share. */
static bool parse_dated(struct cursor c, const char *const *days, const char *sep, int year_digits,
	struct http_date *d)
{
	return take_word(&c, days, 7) >= 0 && take_literal(&c, ", ") &&
		take_digits(&c, 2, false, &d->day) && take_literal(&c, sep) && take_month(&c, d) &&
		take_literal(&c, sep) && take_digits(&c, year_digits, false, &d->year) &&
		take_literal(&c, " ") && take_time(&c, d) && take_literal(&c, " GMT") &&
		c.p == c.end;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf_fixdate(struct cursor c, struct http_date *d)
{
	return parse_dated(c, short_days, " ", 4, d);
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the century is settled by the caller. */
static bool parse_rfc850(struct cursor c, struct http_date *d)
{
	return parse_dated(c, long_days, "-", 2, d);
}

/* asctime: "Sun Nov  6 08:49:37 1994" */
static bool parse_asctime(struct cursor c, struct http_date *d)
{
	return take_word(&c, short_days, 7) >= 0 && take_literal(&c, " ") && take_month(&c, d) &&
		take_literal(&c, " ") && take_digits(&c, 2, true, &d->day) &&
		take_literal(&c, " ") && take_time(&c, d) && take_literal(&c, " ") &&
		take_digits(&c, 4, false, &d->year) && c.p == c.end;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil), valid for any year we can parse. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool date_valid(const struct http_date *d)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (d->year % 4 == 0 && d->year % 100 != 0) || d->year % 400 == 0;
	if (d->day < 1 || d->day > mdays[d->month - 1] || (d->month == 2 && d->day == 29 && !leap))
		return false;
	/* Second 60 is a leap second, which RFC 9110 allows. */
	return d->hour <= 23 && d->minute <= 59 && d->second <= 60;
}

/* Parse an HTTP date into seconds since the epoch. */
static bool parse_http_date(const char *s, size_t n, time_t now, int64_t *epoch)
{
	struct cursor c = { s, s + n };
	struct http_date d = { 0 };
	if (parse_rfc850(c, &d)) {
		/* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past. */
		struct tm tm;
		if (!gmtime_r(&now, &tm))
			return false;
		int this_year = tm.tm_year + 1900;
		d.year += this_year - this_year % 100;
		if (d.year > this_year + 50)
			d.year -= 100;
	} else if (!parse_imf_fixdate(c, &d) && !parse_asctime(c, &d)) {
		return false;
	}
	if (!date_valid(&d))
		return false;
	*epoch = days_from_civil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.minute * 60 +
		d.second;
	return true;
}

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

bool ph_retry_after_parse(const char *value, time_t now, int64_t *out_ms)
{
	if (!value)
		return false;
	/* The worker may hand over the raw header line: tolerate surrounding whitespace/CRLF. */
	const char *s = value, *end = value + strlen(value);
	while (s < end && is_ows(*s))
		s++;
	while (end > s && is_ows(end[-1]))
		end--;
	size_t n = (size_t)(end - s);
	int64_t seconds, epoch;
	if (n > 0 && s[0] >= '0' && s[0] <= '9') {
		if (!parse_delta_seconds(s, n, &seconds))
			return false;
	} else if (parse_http_date(s, n, now, &epoch)) {
		seconds = epoch - (int64_t)now; /* dates in the past clamp to the minimum */
	} else {
		return false;
	}
	*out_ms = clamp_ms(seconds);
	return true;
}
