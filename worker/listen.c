/* SPDX-License-Identifier: MIT
 *
 * listen: how an idle worker learns there is work. A dedicated connection LISTENs on
 * pghook_deliveries (the api NOTIFYs there after an ingest commits); the loop watches its
 * socket and claims on every wake-up. Retries come due without a notify, so a poll timer
 * (PGHOOK_WORKER_POLL) claims too, and a broken LISTEN connection is reopened with backoff.
 * Every (re)connect claims at once, since notifies sent while we were away are lost.
 */
#include "worker.h"

#include <stdlib.h>

#include "delivery.h"
#include "log.h"

#define LISTEN_BACKOFF_MAX 5000

static void listen_connect(struct worker *w);

static void drop_connection(struct worker *w)
{
	if (w->listen_ev)
		event_free(w->listen_ev);
	w->listen_ev = NULL;
	if (w->listen_conn)
		PQfinish(w->listen_conn);
	w->listen_conn = NULL;
}

static void schedule_reconnect(struct worker *w)
{
	drop_connection(w);
	w->listen_backoff_ms = w->listen_backoff_ms ? 2 * w->listen_backoff_ms : 100;
	if (w->listen_backoff_ms > LISTEN_BACKOFF_MAX)
		w->listen_backoff_ms = LISTEN_BACKOFF_MAX;
	struct timeval tv = { w->listen_backoff_ms / 1000, (w->listen_backoff_ms % 1000) * 1000 };
	evtimer_add(w->listen_retry, &tv);
}

static void on_listen_readable(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	PGnotify *n;
	int count = 0;

	if (!PQconsumeInput(w->listen_conn)) {
		log_warn("listen connection lost: %s", PQerrorMessage(w->listen_conn));
		schedule_reconnect(w);
		return;
	}
	while ((n = PQnotifies(w->listen_conn))) {
		PQfreemem(n);
		count++;
	}
	if (count > 0) {
		claim_wake(w);
		notify_pump(w);
	}
}

static void listen_connect(struct worker *w)
{
	const char *conninfo = w->cfg->database_url ? w->cfg->database_url : "";

	w->listen_conn = PQconnectdb(conninfo);
	if (PQstatus(w->listen_conn) != CONNECTION_OK) {
		log_warn("listen connection failed: %s", PQerrorMessage(w->listen_conn));
		schedule_reconnect(w);
		return;
	}
	PGresult *res = PQexec(w->listen_conn, "LISTEN " PH_DELIVERY_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || PQsetnonblocking(w->listen_conn, 1) != 0) {
		log_warn("LISTEN failed: %s", PQerrorMessage(w->listen_conn));
		schedule_reconnect(w);
		return;
	}
	w->listen_backoff_ms = 0;
	w->listen_ev = event_new(
		w->base, PQsocket(w->listen_conn), EV_READ | EV_PERSIST, on_listen_readable, w);
	event_add(w->listen_ev, NULL);
	log_debug("listening on " PH_DELIVERY_CHANNEL);
	claim_wake(w);
}

static void on_listen_retry(evutil_socket_t fd, short what, void *arg)
{
	listen_connect(arg);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	claim_wake(w);
	notify_pump(w);
}

void listen_init(struct worker *w)
{
	struct timeval tv = { w->cfg->worker_poll_ms / 1000,
		(w->cfg->worker_poll_ms % 1000) * 1000 };

	w->listen_retry = evtimer_new(w->base, on_listen_retry, w);
	w->poll_timer = event_new(w->base, -1, EV_PERSIST, on_poll, w);
	event_add(w->poll_timer, &tv);
	listen_connect(w);
}

void listen_finish(struct worker *w)
{
	drop_connection(w);
	if (w->listen_retry)
		event_free(w->listen_retry);
	if (w->poll_timer)
		event_free(w->poll_timer);
	w->listen_retry = NULL;
	w->poll_timer = NULL;
}
