/* SPDX-License-Identifier: MIT
 *
 * bucket: a token bucket, the rate limit of the api's per-tenant quotas (api/quota.h). Pure
 * arithmetic on a caller-held state and a clock the caller passes, so it is unit-tested
 * without waiting.
 */
#ifndef PGHOOK_COMMON_BUCKET_H
#define PGHOOK_COMMON_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct ph_bucket {
	double tokens; /* available at last_us */
	int64_t last_us; /* 0: never used (starts full) */
};

/* Take n tokens at now_us from b, refilled at rate per second up to burst. Returns 0 when they
 * were taken; otherwise nothing is taken and the answer is the microseconds until n tokens are
 * there (at least 1), or -1 when they never can be (n over burst, or rate 0 with too few). */
int64_t ph_bucket_take(struct ph_bucket *b, double rate, double burst, double n, int64_t now_us);

#endif
