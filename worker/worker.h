/* SPDX-License-Identifier: MIT
 *
 * worker: the state one pghook-worker process shares between its modules. Everything runs on
 * one libevent loop in one thread:
 *   claim.c    claims due deliveries (one statement per batch) when delivery slots are free
 *   deliver.c  drives libcurl multi from the loop and runs the jobs (deliveries, emails)
 *   outcome.c  queues finished attempts and records them in one statement per batch, retrying
 *              while the database is away so no outcome is lost
 *   notify.c   drains the notifications outbox as emails over SMTP
 *   listen.c   LISTEN pghook_deliveries on its own connection, plus the poll fallback
 *   ops.c      /healthz, /readyz, /metrics
 *   pq.c       runs claims and completions asynchronously, each on a connection of its own
 * Other database statements (except LISTEN) are blocking round trips on w->db. All are short,
 * batched, and never inside a transaction that spans an HTTP request.
 */
#ifndef PGHOOK_WORKER_WORKER_H
#define PGHOOK_WORKER_WORKER_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "delivery.h"
#include "request.h"
#include "ssrf.h"

enum job_kind {
	JOB_DELIVERY,
	JOB_EMAIL,
};

/* One transfer in the curl multi: a delivery attempt or a notification email. */
struct job {
	enum job_kind kind;
	struct job *prev, *next; /* w->jobs, while the transfer runs */
	struct ph_request req; /* JOB_DELIVERY; req.owner points back here */
	CURL *easy; /* the handle in the multi (req.easy for deliveries) */
	/* JOB_DELIVERY */
	char *id, *webhook_id, *event_id, *url, *secret, *previous_secret, *payload;
	long long token;
	int attempt_count; /* attempts before this one */
	/* JOB_EMAIL */
	long long notification_id;
	int email_attempts;
	char *message;
	size_t message_len, message_off;
	struct curl_slist *rcpt;
	char error[CURL_ERROR_SIZE];
};

/* Deliveries in flight to one webhook (deliver.c's table, chained by hash). */
struct hook_count {
	struct hook_count *next;
	int n;
	char id[];
};

/* One finished attempt waiting to be recorded. */
struct outcome {
	char *id;
	long long token;
	enum ph_delivery_status status;
	long code;
	char *body;
	char *error;
	int duration_ms;
	int64_t delay_ms;
	bool gone;
};

#define PQ_MAX_PARAMS 4

struct worker;
struct pq_op;
/* A statement's callback: res is borrowed (cleared after), NULL when the statement failed. */
typedef void (*pq_done_fn)(struct worker *w, PGresult *res, void *arg);

/* pq.c's lanes, each a connection with its own statement queue. */
enum pq_lane {
	PQ_CLAIM,
	PQ_COMPLETE,
	PQ_LANES,
};

/* pq.c's state for one lane: its connection and statement queue. */
struct pq {
	struct worker *w;
	PGconn *conn;
	struct event *rev, *wev;
	struct pq_op *head, *tail;
	bool sent; /* the head was sent and its results are awaited */
	PGresult *result; /* the head's result so far */
	bool conn_lost; /* the last failure was a broken connection */
};

#define LATENCY_BUCKETS 12
#define BATCH_BUCKETS	8

struct metrics {
	uint64_t delivered, retried, failed, stale; /* stale: token no longer matched */
	uint64_t latency_count, latency_sum_ms;
	uint64_t latency_le[LATENCY_BUCKETS];
	uint64_t claims, claimed;
	uint64_t batch_le[BATCH_BUCKETS];
	uint64_t emails_sent, emails_failed;
	uint64_t db_errors;
	double claim_ms, complete_ms; /* time spent in those statements */
	uint64_t completes;
};

struct worker {
	const struct ph_config *cfg;
	struct event_base *base;
	struct ph_db db; /* blocking: notifications, metrics, shutdown */
	struct pq pq[PQ_LANES]; /* asynchronous: claims, completions */
	struct ph_ssrf_policy *ssrf;
	char worker_id[128];

