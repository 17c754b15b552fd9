/* SPDX-License-Identifier: MIT */
#include "outcome.h"

#include "retry.h"

void ph_outcome_decide(long status, bool ok, const char *retry_after, time_t now, int attempts_done,
	const int64_t *schedule, int count, uint32_t random, struct ph_outcome_plan *out)
{
	out->next = PH_DELIVERY_FAILED;
	out->delay_ms = 0;
	out->gone = false;
	if (ok) {
		out->next = PH_DELIVERY_DELIVERED;
		return;
	}
	if (status == 410) {
		out->gone = true;
		return;
	}
	int64_t delay = ph_retry_delay_ms(schedule, count, attempts_done + 1, random);
	if (delay < 0)
		return;
	int64_t asked;
	if ((status == 429 || status == 503) && retry_after &&
		ph_retry_after_parse(retry_after, now, &asked))
		delay = asked;
	out->next = PH_DELIVERY_RETRY_SCHEDULED;
	out->delay_ms = delay;
}
