/* SPDX-License-Identifier: MIT
 *
 * Shutdown order matters for zero-downtime deploys: first /readyz fails (so the load balancer
 * stops sending), then after PGHOOK_SHUTDOWN_DELAY each loop closes its listener, answers what
 * its open connections still send (with Connection: close), and exits once it has been quiet
 * for two seconds with no synchronous send running, or at PGHOOK_SHUTDOWN_TIMEOUT.
 *
 * Abusive clients (issue 6): evhttp limits header and body sizes and idles out silent
 * connections, but a client that drips a byte every few seconds resets its idle timer for ever,
 * and libevent 2.1 has no connection cap. So each loop tracks its connections (evhttp_set_bevcb
 * hands us every new connection's bufferevent; we hold a reference so the pointer stays valid
 * after evhttp frees it, and collect it on the next sweep):
 *   - a connection must deliver its first complete request within FIRST_REQUEST_US of being
 *     accepted, or it is shut down (evhttp then sees EOF and frees it);
 *   - a NUL byte in a request head shuts its connection (conn_input_cb);
 *   - past the cap (from RLIMIT_NOFILE, raised to its hard limit at start), a new connection
 *     evicts the oldest one that has not completed a request yet, so a flood of idle
 *     connections cannot lock legitimate clients out, nor run the process out of descriptors
 *     (an accept failing with EMFILE would spin the listener).
 */
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "committer.h"
#include "http.h"
#include "log.h"
#include "notifier.h"
#include "offload.h"
#include "router.h"
#include "ssrf.h"

/* The head scanner's state for one connection (conn_input_cb). */
struct conn_guard {
	struct bufferevent *bev;
	struct evbuffer_cb_entry *cb;
	int matched; /* characters of "\r\n\r\n" just seen */
	bool in_body; /* past the head: not scanned until the request is dispatched */
	bool nul; /* a NUL was seen in a head: input frozen, a 400 and the end are due */
	bool answering; /* a request was dispatched and its response is not all sent */
};

/* A connection evhttp owns; we hold a reference on its bufferevent (see the top comment). */
struct conn {
	struct bufferevent *bev;
	struct conn_guard *guard;
	long long accepted_us;
	bool served; /* completed at least one request */
	bool evicted; /* shut down by us, waiting for evhttp to notice */
};

struct loop {
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev, *drain_ev;
	long long drain_deadline_us;
	struct api_ctx ctx;
	struct conn *conns;
	int nconns, conns_cap, max_conns;
	struct event *sweep_ev;
};

/* A loop that closed its listener keeps serving the connections it has until it answered
 * nothing for this long: libevent cannot tell whether a connection is half-way through sending
 * a request, so quiet is the sign that none is. Longer than a SYN retry (1 s), so a client that
 * connected just before the listener closed has time to finish its request. */
#define DRAIN_QUIET_US (2000LL * 1000)
#define DRAIN_CHECK_MS 100
/* Time to accept the connections already queued once new ones are refused. */
#define ACCEPT_QUEUED_MS 100
/* A new connection has this long to send its first complete request (headers and body: 1 MiB
 * needs 100 KiB/s). Later requests on a kept-alive connection get evhttp's idle timeout. */
#define FIRST_REQUEST_US (10LL * 1000 * 1000)
#define SWEEP_MS	 250
/* Descriptors kept for everything else (database connections, epoll, stdio, notifier). */
#define FD_RESERVE 64

struct server {
	const struct ph_config *cfg;
	struct ph_ssrf_policy *ssrf;
	struct notifier *notifier;
	struct offload *offload;
	struct committer *committer;
	int nloops;
	struct loop *loops;
	atomic_bool draining;
	struct event_base *main_base;
	struct event *sig_term, *sig_int, *drain_timer;
	int signals_seen;
	int max_conns; /* per loop */
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
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV };
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
	struct timeval flush = { 0, 100000 }; /* let the last answers reach their sockets */
	event_base_loopexit(l->base, &flush);
}

/* Closing a listening socket resets the connections waiting in its accept queue: clients that
 * already sent a request would get no answer. So first make the socket drop new SYNs (clients
 * retry, and then find it closed), let the loop accept what is queued, then close it. */
static void refuse_new_connections(evutil_socket_t fd)
{
#ifdef SO_ATTACH_FILTER
	struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = drop_all };
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
	struct timeval tick = { 0, DRAIN_CHECK_MS * 1000 };
	event_add(l->drain_ev, &tick);
}

static void stop_loop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	if (l->bound)
		refuse_new_connections(evhttp_bound_socket_get_fd(l->bound));
	struct timeval accept_queued = { 0, ACCEPT_QUEUED_MS * 1000 };
	event_base_once(l->base, -1, EV_TIMEOUT, close_listener_cb, l, &accept_queued);
}

/* Shut a tracked connection down: evhttp reads EOF and frees it; the sweep collects it. */
static void conn_evict(struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0 && !c->evicted)
		shutdown(fd, SHUT_RDWR);
	c->evicted = true;
}

