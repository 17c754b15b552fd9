/* SPDX-License-Identifier: MIT
 *
 * pq: see pq.h. Invariant: only the head of a lane's queue may have been sent; `sent` says
 * whether it was.
 */
#include "pq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "worker.h"

struct pq_op {
	struct pq_op *next;
	const char *sql; /* static */
	int nparams;
	char *params[PQ_MAX_PARAMS];
	pq_row_fn row; /* NULL: the whole result goes to done */
	pq_done_fn done;
};

/* One lane: its connection and statement queue. */
struct lane {
	struct worker *w;
	PGconn *conn;
	struct event *rev, *wev;
	struct pq_op *head, *tail;
	bool sent; /* the head was sent and its results are awaited */
	PGresult *result; /* the head's result so far */
	bool conn_lost; /* the last failure was a broken connection */
};

struct pq {
	struct lane lanes[PQ_LANES];
	char *quarantine; /* pq_claim_quarantine; NULL for none */
};

static void kick(struct lane *q);

static void op_free(struct pq_op *op)
{
	for (int i = 0; i < op->nparams; i++)
		free(op->params[i]);
	free(op);
}

/* Detach the whole queue, then fail each op: callbacks may submit again. */
static void fail_all(struct lane *q)
{
	struct pq_op *op = q->head;

	q->head = q->tail = NULL;
	q->sent = false;
	while (op) {
		struct pq_op *next = op->next;
		op->done(q->w, NULL, q->conn_lost);
		op_free(op);
		op = next;
	}
}

static void drop_connection(struct lane *q)
{
	worker_event_free(&q->rev);
	worker_event_free(&q->wev);
	if (q->conn)
		PQfinish(q->conn);
	q->conn = NULL;
	PQclear(q->result);
	q->result = NULL;
}

static void broken(struct lane *q, const char *what)
{
	log_warn("%s: %s", what, q->conn ? PQerrorMessage(q->conn) : "no connection");
	drop_connection(q);
	q->conn_lost = true;
	fail_all(q);
}

/* The head op's results are all in: hand them over and start the next one. */
static void finish_head(struct lane *q)
{
	struct pq_op *op = q->head;
	PGresult *res = q->result;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;

	PH_QUEUE_POP(q->head, q->tail);
	q->sent = false;
	q->result = NULL;
	q->conn_lost = false;
	if (!ok)
		log_error("statement failed: %s",
			res ? PQresultErrorMessage(res) : PQerrorMessage(q->conn));
	/* Rows that came whole (libpq refused single-row mode) go to row all the same. */
	for (int r = 0; ok && op->row && r < PQntuples(res); r++)
		op->row(q->w, res, r);
	op->done(q->w, ok ? res : NULL, false);
	PQclear(res);
	op_free(op);
}

/* Keep the head's first result; a later one only matters if it is an error. */
static void keep_result(struct lane *q, PGresult *res)
{
	if (!q->result || PQresultStatus(res) == PGRES_FATAL_ERROR) {
		PQclear(q->result);
		q->result = res;
	} else {
		PQclear(res);
	}
}

