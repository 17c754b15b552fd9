/* SPDX-License-Identifier: MIT
 *
 * job: one transfer in the curl multi, a delivery attempt or a notification email. Made by
 * claim (deliveries) or notify (emails), run by deliver, and handed with its result to record
 * or back to notify; whoever holds a job owns it, and job_destroy frees it.
 */
#ifndef PGHOOK_WORKER_JOB_H
#define PGHOOK_WORKER_JOB_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

enum job_kind {
	JOB_DELIVERY,
	JOB_EMAIL,
};

struct job {
	enum job_kind kind;
	struct job *prev, *next; /* deliver's list of running jobs: only deliver.c links them */
	CURL *easy; /* the handle in the multi (req.easy for deliveries) */
	/* One kind's fields or the other's: a delivery is what the worker holds thousands of. */
	union {
		struct { /* JOB_DELIVERY */
			struct ph_request req; /* req.owner points back here */
			/* Point into text (one allocation with the job), except the secrets */
			char *id, *webhook_id, *event_id, *url, *payload;
			size_t payload_len;
			/* The secrets and the webhook's custom headers (a JSON object; NULL for
			 * none): deliver_start frees them once the request is signed. */
			char *secret, *previous_secret;
			char *headers;
			/* The retry schedule the delivery was created under (ms); NULL:
			 * PGHOOK_RETRY_SCHEDULE */
			int64_t *schedule;
			int schedule_count;
			long long token; /* the claim's: an outcome is written only while it matches
					  */
			int attempt_count; /* attempts before this one */
		};
		struct { /* JOB_EMAIL */
			long long notification_id;
			int email_attempts;
			char *message;
			size_t message_len, message_off;
			struct curl_slist *rcpt;
			char error[CURL_ERROR_SIZE];
		};
	};
	char text[]; /* a delivery's strings */
};

/* Free j and everything it holds, its easy handle included (NULL is fine). Remove the handle
 * from the multi first. */
void job_destroy(struct job *j);

#endif
