/* SPDX-License-Identifier: MIT
 *
 * quota: see quota.h. The state is the process's, shared by every loop thread behind one
 * mutex (held for a hash lookup and some arithmetic, never across a statement): a tenant
 * sending to two loops must meet one limit, not one per loop. An entry per tenant that used
 * the api since start; tenants are created by the operator, so their number is bounded.
 */
#include "quota.h"

#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "log.h"

#define TENANT_BUCKETS 1024 /* a power of two; also the login table's hash */
/* A tenant's override (tenant_limits) is read again after this long. */
#define OVERRIDE_TTL_US (10LL * 1000 * 1000)

struct tenant_quota {
	struct tenant_quota *next;
	struct ph_bucket events;
	int rate, burst; /* from tenant_limits; -1: the process default */
	long long override_until_us; /* read again after this */
	int sends; /* manual sends running */
	long long send_retry_at_us; /* the next free retry time of a refused send */
	long long recover_next_us; /* the tenant's next recover page may start then */
	long long recover_last_us; /* what its last page took */
	char id[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tenant_quota *tenants[TENANT_BUCKETS];
static int sends_running;

static size_t tenant_hash(const char *s)
{
	size_t h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h & (TENANT_BUCKETS - 1);
}

/* The tenant's entry, created on first use. Call with lock held. */
static struct tenant_quota *entry(const char *tenant)
{
	struct tenant_quota **pp = &tenants[tenant_hash(tenant)];
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, tenant) == 0)
			return *pp;
	size_t len = strlen(tenant) + 1;
	struct tenant_quota *q = ph_xcalloc(1, sizeof(*q) + len);
	memcpy(q->id, tenant, len);
	q->rate = q->burst = -1;
	*pp = q;
	return q;
}

static void reply_retry(struct req *r, long long wait_us, const char *msg)
{
	long long secs = (wait_us + 999999) / 1000000;
	char v[24];
	snprintf(v, sizeof(v), "%lld", secs > 0 ? secs : 1);
	if (r->ev)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", v);
	reply_error(r, 429, "rate_limited", "%s", msg);
}

/* Read the tenant's rate override when the cached one is stale. The statement runs outside
 * the lock; a failure keeps the defaults (the limit must not make ingest depend on it). */
