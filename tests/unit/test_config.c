/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/config, through ph_config_load_from with a fake environment: the
 * defaults, every setting applied, and an error naming the variable for each kind of bad value.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)

struct env_var {
	const char *name, *value;
};

/* The fake environment read by fake_getenv: an array ended by a NULL name. */
static const struct env_var *fake_env;

static const char *fake_getenv(const char *name)
{
	for (const struct env_var *v = fake_env; v && v->name; v++) {
		if (strcmp(v->name, name) == 0)
			return v->value;
	}
	return NULL;
}

/* Every variable set, to the empty string. */
static const char *empty_getenv(const char *name)
{
	return "";
}

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

/* Load the environment env into cfg: it must succeed without a message. */
static void load_ok(const struct env_var *env, struct ph_config *cfg)
{
	char err[256] = "";
	fake_env = env;
	CHECK(ph_config_load_from(cfg, fake_getenv, err, sizeof(err)));
	CHECK_STR(err, "");
}

static void check_defaults(const struct ph_config *cfg)
{
	static const int64_t retry[] = { 0, 5 * SEC, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR,
		10 * HOUR, 10 * HOUR };
	CHECK(cfg->database_url == NULL);
	CHECK_STR(cfg->listen, "0.0.0.0:8080");
	CHECK_STR(cfg->listen_addr.host, "0.0.0.0");
	CHECK(cfg->listen_addr.port == 8080);
	CHECK_STR(cfg->metrics_listen, "0.0.0.0:9090");
	CHECK_STR(cfg->metrics_addr.host, "0.0.0.0");
	CHECK(cfg->metrics_addr.port == 9090);
	CHECK(cfg->admin_key == NULL);
	CHECK(cfg->secret_key == NULL);
	CHECK(cfg->allow_cidrs == NULL);
	CHECK(cfg->smtp_url == NULL);
	CHECK_STR(cfg->smtp_from, "pghook@localhost");
	CHECK_STR(cfg->worker_synchronous_commit, "on");
	CHECK(cfg->retry_count == 8);
	for (size_t i = 0; i < PH_ARRAY_LEN(retry) && cfg->retry_count == 8; i++)
		CHECK(cfg->retry_schedule[i] == retry[i]);
	CHECK(cfg->http_timeout_ms == 15 * SEC);
	CHECK(cfg->worker_concurrency == 1024);
	CHECK(cfg->worker_batch == 400);
	CHECK(cfg->worker_lease_ms == 45 * SEC); /* http timeout + 30s */
	CHECK(cfg->worker_poll_ms == 1 * SEC);
	CHECK(cfg->webhook_max_in_flight == 16);
	CHECK(cfg->circuit_failures == 5);
	CHECK(cfg->circuit_cooldown_ms == 30 * SEC);
	CHECK(cfg->shutdown_timeout_ms == 20 * SEC);
	CHECK(cfg->api_threads == 8);
	CHECK(cfg->max_body_bytes == 1024 * 1024);
	CHECK(cfg->log_level == PH_LOG_INFO);
}

static void test_defaults(void)
{
	struct ph_config cfg;
	char err[256] = "";
	static const struct env_var none[] = { { NULL, NULL } };

	fake_env = none;
	CHECK(ph_config_load_from(&cfg, fake_getenv, err, sizeof(err)));
	check_defaults(&cfg);
	ph_config_finish(&cfg);

	/* A variable set to "" counts as unset. */
	CHECK(ph_config_load_from(&cfg, empty_getenv, err, sizeof(err)));
	check_defaults(&cfg);
	ph_config_finish(&cfg);
	CHECK(cfg.listen == NULL); /* finish leaves the struct zeroed */
}

