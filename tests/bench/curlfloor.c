/* SPDX-License-Identifier: MIT
 *
 * curlfloor: the least a sender built on libcurl spends, as a floor under pghook's figures.
 * Used by tests/bench/run only (scenario "floor", tests/bench/floor.py), not by meson test.
 *
 *   curlfloor URL TOTAL INFLIGHT             POST a fixed 1 KB JSON body TOTAL times
 *   curlfloor URL TOTAL INFLIGHT DSN BATCH   deliver TOTAL rows of the minimal queue
 *
 * Requests carry pghook's header lines (fixed values, same lengths) and the options pghook sets
 * on a delivery (common/request.c: 1 KiB receive buffer, no signals, timeouts), on handles
 * reused the way the worker reuses them, driven by epoll. No signing and no JSON.
 *
 * With a DSN the bodies come from tests/bench/dbcost.py's minimal queue (table jobs): one
 * connection claims up to BATCH due rows with UPDATE ... FOR UPDATE SKIP LOCKED whenever that
 * many slots are free, another records the finished ones (status, attempts row) in one
 * statement at a time; as in pghook, a slot is free again once its outcome is recorded. That is
 * the smallest Postgres-backed sender: what it reaches bounds what any can on this machine.
 *
 * Prints one JSON line: requests/s, this process's CPU per request and its peak RSS.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

static const char claim_sql[] =
	"update jobs set status = 'running', locked_until = now() + interval '30 s' "
	"where id in (select id from jobs where status = 'pending' and run_at <= now() "
	"order by run_at limit $1 for update skip locked) returning id, payload::text";
static const char complete_sql[] =
	"with done as (update jobs set status = 'done', attempts = attempts + 1, "
	"locked_until = null where id = any($1::bigint[]) returning id) "
	"insert into job_attempts (job_id, status_code) select id, 200 from done";

struct slot {
	CURL *easy;
	char *body;
	long long id;
};

static struct {
	int ep;
	double timer_at; /* CLOCK_MONOTONIC seconds when libcurl wants its timeout call */
	CURLM *multi;
	struct curl_slist *headers;
	const char *url;
	char fixed_body[1025];
	struct slot *slots;
	long *free_slots, nfree, nslots;
	long total, started, done, failed;
	/* queue mode */
	PGconn *claim, *complete;
	bool claim_busy, complete_busy, drained;
	long batch;
	long *finished, nfinished; /* requests ended, outcome not yet sent */
	long *completing, ncompleting; /* in the completion statement now running */
} s = { .timer_at = -1 };

