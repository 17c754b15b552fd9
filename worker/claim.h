/* SPDX-License-Identifier: MIT
 *
 * claim: take due deliveries with pghook_claim() (one statement, FOR UPDATE SKIP LOCKED,
 * committed before any request starts) and hand each row to deliver as a job. One claim at a
 * time, on pq's claim lane.
 */
#ifndef PGHOOK_WORKER_CLAIM_H
#define PGHOOK_WORKER_CLAIM_H

struct worker;

void claim_init(struct worker *w);
void claim_finish(struct worker *w);
/* Claim due deliveries while slots are free and start them. */
void claim_pump(struct worker *w);
/* New rows may be due (a NOTIFY, the poll, a reconnect, a held-back webhook's time): claim. */
void claim_wake(struct worker *w);
/* Jobs ended and freed their slots: claim again if the last claim was full. */
void claim_slots_freed(struct worker *w);
/* Give back the deliveries still running (shutdown): due again at once, lease cleared. */
void claim_release_all(struct worker *w);

#endif