static void test_all_set(void)
{
	static const struct env_var env[] = {
		{ "DATABASE_URL", "postgres://u@db/pghook" },
		{ "PGHOOK_LISTEN", "127.0.0.1:8081" },
		{ "PGHOOK_METRICS_LISTEN", "[::1]:9091" },
		{ "PGHOOK_ADMIN_KEY", "admin-secret" },
		{ "PGHOOK_SECRET_KEY", "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=" },
		{ "PGHOOK_ALLOW_CIDRS", "10.0.0.0/8,192.168.0.0/16" },
		{ "PGHOOK_SMTP_URL", "smtp://mail:25" },
		{ "PGHOOK_SMTP_FROM", "hooks@example.com" },
		{ "PGHOOK_RETRY_SCHEDULE", "1s,500ms,1d" },
		{ "PGHOOK_HTTP_TIMEOUT", "10s" },
		{ "PGHOOK_WORKER_CONCURRENCY", "8" },
		{ "PGHOOK_WORKER_BATCH", "10000" },
		{ "PGHOOK_WORKER_LEASE", "2m" },
		{ "PGHOOK_WORKER_POLL", "250ms" },
		{ "PGHOOK_WEBHOOK_MAX_IN_FLIGHT", "3" },
		{ "PGHOOK_CIRCUIT_FAILURES", "2" },
		{ "PGHOOK_CIRCUIT_COOLDOWN", "1m" },
		{ "PGHOOK_SHUTDOWN_TIMEOUT", "0" },
		{ "PGHOOK_API_THREADS", "1" },
		{ "PGHOOK_MAX_BODY_BYTES", "2048" },
		{ "PGHOOK_LOG_LEVEL", "debug" },
		{ "PGHOOK_WORKER_SYNCHRONOUS_COMMIT", "remote_apply" },
		{ NULL, NULL },
	};
	struct ph_config cfg;
	load_ok(env, &cfg);
	CHECK_STR(cfg.database_url, "postgres://u@db/pghook");
	CHECK_STR(cfg.listen, "127.0.0.1:8081");
	CHECK_STR(cfg.metrics_listen, "[::1]:9091");
	CHECK_STR(cfg.metrics_addr.host, "::1");
	CHECK(cfg.metrics_addr.port == 9091);
	CHECK_STR(cfg.admin_key, "admin-secret");
	CHECK_STR(cfg.secret_key, "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=");
	CHECK_STR(cfg.allow_cidrs, "10.0.0.0/8,192.168.0.0/16");
	CHECK_STR(cfg.smtp_url, "smtp://mail:25");
	CHECK_STR(cfg.smtp_from, "hooks@example.com");
	CHECK(cfg.retry_count == 3);
	CHECK(cfg.retry_schedule[0] == SEC && cfg.retry_schedule[1] == 500 &&
		cfg.retry_schedule[2] == 24 * HOUR);
	CHECK(cfg.http_timeout_ms == 10 * SEC);
	CHECK(cfg.worker_concurrency == 8);
	CHECK(cfg.worker_batch == 10000);
	CHECK(cfg.worker_lease_ms == 2 * MIN); /* set, so not derived from the timeout */
	CHECK(cfg.worker_poll_ms == 250);
	CHECK(cfg.webhook_max_in_flight == 3);
	CHECK(cfg.circuit_failures == 2);
	CHECK(cfg.circuit_cooldown_ms == MIN);
	CHECK(cfg.shutdown_timeout_ms == 0);
	CHECK(cfg.api_threads == 1);
	CHECK(cfg.max_body_bytes == 2048);
	CHECK(cfg.log_level == PH_LOG_DEBUG);
	CHECK_STR(cfg.worker_synchronous_commit, "remote_apply");
	ph_config_finish(&cfg);
}

/* Without PGHOOK_WORKER_LEASE the lease follows the HTTP timeout. */
static void test_lease_derived(void)
{
	static const struct env_var env[] = { { "PGHOOK_HTTP_TIMEOUT", "1m" }, { NULL, NULL } };
	struct ph_config cfg;
	load_ok(env, &cfg);
	CHECK(cfg.worker_lease_ms == 90 * SEC);
	ph_config_finish(&cfg);
}

