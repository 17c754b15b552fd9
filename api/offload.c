/* SPDX-License-Identifier: MIT */
#include "offload.h"

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct job {
	struct job *next;
	void (*fn)(struct ph_db *db, void *arg);
	void *arg;
	bool done; /* offload_call: set under the lock once fn returned */
};

struct offload {
	pthread_t tids[OFFLOAD_THREADS];
	int nthreads;
	pthread_mutex_t lock;
	pthread_cond_t work, finished;
	struct job *head, *tail;
	bool stopping;
	char *conninfo;
};

/* The next job, waiting for one; NULL once stopping and none is left. */
static struct job *take_job(struct offload *o)
{
	pthread_mutex_lock(&o->lock);
	while (!o->head && !o->stopping)
		pthread_cond_wait(&o->work, &o->lock);
	struct job *j = o->head;
	if (j)
		PH_QUEUE_POP(o->head, o->tail);
	pthread_mutex_unlock(&o->lock);
	return j;
}

static void *offload_main(void *arg)
{
	struct offload *o = arg;
	struct ph_db db;
	ph_db_init(&db, o->conninfo);
	for (struct job *j; (j = take_job(o));)
		j->fn(&db, j->arg); /* may free j (a loop's job ends on the loop) */
	ph_db_finish(&db);
	return NULL;
}

struct offload *offload_create(const char *conninfo)
{
	struct offload *o = ph_xcalloc(1, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->work, NULL);
	pthread_cond_init(&o->finished, NULL);
	o->conninfo = ph_xstrdup(conninfo ? conninfo : "");
	for (; o->nthreads < OFFLOAD_THREADS; o->nthreads++) {
		if (pthread_create(&o->tids[o->nthreads], NULL, offload_main, o) != 0) {
			log_error("cannot start an offload thread");
			abort();
		}
	}
	return o;
}

void offload_destroy(struct offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_broadcast(&o->work);
	pthread_mutex_unlock(&o->lock);
	for (int i = 0; i < o->nthreads; i++)
		pthread_join(o->tids[i], NULL);
	pthread_cond_destroy(&o->finished);
	pthread_cond_destroy(&o->work);
	pthread_mutex_destroy(&o->lock);
	free(o->conninfo);
	free(o);
}

static void enqueue(struct offload *o, struct job *j)
{
	PH_QUEUE_PUSH(o->head, o->tail, j);
	pthread_cond_signal(&o->work);
}

/* A loop's job: the deferred request's work, then its loop woken. */
struct defer_job {
	struct job job;
	struct offload *o;
	struct deferred *d;
	struct event *timer; /* offload_defer with a delay: queues the job when it fires */
};

static void run_deferred(struct ph_db *db, void *arg)
{
	struct defer_job *dj = arg;
	struct deferred *d = dj->d;
	free(dj);
	d->db = db;
	d->work(d);
	d->db = NULL;
	defer_wake(d);
}

static void submit(struct offload *o, struct job *j)
{
	pthread_mutex_lock(&o->lock);
	enqueue(o, j);
	pthread_mutex_unlock(&o->lock);
}

static void delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct defer_job *dj = arg;
	event_free(dj->timer);
	dj->timer = NULL;
	submit(dj->o, &dj->job);
}

bool offload_defer(struct offload *o, struct deferred *d, struct req *r, long long delay_us,
	defer_fn work, defer_fn done)
{
	if (!defer_prepare(d, r, work, done))
		return false;
	struct defer_job *dj = ph_xcalloc(1, sizeof(*dj));
	dj->o = o;
	dj->d = d;
	dj->job.fn = run_deferred;
	dj->job.arg = dj;
	if (delay_us > 0) {
		struct event_base *base =
			evhttp_connection_get_base(evhttp_request_get_connection(r->ev));
		struct timeval tv = { (time_t)(delay_us / 1000000),
			(suseconds_t)(delay_us % 1000000) };
		dj->timer = evtimer_new(base, delay_done, dj);
		if (!dj->timer || evtimer_add(dj->timer, &tv) != 0) {
			if (dj->timer)
				event_free(dj->timer);
			free(dj);
			event_free(d->resume_ev);
			d->resume_ev = NULL;
			return false;
		}
	} else {
		submit(o, &dj->job);
	}
	defer_hold(d, r);
	return true;
}

