/* SPDX-License-Identifier: MIT
 *
 * listen: how an idle worker learns there is work. A connection of its own LISTENs on the
 * deliveries channel (the api NOTIFYs there after an ingest commits); every notification
 * claims and sends due emails. Retries come due without a notification, so a poll timer
 * (PGHOOK_WORKER_POLL) does the same, and a broken LISTEN connection is reopened with backoff.
 * Every (re)connect claims at once, since notifications sent while we were away are lost.
 */
#ifndef PGHOOK_WORKER_LISTEN_H
#define PGHOOK_WORKER_LISTEN_H

struct worker;

/* Connect, LISTEN, claim, and start the poll. */
void listen_init(struct worker *w);
void listen_finish(struct worker *w);

#endif
