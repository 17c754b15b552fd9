/* SPDX-License-Identifier: MIT */
#include "notifier.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "db.h"
#include "delivery.h"
#include "log.h"
#include "util.h"

struct notifier {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pending, stopping;
	char *conninfo;
};

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	struct ph_db db;
	ph_db_init(&db, n->conninfo);
	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->pending && !n->stopping)
			pthread_cond_wait(&n->cond, &n->lock);
		if (!n->pending)
			break;
		n->pending = false;
		pthread_mutex_unlock(&n->lock);
		if (!ph_db_run(&db, "select pg_notify('" PH_DELIVERY_CHANNEL "', '')", 0, NULL))
			log_warn("notify failed; workers will find the deliveries by polling");
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	ph_db_finish(&db);
	return NULL;
}

struct notifier *notifier_create(const char *conninfo)
{
	struct notifier *n = ph_xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->conninfo = ph_xstrdup(conninfo ? conninfo : "");
	if (pthread_create(&n->tid, NULL, notifier_main, n) != 0) {
		log_error("cannot start the notifier thread");
		abort();
	}
	return n;
}

void notifier_poke(struct notifier *n)
{
	pthread_mutex_lock(&n->lock);
	if (!n->pending) {
		n->pending = true;
		pthread_cond_signal(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

void notifier_destroy(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->tid, NULL);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n->conninfo);
	free(n);
}
