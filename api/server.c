/* SPDX-License-Identifier: MIT
 *
 * Shutdown order matters for zero-downtime deploys: first /readyz fails (so the load balancer
 * stops sending), then after PGHOOK_SHUTDOWN_DELAY each loop closes its listener, answers what
 * its open connections still send (with Connection: close), and exits once it has been quiet
 * for two seconds with no synchronous send running, or at PGHOOK_SHUTDOWN_TIMEOUT.
 */
#include "server.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "notifier.h"
#include "router.h"
#include "ssrf.h"

struct loop {
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev, *drain_ev;
	long long drain_deadline_us;
	struct api_ctx ctx;
};

/* A loop that closed its listener keeps serving the connections it has until it answered
 * nothing for this long: libevent cannot tell whether a connection is half-way through sending
 * a request, so quiet is the sign that none is. Longer than a SYN retry (1 s), so a client that
 * connected just before the listener closed has time to finish its request. */
#define DRAIN_QUIET_US (2000LL * 1000)
#define DRAIN_CHECK_MS 100
/* Time to accept the connections already queued once new ones are refused. */
#define ACCEPT_QUEUED_MS 100

struct server {
	const struct ph_config *cfg;
	struct ph_ssrf_policy *ssrf;
	struct notifier *notifier;
	int nloops;
	struct loop *loops;
	atomic_bool draining;
	struct event_base *main_base;
	struct event *sig_term, *sig_int, *drain_timer;
	int signals_seen;
};

bool server_draining(const struct server *s)
{
	return atomic_load(&s->draining);
}

static bool resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
		log_error("PGHOOK_LISTEN: expected host:port, got \"%s\"", listen);
		return false;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	/* [::1]:8080 */
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		log_error("PGHOOK_LISTEN \"%s\": %s", listen, gai_strerror(rc));
		return false;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

static void set_port(struct sockaddr_storage *ss, unsigned short port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static unsigned short bound_port(struct evhttp_bound_socket *b)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Exit once nothing is left to answer: no deferred send running and a quiet second, or at the
 * deadline. A deferred send is always waited for: its thread holds the loop's base. */
static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	long long now = ph_now_us();
	bool quiet = now - l->ctx.last_answer_us >= DRAIN_QUIET_US;
	if (l->ctx.deferred > 0 || (!quiet && now < l->drain_deadline_us))
		return;
	if (!quiet)
		log_warn("loop %d: drain deadline reached with connections still open",
			l->ctx.thread_index);
	event_del(l->drain_ev);
	struct timeval flush = {0, 100000}; /* let the last answers reach their sockets */
	event_base_loopexit(l->base, &flush);
}

/* Closing a listening socket resets the connections waiting in its accept queue: clients that
 * already sent a request would get no answer. So first make the socket drop new SYNs (clients
 * retry, and then find it closed), let the loop accept what is queued, then close it. */
static void refuse_new_connections(evutil_socket_t fd)
{
#ifdef SO_ATTACH_FILTER
	struct sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_fprog prog = {.len = 1, .filter = drop_all};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
		log_warn("cannot filter the listening socket: %s", strerror(errno));
#else
	(void)fd;
#endif
}

static void close_listener_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	if (l->bound) {
		evhttp_del_accept_socket(l->http, l->bound);
		l->bound = NULL;
	}
	long long now = ph_now_us();
	/* Quiet is measured from when the listener closed, not from the last answer before. */
	if (l->ctx.last_answer_us < now)
		l->ctx.last_answer_us = now;
	l->drain_deadline_us = now + l->ctx.cfg->shutdown_timeout_ms * 1000LL;
	struct timeval tick = {0, DRAIN_CHECK_MS * 1000};
	event_add(l->drain_ev, &tick);
}

static void stop_loop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	if (l->bound)
		refuse_new_connections(evhttp_bound_socket_get_fd(l->bound));
	struct timeval accept_queued = {0, ACCEPT_QUEUED_MS * 1000};
	event_base_once(l->base, -1, EV_TIMEOUT, close_listener_cb, l, &accept_queued);
}

