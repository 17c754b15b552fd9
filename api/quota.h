/* SPDX-License-Identifier: MIT
 *
 * quota: what one tenant may ask of this api process at once (docs/reliability.md, "Limits
 * and abuse"). The ingest rate is a token bucket per tenant (PGHOOK_TENANT_EVENTS_PER_SECOND,
 * PGHOOK_TENANT_EVENTS_BURST, or the tenant's tenant_limits row); manual sends take a slot of
 * the process (PGHOOK_SEND_CONCURRENCY) and of the tenant (PGHOOK_TENANT_SEND_CONCURRENCY).
 * Both are per api process, shared by its loops: with N api processes a tenant gets up to N
 * times the rate. The webhook and fan-out quotas are checked by the database
 * (sql/functions/quota.sql).
 */
#ifndef PGHOOK_API_QUOTA_H
#define PGHOOK_API_QUOTA_H

#include <stdbool.h>

#include "http.h"

/* Take n events of r's tenant from its ingest rate. False after answering 429 with
 * Retry-After (over the rate now), or 403 quota_exceeded (n over the burst: never). */
bool quota_take_events(struct req *r, int n) PH_MUSTCHECK;
/* Take a manual-send slot for r's tenant; false after answering 429 with Retry-After: 1 s, or
 * later when many of the tenant's sends were refused (its retries are spread out). */
bool quota_send_begin(struct req *r) PH_MUSTCHECK;
/* Give back the slot quota_send_begin took for tenant. */
void quota_send_end(const char *tenant);

/* Recover pages are paced per tenant: quota_recover_begin says how many microseconds the next
 * page must wait (each page rests three times as long as the page before took, at most 10 s),
 * quota_recover_end tells what a page took. Any thread. */
long long quota_recover_begin(const char *tenant);
void quota_recover_end(const char *tenant, long long took_us);

/* Failed logins: each client address (hashed into a fixed table, so memory stays bounded) may
 * fail authentication 1,000 times at once and 100 times a second after
 * that. quota_login_allowed answers 429 with Retry-After and returns false once its budget
 * is spent; a key already verified (auth.c's cache) is not checked, so a client with a good
 * key sharing an address with a guesser keeps working. */
bool quota_login_allowed(struct req *r) PH_MUSTCHECK;
void quota_login_failed(struct req *r);

#endif
