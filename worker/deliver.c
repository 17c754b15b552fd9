/* SPDX-License-Identifier: MIT
 *
 * deliver: libcurl multi driven by the worker's libevent loop (the "hiperfifo" pattern). curl
 * tells us which sockets to watch (on_socket) and when to wake it (on_timer); libevent calls
 * back on readiness and we hand the event to curl_multi_socket_action. No thread per request
 * and no polling. Connections stay in the multi's pool between transfers (keep-alive).
 *
 * A job lives on w->jobs from start until its transfer ends; it is removed from the multi and
 * freed only from check_done(), outside curl's callbacks. Its easy handle is then reset and kept
 * on w->spare for a later delivery: creating and destroying a handle per delivery was most of
 * the worker's allocations. Spares a whole SPARE_TRIM_MS did not need are freed.
 */
#include "worker.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"

struct sock_watch {
	struct event *ev;
};

#define SPARE_TRIM_MS 10000
/* Freeing this many spares at once means a burst has ended: give its memory back. */
#define SPARE_TRIM_RELEASE 256

static void check_done(struct worker *w);

/* A reset easy handle for the next delivery, NULL when none is spare. */
static CURL *spare_take(struct worker *w)
{
	if (w->nspare == 0)
		return NULL;
	w->nspare--;
	if (w->nspare < w->spare_low)
		w->spare_low = w->nspare;
	return w->spare[w->nspare];
}

/* Keep a handle ph_request_detach reset (NULL is ignored). There are never more handles than
 * delivery slots, so the spares never raise the worker's peak memory. */
static void spare_put(struct worker *w, CURL *easy)
{
	if (!easy)
		return;
	if (w->nspare == w->spare_cap) {
		curl_easy_cleanup(easy);
		return;
	}
	w->spare[w->nspare++] = easy;
}

/* Free the spares that sat unused since the last trim: the bottom spare_low of the stack. */
static void on_spare_trim(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int unused = w->spare_low;

	for (int i = 0; i < unused; i++)
		curl_easy_cleanup(w->spare[i]);
	memmove(w->spare, w->spare + unused, (size_t)(w->nspare - unused) * sizeof(*w->spare));
	w->nspare -= unused;
	w->spare_low = w->nspare;
#ifdef __GLIBC__
	/* glibc keeps freed memory below the top of the heap; after a burst of thousands of
	 * deliveries that is most of the worker's RSS. malloc_trim returns the free pages. */
	if (unused >= SPARE_TRIM_RELEASE)
		malloc_trim(0);
#endif
}

/* Per-webhook in-flight counts, so claims can skip webhooks at PGHOOK_WORKER_PER_WEBHOOK: one
 * slow receiver then holds at most that many slots (plus what one claim brings at once), not
 * every slot of the worker. */
static size_t hook_hash(const char *s)
{
	size_t h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static void hook_count_add(struct worker *w, const char *id, int delta)
{
	if (!w->hooks) {
		w->hooks_size = 1024;
		w->hooks = ph_xcalloc(w->hooks_size, sizeof(*w->hooks));
	}
	int cap = w->cfg->worker_per_webhook;
	struct hook_count **pp = &w->hooks[hook_hash(id) & (w->hooks_size - 1)];
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	struct hook_count *h = *pp;
	if (!h) {
		if (delta < 0)
			return;
		size_t len = strlen(id) + 1;
		h = ph_xcalloc(1, sizeof(*h) + len);
		memcpy(h->id, id, len);
		*pp = h;
	}
	bool was_full = h->n >= cap;
	h->n += delta;
	bool full = h->n >= cap;
	w->hooks_full += (int)full - (int)was_full;
	/* Its due rows are claimable again; while others stay capped, claims skip only those. */
	if (was_full && !full && w->hooks_full > 0)
		w->others_dry = false;
	if (h->n <= 0) {
		*pp = h->next;
		free(h);
	}
}

char *deliver_full_hooks(const struct worker *w)
{
	size_t len = 3, off = 0;
	int cap = w->cfg->worker_per_webhook;

	if (w->hooks_full > 0)
		for (size_t i = 0; i < w->hooks_size; i++)
			for (const struct hook_count *h = w->hooks[i]; h; h = h->next)
				if (h->n >= cap)
					len += strlen(h->id) + 1;
	char *out = ph_xcalloc(1, len);
	out[off++] = '{';
	if (w->hooks_full > 0)
		for (size_t i = 0; i < w->hooks_size; i++)
			for (const struct hook_count *h = w->hooks[i]; h; h = h->next)
				if (h->n >= cap) {
					if (off > 1)
						out[off++] = ',';
					size_t n = strlen(h->id);
					memcpy(out + off, h->id, n);
					off += n;
				}
	out[off++] = '}';
	out[off] = '\0';
	return out;
}

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int flags =
		(what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(w->multi, fd, flags, &running);
	check_done(w);
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(w);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct worker *w = userp;
	struct sock_watch *sw = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			event_free(sw->ev);
			free(sw);
		}
		curl_multi_assign(w->multi, s, NULL);
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
		(what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sw) {
		sw = ph_xcalloc(1, sizeof(*sw));
		curl_multi_assign(w->multi, s, sw);
	} else {
		event_free(sw->ev);
	}
	sw->ev = event_new(w->base, s, kind, on_socket_ready, w);
	event_add(sw->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi; -1 removes it. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct worker *w = userp;

	if (timeout_ms < 0) {
		evtimer_del(w->curl_timer);
		return 0;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_add(w->curl_timer, &tv);
	return 0;
}

bool deliver_init(struct worker *w)
{
	w->multi = curl_multi_init();
	if (!w->multi) {
		log_error("curl_multi_init failed");
		return false;
	}
	w->curl_timer = evtimer_new(w->base, on_curl_timeout, w);
	w->spare_cap = w->cfg->worker_concurrency;
	w->spare = ph_xcalloc((size_t)w->spare_cap, sizeof(*w->spare));
	w->spare_timer = event_new(w->base, -1, EV_PERSIST, on_spare_trim, w);
	struct timeval trim = { SPARE_TRIM_MS / 1000, 0 };
	event_add(w->spare_timer, &trim);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	/* Keep a connection per receiver and reuse it; cap the pool so memory stays flat. */
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->cfg->worker_concurrency);
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	return true;
}

void deliver_finish(struct worker *w)
{
	deliver_abort_all(w);
	for (size_t i = 0; i < w->hooks_size; i++)
		while (w->hooks[i]) {
			struct hook_count *h = w->hooks[i];
			w->hooks[i] = h->next;
			free(h);
		}
	free(w->hooks);
	w->hooks = NULL;
	w->hooks_size = 0;
	while (w->nspare > 0)
		curl_easy_cleanup(w->spare[--w->nspare]);
	free(w->spare);
	w->spare = NULL;
	w->spare_cap = w->spare_low = 0;
	if (w->spare_timer)
		event_free(w->spare_timer);
	w->spare_timer = NULL;
	if (w->multi)
		curl_multi_cleanup(w->multi);
	if (w->curl_timer)
		event_free(w->curl_timer);
	w->multi = NULL;
	w->curl_timer = NULL;
}

void job_destroy(struct job *j)
{
	if (!j)
		return;
	if (j->kind == JOB_DELIVERY)
		ph_request_finish(&j->req);
	else if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->rcpt);
	free(j->id);
	free(j->webhook_id);
	free(j->event_id);
	free(j->url);
	free(j->secret);
	free(j->previous_secret);
	free(j->payload);
	free(j->message);
	free(j);
}