/* The longest schedule that fits, and the boundary values each bound allows. */
static void test_limits(void)
{
	char sched[64 * 3 + 1] = "", over[65 * 3 + 1] = "";
	for (int i = 0; i < PH_RETRY_MAX; i++)
		strcat(sched, i ? ",1s" : "1s");
	strcat(strcpy(over, sched), ",1s");
	const struct env_var env[] = {
		{ "PGHOOK_RETRY_SCHEDULE", sched },
		{ "PGHOOK_WORKER_CONCURRENCY", "100000" },
		{ "PGHOOK_API_THREADS", "512" },
		{ "PGHOOK_HTTP_TIMEOUT", "1ms" },
		{ "PGHOOK_WORKER_LEASE", "1s" },
		{ "PGHOOK_WORKER_POLL", "10ms" },
		{ "PGHOOK_MAX_BODY_BYTES", "67108864" },
		{ "PGHOOK_LOG_LEVEL", "error" },
		{ NULL, NULL },
	};
	struct ph_config cfg;
	char err[256] = "";
	load_ok(env, &cfg);
	CHECK(cfg.retry_count == PH_RETRY_MAX);
	CHECK(cfg.retry_schedule[PH_RETRY_MAX - 1] == SEC);
	CHECK(cfg.worker_concurrency == 100000);
	CHECK(cfg.api_threads == 512);
	CHECK(cfg.http_timeout_ms == 1);
	CHECK(cfg.worker_lease_ms == SEC);
	CHECK(cfg.worker_poll_ms == 10);
	CHECK(cfg.max_body_bytes == 64 * 1024 * 1024);
	CHECK(cfg.log_level == PH_LOG_ERROR);
	ph_config_finish(&cfg);

	const struct env_var too_many[] = { { "PGHOOK_RETRY_SCHEDULE", over }, { NULL, NULL } };
	fake_env = too_many;
	CHECK(!ph_config_load_from(&cfg, fake_getenv, err, sizeof(err)));
	CHECK(strncmp(err, "PGHOOK_RETRY_SCHEDULE: ", 23) == 0);
	ph_config_finish(&cfg);
}

/* A variable's refused values and, when given, the whole message for the first of them. */
static const struct {
	const char *name;
	const char *msg;
	const char *values[4];
} refused[] = {
	{ "PGHOOK_WORKER_CONCURRENCY",
		"PGHOOK_WORKER_CONCURRENCY: expected an integer in 1..100000, got \"0\"",
		{ "0", "100001", "-5" } },
	{ "PGHOOK_WORKER_BATCH",
		"PGHOOK_WORKER_BATCH: expected an integer in 1..10000, got \"abc\"",
		{ "abc", "10x", "1.5" } },
	{ "PGHOOK_API_THREADS", NULL, { "513", "99999999999999999999999" } },
	{ "PGHOOK_WEBHOOK_MAX_IN_FLIGHT", NULL, { "0", "100001" } },
	{ "PGHOOK_CIRCUIT_FAILURES", NULL, { "0", "x" } },
	{ "PGHOOK_CIRCUIT_COOLDOWN", NULL, { "0s", "30" } },
	{ "PGHOOK_HTTP_TIMEOUT",
		"PGHOOK_HTTP_TIMEOUT: expected a duration such as 500ms, 15s, 5m, got \"15\"",
		{ "15", "0s", "1.5s" } },
	{ "PGHOOK_WORKER_LEASE", NULL, { "999ms" } },
	{ "PGHOOK_WORKER_POLL", NULL, { "9ms", "soon" } },
	{ "PGHOOK_SHUTDOWN_TIMEOUT", NULL, { "-1s", "101d" } },
	{ "PGHOOK_RETRY_SCHEDULE",
		"PGHOOK_RETRY_SCHEDULE: expected 1..64 comma-separated durations, got \"5s,,5m\"",
		{ "5s,,5m", "5s,5", "," } },
	{ "PGHOOK_MAX_BODY_BYTES", "PGHOOK_MAX_BODY_BYTES: expected 1024..67108864, got \"1023\"",
		{ "1023", "67108865", "1MB" } },
	{ "PGHOOK_LOG_LEVEL",
		"PGHOOK_LOG_LEVEL: expected debug, info, warn or error, got \"verbose\"",
		{ "verbose", "INFO" } },
	{ "PGHOOK_LISTEN",
		"PGHOOK_LISTEN: expected host:port or [ipv6]:port with a port in 0..65535, got "
		"\"8080\"",
		{ "8080", "localhost:http", "127.0.0.1:65536" } },
	{ "PGHOOK_METRICS_LISTEN",
		"PGHOOK_METRICS_LISTEN: expected host:port or [ipv6]:port with a port in 0..65535, "
		"got \"[::1]\"",
		{ "[::1]", "[::1:9090" } },
	{ "PGHOOK_WORKER_SYNCHRONOUS_COMMIT",
		"PGHOOK_WORKER_SYNCHRONOUS_COMMIT: expected on, off, local, remote_write or "
		"remote_apply, got \"true\"",
		{ "true", "OFF" } },
	/* The message never repeats a secret's value. */
	{ "PGHOOK_SECRET_KEY", "PGHOOK_SECRET_KEY: expected base64 of 32 bytes", { "c2VjcmV0" } },
};