/* A result of the head op: a row for its row callback, or one to keep for its end. */
static void take_result(struct lane *q, PGresult *res)
{
	if (PQresultStatus(res) == PGRES_SINGLE_TUPLE && q->head->row) {
		q->head->row(q->w, res, 0);
		PQclear(res);
		return;
	}
	keep_result(q, res);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lane *q = arg;

	if (!PQconsumeInput(q->conn)) {
		broken(q, "database connection lost");
		return;
	}
	while (q->sent && !PQisBusy(q->conn)) {
		PGresult *res = PQgetResult(q->conn);
		if (!res) {
			finish_head(q);
			kick(q);
			return;
		}
		take_result(q, res);
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct lane *q = arg;
	int rc = PQflush(q->conn);

	if (rc < 0)
		broken(q, "cannot send to the database");
	else if (rc == 0)
		event_del(q->wev);
}

/* The session settings of the claim and completion functions, and their synchronous_commit
 * (common/config.c says why it may be off). pghook_claim fails a delivery
 * whose lease was lost this many times in a row: as many as the schedule has attempts, so a
 * delivery that crashes workers gets exactly the chances a failing one gets. The scheduler's
 * default maxInFlight and the circuit breaker's settings (sql/functions/claim.sql, circuit.sql)
 * come from this worker's environment; the quarantine held, from before a reconnect. */
static bool set_session(PGconn *conn, const struct ph_config *cfg, const char *held)
{
	char n[16], mif[16], fails[16], cool[32];
	snprintf(n, sizeof(n), "%d", cfg->retry_count);
	snprintf(mif, sizeof(mif), "%d", cfg->webhook_max_in_flight);
	snprintf(fails, sizeof(fails), "%d", cfg->circuit_failures);
	snprintf(cool, sizeof(cool), "%lld", (long long)cfg->circuit_cooldown_ms);
	const char *params[] = { n, mif, fails, cool, held ? held : "",
		cfg->worker_synchronous_commit };
	PGresult *res = PQexecParams(conn,
		"select set_config('pghook.max_lost_leases', $1, false),"
		" set_config('pghook.max_in_flight', $2, false),"
		" set_config('pghook.circuit_failures', $3, false),"
		" set_config('pghook.circuit_cooldown_ms', $4, false),"
		" set_config('pghook.quarantine', $5, false),"
		" set_config('synchronous_commit', $6, false)",
		6, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

static bool connect_now(struct lane *q)
{
	struct worker *w = q->w;
	const char *conninfo = w->cfg->database_url ? w->cfg->database_url : "";

	const char *held = q == &w->pq->lanes[PQ_CLAIM] ? w->pq->quarantine : NULL;

	q->conn = PQconnectdb(conninfo);
	if (PQstatus(q->conn) != CONNECTION_OK || !set_session(q->conn, w->cfg, held) ||
		PQsetnonblocking(q->conn, 1) != 0)
		return false;
	int fd = PQsocket(q->conn);
	q->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, q);
	q->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, q);
	event_add(q->rev, NULL);
	return true;
}

/* Send the head op if nothing is in flight. */
static void kick(struct lane *q)
{
	struct pq_op *op = q->head;

	if (!op || q->sent)
		return;
	if (!q->conn && !connect_now(q)) {
		broken(q, "cannot connect to postgresql");
		return;
	}
	if (!PQsendQueryParams(q->conn, op->sql, op->nparams, NULL, (const char *const *)op->params,
		    NULL, NULL, 0)) {
		broken(q, "cannot send a statement");
		return;
	}
	q->sent = true;
	/* Refused (it never is right after a send), the rows come whole: finish_head. */
	if (op->row)
		PQsetSingleRowMode(q->conn);
	int rc = PQflush(q->conn);
	if (rc < 0)
		broken(q, "cannot send to the database");
	else if (rc == 1)
		event_add(q->wev, NULL);
}

void pq_submit_rows(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_row_fn row, pq_done_fn done)
{
	struct lane *q = &w->pq->lanes[lane];
	struct pq_op *op = ph_xcalloc(1, sizeof(*op));

	op->sql = sql;
	op->nparams = nparams;
	for (int i = 0; i < nparams; i++)
		op->params[i] = params[i] ? ph_xstrdup(params[i]) : NULL;
	op->row = row;
	op->done = done;
	PH_QUEUE_PUSH(q->head, q->tail, op);
	kick(q);
}

void pq_submit(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_done_fn done)
{
	pq_submit_rows(w, lane, sql, nparams, params, NULL, done);
}

static void drain_lane(struct lane *q)
{
	while (q->head) {
		if (!q->sent) {
			kick(q); /* connects, or fails the queue */
			if (!q->sent)
				break;
		}
		/* Blocking now: wait for the socket, then read what arrived. */
		PQsetnonblocking(q->conn, 0);
		while (PQflush(q->conn) == 1)
			;
		PGresult *res;
		while ((res = PQgetResult(q->conn)))
			take_result(q, res);
		if (PQstatus(q->conn) != CONNECTION_OK) {
			broken(q, "database connection lost");
			return;
		}
		PQsetnonblocking(q->conn, 1);
		finish_head(q);
	}
}

void pq_drain(struct worker *w)
{
	struct lane *claims = &w->pq->lanes[PQ_CLAIM], *completions = &w->pq->lanes[PQ_COMPLETE];

	/* A completion's callback may claim: drain until both lanes are idle. */
	for (int i = 0; i < 16 && (claims->head || completions->head); i++) {
		drain_lane(completions);
		drain_lane(claims);
	}
}

void pq_init(struct worker *w)
{
	w->pq = ph_xcalloc(1, sizeof(*w->pq));
	for (int i = 0; i < PQ_LANES; i++)
		w->pq->lanes[i].w = w;
}

bool pq_ready(const struct worker *w)
{
	const struct lane *c = &w->pq->lanes[PQ_CLAIM], *d = &w->pq->lanes[PQ_COMPLETE];

	return c->conn && PQstatus(c->conn) == CONNECTION_OK &&
		(d->conn ? PQstatus(d->conn) == CONNECTION_OK : !d->conn_lost);
}

void pq_claim_quarantine(struct worker *w, const char *held)
{
	free(w->pq->quarantine);
	w->pq->quarantine = held && *held ? ph_xstrdup(held) : NULL;
}

void pq_finish(struct worker *w)
{
	if (!w->pq)
		return;
	for (int i = 0; i < PQ_LANES; i++) {
		fail_all(&w->pq->lanes[i]);
		drop_connection(&w->pq->lanes[i]);
	}
	free(w->pq->quarantine);
	free(w->pq);
	w->pq = NULL;
}
