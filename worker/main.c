/* SPDX-License-Identifier: MIT
 *
 * pghook-worker: reads the configuration, wires the modules together (worker.h) and runs the
 * loop until lifecycle.c stops it.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "claim.h"
#include "deliver.h"
#include "lifecycle.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "pq.h"
#include "record.h"
#include "worker.h"

static const char usage[] =
	"usage: pghook-worker [--help | --version]\n"
	"Claims due webhook deliveries from PostgreSQL and delivers them until SIGTERM.\n"
	"Configuration comes from the environment (DATABASE_URL, PGHOOK_*): see README.md.\n";

/* --help and --version answer without starting; anything else is a usage error. Returns
 * the exit status, or -1 to start. */
static int parse_args(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("pghook-worker %s\n", PGHOOK_VERSION);
		return 0;
	}
	fprintf(stderr, "pghook-worker: unexpected argument \"%s\"\n%s", argv[1], usage);
	return 2;
}

static void make_worker_id(char *out, size_t len)
{
	char host[64];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "%s:%ld", host, (long)getpid());
}

/* In dependency order: listen comes last, since it claims at once. */
static bool setup(struct worker *w, const struct ph_config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	make_worker_id(w->id, sizeof(w->id));
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
	metrics_init(w);
	lifecycle_init(w);
	pq_init(w);
	if (!deliver_init(w))
		return false;
	record_init(w);
	claim_init(w);
	if (!ops_init(w))
		return false;
	listen_init(w);
	return true;
}

/* pq's queued statements fail into claim and record, and aborted jobs reach claim's cap
 * counting: those end after pq and deliver. */
static void teardown(struct worker *w)
{
	listen_finish(w);
	ops_finish(w);
	pq_finish(w);
	deliver_finish(w);
	record_finish(w);
	claim_finish(w);
	lifecycle_finish(w);
	metrics_finish(w);
	ph_db_finish(&w->db);
	if (w->base)
		event_base_free(w->base);
}

static int run(const struct ph_config *cfg)
{
	struct worker w;
	int status = 1;

	if (setup(&w, cfg)) {
		log_info("worker %s started: concurrency %d, batch %d", w.id,
			cfg->worker_concurrency, cfg->worker_batch);
		event_base_dispatch(w.base);
		status = 0;
		log_info("worker stopped");
	}
	teardown(&w);
	return status;
}

/* Each claim's result (hundreds of rows of payloads) and each completion's text are freed a
 * few milliseconds after they were allocated. With glibc's default thresholds that memory went
 * back to the kernel every time (brk down, and page faults on the way back up: 5% of a
 * draining worker's CPU), and texts over 128 KiB were mmapped afresh. Keep it in the heap: the
 * peak is the same, and after a burst deliver's spare trim gives the free pages back
 * (malloc_trim). */
static void tune_malloc(void)
{
#ifdef __GLIBC__
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_TOP_PAD, 1 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

int main(int argc, char **argv)
{
	struct ph_config cfg;
	char err[256];
	int status = parse_args(argc, argv);

	if (status >= 0)
		return status;
	ph_log_set_component("worker");
	tune_malloc();
	if (!ph_config_load(&cfg, err, sizeof(err))) {
		log_error("configuration: %s", err);
		ph_config_finish(&cfg);
		return 2;
	}
	ph_log_set_level(cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Connecting blocks the loop: bound it when the database host does not answer at all
	 * (libpq's default is to wait for the kernel's TCP timeout, minutes). */
	setenv("PGCONNECT_TIMEOUT", "5", 0);
	/* No statement of the worker's may hold its loop past this (each blocks deliveries). */
	if (cfg.statement_timeout_ms > 0)
		ph_db_add_session_setting("statement_timeout", cfg.statement_timeout_ms);
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		log_error("curl_global_init failed");
		status = 1;
	} else {
		status = run(&cfg);
		curl_global_cleanup();
	}
	ph_config_finish(&cfg);
	return status;
}
