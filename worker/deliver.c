/* SPDX-License-Identifier: MIT
 *
 * deliver: see deliver.h. libcurl multi in the "hiperfifo" pattern: curl tells us which
 * sockets to watch (on_socket) and when to wake it (on_timer); we hand each readiness to
 * curl_multi_socket_action. No thread per request and no polling. Connections stay in the
 * multi's pool between transfers (keep-alive).
 *
 * curl's sockets are watched by an epoll set of deliver's own, which the loop watches as one
 * descriptor: a libevent event per socket cost 190 bytes per delivery in flight (the event,
 * libevent's per-descriptor map) and its bookkeeping on every watch change, twice a delivery.
 *
 * A job is on the running list from start until its transfer ends; it is removed from the
 * multi and handed on only from check_done(), outside curl's callbacks. A delivery's easy
 * handle is then reset and kept as a spare for a later delivery: creating and destroying a
 * handle per delivery was most of the worker's allocations. Spares a whole SPARE_TRIM_MS did
 * not need are freed.
 */
#include "deliver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "record.h"
#include "ssrf.h"
#include "worker.h"

#define SPARE_TRIM_MS 10000
/* Freeing this many spares at once means a burst has ended: give its memory back. */
#define SPARE_TRIM_RELEASE 256

/* Reset easy handles kept for the next deliveries. There are never more than delivery slots,
 * so the spares never raise the worker's peak memory. */
struct spares {
	CURL **handles; /* a stack of n, room for cap */
	int n, cap;
	int low; /* fewest spares since the last trim: those were not needed */
	struct event *timer;
};

struct deliver {
	struct ph_ssrf_policy *ssrf;
	CURLM *multi;
	int epoll_fd; /* curl's sockets; -1 before multi_init */
	struct event *epoll_ready; /* the loop's event on epoll_fd */
	struct event *curl_timer;
	struct job *jobs; /* running, both kinds */
	int inflight; /* delivery jobs running */
	int emails_inflight; /* email jobs running */
	struct spares spares;
};

/* A socket curl asked us to watch is curl's "socketp": one event (event_assign'd into a
 * block of event_get_struct_event_size() bytes), re-assigned when curl changes what it waits
 * for instead of freed and made again. */

static void check_done(struct worker *w);

/* A reset easy handle for the next delivery, NULL when none is spare. */
static CURL *spare_take(struct spares *s)
{
	if (s->n == 0)
		return NULL;
	s->n--;
	if (s->n < s->low)
		s->low = s->n;
	return s->handles[s->n];
}

/* Keep a handle ph_request_detach reset (NULL is ignored). */
static void spare_put(struct spares *s, CURL *easy)
{
	if (!easy)
		return;
	if (s->n == s->cap) {
		curl_easy_cleanup(easy);
		return;
	}
	s->handles[s->n++] = easy;
}

/* Free the spares that sat unused since the last trim: the bottom `low` of the stack. */
static void on_spare_trim(evutil_socket_t fd, short what, void *arg)
{
	struct spares *s = arg;
	int unused = s->low;

	for (int i = 0; i < unused; i++)
		curl_easy_cleanup(s->handles[i]);
	memmove(s->handles, s->handles + unused, (size_t)(s->n - unused) * sizeof(*s->handles));
	s->n -= unused;
	s->low = s->n;
#ifdef __GLIBC__
	/* glibc keeps freed memory below the top of the heap; after a burst of thousands of
	 * deliveries that is most of the worker's RSS. malloc_trim returns the free pages. */
	if (unused >= SPARE_TRIM_RELEASE)
		malloc_trim(0);
#endif
}

static void spares_init(struct worker *w, struct spares *s)
{
	s->cap = w->cfg->worker_concurrency;
	s->handles = ph_xcalloc((size_t)s->cap, sizeof(*s->handles));
	s->timer = event_new(w->base, -1, EV_PERSIST, on_spare_trim, s);
	worker_timer_add(s->timer, SPARE_TRIM_MS);
}

