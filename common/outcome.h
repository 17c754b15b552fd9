/* SPDX-License-Identifier: MIT
 *
 * outcome: what one finished attempt means for its delivery. Pure: no clock, no randomness of
 * its own, no database; the worker and the api's manual send feed it and write what it says.
 *   2xx                      -> delivered
 *   410 Gone                 -> failed, and the webhook is disabled
 *   anything else, attempts left -> retry_scheduled after the schedule's next delay (±20%), or
 *                               after Retry-After (bounded) on 429 and 503
 *   anything else, none left -> failed
 */
#ifndef PGHOOK_COMMON_OUTCOME_H
#define PGHOOK_COMMON_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "delivery.h"

struct ph_outcome_plan {
	enum ph_delivery_status next; /* delivered, retry_scheduled or failed */
	int64_t delay_ms; /* before the next attempt, when next is retry_scheduled */
	bool gone; /* the receiver answered 410: disable the webhook */
};

/* Decide after attempt number attempts_done (1-based, this one included) finished with HTTP
 * status (0: no response) and ok (2xx). retry_after is the response's header or NULL; now is
 * the wall clock for HTTP-date values; random is uniform over uint32 for the jitter. */
void ph_outcome_decide(long status, bool ok, const char *retry_after, time_t now, int attempts_done,
	const int64_t *schedule, int count, uint32_t random, struct ph_outcome_plan *out);

#endif
