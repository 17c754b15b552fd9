/* SPDX-License-Identifier: MIT
 *
 * curlfloor: what libcurl alone costs, as a floor under pghook-worker's figures. Used by
 * tests/bench/run only (scenario "floor", tests/bench/floor.py), not by meson test.
 *
 *   curlfloor URL TOTAL INFLIGHT
 *
 * POSTs a 1 KB JSON body TOTAL times to URL, INFLIGHT at once, with the options pghook sets on
 * a delivery (common/request.c: 1 KiB receive buffer, no signals, timeouts, the signature
 * headers with fixed values) and handles reused the way the worker reuses them. There is no
 * database, no signing and no JSON: only libcurl's multi interface driven by epoll. Prints one
 * JSON line: requests/s, the process's CPU per request and its peak RSS.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

static int ep;
static double timer_at = -1; /* CLOCK_MONOTONIC seconds when libcurl wants its timeout call */
static char body[1025];
static struct curl_slist *headers;

static int on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
	(void)e, (void)u, (void)sp;
	struct epoll_event ev = { 0 };
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) != 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static double seconds(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_timer(CURLM *m, long ms, void *u)
{
	(void)m, (void)u;
	timer_at = ms < 0 ? -1 : seconds(CLOCK_MONOTONIC) + (double)ms / 1000;
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static void prepare(CURL *e, const char *url)
{
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
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

/* Whatever libcurl finished: count it, and start the next request on the same handle. */
static void reap(CURLM *m, const char *url, long total, long *started, long *done, long *failed)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		long code = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		(*done)++;
		if (msg->data.result != CURLE_OK || code != 200)
			(*failed)++;
		curl_multi_remove_handle(m, e);
		if (*started < total) {
			prepare(e, url);
			curl_multi_add_handle(m, e);
			(*started)++;
		} else {
			curl_easy_cleanup(e);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: curlfloor URL TOTAL INFLIGHT\n");
		return 2;
	}
	const char *url = argv[1];
	long total = atol(argv[2]), inflight = atol(argv[3]);
	struct rlimit rl = { 65536, 65536 };
	setrlimit(RLIMIT_NOFILE, &rl);
	memset(body, 'x', sizeof(body) - 1);
	memcpy(body, "{\"pad\":\"", 8);
	memcpy(body + sizeof(body) - 3, "\"}", 2);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* pghook's header lines, same lengths (common/request.c) */
	headers = curl_slist_append(headers, "webhook-id: dlv_0190a1b2c3d4e5f60718293a4b5c6d7e");
	headers = curl_slist_append(headers, "webhook-timestamp: 1790000000");
	headers = curl_slist_append(
		headers, "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=");
	headers = curl_slist_append(headers, "content-type: application/json");
	headers = curl_slist_append(headers, "user-agent: pghook/0.1.0");
	headers = curl_slist_append(headers, "Expect:");
	headers = curl_slist_append(headers, "Accept:");

	ep = epoll_create1(0);
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, inflight);
	long started = 0, done = 0, failed = 0;
	double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	for (; started < inflight && started < total; started++) {
		CURL *e = curl_easy_init();
		prepare(e, url);
		curl_multi_add_handle(m, e);
	}
	int running = 1;
	struct epoll_event evs[256];
	while (done < total) {
		int wait_ms = 100;
		if (timer_at >= 0) {
			double left = timer_at - seconds(CLOCK_MONOTONIC);
			wait_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		int n = epoll_wait(ep, evs, 256, wait_ms);
		for (int i = 0; i < n; i++) {
			int what = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
				(evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				(evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
			curl_multi_socket_action(m, evs[i].data.fd, what, &running);
		}
		if (timer_at >= 0 && seconds(CLOCK_MONOTONIC) >= timer_at) {
			timer_at = -1;
			curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		reap(m, url, total, &started, &done, &failed);
	}
	double wall = seconds(CLOCK_MONOTONIC) - t0;
	double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("{\"done\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_s\":%.0f,"
	       "\"cpu_us_per_request\":%.1f,\"peak_rss_kib\":%ld}\n",
		done, failed, wall, (double)done / wall, cpu * 1e6 / (double)done, peak_rss_kib());
	curl_multi_cleanup(m);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
