/* SPDX-License-Identifier: MIT
 *
 * config: every setting comes from the environment (12-factor); the README's table lists them.
 * A ph_config is filled once at start-up and then travels as const; no globals.
 */
#ifndef PGHOOK_COMMON_CONFIG_H
#define PGHOOK_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "log.h"
#include "util.h"

#define PH_RETRY_MAX 64

/* A listen address: "host:port", "[ipv6]:port", or ":port" for every interface. */
struct ph_listen_addr {
	char host[256]; /* brackets removed; "" when none was given */
	uint16_t port; /* 0: the kernel picks one */
};

struct ph_config {
	char *database_url; /* NULL: libpq's PG* variables apply */
	char *listen; /* api "host:port", as given (for logs) */
	struct ph_listen_addr listen_addr; /* listen, parsed */
	char *metrics_listen; /* worker "host:port", as given (for logs) */
	struct ph_listen_addr metrics_addr; /* metrics_listen, parsed */
	char *admin_key; /* NULL: admin routes off */
	char *public_url; /* PGHOOK_PUBLIC_URL without a trailing '/', or NULL (console links) */
	char *secret_key; /* base64 of 32 bytes (or a comma-separated list), or NULL */
	struct ph_crypto crypto; /* secret_key decoded: signing secrets at rest */
	char *allow_cidrs; /* comma-separated, or NULL */
	char *smtp_url; /* NULL: no emails */
	char *smtp_from;
	/* the worker's synchronous_commit: on, off, local, remote_write or remote_apply */
	char *worker_synchronous_commit;
	int64_t retry_schedule[PH_RETRY_MAX];
	int retry_count;
	int64_t http_timeout_ms;
	int worker_concurrency;
	int worker_batch;
	/* the default of a webhook's maxInFlight, for the whole fleet (sql/functions/claim.sql) */
	int webhook_max_in_flight;
	int circuit_failures; /* consecutive failed attempts that open a webhook's circuit */
	int64_t circuit_cooldown_ms; /* first wait before a probe; doubles up to an hour */
	int64_t worker_lease_ms; /* how long a claim is held before others may take it */
	int64_t worker_poll_ms; /* fallback poll when no NOTIFY arrives */
	int64_t shutdown_timeout_ms; /* drain deadline on SIGTERM */
	int64_t shutdown_delay_ms; /* api: time /readyz fails before listeners close */
	int api_threads;
	size_t max_body_bytes;
	/* Limits one tenant meets (docs/reliability.md, "Limits and abuse"). 0: no limit. */
	int64_t statement_timeout_ms; /* every api and worker connection */
	int tenant_max_webhooks; /* webhooks a tenant may have (not deleted) */
	int max_fanout_per_request; /* deliveries one request may create */
	int tenant_events_per_second; /* ingest rate per tenant, per api process */
	/* failed authentications one client address may make per second, 10 times as many at
	 * once, per api process */
	int login_failures_per_second;
	int tenant_events_burst; /* events a tenant may send at once above the rate */
	int send_concurrency; /* manual sends running at once in one api process */
	int tenant_send_concurrency; /* of which one tenant's */
	enum ph_log_level log_level;
};

/* Fill cfg with defaults, then apply the environment. On an invalid value, writes a message
 * naming the variable into err (capacity errlen) and returns false. */
bool ph_config_load(struct ph_config *cfg, char *err, size_t errlen) PH_MUSTCHECK;
/* Same, reading variables through getenv_fn (for tests). */
bool ph_config_load_from(struct ph_config *cfg, const char *(*getenv_fn)(const char *name),
	char *err, size_t errlen) PH_MUSTCHECK;
/* Free the strings of cfg; the struct itself is the caller's. */
void ph_config_finish(struct ph_config *cfg);
/* Parse a listen address into out. False when there is no ":port", the port is not a number
 * in 0..65535, or a bracketed IPv6 address is not closed right before its ":port". */
bool ph_listen_parse(const char *s, struct ph_listen_addr *out) PH_MUSTCHECK;

#endif
