/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/prom: the exact text each writer produces (a scraper parses it), the
 * histogram's cumulative buckets from per-bucket counts, and which bucket a value falls in.
 */
#include <event2/buffer.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prom.h"
#include "util.h"

/* Everything written to b so far, as a string the caller frees; b is emptied. */
static char *drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void check_text(struct evbuffer *b, const char *want)
{
	char *got = drain(b);
	CHECK_STR(got, want);
	free(got);
}

static void test_family_and_samples(void)
{
	struct evbuffer *b = evbuffer_new();
	ph_prom_family(b, "x_total", PH_PROM_COUNTER, "Things counted.");
	ph_prom_uint(b, "x_total", "outcome=\"delivered\"", 18446744073709551615ULL);
	ph_prom_uint(b, "x_total", NULL, 0);
	check_text(b,
		"# HELP x_total Things counted.\n# TYPE x_total counter\n"
		"x_total{outcome=\"delivered\"} 18446744073709551615\nx_total 0\n");
	ph_prom_counter(b, "c_total", "C.", 7);
	ph_prom_gauge(b, "g", "G.", 3);
	check_text(b,
		"# HELP c_total C.\n# TYPE c_total counter\nc_total 7\n"
		"# HELP g G.\n# TYPE g gauge\ng 3\n");
	evbuffer_free(b);
}

static void test_doubles(void)
{
	struct evbuffer *b = evbuffer_new();
	ph_prom_double(b, "zero", NULL, 0);
	ph_prom_double(b, "half", NULL, 0.5);
	ph_prom_double(b, "ms", NULL, 1234.567);
	ph_prom_double(b, "big", NULL, 123456.7); /* %g would round this to 123457 */
	ph_prom_double(b, "bound", NULL, 2.5 / 1000.0);
	ph_prom_double(b, "neg", NULL, -1);
	ph_prom_double(b, "nan", NULL, NAN);
	ph_prom_double(b, "inf", NULL, INFINITY);
	ph_prom_double(b, "ninf", NULL, -INFINITY);
	check_text(b,
		"zero 0\nhalf 0.5\nms 1234.567\nbig 123456.7\nbound 0.0025\nneg -1\n"
		"nan NaN\ninf +Inf\nninf -Inf\n");
	evbuffer_free(b);
}

static void test_histogram(void)
{
	static const double bounds[] = { 0.005, 0.25, 10 };
	static const uint64_t counts[] = { 2, 0, 3 };
	const struct ph_prom_histogram h = { bounds, counts, 3, 6, 12.75 };
	struct evbuffer *b = evbuffer_new();
	ph_prom_histogram(b, "h_seconds", NULL, &h);
	check_text(b,
		"h_seconds_bucket{le=\"0.005\"} 2\nh_seconds_bucket{le=\"0.25\"} 2\n"
		"h_seconds_bucket{le=\"10\"} 5\nh_seconds_bucket{le=\"+Inf\"} 6\n"
		"h_seconds_sum 12.75\nh_seconds_count 6\n");
	ph_prom_histogram(b, "h_seconds", "route=\"/v1\"", &h);
	check_text(b,
		"h_seconds_bucket{route=\"/v1\",le=\"0.005\"} 2\n"
		"h_seconds_bucket{route=\"/v1\",le=\"0.25\"} 2\n"
		"h_seconds_bucket{route=\"/v1\",le=\"10\"} 5\n"
		"h_seconds_bucket{route=\"/v1\",le=\"+Inf\"} 6\n"
		"h_seconds_sum{route=\"/v1\"} 12.75\nh_seconds_count{route=\"/v1\"} 6\n");
	evbuffer_free(b);
}

static void test_bucket(void)
{
	static const double bounds[] = { 0, 1, 5 };
	CHECK(ph_prom_bucket(bounds, 3, -1) == 0);
	CHECK(ph_prom_bucket(bounds, 3, 0) == 0);
	CHECK(ph_prom_bucket(bounds, 3, 0.5) == 1);
	CHECK(ph_prom_bucket(bounds, 3, 1) == 1); /* a bound is inclusive: le */
	CHECK(ph_prom_bucket(bounds, 3, 5) == 2);
	CHECK(ph_prom_bucket(bounds, 3, 5.01) == 3); /* above every bound */
	CHECK(ph_prom_bucket(bounds, 0, 1) == 0);
	/* Milliseconds over 1000 land where the integer comparison in milliseconds would. */
	static const double seconds[] = { 0.005, 0.01, 0.025 };
	CHECK(ph_prom_bucket(seconds, 3, 5 / 1000.0) == 0);
	CHECK(ph_prom_bucket(seconds, 3, 6 / 1000.0) == 1);
	CHECK(ph_prom_bucket(seconds, 3, 25 / 1000.0) == 2);
	CHECK(ph_prom_bucket(seconds, 3, 26 / 1000.0) == 3);
}

int main(void)
{
	test_family_and_samples();
	test_doubles();
	test_histogram();
	test_bucket();
	return check_finish("prom");
}
