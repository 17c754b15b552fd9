/* SPDX-License-Identifier: MIT
 *
 * pq: the hot statements run asynchronously, watched by the loop, so deliveries keep moving
 * while PostgreSQL works. Each lane is a connection of its own with its own queue: claims and
 * completions then run at the same time on two backends and their commits can share a WAL
 * flush (one lane made every claim wait for the previous completion and the other way round).
 * Within a lane statements run one at a time in submission order.
 */
#ifndef PGHOOK_WORKER_PQ_H
#define PGHOOK_WORKER_PQ_H

#include <libpq-fe.h>
#include <stdbool.h>

struct worker;

enum pq_lane {
	PQ_CLAIM,
	PQ_COMPLETE,
	PQ_LANES,
};

#define PQ_MAX_PARAMS 4

/* A statement's end, called from the loop: res is borrowed (cleared after), NULL when the
 * statement failed; conn_lost then tells a broken connection from a rejected statement. */
typedef void (*pq_done_fn)(struct worker *w, PGresult *res, bool conn_lost);

/* A row of a statement submitted with pq_submit_rows: row r of res (borrowed, cleared after). */
typedef void (*pq_row_fn)(struct worker *w, const PGresult *res, int r);

void pq_init(struct worker *w);
void pq_finish(struct worker *w);
/* Queue a statement on a lane (sql static, params copied); done runs when it completes. A
 * broken connection fails everything queued on its lane; the next submission reconnects
 * (blocking, bounded by PGCONNECT_TIMEOUT). */
void pq_submit(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_done_fn done);
/* As pq_submit, but each row goes to row as it arrives (libpq's single-row mode), and done
 * gets a result without rows: a large result is never held whole. A statement that fails after
 * some rows still ends with done(NULL), so what row kept must wait for done to be acted on. */
void pq_submit_rows(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_row_fn row, pq_done_fn done);
/* Block until every queued statement completed and its callback ran (shutdown). */
void pq_drain(struct worker *w);
/* The claim lane is connected (it claims at start), and the completion lane is connected or
 * has not needed a connection yet. */
bool pq_ready(const struct worker *w);
/* The quarantined delivery the claim session holds ("id token", sql/functions/claim.sql), or
 * "" for none: kept here and set again on every new claim connection, so a reconnect does not
 * end the quarantine (the claim would otherwise hand the session a normal batch beside it). */
void pq_claim_quarantine(struct worker *w, const char *held);

#endif