static void spares_finish(struct spares *s)
{
	while (s->n > 0)
		curl_easy_cleanup(s->handles[--s->n]);
	free(s->handles);
	worker_event_free(&s->timer);
}

int deliver_inflight(const struct worker *w)
{
	return w->deliver->inflight;
}

int deliver_emails_inflight(const struct worker *w)
{
	return w->deliver->emails_inflight;
}

/* curl's flags for an epoll readiness. A hang-up or an error wakes both directions, as
 * libevent reports them. */
static int select_flags(uint32_t e)
{
	if (e & (EPOLLERR | EPOLLHUP))
		return CURL_CSELECT_IN | CURL_CSELECT_OUT;
	return (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0);
}

/* Readiness from curl's sockets: hand each to curl, then collect what ended. Level-triggered:
 * what is not read here (more than a batch ready) wakes the loop again. */
static void on_epoll_ready(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int n = epoll_wait(w->deliver->epoll_fd, evs, (int)PH_ARRAY_LEN(evs), 0);
	int running;

	for (int i = 0; i < n; i++)
		curl_multi_socket_action(
			w->deliver->multi, evs[i].data.fd, select_flags(evs[i].events), &running);
	check_done(w);
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int running;

	curl_multi_socket_action(w->deliver->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(w);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. curl's per-socket pointer
 * only says whether the socket is in the epoll set already. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	static char watched;
	struct deliver *d = ((struct worker *)userp)->deliver;
	struct epoll_event ev = { .data.fd = s };

	if (what == CURL_POLL_REMOVE) {
		/* curl may have closed it already, which took it out of the set */
		epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(d->epoll_fd, op, s, &ev) != 0) {
		/* A descriptor number curl reuses, or one closed behind our back. */
		op = errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(d->epoll_fd, op, s, &ev) != 0) {
			log_error("cannot watch a delivery's socket: %s", strerror(errno));
			return -1;
		}
	}
	if (!socketp)
		curl_multi_assign(d->multi, s, &watched);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi; -1 removes it. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct worker *w = userp;

	if (timeout_ms < 0)
		evtimer_del(w->deliver->curl_timer);
	else
		worker_timer_add(w->deliver->curl_timer, timeout_ms);
	return 0;
}

static bool multi_init(struct worker *w, struct deliver *d)
{
	d->multi = curl_multi_init();
	if (!d->multi) {
		log_error("curl_multi_init failed");
		return false;
	}
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epoll_fd < 0) {
		log_error("epoll_create1: %s", strerror(errno));
		return false;
	}
	d->epoll_ready = event_new(w->base, d->epoll_fd, EV_READ | EV_PERSIST, on_epoll_ready, w);
	event_add(d->epoll_ready, NULL);
	d->curl_timer = evtimer_new(w->base, on_curl_timeout, w);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, w);
	/* Keep a connection per receiver and reuse it; cap the pool so memory stays flat. */
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)w->cfg->worker_concurrency);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	return true;
}

bool deliver_init(struct worker *w)
{
	char err[256];
	struct deliver *d = ph_xcalloc(1, sizeof(*d));

	d->epoll_fd = -1;
	w->deliver = d;
	d->ssrf = ph_ssrf_policy_create(w->cfg->allow_cidrs, err, sizeof(err));
	if (!d->ssrf) {
		log_error("PGHOOK_ALLOW_CIDRS: %s", err);
		return false;
	}
	spares_init(w, &d->spares);
	return multi_init(w, d);
}

void deliver_finish(struct worker *w)
{
	struct deliver *d = w->deliver;
	if (!d)
		return;
	deliver_abort_all(w);
	spares_finish(&d->spares);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	worker_event_free(&d->epoll_ready);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	worker_event_free(&d->curl_timer);
	ph_ssrf_policy_destroy(d->ssrf);
	free(d);
	w->deliver = NULL;
}

static void link_job(struct deliver *d, struct job *j)
{
	j->prev = NULL;
	j->next = d->jobs;
	if (d->jobs)
		d->jobs->prev = j;
	d->jobs = j;
}

