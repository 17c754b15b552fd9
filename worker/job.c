/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <stdlib.h>

void job_destroy(struct job *j)
{
	if (!j)
		return;
	if (j->kind == JOB_DELIVERY) {
		ph_request_finish(&j->req);
		free(j->secret);
		free(j->previous_secret);
		free(j->headers);
		free(j->schedule);
	} else {
		if (j->easy)
			curl_easy_cleanup(j->easy);
		curl_slist_free_all(j->rcpt);
		free(j->message);
	}
	free(j);
}
