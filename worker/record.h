/* SPDX-License-Identifier: MIT
 *
 * record: finished attempts wait here until one pghook_complete() call records them all. A
 * write starts when a batch's worth is queued or a few milliseconds after the first one,
 * whichever comes first. When the database is away the queue is kept and the write retried
 * with backoff: an outcome received is never dropped (if our lease expired meanwhile and
 * another worker re-claimed the row, the claim token no longer matches and the write changes
 * nothing, which is the at-least-once contract).
 */
#ifndef PGHOOK_WORKER_RECORD_H
#define PGHOOK_WORKER_RECORD_H

#include <stdbool.h>

#include "job.h"
#include "request.h"
#include "util.h"

struct worker;

void record_init(struct worker *w);
void record_finish(struct worker *w);
/* Queue the outcome of delivery job j's attempt and schedule the batch write. */
void record_add(struct worker *w, const struct job *j, const struct ph_request_result *res);
/* Write every queued outcome now, blocking (shutdown). False when the database refused. */
bool record_flush_now(struct worker *w) PH_MUSTCHECK;
/* Outcomes queued and not written yet: each still holds its delivery's slot. */
int record_pending(const struct worker *w);
/* The last write failed and the next waits for its backoff: claiming more would only pile
 * outcomes up. */
bool record_backing_off(const struct worker *w);

#endif