static bool loop_init(struct server *s, struct loop *l, int index, struct sockaddr_storage *ss,
	socklen_t len)
{
	const struct ph_config *cfg = s->cfg;
	l->base = event_base_new();
	l->http = l->base ? evhttp_new(l->base) : NULL;
	if (!l->http)
		return false;
	l->ctx = (struct api_ctx){.cfg = cfg, .ssrf = s->ssrf, .notifier = s->notifier, .srv = s, .thread_index = index};
	evhttp_set_max_body_size(l->http, (ev_ssize_t)cfg->max_body_bytes);
	evhttp_set_max_headers_size(l->http, 64 * 1024);
	evhttp_set_timeout(l->http, 30);
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(l->http, router_dispatch, &l->ctx);
	struct evconnlistener *lev = evconnlistener_new_bind(l->base, NULL, NULL,
		LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
			LEV_OPT_CLOSE_ON_EXEC,
		1024, (struct sockaddr *)ss, (int)len);
	if (!lev) {
		log_error("cannot listen on %s: %s", cfg->listen,
			evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return false;
	}
	l->bound = evhttp_bind_listener(l->http, lev);
	l->stop_ev = event_new(l->base, -1, 0, stop_loop_cb, l);
	l->drain_ev = event_new(l->base, -1, EV_PERSIST, drain_check_cb, l);
	ph_db_init(&l->ctx.db, cfg->database_url);
	return l->bound && l->stop_ev && l->drain_ev;
}

struct server *server_create(const struct ph_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (evthread_use_pthreads() != 0 || !resolve(cfg->listen, &ss, &len))
		return NULL;
	char err[256];
	struct ph_ssrf_policy *ssrf = ph_ssrf_policy_create(cfg->allow_cidrs, err, sizeof(err));
	if (!ssrf) {
		log_error("PGHOOK_ALLOW_CIDRS: %s", err);
		return NULL;
	}
	struct server *s = ph_xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->ssrf = ssrf;
	s->notifier = notifier_create(cfg->database_url);
	s->nloops = cfg->api_threads;
	s->loops = ph_xcalloc((size_t)s->nloops, sizeof(*s->loops));
	for (int i = 0; i < s->nloops; i++) {
		if (!loop_init(s, &s->loops[i], i, &ss, len)) {
			server_destroy(s);
			return NULL;
		}
		/* Port 0 asks the kernel for one; every other loop then shares it. */
		if (i == 0)
			set_port(&ss, bound_port(s->loops[0].bound));
	}
	log_info("listening on %s (port %u) with %d loops", cfg->listen,
		bound_port(s->loops[0].bound), s->nloops);
	return s;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	event_base_dispatch(l->base);
	return NULL;
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	for (int i = 0; i < s->nloops; i++)
		event_active(s->loops[i].stop_ev, 0, 0);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	if (++s->signals_seen > 1) {
		log_warn("second signal: exiting now");
		_exit(0);
	}
	log_info("signal %d: draining (readyz now fails)", (int)sig);
	atomic_store(&s->draining, true);
	int64_t delay = s->cfg->shutdown_delay_ms;
	struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
	evtimer_add(s->drain_timer, &tv);
}

bool server_run(struct server *s)
{
	s->main_base = event_base_new();
	if (!s->main_base)
		return false;
	s->sig_term = evsignal_new(s->main_base, SIGTERM, signal_cb, s);
	s->sig_int = evsignal_new(s->main_base, SIGINT, signal_cb, s);
	s->drain_timer = evtimer_new(s->main_base, drain_cb, s);
	evsignal_add(s->sig_term, NULL);
	evsignal_add(s->sig_int, NULL);
	for (int i = 0; i < s->nloops; i++) {
		if (pthread_create(&s->loops[i].tid, NULL, loop_main, &s->loops[i]) != 0) {
			log_error("cannot start loop thread %d", i);
			abort();
		}
	}
	/* Returns once the drain timer fired and no signal events are left to wait for. */
	while (!atomic_load(&s->draining) || evtimer_pending(s->drain_timer, NULL))
		event_base_loop(s->main_base, EVLOOP_ONCE);
	for (int i = 0; i < s->nloops; i++)
		pthread_join(s->loops[i].tid, NULL);
	log_info("api stopped");
	return true;
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nloops; i++) {
		struct loop *l = &s->loops[i];
		if (l->stop_ev)
			event_free(l->stop_ev);
		if (l->drain_ev)
			event_free(l->drain_ev);
		if (l->http)
			evhttp_free(l->http);
		if (l->base)
			event_base_free(l->base);
		ph_db_finish(&l->ctx.db);
	}
	free(s->loops);
	notifier_destroy(s->notifier);
	ph_ssrf_policy_destroy(s->ssrf);
	if (s->sig_term)
		event_free(s->sig_term);
	if (s->sig_int)
		event_free(s->sig_int);
	if (s->drain_timer)
		event_free(s->drain_timer);
	if (s->main_base)
		event_base_free(s->main_base);
	free(s);
}