/* Load with name set to value alone: it must fail with an error that starts with the name
 * and quotes the value (a secret's excepted), or is msg when msg is given. */
static void check_refused(const char *name, const char *value, const char *msg)
{
	int before = check_failures;
	const struct env_var env[] = { { name, value }, { NULL, NULL } };
	struct ph_config cfg;
	char err[256] = "", want_start[64], want_value[64];
	fake_env = env;
	CHECK(!ph_config_load_from(&cfg, fake_getenv, err, sizeof(err)));
	snprintf(want_start, sizeof(want_start), "%s: ", name);
	snprintf(want_value, sizeof(want_value), "got \"%s\"", value);
	CHECK(strncmp(err, want_start, strlen(want_start)) == 0);
	if (strcmp(name, "PGHOOK_SECRET_KEY") == 0)
		CHECK(strstr(err, value) == NULL);
	else
		CHECK(strstr(err, want_value) != NULL);
	if (msg)
		CHECK_STR(err, msg);
	ph_config_finish(&cfg);
	case_done(value, before);
}

static void test_invalid(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(refused); i++)
		for (size_t k = 0; k < PH_ARRAY_LEN(refused[i].values) && refused[i].values[k]; k++)
			check_refused(refused[i].name, refused[i].values[k],
				k == 0 ? refused[i].msg : NULL);
}

static void test_listen_parse(void)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
	} ok[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 }, { "[::1]:9090", "::1", 9090 },
		{ "[::]:0", "::", 0 }, { "[fe80::1%eth0]:80", "fe80::1%eth0", 80 },
		{ ":9090", "", 9090 }, { "[]:9090", "", 9090 },
		{ "localhost:65535", "localhost", 65535 },
		{ "::1:9090", "::1", 9090 }, /* unbracketed: the last colon starts the port */
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(ok); i++) {
		int before = check_failures;
		struct ph_listen_addr a;
		CHECK(ph_listen_parse(ok[i].in, &a));
		CHECK_STR(a.host, ok[i].host);
		CHECK(a.port == ok[i].port);
		case_done(ok[i].in, before);
	}
	static const char *const bad[] = { "", ":", "8080", "127.0.0.1:", "127.0.0.1: 80",
		"127.0.0.1:+80", "127.0.0.1:080808", "[::1]", "[::1]9090", "::1]:9090", "[::1]:-1",
		"[::1:9090", "a[b]:80" };
	for (size_t i = 0; i < PH_ARRAY_LEN(bad); i++) {
		struct ph_listen_addr a;
		int before = check_failures;
		CHECK(!ph_listen_parse(bad[i], &a));
		case_done(bad[i], before);
	}
	char longest[300];
	struct ph_listen_addr a;
	memset(longest, 'h', sizeof(longest));
	strcpy(longest + 255, ":1");
	CHECK(ph_listen_parse(longest, &a) && strlen(a.host) == 255);
	strcpy(longest + 256, ":1");
	CHECK(!ph_listen_parse(longest, &a)); /* one character too long for a host */
}

/* A message longer than the buffer is cut, still NUL-terminated. */
static void test_small_err_buffer(void)
{
	static const struct env_var env[] = { { "PGHOOK_WORKER_BATCH", "abc" }, { NULL, NULL } };
	struct ph_config cfg;
	char err[12];
	memset(err, 'x', sizeof(err));
	fake_env = env;
	CHECK(!ph_config_load_from(&cfg, fake_getenv, err, sizeof(err)));
	CHECK_STR(err, "PGHOOK_WORK");
	ph_config_finish(&cfg);
}

int main(void)
{
	test_defaults();
	test_all_set();
	test_lease_derived();
	test_limits();
	test_invalid();
	test_listen_parse();
	test_small_err_buffer();
	return check_finish("config");
}