struct call {
	struct offload *o;
	struct job job;
	void (*fn)(struct ph_db *db, void *arg);
	void *arg;
};

static void run_call(struct ph_db *db, void *arg)
{
	struct call *c = arg;
	c->fn(db, c->arg);
	pthread_mutex_lock(&c->o->lock);
	c->job.done = true;
	pthread_cond_broadcast(&c->o->finished);
	pthread_mutex_unlock(&c->o->lock);
}

void offload_call(struct offload *o, void (*fn)(struct ph_db *db, void *arg), void *arg)
{
	struct call c = { .o = o, .fn = fn, .arg = arg };
	c.job.fn = run_call;
	c.job.arg = &c;
	pthread_mutex_lock(&o->lock);
	enqueue(o, &c.job);
	while (!c.job.done)
		pthread_cond_wait(&o->finished, &o->lock);
	pthread_mutex_unlock(&o->lock);
}

PGresult *offload_exec(struct ph_db *db, const char *tenant, const char *sql, int nparams,
	const char *const *params, struct ph_db_failure *f)
{
	if (!ph_db_set_tenant(db, tenant)) {
		log_error("cannot scope an offloaded statement to its tenant");
		ph_db_failure_keep(f, db);
		return NULL;
	}
	PGresult *res = ph_db_exec(db, sql, nparams, params);
	if (!res)
		ph_db_failure_keep(f, db);
	if (!ph_db_set_tenant(db, NULL))
		log_warn("cannot clear the tenant scope");
	return res;
}

void offload_reply_result(
	struct req *r, int status, const char *what, PGresult *res, const struct ph_db_failure *f)
{
	if (!res)
		reply_db_failed(r, f->sqlstate, f->message, f->conn_lost);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		reply_error(r, 404, "not_found", "no such %s", what);
	else
		reply_rendered(r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

/* offload_reply_query's job. */
struct query_job {
	struct deferred d; /* first: the job is found from it */
	int status, nparams;
	const char *what, *sql;
	char **params;
	PGresult *res; /* NULL when the statement failed */
	struct ph_db_failure failure;
};

static void query_job_free(struct query_job *j)
{
	for (int i = 0; i < j->nparams; i++)
		free(j->params[i]);
	free(j->params);
	PQclear(j->res);
	free(j);
}

static void query_work(struct deferred *d)
{
	struct query_job *j = (struct query_job *)d;
	j->res = offload_exec(d->db, d->r.tenant_id, j->sql, j->nparams,
		(const char *const *)j->params, &j->failure);
}

static void query_done(struct deferred *d)
{
	struct query_job *j = (struct query_job *)d;
	offload_reply_result(&d->r, j->status, j->what, j->res, &j->failure);
	defer_end(d);
	query_job_free(j);
}

void offload_reply_query(struct req *r, int status, const char *what, const char *sql, int nparams,
	const char *const *params)
{
	struct query_job *j = ph_xcalloc(1, sizeof(*j));
	j->status = status;
	j->what = what;
	j->sql = sql;
	j->nparams = nparams;
	j->params = ph_xcalloc((size_t)(nparams > 0 ? nparams : 1), sizeof(char *));
	for (int i = 0; i < nparams; i++)
		j->params[i] = params[i] ? ph_xstrdup(params[i]) : NULL;
	if (!offload_defer(r->ctx->offload, &j->d, r, 0, query_work, query_done)) {
		query_job_free(j);
		reply_query(r, status, what, sql, nparams, params);
	}
}
