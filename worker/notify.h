/* SPDX-License-Identifier: MIT
 *
 * notify: the notifications outbox, drained as plain-text emails through PGHOOK_SMTP_URL with
 * libcurl's SMTP support, in the same curl multi as deliveries. It keeps no state of its own:
 * the outbox is in the database and the emails being sent are deliver's jobs.
 */
#ifndef PGHOOK_WORKER_NOTIFY_H
#define PGHOOK_WORKER_NOTIFY_H

#include <curl/curl.h>

#include "job.h"

struct worker;

/* Take due emails and start sending them (nothing while some are still being sent). */
void notify_pump(struct worker *w);
/* An email job's transfer ended with curl code rc (takes ownership of j). */
void notify_done(struct worker *w, struct job *j, CURLcode rc);

#endif
