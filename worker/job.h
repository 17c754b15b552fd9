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
	int attempt_count; /* JOB_DELIVERY: attempts before this one */
	struct job *prev, *next; /* deliver's list of running jobs: only deliver.c links them */
	/* One kind's fields or the other's: a delivery is what the worker holds thousands of,
	 * for as long as its request runs, so it keeps only what the request and its outcome
	 * need (job_start holds what only the start does). */
	union {
		struct { /* JOB_DELIVERY */
			struct ph_request req; /* its easy handle is the one in the multi */
			/* Point into text (one allocation with the job) */
			char *id, *webhook_id, *payload;
			size_t payload_len;
			/* The retry schedule the delivery was created under (ms); NULL:
			 * PGHOOK_RETRY_SCHEDULE */
			int64_t *schedule;
			long long token; /* the claim's: an outcome is written only while it matches
					  */
			int schedule_count;
		};
		struct { /* JOB_EMAIL */
			CURL *easy; /* the handle in the multi */
			long long notification_id;
			int email_attempts;
			char *message;
			size_t message_len, message_off;
			struct curl_slist *rcpt;
		};
	};
	char text[]; /* a delivery's strings; an email's curl error buffer (CURL_ERROR_SIZE) */
};

/* What a delivery needs only to start, that is to sign and set up its request: claim reads it
 * from the claimed row, hands it to deliver_start and then to job_start_wipe. Kept out of the
 * job, it costs nothing for the request's flight (the request has its own copies of the URL
 * and the header lines). */
struct job_start {
	const char *url, *event_id; /* borrowed (the claim's result) */
	char *secret, *previous_secret; /* decrypted; NULL when absent */
	char *headers; /* the webhook's custom headers (a JSON object); NULL for none */
};

/* Wipe and free the secrets and headers of s. */
void job_start_wipe(struct job_start *s);

/* The easy handle j runs on in the multi (NULL when none). */
static inline CURL *job_easy(const struct job *j)
{
	return j->kind == JOB_DELIVERY ? j->req.easy : j->easy;
}

/* Free j and everything it holds, its easy handle included (NULL is fine). Remove the handle
 * from the multi first. */
void job_destroy(struct job *j);

#endif
