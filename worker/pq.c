/* SPDX-License-Identifier: MIT
 *
 * pq: the hot statements (claim, complete) run asynchronously on a connection of their own,
 * watched by the loop, so deliveries keep moving while PostgreSQL works. Statements queue and
 * run one at a time in submission order; each one's callback gets its result (borrowed, cleared
 * after the callback) or NULL when it failed, with w->pq.conn_lost telling a broken connection
 * from a rejected statement. A broken connection fails everything queued; the next submission
 * reconnects (blocking, bounded by PGCONNECT_TIMEOUT).
 *
 * Invariant: only the head of the queue may have been sent; `sent` says whether it was.
 */
#include "worker.h"

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

static void kick(struct worker *w);

static void op_free(struct pq_op *op)
{
	for (int i = 0; i < op->nparams; i++)
		free(op->params[i]);
	free(op);
}

/* Detach the whole queue, then fail each op: callbacks may submit again. */
static void fail_all(struct worker *w)
{
	struct pq_op *op = w->pq.head;

	w->pq.head = w->pq.tail = NULL;
	w->pq.sent = false;
	while (op) {
		struct pq_op *next = op->next;
		op->done(w, NULL, op->arg);
		op_free(op);
		op = next;
	}
}

static void drop_connection(struct worker *w)
{
	if (w->pq.rev)
		event_free(w->pq.rev);
	if (w->pq.wev)
		event_free(w->pq.wev);
	w->pq.rev = w->pq.wev = NULL;
	if (w->pq.conn)
		PQfinish(w->pq.conn);
	w->pq.conn = NULL;
	PQclear(w->pq.result);
	w->pq.result = NULL;
}

static void broken(struct worker *w, const char *what)
{
	log_warn("%s: %s", what, w->pq.conn ? PQerrorMessage(w->pq.conn) : "no connection");
	drop_connection(w);
	w->pq.conn_lost = true;
	fail_all(w);
}

/* The head op's results are all in: hand them over and start the next one. */
static void finish_head(struct worker *w)
{
	struct pq_op *op = w->pq.head;
	PGresult *res = w->pq.result;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;

	w->pq.head = op->next;
	if (!w->pq.head)
		w->pq.tail = NULL;
	w->pq.sent = false;
	w->pq.result = NULL;
	w->pq.conn_lost = false;
	if (!ok)
		log_error("statement failed: %s",
			res ? PQresultErrorMessage(res) : PQerrorMessage(w->pq.conn));
	op->done(w, ok ? res : NULL, op->arg);
	PQclear(res);
	op_free(op);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (!PQconsumeInput(w->pq.conn)) {
		broken(w, "database connection lost");
		return;
	}
	while (w->pq.sent && !PQisBusy(w->pq.conn)) {
		PGresult *res = PQgetResult(w->pq.conn);
		if (!res) {
			finish_head(w);
			kick(w);
			return;
		}
		/* Keep the first result; a later one only matters if it is an error. */
		if (!w->pq.result || PQresultStatus(res) == PGRES_FATAL_ERROR) {
			PQclear(w->pq.result);
			w->pq.result = res;
		} else {
			PQclear(res);
		}
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int rc = PQflush(w->pq.conn);

	if (rc < 0)
		broken(w, "cannot send to the database");
	else if (rc == 0)
		event_del(w->pq.wev);
}

static bool connect_now(struct worker *w)
{
	const char *conninfo = w->cfg->database_url ? w->cfg->database_url : "";

	w->pq.conn = PQconnectdb(conninfo);
	if (PQstatus(w->pq.conn) != CONNECTION_OK || PQsetnonblocking(w->pq.conn, 1) != 0)
		return false;
	int fd = PQsocket(w->pq.conn);
	w->pq.rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, w);
	w->pq.wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, w);
	event_add(w->pq.rev, NULL);
	return true;
}

/* Send the head op if nothing is in flight. */
static void kick(struct worker *w)
{
	struct pq_op *op = w->pq.head;

	if (!op || w->pq.sent)
		return;
	if (!w->pq.conn && !connect_now(w)) {
		broken(w, "cannot connect to postgresql");
		return;
	}
	if (!PQsendQueryParams(w->pq.conn, op->sql, op->nparams, NULL,
		    (const char *const *)op->params, NULL, NULL, 0)) {
		broken(w, "cannot send a statement");
		return;
	}
	w->pq.sent = true;
	int rc = PQflush(w->pq.conn);
	if (rc < 0)
		broken(w, "cannot send to the database");
	else if (rc == 1)
		event_add(w->pq.wev, NULL);
}

void pq_submit(struct worker *w, const char *sql, int nparams, const char *const *params,
	pq_done_fn done, void *arg)
{
	struct pq_op *op = ph_xcalloc(1, sizeof(*op));

	op->sql = sql;
	op->nparams = nparams;
	for (int i = 0; i < nparams; i++)
		op->params[i] = params[i] ? ph_xstrdup(params[i]) : NULL;
	op->done = done;
	op->arg = arg;
	if (w->pq.tail)
		w->pq.tail->next = op;
	else
		w->pq.head = op;
	w->pq.tail = op;
	kick(w);
}

void pq_drain(struct worker *w)
{
	while (w->pq.head) {
		if (!w->pq.sent) {
			kick(w); /* connects, or fails the queue */
			if (!w->pq.sent)
				break;
		}
		/* Blocking now: wait for the socket, then read what arrived. */
		PQsetnonblocking(w->pq.conn, 0);
		while (PQflush(w->pq.conn) == 1)
			;
		PGresult *res;
		while ((res = PQgetResult(w->pq.conn))) {
			if (!w->pq.result || PQresultStatus(res) == PGRES_FATAL_ERROR) {
				PQclear(w->pq.result);
				w->pq.result = res;
			} else {
				PQclear(res);
			}
		}
		if (PQstatus(w->pq.conn) != CONNECTION_OK) {
			broken(w, "database connection lost");
			return;
		}
		PQsetnonblocking(w->pq.conn, 1);
		finish_head(w);
	}
}

bool pq_ready(const struct worker *w)
{
	return w->pq.conn && PQstatus(w->pq.conn) == CONNECTION_OK;
}

void pq_finish(struct worker *w)
{
	fail_all(w);
	drop_connection(w);
}