static void unlink_job(struct deliver *d, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		d->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

/* Record a delivery that never reached the network (bad URL, bad secret, disabled webhook). */
static void fail_without_request(struct worker *w, struct job *j, const char *why)
{
	struct ph_request_result res;

	memset(&res, 0, sizeof(res));
	res.body = "";
	snprintf(res.error, sizeof(res.error), "%s", why);
	log_warn("delivery %s to webhook %s not attempted: %s", j->id, j->webhook_id, why);
	record_add(w, j, &res);
	job_destroy(j);
}

void deliver_start(struct worker *w, struct job *j, const struct job_start *s)
{
	struct deliver *d = w->deliver;
	char err[PH_REQUEST_ERROR_MAX];
	struct ph_request_params p = {
		.url = s->url,
		.msg_id = s->event_id,
		.secret = s->secret,
		.previous_secret = s->previous_secret,
		.headers = s->headers,
		.body = j->payload,
		.body_len = j->payload_len,
		.timestamp = (long long)time(NULL),
		.timeout_ms = w->cfg->http_timeout_ms,
		.ssrf = d->ssrf,
	};

	if (!ph_request_init_on(&j->req, spare_take(&d->spares), &p, err, sizeof(err))) {
		fail_without_request(w, j, err);
		return;
	}
	curl_easy_setopt(j->req.easy, CURLOPT_PRIVATE, j);
	CURLMcode mc = curl_multi_add_handle(d->multi, j->req.easy);
	if (mc != CURLM_OK) {
		fail_without_request(w, j, curl_multi_strerror(mc));
		return;
	}
	link_job(d, j);
	d->inflight++;
	log_debug("delivery %s to webhook %s started", j->id, j->webhook_id);
}

void deliver_start_email(struct worker *w, struct job *j)
{
	struct deliver *d = w->deliver;

	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	CURLMcode mc = curl_multi_add_handle(d->multi, j->easy);
	if (mc != CURLM_OK) {
		notify_done(w, j, CURLE_FAILED_INIT);
		return;
	}
	link_job(d, j);
	d->emails_inflight++;
}

/* A delivery's transfer ended with rc: hand its outcome to record, keep its handle. */
static void delivery_done(struct worker *w, struct job *j, CURLcode rc)
{
	struct deliver *d = w->deliver;
	struct ph_request_result res;

	d->inflight--;
	ph_request_result(&j->req, rc, &res);
	metrics_attempt(w, res.duration_ms);
	if (!res.ok)
		log_info("delivery %s to webhook %s attempt %d failed: %s", j->id, j->webhook_id,
			j->attempt_count + 1, res.error);
	record_add(w, j, &res);
	spare_put(&d->spares, ph_request_detach(&j->req));
	job_destroy(j);
}

/* Collect finished transfers and hand each job on. */
static void check_done(struct worker *w)
{
	struct deliver *d = w->deliver;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct job *j = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
		curl_multi_remove_handle(d->multi, easy);
		unlink_job(d, j);
		if (j->kind == JOB_EMAIL) {
			d->emails_inflight--;
			notify_done(w, j, rc);
		} else {
			delivery_done(w, j, rc);
		}
	}
	lifecycle_job_ended(w);
}

void deliver_abort_all(struct worker *w)
{
	struct deliver *d = w->deliver;

	while (d->jobs) {
		struct job *j = d->jobs;
		unlink_job(d, j);
		if (d->multi && job_easy(j))
			curl_multi_remove_handle(d->multi, job_easy(j));
		if (j->kind == JOB_DELIVERY) {
			d->inflight--;
		} else {
			d->emails_inflight--;
		}
		job_destroy(j);
	}
}

void deliver_each_running(
	const struct worker *w, void (*fn)(const struct job *j, void *arg), void *arg)
{
	for (const struct job *j = w->deliver->jobs; j; j = j->next)
		if (j->kind == JOB_DELIVERY)
			fn(j, arg);
}