static void refresh_override(struct req *r, int *rate, int *burst)
{
	long long now = ph_now_us();
	pthread_mutex_lock(&lock);
	struct tenant_quota *q = entry(r->tenant_id);
	bool stale = q->override_until_us <= now;
	*rate = q->rate;
	*burst = q->burst;
	pthread_mutex_unlock(&lock);
	if (!stale)
		return;
	const char *params[] = { r->tenant_id };
	PGresult *res = ph_db_exec_prepared(&r->ctx->db, "quota_rate",
		"select coalesce(events_per_second, -1), coalesce(events_burst, -1)"
		" from tenant_limits where tenant_id = $1",
		1, params);
	*rate = *burst = -1;
	if (res && PQntuples(res) == 1) {
		*rate = atoi(PQgetvalue(res, 0, 0));
		*burst = atoi(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	pthread_mutex_lock(&lock);
	q->rate = *rate;
	q->burst = *burst;
	q->override_until_us = now + OVERRIDE_TTL_US;
	pthread_mutex_unlock(&lock);
}

bool quota_take_events(struct req *r, int n)
{
	const struct ph_config *cfg = r->ctx->cfg;
	int rate, burst;
	refresh_override(r, &rate, &burst);
	if (rate < 0)
		rate = cfg->tenant_events_per_second;
	if (burst < 0)
		burst = cfg->tenant_events_burst;
	if (rate == 0) /* no limit */
		return true;
	if (burst < rate)
		burst = rate;
	pthread_mutex_lock(&lock);
	long long wait = ph_bucket_take(&entry(r->tenant_id)->events, rate, burst, n, ph_now_us());
	pthread_mutex_unlock(&lock);
	if (wait == 0)
		return true;
	if (wait < 0) {
		reply_error(r, 403, "quota_exceeded",
			"%d events in one request is over this tenant's burst of %d events", n,
			burst);
		return false;
	}
	char msg[128];
	snprintf(msg, sizeof(msg),
		"this tenant sends events faster than its limit of %d a second (burst %d)", rate,
		burst);
	reply_retry(r, wait, msg);
	return false;
}

/* A refused send is told to come back at the next free retry time of its tenant: those are
 * handed out SEND_RETRIES_PER_SLOT times a second per send slot, so 10,000 clients of one
 * tenant retrying as told come back spread out, not all in the next second (each refusal
 * costs the loops and the machine about what another tenant's ingest does: 10,000 a second
 * doubled that tenant's p99). One refused client, or a few, still hear 1 s. */
#define SEND_RETRIES_PER_SLOT 10
#define SEND_RETRY_MAX_US     (60LL * 1000 * 1000)

/* Microseconds until q's next free retry time, which it then takes. Call with lock held. */
static long long send_retry_wait(struct tenant_quota *q, int slots, long long now)
{
	long long step = 1000000LL / ((long long)slots * SEND_RETRIES_PER_SLOT);
	if (q->send_retry_at_us < now)
		q->send_retry_at_us = now;
	long long wait = q->send_retry_at_us - now;
	if (wait < SEND_RETRY_MAX_US)
		q->send_retry_at_us += step > 0 ? step : 1;
	return wait;
}

bool quota_send_begin(struct req *r)
{
	const struct ph_config *cfg = r->ctx->cfg;
	long long wait = 0;
	pthread_mutex_lock(&lock);
	struct tenant_quota *q = entry(r->tenant_id);
	bool tenant_full = q->sends >= cfg->tenant_send_concurrency;
	bool full = tenant_full || sends_running >= cfg->send_concurrency;
	if (!full) {
		q->sends++;
		sends_running++;
	} else {
		wait = send_retry_wait(q, cfg->tenant_send_concurrency, ph_now_us());
	}
	pthread_mutex_unlock(&lock);
	if (full)
		reply_retry(r, wait,
			tenant_full ? "this tenant's manual sends are all running; try again later"
				    : "too many manual sends are running; try again later");
	return !full;
}

void quota_send_end(const char *tenant)
{
	pthread_mutex_lock(&lock);
	struct tenant_quota *q = entry(tenant);
	if (q->sends > 0)
		q->sends--;
	if (sends_running > 0)
		sends_running--;
	pthread_mutex_unlock(&lock);
}

/* A tenant's recover pages (webhooks.c) each rest RECOVER_REST times as long as the page
 * before took, at most RECOVER_REST_MAX_US: a tenant walking a large backlog page after page
 * kept a database backend busy and its WAL flowing the whole time, and other tenants' ingest
 * met it in every commit. */
#define RECOVER_REST	    3
#define RECOVER_REST_MAX_US (10LL * 1000 * 1000)

long long quota_recover_begin(const char *tenant)
{
	long long now = ph_now_us();
	pthread_mutex_lock(&lock);
	struct tenant_quota *q = entry(tenant);
	long long start = q->recover_next_us > now ? q->recover_next_us : now;
	/* Reserve: a second page asked meanwhile starts after this one and its rest. */
	long long rest = q->recover_last_us * RECOVER_REST;
	q->recover_next_us = start + q->recover_last_us +
		(rest < RECOVER_REST_MAX_US ? rest : RECOVER_REST_MAX_US);
	pthread_mutex_unlock(&lock);
	return start - now;
}

void quota_recover_end(const char *tenant, long long took_us)
{
	long long now = ph_now_us();
	long long rest = took_us * RECOVER_REST;
	pthread_mutex_lock(&lock);
	struct tenant_quota *q = entry(tenant);
	q->recover_last_us = took_us;
	long long next = now + (rest < RECOVER_REST_MAX_US ? rest : RECOVER_REST_MAX_US);
	if (q->recover_next_us < next)
		q->recover_next_us = next;
	pthread_mutex_unlock(&lock);
}

#define LOGIN_SLOTS TENANT_BUCKETS
/* A client may fail this many times the per-second rate at once (a burst of typos, a
 * deploy with a stale key), then the rate. */
#define LOGIN_BURST_SECONDS 10.0

static struct ph_bucket login_slots[LOGIN_SLOTS];

static struct ph_bucket *login_slot(struct req *r)
{
	const char *addr = "";
	ev_uint16_t port;
	struct evhttp_connection *conn = r->ev ? evhttp_request_get_connection(r->ev) : NULL;
	if (conn)
		evhttp_connection_get_peer(conn, (char **)&addr, &port);
	return &login_slots[tenant_hash(addr ? addr : "") % LOGIN_SLOTS];
}

bool quota_login_allowed(struct req *r)
{
	pthread_mutex_lock(&lock);
	struct ph_bucket *b = login_slot(r);
	/* Taking nothing refills the bucket; one token must be left for another failure. */
	double rate = r->ctx->cfg->login_failures_per_second;
	long long wait = ph_bucket_take(b, rate, rate * LOGIN_BURST_SECONDS, 1, ph_now_us());
	if (wait == 0)
		b->tokens += 1; /* only looking: a failure takes it (quota_login_failed) */
	pthread_mutex_unlock(&lock);
	if (wait == 0)
		return true;
	reply_retry(r, wait, "too many failed authentications from this address; try later");
	return false;
}

void quota_login_failed(struct req *r)
{
	pthread_mutex_lock(&lock);
	double rate = r->ctx->cfg->login_failures_per_second;
	(void)ph_bucket_take(login_slot(r), rate, rate * LOGIN_BURST_SECONDS, 1, ph_now_us());
	pthread_mutex_unlock(&lock);
}
