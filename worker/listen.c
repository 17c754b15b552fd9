/* SPDX-License-Identifier: MIT */
#include "listen.h"

#include <stdlib.h>

#include "claim.h"
#include "delivery.h"
#include "log.h"
#include "notify.h"
#include "worker.h"

#define LISTEN_BACKOFF_MAX 5000

struct listen {
	PGconn *conn;
	struct event *readable; /* conn's socket */
	struct event *retry; /* reconnects after backoff_ms */
	struct event *poll;
	int64_t backoff_ms;
};

static void drop_connection(struct listen *l)
{
	worker_event_free(&l->readable);
	if (l->conn)
		PQfinish(l->conn);
	l->conn = NULL;
}

static void schedule_reconnect(struct listen *l)
{
	drop_connection(l);
	l->backoff_ms = l->backoff_ms ? 2 * l->backoff_ms : 100;
	if (l->backoff_ms > LISTEN_BACKOFF_MAX)
		l->backoff_ms = LISTEN_BACKOFF_MAX;
	worker_timer_add(l->retry, l->backoff_ms);
}

/* There may be new work: deliveries to claim, emails to send. */
static void wake(struct worker *w)
{
	claim_wake(w);
	notify_pump(w);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct listen *l = w->listen;
	PGnotify *n;
	int count = 0;

	if (!PQconsumeInput(l->conn)) {
		log_warn("listen connection lost: %s", PQerrorMessage(l->conn));
		schedule_reconnect(l);
		return;
	}
	while ((n = PQnotifies(l->conn))) {
		PQfreemem(n);
		count++;
	}
	if (count > 0)
		wake(w);
}

/* Open the connection and LISTEN; false (logged) when either fails. */
static bool connect_and_listen(struct worker *w, struct listen *l)
{
	l->conn = PQconnectdb(w->cfg->database_url ? w->cfg->database_url : "");
	if (PQstatus(l->conn) != CONNECTION_OK) {
		log_warn("listen connection failed: %s", PQerrorMessage(l->conn));
		return false;
	}
	PGresult *res = PQexec(l->conn, "LISTEN " PH_DELIVERY_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || PQsetnonblocking(l->conn, 1) != 0) {
		log_warn("LISTEN failed: %s", PQerrorMessage(l->conn));
		return false;
	}
	return true;
}

static void listen_connect(struct worker *w)
{
	struct listen *l = w->listen;

	if (!connect_and_listen(w, l)) {
		schedule_reconnect(l);
		return;
	}
	l->backoff_ms = 0;
	l->readable = event_new(w->base, PQsocket(l->conn), EV_READ | EV_PERSIST, on_readable, w);
	event_add(l->readable, NULL);
	log_debug("listening on " PH_DELIVERY_CHANNEL);
	claim_wake(w);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	listen_connect(arg);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	wake(arg);
}

void listen_init(struct worker *w)
{
	struct listen *l = ph_xcalloc(1, sizeof(*l));

	w->listen = l;
	l->retry = evtimer_new(w->base, on_retry, w);
	l->poll = event_new(w->base, -1, EV_PERSIST, on_poll, w);
	worker_timer_add(l->poll, w->cfg->worker_poll_ms);
	listen_connect(w);
}

void listen_finish(struct worker *w)
{
	struct listen *l = w->listen;
	if (!l)
		return;
	drop_connection(l);
	worker_event_free(&l->retry);
	worker_event_free(&l->poll);
	free(l);
	w->listen = NULL;
}
