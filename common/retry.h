/* SPDX-License-Identifier: MIT
 *
 * retry: when the next attempt happens. The schedule lists the delay before attempt 1, 2, ...
 * (so its length is the number of attempts); each delay gets ±20% jitter. A receiver's
 * Retry-After (on 429 and 503) replaces the scheduled delay, clamped to bounds.
 */
#ifndef PGHOOK_COMMON_RETRY_H
#define PGHOOK_COMMON_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define PH_RETRY_AFTER_MIN_MS 1000LL
#define PH_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

/* Delay before attempt number next_attempt (1-based) from schedule[count], with jitter taken
 * from random (uniform over uint32; the same random gives the same delay, and a zero delay
 * stays zero). Returns -1 when next_attempt > count: no attempts left (also for < 1). */
int64_t ph_retry_delay_ms(const int64_t *schedule, int count, int next_attempt, uint32_t random);
/* Parse a Retry-After header value: delta-seconds or an HTTP date (RFC 9110 IMF-fixdate, also
 * RFC 850 and asctime forms), relative to now. The result is clamped to
 * [PH_RETRY_AFTER_MIN_MS, PH_RETRY_AFTER_MAX_MS]. False for garbage or negative values. */
bool ph_retry_after_parse(const char *value, time_t now, int64_t *out_ms) PH_MUSTCHECK;

#endif
