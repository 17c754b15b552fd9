/* SPDX-License-Identifier: MIT
 *
 * pq: the hot statements run asynchronously, watched by the loop, so deliveries keep moving
 * while PostgreSQL works. There are two lanes, each with a connection of its own: claims
 * (PQ_CLAIM) and completions (PQ_COMPLETE), so a claim and a completion run at the same time
 * on two backends and their commits can share a WAL flush; one lane alone made every claim
 * wait for the previous completion and the other way round. Within a lane statements queue
 * and run one at a time in submission order; each one's callback gets its result (borrowed,
 * cleared after the callback) or NULL when it failed, with the lane's conn_lost telling a
 * broken connection from a rejected statement. A broken connection fails everything queued on
 * its lane; the next submission reconnects (blocking, bounded by PGCONNECT_TIMEOUT).
 *
 * Invariant: only the head of the queue may have been sent; `sent` says whether it was.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct pq_op {
	struct pq_op *next;
	const char *sql; /* static */
	int nparams;
	char *params[PQ_MAX_PARAMS];
	pq_done_fn done;
	void *arg;
};

static void kick(struct pq *q);

static void op_free(struct pq_op *op)
{
	for (int i = 0; i < op->nparams; i++)
		free(op->params[i]);
	free(op);
}

/* Detach the whole queue, then fail each op: callbacks may submit again. */
static void fail_all(struct pq *q)
{
	struct pq_op *op = q->head;

	q->head = q->tail = NULL;
	q->sent = false;
	while (op) {
		struct pq_op *next = op->next;
		op->done(q->w, NULL, op->arg);
		op_free(op);
		op = next;
	}
}

static void drop_connection(struct pq *q)
{
	if (q->rev)
		event_free(q->rev);
	if (q->wev)
		event_free(q->wev);
	q->rev = q->wev = NULL;
	if (q->conn)
		PQfinish(q->conn);
	q->conn = NULL;
	PQclear(q->result);
	q->result = NULL;
}

static void broken(struct pq *q, const char *what)
{
	log_warn("%s: %s", what, q->conn ? PQerrorMessage(q->conn) : "no connection");
	drop_connection(q);
	q->conn_lost = true;
	fail_all(q);
}

/* The head op's results are all in: hand them over and start the next one. */
static void finish_head(struct pq *q)
{
	struct pq_op *op = q->head;
	PGresult *res = q->result;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;

	q->head = op->next;
	if (!q->head)
		q->tail = NULL;
	q->sent = false;
	q->result = NULL;
	q->conn_lost = false;
	if (!ok)
		log_error("statement failed: %s",
			res ? PQresultErrorMessage(res) : PQerrorMessage(q->conn));
	op->done(q->w, ok ? res : NULL, op->arg);
	PQclear(res);
	op_free(op);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct pq *q = arg;

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
		/* Keep the first result; a later one only matters if it is an error. */
		if (!q->result || PQresultStatus(res) == PGRES_FATAL_ERROR) {
			PQclear(q->result);
			q->result = res;
		} else {
			PQclear(res);
		}
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct pq *q = arg;
	int rc = PQflush(q->conn);

	if (rc < 0)
		broken(q, "cannot send to the database");
	else if (rc == 0)
		event_del(q->wev);
}

/* pghook_claim (sql/0002_worker.sql) fails a delivery whose lease was lost this many
 * times in a row: as many as the schedule has attempts, so a delivery that crashes workers
 * gets exactly the chances a failing one gets. */
static bool set_lost_lease_limit(PGconn *conn, const struct ph_config *cfg)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", cfg->retry_count);
	const char *params[] = { n };
	PGresult *res = PQexecParams(conn, "select set_config('pghook.max_lost_leases', $1, false)",
		1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

static bool connect_now(struct pq *q)
{
	struct worker *w = q->w;
	const char *conninfo = w->cfg->database_url ? w->cfg->database_url : "";

	q->conn = PQconnectdb(conninfo);
	if (PQstatus(q->conn) != CONNECTION_OK || !set_lost_lease_limit(q->conn, w->cfg) ||
		PQsetnonblocking(q->conn, 1) != 0)
		return false;
	int fd = PQsocket(q->conn);
	q->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, q);
	q->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, q);
	event_add(q->rev, NULL);
	return true;
}

/* Send the head op if nothing is in flight. */
static void kick(struct pq *q)
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
	int rc = PQflush(q->conn);
	if (rc < 0)
		broken(q, "cannot send to the database");
	else if (rc == 1)
		event_add(q->wev, NULL);
}

void pq_submit(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_done_fn done, void *arg)
{
	struct pq *q = &w->pq[lane];
	struct pq_op *op = ph_xcalloc(1, sizeof(*op));

	op->sql = sql;
	op->nparams = nparams;
	for (int i = 0; i < nparams; i++)
		op->params[i] = params[i] ? ph_xstrdup(params[i]) : NULL;
	op->done = done;
	op->arg = arg;
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	kick(q);
}

static void drain_lane(struct pq *q)
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
		while ((res = PQgetResult(q->conn))) {
			if (!q->result || PQresultStatus(res) == PGRES_FATAL_ERROR) {
				PQclear(q->result);
				q->result = res;
			} else {
				PQclear(res);
			}
		}
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
	/* A completion's callback may claim: drain until both lanes are idle. */
	for (int i = 0; i < 16 && (w->pq[PQ_CLAIM].head || w->pq[PQ_COMPLETE].head); i++) {
		drain_lane(&w->pq[PQ_COMPLETE]);
		drain_lane(&w->pq[PQ_CLAIM]);
	}
}

void pq_init(struct worker *w)
{
	for (int i = 0; i < PQ_LANES; i++)
		w->pq[i].w = w;
}

/* Ready: the claim lane is connected (it claims at start), and the completion lane is
 * connected or has not needed a connection yet. */
bool pq_ready(const struct worker *w)
{
	const struct pq *c = &w->pq[PQ_CLAIM], *d = &w->pq[PQ_COMPLETE];

	return c->conn && PQstatus(c->conn) == CONNECTION_OK &&
		(d->conn ? PQstatus(d->conn) == CONNECTION_OK : !d->conn_lost);
}

void pq_finish(struct worker *w)
{
	for (int i = 0; i < PQ_LANES; i++) {
		fail_all(&w->pq[i]);
		drop_connection(&w->pq[i]);
	}
}
