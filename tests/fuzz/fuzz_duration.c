/* SPDX-License-Identifier: MIT
 *
 * fuzz_duration: the configuration's durations ("15s", "1m,5m,30m"). A parsed value is within
 * 0..100 days and formats to text that parses back to the same value; a list holds 1..cap
 * entries that each do the same; a single item parses the same alone and as a list. The
 * input's first 8 bytes, read as a number, also go through format and parse.
 */
#include "fuzz.h"

#include "duration.h"

#define MAX_MS	 (100LL * 24 * 3600 * 1000)
#define LIST_CAP 16
#define ITEM_MAX 31 /* the longest list item ph_duration_list_parse copies */

static void check_format(int64_t ms)
{
	char buf[32];
	int64_t again = -1;
	int n = ph_duration_format(ms, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(buf));
	FUZZ_CHECK(ph_duration_parse(buf, &again));
	FUZZ_CHECK(again == ms);
}

static void check_list(const char *s, int cap)
{
	int64_t out[LIST_CAP];
	int n = ph_duration_list_parse(s, out, cap);
	FUZZ_CHECK(n == -1 || (n >= 1 && n <= cap));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(out[i] >= 0 && out[i] <= MAX_MS);
		check_format(out[i]);
	}
	int64_t one;
	if (!strchr(s, ',') && strlen(s) <= ITEM_MAX) {
		bool ok = ph_duration_parse(s, &one);
		FUZZ_CHECK(ok == (n == 1));
		FUZZ_CHECK(!ok || one == out[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bits = 0;
	memcpy(&bits, data, size < sizeof(bits) ? size : sizeof(bits));
	check_format((int64_t)(bits % (uint64_t)(MAX_MS + 1)));

	char *s = fuzz_string(data, size);
	int64_t ms = -1;
	if (ph_duration_parse(s, &ms)) {
		FUZZ_CHECK(ms >= 0 && ms <= MAX_MS);
		check_format(ms);
	}
	check_list(s, 1 + (int)(bits % LIST_CAP));
	free(s);
	return 0;
}
