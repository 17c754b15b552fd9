/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/id: the exact format, validation, time ordering of ids as strings (which
 * cursor pagination relies on), uniqueness of fresh ids, and the random byte source.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "id.h"

#define MANY_IDS 20000

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static void test_format(void)
{
	static const struct {
		const char *name;
		const char *prefix;
		uint64_t ms, rnd;
		const char *out;
	} cases[] = {
		{ "zero", "evt", 0, 0, "evt_0000000000000000000000000000" },
		{ "typical", "evt", 0x0123456789abULL, 0x0011223344556677ULL,
			"evt_0123456789ab0011223344556677" },
		{ "all ones", "whk", 0xffffffffffffULL, UINT64_MAX,
			"whk_ffffffffffffffffffffffffffff" },
		{ "ms past 48 bits wraps", "dlv", 0x1000000000001ULL, 1,
			"dlv_0000000000010000000000000001" },
		{ "8-char prefix", "abcdefgh", 1, 2, "abcdefgh_0000000000010000000000000002" },
		{ "long prefix cut to 8", "abcdefghij", 1, 2,
			"abcdefgh_0000000000010000000000000002" },
		{ "2024-01-01", "evt", 1704067200000ULL, 0xdeadbeefULL,
			"evt_018cc251f40000000000deadbeef" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char out[PH_ID_MAX];
		ph_id_format(out, cases[i].prefix, cases[i].ms, cases[i].rnd);
		CHECK_STR(out, cases[i].out);
		CHECK(strlen(out) < PH_ID_MAX);
		case_done(cases[i].name, before);
	}
}

static void test_valid(void)
{
	static const struct {
		const char *name;
		const char *s, *prefix;
		bool valid;
	} cases[] = {
		{ "well formed", "evt_0123456789ab0011223344556677", "evt", true },
		{ "other prefix", "whk_0123456789ab0011223344556677", "whk", true },
		{ "wrong prefix", "whk_0123456789ab0011223344556677", "evt", false },
		{ "prefix longer", "evtx_0123456789ab0011223344556677", "evt", false },
		{ "prefix shorter", "ev_0123456789ab0011223344556677", "evt", false },
		{ "no underscore", "evt0123456789ab0011223344556677", "evt", false },
		{ "dash not underscore", "evt-0123456789ab0011223344556677", "evt", false },
		{ "body one short", "evt_0123456789ab001122334455667", "evt", false },
		{ "body one long", "evt_0123456789ab00112233445566778", "evt", false },
		{ "uppercase hex", "evt_0123456789AB0011223344556677", "evt", false },
		{ "non-hex letter", "evt_0123456789ag0011223344556677", "evt", false },
		{ "space in body", "evt_0123456789ab 011223344556677", "evt", false },
		{ "empty", "", "evt", false },
		{ "prefix only", "evt", "evt", false },
		{ "prefix and underscore", "evt_", "evt", false },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		CHECK(ph_id_valid(cases[i].s, cases[i].prefix) == cases[i].valid);
		case_done(cases[i].name, before);
	}
}

/* Later milliseconds sort later as strings, whatever the random bits. */
static void test_time_order(void)
{
	static const uint64_t ms[] = { 0, 1, 15, 16, 255, 256, 4095, 4096, 1704067200000,
		1704067200001, 1893456000000, 0xffffffffffffULL };
	char prev[PH_ID_MAX], cur[PH_ID_MAX];
	ph_id_format(prev, "evt", ms[0], UINT64_MAX);
	for (size_t i = 1; i < PH_ARRAY_LEN(ms); i++) {
		ph_id_format(cur, "evt", ms[i], 0);
		if (strcmp(prev, cur) >= 0)
			fprintf(stderr, "  %s does not sort before %s\n", prev, cur);
		CHECK(strcmp(prev, cur) < 0);
		ph_id_format(prev, "evt", ms[i], UINT64_MAX);
	}
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_new(void)
{
	char(*ids)[PH_ID_MAX] = calloc(MANY_IDS, sizeof(*ids));
	if (!ids)
		abort();
	uint64_t start = now_ms();
	int invalid = 0, dup = 0, out_of_time = 0;
	for (int i = 0; i < MANY_IDS; i++)
		ph_id_new(ids[i], "dlv");
	uint64_t end = now_ms();
	for (int i = 0; i < MANY_IDS; i++) {
		invalid += !ph_id_valid(ids[i], "dlv");
		/* The first 12 hex digits of the body are the creation time. */
		char ms_hex[13];
		memcpy(ms_hex, ids[i] + 4, 12);
		ms_hex[12] = '\0';
		uint64_t ms = strtoull(ms_hex, NULL, 16);
		out_of_time += ms < start || ms > end;
		/* Ids made later never sort earlier (the clock may repeat a millisecond). */
		if (i > 0)
			out_of_time += memcmp(ids[i - 1] + 4, ids[i] + 4, 12) > 0;
	}
	qsort(ids, MANY_IDS, sizeof(*ids), cmp_ids);
	for (int i = 1; i < MANY_IDS; i++)
		dup += strcmp(ids[i - 1], ids[i]) == 0;
	CHECK(invalid == 0);
	CHECK(out_of_time == 0);
	CHECK(dup == 0);
	free(ids);
}

static void test_random_bytes(void)
{
	unsigned char a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };
	ph_random_bytes(a, sizeof(a));
	ph_random_bytes(b, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(a, zero, sizeof(a)) != 0);
	ph_random_bytes(a, 0);
}

int main(void)
{
	test_format();
	test_valid();
	test_time_order();
	test_new();
	test_random_bytes();
	return check_finish("id");
}
