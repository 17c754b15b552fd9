/* SPDX-License-Identifier: MIT */
#include "defer.h"

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>

#include "router.h"

static void conn_closed(struct evhttp_connection *conn, void *arg)
{
	((struct deferred *)arg)->orphaned = true;
}

/* Copy the request: the router frees the original's query list when the handler returns. */
static void take(struct deferred *d, struct req *r)
{
	d->r = *r;
	TAILQ_INIT(&d->r.query);
}

static void hold(struct deferred *d, struct req *r)
{
	evhttp_connection_set_closecb(evhttp_request_get_connection(r->ev), conn_closed, d);
	r->deferred = true;
	r->ctx->deferred++; /* the loop does not exit at shutdown before this is answered */
}

void defer_begin(struct deferred *d, struct req *r)
{
	take(d, r);
	hold(d, r);
}

void defer_resume(struct deferred *d)
{
	if (d->orphaned)
		d->r.ev = NULL;
	else
		evhttp_connection_set_closecb(evhttp_request_get_connection(d->r.ev), NULL, NULL);
}

void defer_end(struct deferred *d)
{
	d->r.ctx->deferred--;
	router_record(&d->r);
	if (d->resume_ev) {
		event_free(d->resume_ev);
		d->resume_ev = NULL;
	}
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deferred *d = arg;
	defer_resume(d);
	d->done(d);
}

bool defer_prepare(struct deferred *d, struct req *r, defer_fn work, defer_fn done)
{
	struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(r->ev));
	d->work = work;
	d->done = done;
	d->resume_ev = event_new(base, -1, 0, resume_cb, d);
	if (!d->resume_ev)
		return false;
	take(d, r); /* before the work starts: it reads d->r's configuration */
	return true;
}

void defer_hold(struct deferred *d, struct req *r)
{
	hold(d, r);
}

void defer_wake(struct deferred *d)
{
	event_active(d->resume_ev, 0, 0);
}

static void *thread_main(void *arg)
{
	struct deferred *d = arg;
	d->work(d);
	defer_wake(d);
	return NULL;
}

static bool start_thread(struct deferred *d)
{
	pthread_t tid;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&tid, &attr, thread_main, d) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

bool defer_to_thread(struct deferred *d, struct req *r, defer_fn work, defer_fn done)
{
	if (!defer_prepare(d, r, work, done))
		return false;
	if (!start_thread(d)) {
		event_free(d->resume_ev);
		d->resume_ev = NULL;
		return false;
	}
	hold(d, r);
	return true;
}
