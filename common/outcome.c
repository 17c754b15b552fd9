/* SPDX-License-Identifier: MIT */
#include "outcome.h"

#include "retry.h"

void ph_outcome_decide(long status, bool ok, const char *retry_after, time_t now, int attempts_done,
	const int64_t *schedule, int count, uint32_t random, struct ph_outcome_plan *out)
{
	out->next = PH_OUTCOME_FAILED;
	out->delay_ms = 0;
	out->gone = false;
	if (ok) {
		out->next = PH_OUTCOME_DELIVERED;
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
	out->next = PH_OUTCOME_RETRY;
	out->delay_ms = delay;
}

const char *ph_outcome_status(enum ph_outcome_next next)
{
	switch (next) {
	case PH_OUTCOME_DELIVERED:
		return "delivered";
	case PH_OUTCOME_RETRY:
		return "retry_scheduled";
	case PH_OUTCOME_FAILED:
		break;
	}
	return "failed";
}