static double seconds(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "curlfloor: %s: %s\n", what, detail ? detail : "");
	exit(1);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *u, void *sp)
{
	(void)e, (void)u, (void)sp;
	struct epoll_event ev = { 0 };
	ev.data.fd = fd;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(s.ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(s.ep, EPOLL_CTL_MOD, fd, &ev) != 0)
		epoll_ctl(s.ep, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

static int on_timer(CURLM *m, long ms, void *u)
{
	(void)m, (void)u;
	s.timer_at = ms < 0 ? -1 : seconds(CLOCK_MONOTONIC) + (double)ms / 1000;
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static void start(long i)
{
	struct slot *sl = &s.slots[i];
	if (!sl->easy)
		sl->easy = curl_easy_init();
	CURL *e = sl->easy;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, s.url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, sl->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(sl->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s.headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
	curl_multi_add_handle(s.multi, e);
	s.started++;
}

static void maybe_claim(void)
{
	long want = s.nfree < s.batch ? s.nfree : s.batch;
	if (!s.claim || s.claim_busy || s.drained ||
		want < (s.batch < s.nslots ? s.batch : s.nslots))
		return;
	char limit[24];
	snprintf(limit, sizeof(limit), "%ld", want);
	const char *params[] = { limit };
	if (!PQsendQueryParams(s.claim, claim_sql, 1, NULL, params, NULL, NULL, 0))
		die("claim", PQerrorMessage(s.claim));
	s.claim_busy = true;
}

static void maybe_complete(void)
{
	if (s.complete_busy || s.nfinished == 0)
		return;
	char *ids = malloc((size_t)s.nfinished * 21 + 3), *p = ids;
	*p++ = '{';
	for (long k = 0; k < s.nfinished; k++) {
		p += sprintf(p, "%s%lld", k ? "," : "", s.slots[s.finished[k]].id);
		s.completing[k] = s.finished[k];
	}
	strcpy(p, "}");
	s.ncompleting = s.nfinished;
	s.nfinished = 0;
	const char *params[] = { ids };
	if (!PQsendQueryParams(s.complete, complete_sql, 1, NULL, params, NULL, NULL, 0))
		die("complete", PQerrorMessage(s.complete));
	free(ids);
	s.complete_busy = true;
}

static void on_claimed(PGresult *r)
{
	int n = PQntuples(r);
	if (n == 0)
		s.drained = true;
	for (int k = 0; k < n; k++) {
		long i = s.free_slots[--s.nfree];
		s.slots[i].id = atoll(PQgetvalue(r, k, 0));
		s.slots[i].body = strdup(PQgetvalue(r, k, 1));
		start(i);
	}
}

static void on_completed(void)
{
	for (long k = 0; k < s.ncompleting; k++)
		s.free_slots[s.nfree++] = s.completing[k];
	s.done += s.ncompleting;
	s.ncompleting = 0;
}

/* Read what a connection has; when its statement is over, act on it. */
static void on_pg(PGconn *c)
{
	if (!PQconsumeInput(c))
		die("libpq", PQerrorMessage(c));
	if (!(c == s.claim ? s.claim_busy : s.complete_busy))
		return;
	while (!PQisBusy(c)) {
		PGresult *r = PQgetResult(c);
		if (!r) {
			if (c == s.claim) {
				s.claim_busy = false;
			} else {
				s.complete_busy = false;
				on_completed();
			}
			maybe_complete();
			maybe_claim();
			return;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
			die("statement", PQresultErrorMessage(r));
		if (c == s.claim)
			on_claimed(r);
		PQclear(r);
	}
}

/* Whatever libcurl finished: count it and reuse its slot, or queue its outcome. */
static void reap(void)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(s.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		char *priv;
		long code = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		struct slot *sl = (struct slot *)priv;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (msg->data.result != CURLE_OK || code != 200)
			s.failed++;
		curl_multi_remove_handle(s.multi, msg->easy_handle);
		long i = sl - s.slots;
		if (s.claim) {
			free(sl->body);
			s.finished[s.nfinished++] = i;
		} else if (s.started < s.total) {
			s.done++;
			start(i);
		} else {
			s.done++;
		}
	}
	if (s.claim)
		maybe_complete();
}

static PGconn *connect_db(const char *dsn)
{
	PGconn *c = PQconnectdb(dsn);
	if (PQstatus(c) != CONNECTION_OK)
		die("connect", PQerrorMessage(c));
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = PQsocket(c) };
	epoll_ctl(s.ep, EPOLL_CTL_ADD, PQsocket(c), &ev);
	return c;
}

static void setup(int argc, char **argv)
{
	s.url = argv[1];
	s.total = atol(argv[2]);
	s.nslots = atol(argv[3]);
	struct rlimit rl = { 65536, 65536 };
	setrlimit(RLIMIT_NOFILE, &rl);
	memset(s.fixed_body, 'x', sizeof(s.fixed_body) - 1);
	memcpy(s.fixed_body, "{\"pad\":\"", 8);
	memcpy(s.fixed_body + sizeof(s.fixed_body) - 3, "\"}", 2);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *lines[] = { "webhook-id: dlv_0190a1b2c3d4e5f60718293a4b5c6d7e",
		"webhook-timestamp: 1790000000",
		"webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
		"content-type: application/json", "user-agent: pghook/0.1.0",
		"Expect:", "Accept:" };
	for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++)
		s.headers = curl_slist_append(s.headers, lines[k]);
	s.ep = epoll_create1(0);
	s.multi = curl_multi_init();
	curl_multi_setopt(s.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(s.multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, s.nslots);
	s.slots = calloc((size_t)s.nslots, sizeof(*s.slots));
	s.free_slots = calloc((size_t)s.nslots, sizeof(long));
	s.finished = calloc((size_t)s.nslots, sizeof(long));
	s.completing = calloc((size_t)s.nslots, sizeof(long));
	for (long i = s.nslots - 1; i >= 0; i--)
		s.free_slots[s.nfree++] = i;
	if (argc == 6) {
		s.claim = connect_db(argv[4]);
		s.complete = connect_db(argv[4]);
		s.batch = atol(argv[5]);
	}
}

static void loop(void)
{
	struct epoll_event evs[256];
	int running = 0;
	while (s.done < s.total && !(s.drained && s.nfree == s.nslots)) {
		int wait_ms = 100;
		if (s.timer_at >= 0) {
			double left = s.timer_at - seconds(CLOCK_MONOTONIC);
			wait_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		int n = epoll_wait(s.ep, evs, 256, wait_ms);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (s.claim && fd == PQsocket(s.claim)) {
				on_pg(s.claim);
				continue;
			}
			if (s.complete && fd == PQsocket(s.complete)) {
				on_pg(s.complete);
				continue;
			}
			int what = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
				(evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				(evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
			curl_multi_socket_action(s.multi, fd, what, &running);
		}
		if (s.timer_at >= 0 && seconds(CLOCK_MONOTONIC) >= s.timer_at) {
			s.timer_at = -1;
			curl_multi_socket_action(s.multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		reap();
	}
}

static long peak_rss_kib(void)
{
	char line[256];
	long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: curlfloor URL TOTAL INFLIGHT [DSN BATCH]\n");
		return 2;
	}
	setup(argc, argv);
	double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	if (s.claim) {
		maybe_claim();
	} else {
		while (s.nfree > 0 && s.started < s.total) {
			long i = s.free_slots[--s.nfree];
			s.slots[i].body = s.fixed_body;
			start(i);
		}
	}
	loop();
	double wall = seconds(CLOCK_MONOTONIC) - t0;
	double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("{\"done\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_s\":%.0f,"
	       "\"cpu_us_per_request\":%.1f,\"peak_rss_kib\":%ld}\n",
		s.done, s.failed, wall, (double)s.done / wall, cpu * 1e6 / (double)s.done,
		peak_rss_kib());
	return s.failed || s.done < s.total ? 1 : 0;
}
