/* SPDX-License-Identifier: MIT
 *
 * deliver: see deliver.h. libcurl multi in the "hiperfifo" pattern: curl tells us which
 * sockets to watch (on_socket) and when to wake it (on_timer); libevent calls back on
 * readiness and we hand the event to curl_multi_socket_action. No thread per request and no
 * polling. Connections stay in the multi's pool between transfers (keep-alive).
 *
 * A job is on the running list from start until its transfer ends; it is removed from the
 * multi and handed on only from check_done(), outside curl's callbacks. A delivery's easy
 * handle is then reset and kept as a spare for a later delivery: creating and destroying a
 * handle per delivery was most of the worker's allocations. Spares a whole SPARE_TRIM_MS did
 * not need are freed.
 */
#include "deliver.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int flags =
		(what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(w->deliver->multi, fd, flags, &running);
	check_done(w);
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int running;

	curl_multi_socket_action(w->deliver->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(w);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct worker *w = userp;
	struct event *ev = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (ev) {
			event_del(ev);
			free(ev);
		}
		curl_multi_assign(w->deliver->multi, s, NULL);
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
		(what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!ev) {
		ev = ph_xmalloc(event_get_struct_event_size());
		curl_multi_assign(w->deliver->multi, s, ev);
	} else {
		event_del(ev);
	}
	event_assign(ev, w->base, s, kind, on_socket_ready, w);
	event_add(ev, NULL);
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

void deliver_start(struct worker *w, struct job *j)
{
	struct deliver *d = w->deliver;
	char err[PH_REQUEST_ERROR_MAX];
	struct ph_request_params p = {
		.url = j->url,
		.msg_id = j->event_id,
		.secret = j->secret,
		.previous_secret = j->previous_secret,
		.headers = j->headers,
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
	j->req.owner = j;
	j->easy = j->req.easy;
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	CURLMcode mc = curl_multi_add_handle(d->multi, j->easy);
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
	j->easy = NULL;
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
		if (d->multi && j->easy)
			curl_multi_remove_handle(d->multi, j->easy);
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
