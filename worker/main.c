/* SPDX-License-Identifier: MIT
 *
 * pghook-worker: start-up, signals and the loop. See worker.h for the modules.
 *
 * Shutdown: the first SIGTERM (or SIGINT) stops claiming and waits for the deliveries in flight
 * to finish, up to PGHOOK_SHUTDOWN_TIMEOUT; what is still running then is released (back to
 * its due state, lease cleared) and the outcomes received are written before exit 0. A second
 * signal exits at once; the leases cover whatever was left.
 */
#include "worker.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define FINAL_FLUSH_TRIES 5

static void finish_shutdown(struct worker *w)
{
	if (w->finished)
		return;
	w->finished = true;
	/* A claim or a write may be in flight: let it land (a claim's rows start, then are
	 * released below with the rest). */
	pq_drain(w);
	if (w->jobs)
		claim_release_all(w);
	deliver_abort_all(w);
	for (int i = 0; i < FINAL_FLUSH_TRIES && !outcome_flush_now(w); i++)
		usleep(200 * 1000);
	if (w->npending > 0)
		log_error("exiting with %d outcomes unrecorded; their leases will expire",
			w->npending);
	event_base_loopbreak(w->base);
}

void worker_job_ended(struct worker *w)
{
	if (w->stopping) {
		if (w->inflight == 0 && w->emails_inflight == 0)
			finish_shutdown(w);
		return;
	}
	if (w->more_due)
		claim_pump(w);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warn("shutdown deadline reached with %d deliveries in flight", w->inflight);
	finish_shutdown(w);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;

	if (w->stopping) {
		log_warn("second signal: exiting now");
		_exit(1);
	}
	w->stopping = true;
	log_info("signal %d: stopping; %d deliveries in flight", (int)sig, w->inflight);
	if (w->inflight == 0 && w->emails_inflight == 0) {
		finish_shutdown(w);
		return;
	}
	int64_t ms = w->cfg->shutdown_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	w->deadline = evtimer_new(w->base, on_deadline, w);
	evtimer_add(w->deadline, &tv);
}

static void make_worker_id(char *out, size_t len)
{
	char host[64];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "%s:%ld", host, (long)getpid());
}

static bool setup(struct worker *w, const struct ph_config *cfg)
{
	char err[256];

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	make_worker_id(w->worker_id, sizeof(w->worker_id));
	w->ssrf = ph_ssrf_policy_create(cfg->allow_cidrs, err, sizeof(err));
	if (!w->ssrf) {
		log_error("PGHOOK_ALLOW_CIDRS: %s", err);
		return false;
	}
	w->base = event_base_new();
	if (!w->base) {
		log_error("event_base_new failed");
		return false;
	}
	if (cfg->worker_lease_ms <= cfg->http_timeout_ms)
		log_warn("PGHOOK_WORKER_LEASE (%lld ms) is not longer than PGHOOK_HTTP_TIMEOUT "
			 "(%lld ms): a slow receiver may get a delivery twice",
			(long long)cfg->worker_lease_ms, (long long)cfg->http_timeout_ms);
	ph_db_init(&w->db, cfg->database_url);
	pq_init(w);
	if (!deliver_init(w))
		return false;
	outcome_init(w);
	if (!ops_init(w))
		return false;
	listen_init(w);
	return true;
}

static void teardown(struct worker *w)
{
	listen_finish(w);
	ops_finish(w);
	pq_finish(w);
	deliver_finish(w);
	outcome_finish(w);
	if (w->deadline)
		event_free(w->deadline);
	ph_db_finish(&w->db);
	ph_ssrf_policy_destroy(w->ssrf);
	if (w->base)
		event_base_free(w->base);
}

int main(void)
{
	struct ph_config cfg;
	struct worker w;
	char err[256];
	int status = 1;

	ph_log_set_component("worker");
	if (!ph_config_load(&cfg, err, sizeof(err))) {
		log_error("configuration: %s", err);
		return 2;
	}
	ph_log_set_level(cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Connecting blocks the loop: bound it when the database host does not answer at all
	 * (libpq's default is to wait for the kernel's TCP timeout, minutes). */
	setenv("PGCONNECT_TIMEOUT", "5", 0);
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		log_error("curl_global_init failed");
		ph_config_finish(&cfg);
		return 1;
	}
	struct event *sigterm = NULL, *sigint = NULL;
	if (setup(&w, &cfg)) {
		sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
		sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
		event_add(sigterm, NULL);
		event_add(sigint, NULL);
		log_info("worker %s started: concurrency %d, batch %d", w.worker_id,
			cfg.worker_concurrency, cfg.worker_batch);
		event_base_dispatch(w.base);
		status = 0;
		log_info("worker stopped");
	}
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	teardown(&w);
	curl_global_cleanup();
	ph_config_finish(&cfg);
	return status;
}