/* A NUL in a request head: answered 400 and the connection ended. Written to the socket
 * directly (evhttp never parsed this request, and never will: its input is frozen) once the
 * response before it, if any, is all sent, so a pipelined request ahead of it still gets its
 * answer. Then shut: evhttp reads EOF and frees the connection. */
static void refuse_nul(struct conn_guard *g)
{
	static const char body[] =
		"{\"error\":{\"code\":\"bad_request\",\"message\":\"a NUL byte in the request head\"}}";
	char answer[256];
	int len = snprintf(answer, sizeof(answer),
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
		"Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
		sizeof(body) - 1, body);
	evutil_socket_t fd = bufferevent_getfd(g->bev);
	if (fd < 0)
		return;
	/* The output is empty (nothing answering): a short write to an idle socket. */
	if (send(fd, answer, (size_t)len, MSG_NOSIGNAL) < 0)
		log_debug("cannot answer a NUL request head: %s", strerror(errno));
	shutdown(fd, SHUT_RDWR);
}

/* Scan count bytes of in from offset for the end of the head or a NUL (see conn_input_cb). */
static void scan_head(struct conn_guard *g, struct evbuffer *in, size_t offset, size_t count)
{
	struct evbuffer_ptr from;
	if (count == 0 || g->in_body || g->nul ||
		evbuffer_ptr_set(in, &from, offset, EVBUFFER_PTR_SET) != 0)
		return;
	static const char blank[] = "\r\n\r\n";
	while (count > 0 && !g->in_body) {
		struct evbuffer_iovec v[8];
		int n = evbuffer_peek(in, (ev_ssize_t)count, &from, v, 8);
		size_t seen = 0;
		for (int i = 0; i < n && i < 8 && !g->in_body; i++) {
			const char *p = v[i].iov_base;
			size_t len = v[i].iov_len < count - seen ? v[i].iov_len : count - seen;
			for (size_t k = 0; k < len; k++) {
				if (p[k] == '\0') {
					evbuffer_freeze(in, 1);
					g->nul = g->in_body = true;
					if (!g->answering)
						refuse_nul(g);
					return;
				}
				g->matched = p[k] == blank[g->matched] ? g->matched + 1
					: p[k] == '\r'		       ? 1
								       : 0;
				if (g->matched == 4) {
					g->in_body = true;
					break;
				}
			}
			seen += len;
		}
		if (n <= 0 || seen == 0 || seen >= count ||
			evbuffer_ptr_set(in, &from, seen, EVBUFFER_PTR_ADD) != 0)
			return;
		count -= seen;
	}
}

/* Every byte a client sends passes here first. A NUL byte has no place in a request head:
 * evhttp keeps header names and values as C strings, so "TENANT: ten_a\0junk" would reach us
 * as "ten_a". So the head of each request (up to its blank line; the body is the JSON
 * parser's business) is scanned as it arrives, and a NUL freezes the input (evhttp can read no
 * further, so nothing of the request is dispatched) and the request is refused (refuse_nul).
 * Scanning starts again when a request is dispatched, from the start of what is left in the
 * input: evhttp has taken that request's head and body out, so it is the next (pipelined)
 * request's head, however it arrived (conn_served). */
static void conn_input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn_guard *g = arg;
	if (info->n_added == 0 || g->in_body)
		return;
	scan_head(g, in, evbuffer_get_length(in) - info->n_added, info->n_added);
}

/* The response to a dispatched request is all sent: a NUL head found behind it is refused
 * now. */
static void conn_answered(struct evhttp_request *req, void *arg)
{
	struct conn_guard *g = arg;
	g->answering = false;
	if (g->nul)
		refuse_nul(g);
}

/* evhttp_set_bevcb: every accepted connection's bufferevent is made here. */
static struct bufferevent *conn_new(struct event_base *base, void *arg)
{
	struct loop *l = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL; /* evhttp makes its own; that connection goes untracked */
	if (l->nconns >= l->max_conns) {
		/* Full: evict the oldest connection that never completed a request, else the
		 * oldest of all (an idle keep-alive). */
		struct conn *victim = NULL;
		for (int i = 0; i < l->nconns; i++) {
			struct conn *c = &l->conns[i];
			if (c->evicted)
				continue;
			if (!victim || (!c->served && victim->served) ||
				(c->served == victim->served &&
					c->accepted_us < victim->accepted_us))
				victim = c;
		}
		if (victim)
			conn_evict(victim);
	}
	if (l->nconns == l->conns_cap) {
		l->conns_cap = l->conns_cap ? 2 * l->conns_cap : 64;
		l->conns = ph_xrealloc(l->conns, (size_t)l->conns_cap * sizeof(*l->conns));
	}
	struct conn_guard *g = ph_xcalloc(1, sizeof(*g));
	g->bev = bev;
	g->cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, g);
	bufferevent_incref(bev);
	l->conns[l->nconns++] = (struct conn){ .bev = bev, .guard = g, .accepted_us = ph_now_us() };
	return bev;
}

