/* SPDX-License-Identifier: MIT */
#include "committer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct committer {
	pthread_t *tids;
	int nthreads;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct committer_job *head, *tail;
	struct committer_stats stats;
	/* per thread: the tenant of its group, "" when idle. A copy: the group's jobs are freed by
	 * their loops before the thread comes back for its next group. */
	char (*running)[PH_DB_TENANT_MAX];
	bool stopping;
	char *conninfo;
};

struct thread_arg {
	struct committer *c;
	int index;
};

static bool tenant_running(const struct committer *c, const char *tenant)
{
	for (int i = 0; i < c->nthreads; i++) {
		if (c->running[i][0] && strcmp(c->running[i], tenant) == 0)
			return true;
	}
	return false;
}

/* Whether a queued job could start now: its tenant has no group running. */
static bool any_eligible(const struct committer *c)
{
	for (const struct committer_job *j = c->head; j; j = j->next) {
		if (!tenant_running(c, j->tenant))
			return true;
	}
	return false;
}

/* Unlink from the queue the oldest job whose tenant has no group running, and the queued jobs
 * of the same tenant and run after it, into g in queue order. Returns how many (0: none
 * eligible). */
static size_t take_group(struct committer *c, struct committer_job **g)
{
	struct committer_job **link = &c->head, *prev = NULL;
	const struct committer_job *lead = NULL;
	size_t n = 0;
	while (*link && n < COMMITTER_GROUP_MAX) {
		struct committer_job *j = *link;
		bool take = lead ? j->run == lead->run && strcmp(j->tenant, lead->tenant) == 0
				 : !tenant_running(c, j->tenant);
		if (!take) {
			prev = j;
			link = &j->next;
			continue;
		}
		lead = lead ? lead : j;
		g[n++] = j;
		c->stats.queued--;
		*link = j->next;
		if (c->tail == j)
			c->tail = prev;
	}
	return n;
}

/* The next group for thread index, waiting for one; 0 once stopping and nothing is left.
 * Marks the group's tenant as running on index. A thread is woken only for a job it can take:
 * one whose tenant has no group running. A job becomes so when it is queued (committer_submit
 * wakes a thread then) or when its tenant's group ends (that thread looks first, and wakes
 * another if it leaves such a job behind). Waking threads for nothing costs a context switch
 * per event under load. */
static size_t next_group(struct committer *c, int index, struct committer_job **g)
{
	size_t n;
	pthread_mutex_lock(&c->lock);
	c->running[index][0] = '\0';
	while ((n = take_group(c, g)) == 0 && !(c->stopping && !c->head))
		pthread_cond_wait(&c->work, &c->lock);
	if (n) {
		snprintf(c->running[index], sizeof(c->running[index]), "%s", g[0]->tenant);
		c->stats.groups++;
		c->stats.jobs += n;
	}
	if (c->stopping)
		pthread_cond_broadcast(&c->work); /* the others may be waiting for an empty queue */
	else if (n && any_eligible(c))
		pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void *committer_main(void *arg)
{
	struct thread_arg *a = arg;
	struct committer *c = a->c;
	int index = a->index;
	free(a);
	struct ph_db db;
	struct committer_job *g[COMMITTER_GROUP_MAX];
	ph_db_init(&db, c->conninfo);
	for (size_t n; (n = next_group(c, index, g));)
		g[0]->run(&db, g, n); /* may free the jobs (they end on their loops) */
	ph_db_finish(&db);
	return NULL;
}

struct committer *committer_create(int nthreads, const char *conninfo)
{
	struct committer *c = ph_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	c->conninfo = ph_xstrdup(conninfo ? conninfo : "");
	c->tids = ph_xcalloc((size_t)nthreads, sizeof(*c->tids));
	c->running = ph_xcalloc((size_t)nthreads, sizeof(*c->running));
	for (; c->nthreads < nthreads; c->nthreads++) {
		struct thread_arg *a = ph_xcalloc(1, sizeof(*a));
		*a = (struct thread_arg){ .c = c, .index = c->nthreads };
		if (pthread_create(&c->tids[c->nthreads], NULL, committer_main, a) != 0) {
			log_error("cannot start a committer thread");
			abort();
		}
	}
	return c;
}

void committer_submit(struct committer *c, struct committer_job *job)
{
	pthread_mutex_lock(&c->lock);
	PH_QUEUE_PUSH(c->head, c->tail, job);
	c->stats.queued++;
	if (!tenant_running(c, job->tenant))
		pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
}

struct committer_stats committer_stats(struct committer *c)
{
	pthread_mutex_lock(&c->lock);
	struct committer_stats s = c->stats;
	pthread_mutex_unlock(&c->lock);
	return s;
}

void committer_destroy(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->tids[i], NULL);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c->running);
	free(c->tids);
	free(c->conninfo);
	free(c);
}
