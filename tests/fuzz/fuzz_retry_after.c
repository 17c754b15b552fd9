/* SPDX-License-Identifier: MIT
 *
 * fuzz_retry_after: a receiver's Retry-After header, which is attacker-controlled. The first
 * 8 bytes of the input pick "now", the rest is the header value. Whatever it says, the parser
 * must not crash and an accepted value lands within [PH_RETRY_AFTER_MIN_MS,
 * PH_RETRY_AFTER_MAX_MS]. The same bytes also drive the jittered schedule: a delay within the
 * configuration's limits (100 days) comes back within ±20%.
 */
#include "fuzz.h"

#include <time.h>

#include "retry.h"

/* now comes from time(NULL): somewhere in years 1970..9999, which is what the worker can see. */
#define NOW_MAX		253402300799LL
#define SCHEDULE_MAX_MS (100LL * 24 * 3600 * 1000)

static void check_delay(uint64_t bits)
{
	int64_t schedule[1] = { (int64_t)(bits % (uint64_t)(SCHEDULE_MAX_MS + 1)) };
	uint32_t random = (uint32_t)(bits >> 32);
	int64_t d = ph_retry_delay_ms(schedule, 1, 1, random);
	FUZZ_CHECK(d >= schedule[0] * 8 / 10 && d <= schedule[0] * 12 / 10 + 1);
	FUZZ_CHECK(ph_retry_delay_ms(schedule, 1, 2, random) == -1);
	FUZZ_CHECK(ph_retry_delay_ms(schedule, 1, 0, random) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bits = 0;
	size_t head = size < sizeof(bits) ? size : sizeof(bits);
	memcpy(&bits, data, head);
	time_t now = (time_t)(bits % (uint64_t)(NOW_MAX + 1));
	char *value = fuzz_string(data + head, size - head);
	int64_t ms = -1;
	if (ph_retry_after_parse(value, now, &ms))
		FUZZ_CHECK(ms >= PH_RETRY_AFTER_MIN_MS && ms <= PH_RETRY_AFTER_MAX_MS);
	check_delay(bits);
	free(value);
	return 0;
}
