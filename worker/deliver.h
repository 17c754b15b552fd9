/* SPDX-License-Identifier: MIT
 *
 * deliver: libcurl multi driven by the worker's libevent loop. It runs the jobs (job.h) it is
 * given until their transfers end, then hands each to record (deliveries) or notify (emails),
 * and counts the deliveries in flight.
 */
#ifndef PGHOOK_WORKER_DELIVER_H
#define PGHOOK_WORKER_DELIVER_H

#include <stdbool.h>

#include "job.h"
#include "util.h"

struct worker;

bool deliver_init(struct worker *w) PH_MUSTCHECK;
void deliver_finish(struct worker *w);
/* Start a delivery job (takes ownership) with what s says (read only here: the caller wipes
 * it after). A job that cannot start is recorded as failed at once. */
void deliver_start(struct worker *w, struct job *j, const struct job_start *s);
/* Start an email job (takes ownership); one that cannot start goes back to notify at once. */
void deliver_start_email(struct worker *w, struct job *j);
/* Stop every running transfer and free its job without recording an outcome. */
void deliver_abort_all(struct worker *w);
/* Delivery and email jobs running. */
int deliver_inflight(const struct worker *w);
int deliver_emails_inflight(const struct worker *w);
/* Call fn on every delivery job running (shutdown releases them). */
void deliver_each_running(
	const struct worker *w, void (*fn)(const struct job *j, void *arg), void *arg);

#endif
