/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <stdlib.h>

void job_destroy(struct job *j)
{
	if (!j)
		return;
	if (j->kind == JOB_DELIVERY)
		ph_request_finish(&j->req);
	else if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->rcpt);
	free(j->id);
	free(j->webhook_id);
	free(j->event_id);
	free(j->url);
	free(j->secret);
	free(j->previous_secret);
	free(j->payload);
	free(j->headers);
	free(j->schedule);
	free(j->message);
	free(j);
}