/* Drop our hold on a connection evhttp has freed (or that the loop is done with). */
static void conn_release(struct conn *c)
{
	if (c->guard->cb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->guard->cb);
	free(c->guard);
	bufferevent_decref(c->bev);
}

/* A request arrived complete on this connection: it is a client, not a slow drip. */
static void conn_served(struct loop *l, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	for (int i = l->nconns - 1; bev && i >= 0; i--) {
		if (l->conns[i].bev == bev) {
			struct conn_guard *g = l->conns[i].guard;
			l->conns[i].served = true;
			g->answering = true;
			evhttp_request_set_on_complete_cb(req, conn_answered, g);
			g->in_body = false; /* the next request's head: what is left of the input */
			g->matched = 0;
			struct evbuffer *in = bufferevent_get_input(bev);
			scan_head(g, in, 0, evbuffer_get_length(in));
			return;
		}
	}
}

/* Release the connections evhttp freed (it clears their callbacks when it does), and shut
 * those that let the first-request deadline pass. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	long long now = ph_now_us();
	int kept = 0;
	for (int i = 0; i < l->nconns; i++) {
		struct conn *c = &l->conns[i];
		bufferevent_event_cb ecb = NULL;
		bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
		if (!ecb) {
			conn_release(c); /* evhttp is done with it: close and free */
			continue;
		}
		if (!c->served && now - c->accepted_us > FIRST_REQUEST_US)
			conn_evict(c);
		l->conns[kept++] = *c;
	}
	l->nconns = kept;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct loop *l = arg;
	conn_served(l, req);
	router_dispatch(req, &l->ctx);
}

/* Raise the descriptor limit to its hard limit and size each loop's connection cap from it. */
static int max_conns_per_loop(int nloops)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		struct rlimit up = { want, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = want;
	}
	long long fds = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long long)rl.rlim_cur;
	/* Half of what is left: evicted connections hold their descriptor until evhttp and the
	 * next sweep have let go of them. 5 per loop: what the loop holds (its connection, epoll
	 * and wake-up descriptors) and its committer thread's connection. */
	long long per = (fds - FD_RESERVE - 5LL * nloops) / 2 / nloops;
	return per < 8 ? 8 : per > 65536 ? 65536 : (int)per;
}

static bool loop_init(
	struct server *s, struct loop *l, int index, struct sockaddr_storage *ss, socklen_t len)
{
	const struct ph_config *cfg = s->cfg;
	l->base = event_base_new();
	l->http = l->base ? evhttp_new(l->base) : NULL;
	if (!l->http)
		return false;
	l->ctx = (struct api_ctx){ .cfg = cfg,
		.ssrf = s->ssrf,
		.notifier = s->notifier,
		.offload = s->offload,
		.committer = s->committer,
		.srv = s,
		.thread_index = index };
	evhttp_set_max_body_size(l->http, (ev_ssize_t)cfg->max_body_bytes);
	evhttp_set_max_headers_size(l->http, 64 * 1024);
	evhttp_set_timeout(l->http, 30);
	evhttp_set_allowed_methods(l->http,
		EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
			EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(l->http, dispatch, l);
	evhttp_set_bevcb(l->http, conn_new, l);
	l->max_conns = s->max_conns;
	l->sweep_ev = event_new(l->base, -1, EV_PERSIST, sweep_cb, l);
	struct timeval sweep = { 0, SWEEP_MS * 1000 };
	if (!l->sweep_ev || event_add(l->sweep_ev, &sweep) != 0)
		return false;
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
	s->offload = offload_create(cfg->database_url);
	/* as many as loops: a tenant's groups are serial, other tenants' run beside them as the
	 * loops' statements did */
	s->committer = committer_create(cfg->api_threads, cfg->database_url);
	s->nloops = cfg->api_threads;
	s->max_conns = max_conns_per_loop(s->nloops);
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
	log_info("listening on %s (port %u) with %d loops, up to %d connections each", cfg->listen,
		bound_port(s->loops[0].bound), s->nloops, s->max_conns);
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
	struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
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

/* event_free, for an event that may never have been created. */
static void free_event(struct event *ev)
{
	if (ev)
		event_free(ev);
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nloops; i++) {
		struct loop *l = &s->loops[i];
		free_event(l->stop_ev);
		free_event(l->drain_ev);
		free_event(l->sweep_ev);
		if (l->http)
			evhttp_free(l->http);
		/* evhttp_free freed its connections; drop our references last. */
		for (int k = 0; k < l->nconns; k++)
			conn_release(&l->conns[k]);
		free(l->conns);
		if (l->base)
			event_base_free(l->base);
		ph_db_finish(&l->ctx.db);
	}
	free(s->loops);
	/* After the loops: a send that was still running recorded its attempt through it. */
	offload_destroy(s->offload);
	committer_destroy(s->committer); /* before the notifier: it pokes it */
	notifier_destroy(s->notifier);
	ph_ssrf_policy_destroy(s->ssrf);
	free_event(s->sig_term);
	free_event(s->sig_int);
	free_event(s->drain_timer);
	if (s->main_base)
		event_base_free(s->main_base);
	free(s);
}
