/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/bucket: a full start, refill at the rate up to the burst, the wait it
 * tells, requests it can never grant, and a clock that goes back.
 */
#include "bucket.h"
#include "check.h"

#define S 1000000LL

int main(void)
{
	struct ph_bucket b = { 0 };
	/* 10 a second, burst 20: the first 20 at once, then none. */
	CHECK(ph_bucket_take(&b, 10, 20, 20, 5 * S) == 0);
	int64_t wait = ph_bucket_take(&b, 10, 20, 1, 5 * S);
	CHECK(wait > 0 && wait <= S / 10 + 1);
	/* After 0.1 s one more is there; after a long pause only the burst. */
	CHECK(ph_bucket_take(&b, 10, 20, 1, 5 * S + S / 10) == 0);
	CHECK(ph_bucket_take(&b, 10, 20, 21, 100 * S) == -1); /* never: over the burst */
	CHECK(ph_bucket_take(&b, 10, 20, 20, 100 * S) == 0);
	wait = ph_bucket_take(&b, 10, 20, 5, 100 * S);
	CHECK(wait >= S / 2 && wait <= S / 2 + 1);
	/* A refusal takes nothing. */
	CHECK(ph_bucket_take(&b, 10, 20, 5, 100 * S + S / 2) == 0);
	/* Rate 0: what is left of the burst, then never. */
	struct ph_bucket z = { 0 };
	CHECK(ph_bucket_take(&z, 0, 3, 3, S) == 0);
	CHECK(ph_bucket_take(&z, 0, 3, 1, 50 * S) == -1);
	/* A clock going back neither grants nor fails. */
	struct ph_bucket c = { 0 };
	CHECK(ph_bucket_take(&c, 1, 1, 1, 10 * S) == 0);
	CHECK(ph_bucket_take(&c, 1, 1, 1, 5 * S) > 0);
	CHECK(ph_bucket_take(&c, 1, 1, 1, 6 * S + 1) == 0);
	return check_finish("bucket");
}
