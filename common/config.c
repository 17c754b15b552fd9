/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "duration.h"

#define DEFAULT_RETRY "0s,5s,5m,30m,2h,5h,10h,10h"

static const char *env_get(const char *name)
{
	return getenv(name);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? ph_xstrdup(s) : NULL;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Each typed setting: name, bounds, destination. Keeps load() one loop long. */
struct int_setting {
	const char *name;
	long lo, hi;
	int *dst;
};

struct dur_setting {
	const char *name;
	int64_t lo;
	int64_t *dst;
};

static void set_defaults(struct ph_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->http_timeout_ms = 15000;
	cfg->worker_concurrency = 1024;
	cfg->worker_batch = 400;
	cfg->worker_lease_ms = 0; /* derived from the timeout below unless set */
	cfg->worker_poll_ms = 1000;
	/* Sized for the small receivers most customers run (docs/architecture.md, "Scheduling"):
	 * Python's http.server listens with a backlog of 5 and answers one request at a time. */
	cfg->webhook_max_in_flight = 16;
	cfg->circuit_failures = 5;
	cfg->circuit_cooldown_ms = 30000;
	cfg->shutdown_timeout_ms = 20000;
	cfg->api_threads = 8;
	cfg->max_body_bytes = 1024 * 1024;
	cfg->statement_timeout_ms = 30000;
	cfg->tenant_max_webhooks = 1000;
	cfg->max_fanout_per_request = 100000;
	cfg->tenant_events_per_second = 10000;
	cfg->login_failures_per_second = 100;
	cfg->tenant_events_burst = 20000;
	cfg->send_concurrency = 64;
	cfg->tenant_send_concurrency = 8;
	cfg->log_level = PH_LOG_INFO;
	cfg->retry_count = ph_duration_list_parse(DEFAULT_RETRY, cfg->retry_schedule, PH_RETRY_MAX);
}

/* The worker's commits may skip waiting for the disk (docs/reliability.md, "The worker's
 * commits"): what a crashed primary then loses of them is delivered again, at least once as
 * ever, but the attempts it made are missing from the history. So waiting is the default. */
static bool load_synchronous_commit(
	struct ph_config *cfg, const char *(*get)(const char *), char *err, size_t errlen)
{
	static const char *const ok[] = { "on", "off", "local", "remote_write", "remote_apply" };
	const char *v = get("PGHOOK_WORKER_SYNCHRONOUS_COMMIT");
	if (!v || !*v)
		v = "on";
	for (size_t i = 0; i < PH_ARRAY_LEN(ok); i++) {
		if (strcmp(v, ok[i]) == 0) {
			cfg->worker_synchronous_commit = ph_xstrdup(v);
			return true;
		}
	}
	snprintf(err, errlen,
		"PGHOOK_WORKER_SYNCHRONOUS_COMMIT: expected on, off, local, remote_write or "
		"remote_apply, got \"%s\"",
		v);
	return false;
}

static bool load_strings(
	struct ph_config *cfg, const char *(*get)(const char *), char *err, size_t errlen)
{
	const char *listen = get("PGHOOK_LISTEN");
	const char *mlisten = get("PGHOOK_METRICS_LISTEN");
	const char *from = get("PGHOOK_SMTP_FROM");
	cfg->database_url = dup_or_null(get("DATABASE_URL"));
	cfg->listen = ph_xstrdup(listen && *listen ? listen : "0.0.0.0:8080");
	cfg->metrics_listen = ph_xstrdup(mlisten && *mlisten ? mlisten : "0.0.0.0:9090");
	cfg->admin_key = dup_or_null(get("PGHOOK_ADMIN_KEY"));
	cfg->public_url = dup_or_null(get("PGHOOK_PUBLIC_URL"));
	/* Console links append "/console/…": one slash, whatever the operator wrote. */
	for (size_t n = cfg->public_url ? strlen(cfg->public_url) : 0;
		n > 0 && cfg->public_url[n - 1] == '/'; n--)
		cfg->public_url[n - 1] = '\0';
	cfg->secret_key = dup_or_null(get("PGHOOK_SECRET_KEY"));
	cfg->allow_cidrs = dup_or_null(get("PGHOOK_ALLOW_CIDRS"));
	cfg->smtp_url = dup_or_null(get("PGHOOK_SMTP_URL"));
	cfg->smtp_from = ph_xstrdup(from && *from ? from : "pghook@localhost");
	return load_synchronous_commit(cfg, get, err, errlen);
}

/* The port after the address: 1 to 5 digits, at most 65535. */
static bool parse_port(const char *s, uint16_t *out)
{
	long v;
	if (strlen(s) > 5 || strspn(s, "0123456789") != strlen(s) || !parse_int(s, 0, 65535, &v))
		return false;
	*out = (uint16_t)v;
	return true;
}

bool ph_listen_parse(const char *s, struct ph_listen_addr *out)
{
	const char *host = s, *colon;
	size_t hostlen;
	if (s[0] == '[') {
		/* [::1]:9090: the brackets keep the address's colons apart from the port's. */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		host = s + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		/* Unbracketed, the last colon starts the port (so ::1:9090 still means ::1). */
		colon = strrchr(s, ':');
		if (!colon || strpbrk(s, "[]"))
			return false;
		hostlen = (size_t)(colon - s);
	}
	if (hostlen >= sizeof(out->host) || !parse_port(colon + 1, &out->port))
		return false;
	memcpy(out->host, host, hostlen);
	out->host[hostlen] = '\0';
	return true;
}

static bool load_listen(struct ph_config *cfg, char *err, size_t errlen)
{
	const struct {
		const char *name, *value;
		struct ph_listen_addr *dst;
	} addrs[] = {
		{ "PGHOOK_LISTEN", cfg->listen, &cfg->listen_addr },
		{ "PGHOOK_METRICS_LISTEN", cfg->metrics_listen, &cfg->metrics_addr },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(addrs); i++) {
		if (!ph_listen_parse(addrs[i].value, addrs[i].dst)) {
			snprintf(err, errlen,
				"%s: expected host:port or [ipv6]:port with a port in 0..65535, "
				"got \"%s\"",
				addrs[i].name, addrs[i].value);
			return false;
		}
	}
	return true;
}

static bool load_numbers(
	struct ph_config *cfg, const char *(*get)(const char *), char *err, size_t errlen)
{
	const struct int_setting ints[] = {
		{ "PGHOOK_WORKER_CONCURRENCY", 1, 100000, &cfg->worker_concurrency },
		{ "PGHOOK_WORKER_BATCH", 1, 10000, &cfg->worker_batch },
		{ "PGHOOK_WEBHOOK_MAX_IN_FLIGHT", 1, 100000, &cfg->webhook_max_in_flight },
		{ "PGHOOK_CIRCUIT_FAILURES", 1, 100000, &cfg->circuit_failures },
		{ "PGHOOK_API_THREADS", 1, 512, &cfg->api_threads },
		{ "PGHOOK_TENANT_MAX_WEBHOOKS", 0, 100000000, &cfg->tenant_max_webhooks },
		{ "PGHOOK_MAX_FANOUT_PER_REQUEST", 0, 1000000000, &cfg->max_fanout_per_request },
		{ "PGHOOK_TENANT_EVENTS_PER_SECOND", 0, 100000000, &cfg->tenant_events_per_second },
		{ "PGHOOK_TENANT_EVENTS_BURST", 0, 100000000, &cfg->tenant_events_burst },
		{ "PGHOOK_LOGIN_FAILURES_PER_SECOND", 1, 1000000, &cfg->login_failures_per_second },
		{ "PGHOOK_SEND_CONCURRENCY", 1, 100000, &cfg->send_concurrency },
		{ "PGHOOK_TENANT_SEND_CONCURRENCY", 1, 100000, &cfg->tenant_send_concurrency },
	};
	const struct dur_setting durs[] = {
		{ "PGHOOK_HTTP_TIMEOUT", 1, &cfg->http_timeout_ms },
		{ "PGHOOK_WORKER_LEASE", 1000, &cfg->worker_lease_ms },
		{ "PGHOOK_WORKER_POLL", 10, &cfg->worker_poll_ms },
		{ "PGHOOK_SHUTDOWN_TIMEOUT", 0, &cfg->shutdown_timeout_ms },
		{ "PGHOOK_SHUTDOWN_DELAY", 0, &cfg->shutdown_delay_ms },
		{ "PGHOOK_CIRCUIT_COOLDOWN", 1, &cfg->circuit_cooldown_ms },
		{ "PGHOOK_STATEMENT_TIMEOUT", 0, &cfg->statement_timeout_ms },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(ints); i++) {
		const char *v = get(ints[i].name);
		long n;
		if (!v || !*v)
			continue;
		if (!parse_int(v, ints[i].lo, ints[i].hi, &n)) {
			snprintf(err, errlen, "%s: expected an integer in %ld..%ld, got \"%s\"",
				ints[i].name, ints[i].lo, ints[i].hi, v);
			return false;
		}
		*ints[i].dst = (int)n;
	}
	for (size_t i = 0; i < PH_ARRAY_LEN(durs); i++) {
		const char *v = get(durs[i].name);
		if (!v || !*v)
			continue;
		if (!ph_duration_parse(v, durs[i].dst) || *durs[i].dst < durs[i].lo) {
			snprintf(err, errlen,
				"%s: expected a duration such as 500ms, 15s, 5m, got \"%s\"",
				durs[i].name, v);
			return false;
		}
	}
	return true;
}

static bool load_misc(
	struct ph_config *cfg, const char *(*get)(const char *), char *err, size_t errlen)
{
	const char *v = get("PGHOOK_RETRY_SCHEDULE");
	if (v && *v) {
		cfg->retry_count = ph_duration_list_parse(v, cfg->retry_schedule, PH_RETRY_MAX);
		if (cfg->retry_count < 1) {
			snprintf(err, errlen,
				"PGHOOK_RETRY_SCHEDULE: expected 1..%d comma-separated durations, got "
				"\"%s\"",
				PH_RETRY_MAX, v);
			return false;
		}
	}
	v = get("PGHOOK_MAX_BODY_BYTES");
	long n;
	if (v && *v) {
		if (!parse_int(v, 1024, 64L * 1024 * 1024, &n)) {
			snprintf(err, errlen,
				"PGHOOK_MAX_BODY_BYTES: expected 1024..67108864, got \"%s\"", v);
			return false;
		}
		cfg->max_body_bytes = (size_t)n;
	}
	v = get("PGHOOK_LOG_LEVEL");
	if (v && *v && !ph_log_parse_level(v, &cfg->log_level)) {
		snprintf(err, errlen,
			"PGHOOK_LOG_LEVEL: expected debug, info, warn or error, got \"%s\"", v);
		return false;
	}
	/* The first key encrypts, every one decrypts (see crypto.h). Never quote the value. */
	if (!ph_crypto_init(&cfg->crypto, cfg->secret_key)) {
		snprintf(err, errlen, "PGHOOK_SECRET_KEY: expected base64 of 32 bytes");
		return false;
	}
	if (cfg->worker_lease_ms == 0)
		cfg->worker_lease_ms = cfg->http_timeout_ms + 30000;
	return true;
}

bool ph_config_load_from(
	struct ph_config *cfg, const char *(*get)(const char *), char *err, size_t errlen)
{
	set_defaults(cfg);
	return load_strings(cfg, get, err, errlen) && load_listen(cfg, err, errlen) &&
		load_numbers(cfg, get, err, errlen) && load_misc(cfg, get, err, errlen);
}

bool ph_config_load(struct ph_config *cfg, char *err, size_t errlen)
{
	return ph_config_load_from(cfg, env_get, err, errlen);
}

void ph_config_finish(struct ph_config *cfg)
{
	free(cfg->database_url);
	free(cfg->listen);
	free(cfg->metrics_listen);
	free(cfg->admin_key);
	free(cfg->public_url);
	free(cfg->secret_key);
	ph_crypto_finish(&cfg->crypto);
	free(cfg->allow_cidrs);
	free(cfg->smtp_url);
	free(cfg->smtp_from);
	free(cfg->worker_synchronous_commit);
	memset(cfg, 0, sizeof(*cfg));
}
