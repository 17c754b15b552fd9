/* SPDX-License-Identifier: MIT
 *
 * bench receiver: a libevent evhttp server on loopback that answers 200 to every POST, at once
 * or after a delay, and counts what it got. Used by tests/bench/run only (not by meson test).
 *
 *   receiver PORT          (PORT 0: the kernel picks one; "port N" is printed on stdout)
 *
 * Paths: /NAME answers at once, /d/MS/NAME after MS milliseconds. Per NAME it counts requests
 * and keeps the arrival time of the first and last one; when the body holds "sent_us":N (the
 * sender's CLOCK_REALTIME in microseconds) the latency arrival - N is recorded too.
 *   GET /stats   {"inflight", "maxInflight", "names": {NAME: {count, firstUs, lastUs,
 *                 p50Us, p95Us, p99Us, maxUs, latCount}}}
 *   GET /reset   forget everything
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_NAMES 64

struct name_stats {
	char name[64];
	uint64_t count;
	int64_t first_us, last_us;
	int64_t *lat;
	size_t nlat, caplat;
};

static struct name_stats names[MAX_NAMES];
static int nnames;
static long inflight, max_inflight;
static struct event_base *base;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct name_stats *stats_for(const char *name, size_t len)
{
	if (len >= sizeof(names[0].name))
		len = sizeof(names[0].name) - 1;
	for (int i = 0; i < nnames; i++)
		if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
			return &names[i];
	if (nnames == MAX_NAMES)
		return &names[MAX_NAMES - 1];
	struct name_stats *s = &names[nnames++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	return s;
}

struct delayed {
	struct evhttp_request *req;
	struct event *ev;
};

static void reply_now(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	evhttp_send_reply(d->req, 200, "OK", NULL);
	inflight--;
	event_free(d->ev);
	free(d);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void send_stats(struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_printf(
		out, "{\"inflight\":%ld,\"maxInflight\":%ld,\"names\":{", inflight, max_inflight);
	for (int i = 0; i < nnames; i++) {
		struct name_stats *s = &names[i];
		if (s->nlat)
			qsort(s->lat, s->nlat, sizeof(*s->lat), cmp64);
		evbuffer_add_printf(out,
			"%s\"%s\":{\"count\":%llu,\"firstUs\":%lld,\"lastUs\":%lld,"
			"\"latCount\":%zu,\"p50Us\":%lld,\"p95Us\":%lld,\"p99Us\":%lld,"
			"\"maxUs\":%lld}",
			i ? "," : "", s->name, (unsigned long long)s->count, (long long)s->first_us,
			(long long)s->last_us, s->nlat, (long long)pct(s->lat, s->nlat, 0.50),
			(long long)pct(s->lat, s->nlat, 0.95),
			(long long)pct(s->lat, s->nlat, 0.99),
			(long long)(s->nlat ? s->lat[s->nlat - 1] : 0));
	}
	evbuffer_add_printf(out, "}}");
	evhttp_add_header(
		evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	int64_t t = now_us();

	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		if (strncmp(uri, "/stats", 6) == 0) {
			send_stats(req);
		} else if (strncmp(uri, "/reset", 6) == 0) {
			for (int i = 0; i < nnames; i++)
				free(names[i].lat);
			nnames = 0;
			max_inflight = inflight;
			evhttp_send_reply(req, 200, "OK", NULL);
		} else {
			evhttp_send_reply(req, 200, "OK", NULL);
		}
		return;
	}

	long delay_ms = 0;
	const char *name = uri + 1;
	if (strncmp(uri, "/d/", 3) == 0) {
		char *end;
		delay_ms = strtol(uri + 3, &end, 10);
		name = *end == '/' ? end + 1 : end;
	}
	size_t nlen = strcspn(name, "?");
	struct name_stats *s = stats_for(name, nlen);
	if (s->count++ == 0)
		s->first_us = t;
	s->last_us = t;

	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > 0) {
		struct evbuffer_ptr p = evbuffer_search(in, "\"sent_us\":", 10, NULL);
		if (p.pos >= 0 && (size_t)p.pos + 10 + 20 <= len + 20) {
			char num[24] = { 0 };
			evbuffer_ptr_set(in, &p, 10, EVBUFFER_PTR_ADD);
			evbuffer_copyout_from(in, &p, num, sizeof(num) - 1);
			long long sent = strtoll(num, NULL, 10);
			if (sent > 0) {
				if (s->nlat == s->caplat) {
					s->caplat = s->caplat ? 2 * s->caplat : 4096;
					s->lat = realloc(s->lat, s->caplat * sizeof(*s->lat));
				}
				s->lat[s->nlat++] = t - sent;
			}
		}
	}

	if (delay_ms <= 0) {
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	struct delayed *d = malloc(sizeof(*d));
	d->req = req;
	d->ev = evtimer_new(base, reply_now, d);
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	evtimer_add(d->ev, &tv);
	if (++inflight > max_inflight)
		max_inflight = inflight;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	struct rlimit rl = { 65536, 65536 };

	setrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, on_request, NULL);
	evhttp_set_max_body_size(http, 1 << 20);
	struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", port);
	if (!sock) {
		fprintf(stderr, "cannot bind port %d\n", port);
		return 1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
	printf("port %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