	/* deliver.c */
	CURLM *multi;
	struct event *curl_timer;
	struct job *jobs;
	int inflight; /* delivery jobs running */
	struct hook_count **hooks; /* in flight per webhook; hooks_size buckets */
	size_t hooks_size;
	int hooks_full; /* webhooks at PGHOOK_WORKER_PER_WEBHOOK: claims skip them */
	int emails_inflight; /* email jobs running */
	CURL **spare; /* reset easy handles kept for the next deliveries; spare_cap slots */
	int nspare, spare_cap;
	int spare_low; /* fewest spares since the last trim: those were not needed */
	struct event *spare_timer;

	/* claim.c */
	bool more_due; /* the last claim was full: there may be more right now */
	bool claiming; /* a claim statement is in flight */
	bool claim_skipped; /* the claim in flight skips webhooks at their cap */
	bool woken_while_claiming; /* claim_wake came while a claim was in flight */
	/* A claim skipping the webhooks at their cap found nothing else due: claims wait for a
	 * webhook below its cap, a NOTIFY or the poll (claim_wake). */
	bool others_dry;
	double claim_started_ms;

	/* outcome.c */
	struct outcome *pending; /* the first nsending are being written */
	int npending, pending_cap, nsending;
	double flush_started_ms;
	struct event *flush_timer;
	int64_t flush_backoff_ms;
	int flush_rejected; /* consecutive rejections with the connection fine */

	/* listen.c */
	PGconn *listen_conn;
	struct event *listen_ev;
	struct event *listen_retry;
	struct event *poll_timer;
	int64_t listen_backoff_ms;

	/* ops.c */
	struct evhttp *http;
	struct metrics m;

	/* main.c */
	bool stopping;
	bool finished; /* finish_shutdown ran */
	struct event *deadline;
};

/* claim.c */
/* Claim due deliveries while slots are free and start them. Loop thread only. */
void claim_pump(struct worker *w);
/* New rows may be due (a NOTIFY, the poll): claim, even while webhooks are at their cap. */
void claim_wake(struct worker *w);
/* Give back what this worker holds but did not finish (shutdown). */
void claim_release_all(struct worker *w);

/* deliver.c */
bool deliver_init(struct worker *w) PH_MUSTCHECK;
void deliver_finish(struct worker *w);
/* Start a delivery job (takes ownership). A job that cannot start is completed at once. */
void deliver_start(struct worker *w, struct job *j);
/* Start an email job (takes ownership). */
void deliver_start_email(struct worker *w, struct job *j);
/* Stop every running transfer and free its job without recording an outcome. */
void deliver_abort_all(struct worker *w);
void job_destroy(struct job *j);
/* The webhooks at their in-flight cap as a text[] literal, "{}" when none (claim.c). */
char *deliver_full_hooks(const struct worker *w);

/* outcome.c */
void outcome_init(struct worker *w);
void outcome_finish(struct worker *w);
/* Queue the outcome of a finished delivery job and schedule the batch write. */
void outcome_add(struct worker *w, const struct job *j, const struct ph_request_result *res);
/* Start writing the queued outcomes (one statement; no-op while a write is in flight). */
void outcome_flush(struct worker *w);
/* Write every queued outcome now, blocking (shutdown). False when the database refused. */
bool outcome_flush_now(struct worker *w) PH_MUSTCHECK;

/* notify.c */
/* Take due emails and start sending them. */
void notify_pump(struct worker *w);
/* An email job finished with curl code rc. */
void notify_done(struct worker *w, struct job *j, CURLcode rc);

/* pq.c */
void pq_init(struct worker *w);
/* Queue a statement on a lane (params copied); done runs from the loop when it completes. */
void pq_submit(struct worker *w, enum pq_lane lane, const char *sql, int nparams,
	const char *const *params, pq_done_fn done, void *arg);
/* Block until every queued statement completed and its callback ran (shutdown). */
void pq_drain(struct worker *w);
bool pq_ready(const struct worker *w);
void pq_finish(struct worker *w);

/* listen.c */
void listen_init(struct worker *w);
void listen_finish(struct worker *w);

/* ops.c */
bool ops_init(struct worker *w) PH_MUSTCHECK;
void ops_finish(struct worker *w);
void metrics_latency(struct metrics *m, int ms);
void metrics_batch(struct metrics *m, int n);

/* main.c */
/* Called whenever a job ends: lets shutdown finish when the last one is done. */
void worker_job_ended(struct worker *w);

#endif
