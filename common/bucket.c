/* SPDX-License-Identifier: MIT */
#include "bucket.h"

int64_t ph_bucket_take(struct ph_bucket *b, double rate, double burst, double n, int64_t now_us)
{
	if (b->last_us == 0 || now_us < b->last_us) {
		/* First use starts full; a clock that went back restarts the count from now. */
		if (b->last_us == 0)
			b->tokens = burst;
		b->last_us = now_us;
	}
	b->tokens += rate * (double)(now_us - b->last_us) / 1e6;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_us = now_us;
	if (n <= b->tokens) {
		b->tokens -= n;
		return 0;
	}
	if (n > burst || rate <= 0)
		return -1;
	int64_t wait = (int64_t)((n - b->tokens) / rate * 1e6) + 1;
	return wait > 0 ? wait : 1;
}