static void link_job(struct worker *w, struct job *j)
{
	j->prev = NULL;
	j->next = w->jobs;
	if (w->jobs)
		w->jobs->prev = j;
	w->jobs = j;
}

static void unlink_job(struct worker *w, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		w->jobs = j->next;
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
	outcome_add(w, j, &res);
	job_destroy(j);
}

void deliver_start(struct worker *w, struct job *j)
{
	char err[PH_REQUEST_ERROR_MAX];
	struct ph_request_params p = {
		.url = j->url,
		.msg_id = j->event_id,
		.secret = j->secret,
		.previous_secret = j->previous_secret,
		.body = j->payload,
		.body_len = strlen(j->payload),
		.timestamp = (long long)time(NULL),
		.timeout_ms = w->cfg->http_timeout_ms,
		.ssrf = w->ssrf,
	};

	if (!ph_request_init_on(&j->req, spare_take(w), &p, err, sizeof(err))) {
		fail_without_request(w, j, err);
		return;
	}
	j->req.owner = j;
	j->easy = j->req.easy;
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	CURLMcode mc = curl_multi_add_handle(w->multi, j->easy);
	if (mc != CURLM_OK) {
		fail_without_request(w, j, curl_multi_strerror(mc));
		return;
	}
	link_job(w, j);
	w->inflight++;
	hook_count_add(w, j->webhook_id, 1);
	log_debug("delivery %s to webhook %s started", j->id, j->webhook_id);
}

void deliver_start_email(struct worker *w, struct job *j)
{
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	CURLMcode mc = curl_multi_add_handle(w->multi, j->easy);
	if (mc != CURLM_OK) {
		notify_done(w, j, CURLE_FAILED_INIT);
		return;
	}
	link_job(w, j);
	w->emails_inflight++;
}

/* Collect finished transfers: record the outcome, free the job. */
static void check_done(struct worker *w)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(w->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct job *j = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
		curl_multi_remove_handle(w->multi, easy);
		unlink_job(w, j);
		if (j->kind == JOB_EMAIL) {
			w->emails_inflight--;
			notify_done(w, j, rc);
			continue;
		}
		w->inflight--;
		hook_count_add(w, j->webhook_id, -1);
		struct ph_request_result res;
		ph_request_result(&j->req, rc, &res);
		metrics_latency(&w->m, res.duration_ms);
		if (!res.ok)
			log_info("delivery %s to webhook %s attempt %d failed: %s", j->id,
				j->webhook_id, j->attempt_count + 1, res.error);
		outcome_add(w, j, &res);
		spare_put(w, ph_request_detach(&j->req));
		j->easy = NULL;
		job_destroy(j);
	}
	worker_job_ended(w);
}

void deliver_abort_all(struct worker *w)
{
	while (w->jobs) {
		struct job *j = w->jobs;
		unlink_job(w, j);
		if (w->multi && j->easy)
			curl_multi_remove_handle(w->multi, j->easy);
		if (j->kind == JOB_DELIVERY) {
			w->inflight--;
			hook_count_add(w, j->webhook_id, -1);
		} else {
			w->emails_inflight--;
		}
		job_destroy(j);
	}
}
