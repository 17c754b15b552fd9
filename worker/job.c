/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <stdlib.h>
#include <string.h>

void job_destroy(struct job *j)
{
	if (!j)
		return;
	if (j->kind == JOB_DELIVERY) {
		ph_request_finish(&j->req);
		free(j->schedule);
	} else {
		if (j->easy)
			curl_easy_cleanup(j->easy);
		curl_slist_free_all(j->rcpt);
		free(j->message);
	}
	free(j);
}

void job_start_wipe(struct job_start *s)
{
	char **owned[] = { &s->secret, &s->previous_secret, &s->headers };

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		if (*owned[i]) {
			explicit_bzero(*owned[i], strlen(*owned[i]));
			free(*owned[i]);
			*owned[i] = NULL;
		}
	}
}
