/* SPDX-License-Identifier: MIT
 *
 * notify: see notify.h. pghook_claim_notifications() pushes each taken row a minute into
 * the future while it is sent, so two workers do not send the same email and a worker that
 * dies leaves it for another. A failed send is retried with exponential backoff (5 s doubling,
 * at most an hour apart), and given up after EMAIL_MAX_ATTEMPTS.
 */
#include "notify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define EMAIL_BATCH	   16
#define EMAIL_LEASE_MS	   60000
#define EMAIL_MAX_ATTEMPTS 20
#define EMAIL_BACKOFF_MS   5000LL
#define EMAIL_BACKOFF_MAX  3600000LL

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct job *j = arg;
	size_t room = size * n;
	size_t left = j->message_len - j->message_off;
	size_t k = left < room ? left : room;

	memcpy(buf, j->message + j->message_off, k);
	j->message_off += k;
	return k;
}

/* Header values come from the database; keep CR and LF out of them. */
static char *one_line(const char *s)
{
	char *out = ph_xstrdup(s ? s : "");
	for (char *p = out; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	return out;
}

/* The RFC 5322 message: headers, blank line, the body with CRLF line ends. */
static char *build_message(const char *from, const char *to, const char *subject, const char *body)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

	char *f = one_line(from), *t = one_line(to), *s = one_line(subject);
	char *head = ph_xasprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
				  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: 8bit\r\n\r\n",
		f, t, s, date);
	free(f);
	free(t);
	free(s);

	size_t hlen = strlen(head), blen = strlen(body);
	char *msg = ph_xmalloc(hlen + 2 * blen + 3);
	memcpy(msg, head, hlen);
	size_t k = hlen;
	for (const char *p = body; *p; p++) {
		if (*p == '\n' && (p == body || p[-1] != '\r'))
			msg[k++] = '\r';
		msg[k++] = *p;
	}
	memcpy(msg + k, "\r\n", 3);
	free(head);
	return msg;
}

static bool setup_email(const struct worker *w, struct job *j, const char *to)
{
	CURLcode rc = CURLE_OK;
	struct curl_slist *r = curl_slist_append(NULL, to);

	if (!r)
		return false;
	j->rcpt = r;
	j->easy = curl_easy_init();
	if (!j->easy)
		return false;
#define SET(opt, val)                                             \
	do {                                                      \
		if (rc == CURLE_OK)                               \
			rc = curl_easy_setopt(j->easy, opt, val); \
	} while (0)
	SET(CURLOPT_URL, w->cfg->smtp_url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#endif
	SET(CURLOPT_MAIL_FROM, w->cfg->smtp_from);
	SET(CURLOPT_MAIL_RCPT, j->rcpt);
	SET(CURLOPT_READFUNCTION, on_read);
	SET(CURLOPT_READDATA, j);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)w->cfg->http_timeout_ms);
	SET(CURLOPT_ERRORBUFFER, (char *)j->text);
#undef SET
	return rc == CURLE_OK;
}

static void settle(struct worker *w, long long id, const char *error, int64_t delay_ms)
{
	char idbuf[32], delay[32];
	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
	const char *params[] = { idbuf, error, delay_ms >= 0 ? delay : NULL };

	if (!ph_db_run(&w->db, "select pghook_notification_done($1::bigint, $2, $3::bigint)", 3,
		    params))
		log_warn("cannot settle notification %lld; it will be sent again", id);
}

static void start_row(struct worker *w, const PGresult *res, int r)
{
	/* text[] is the email's curl error buffer */
	struct job *j = ph_xcalloc(1, sizeof(*j) + CURL_ERROR_SIZE);
	const char *to = PQgetvalue(res, r, 1);

	j->kind = JOB_EMAIL;
	j->notification_id = atoll(PQgetvalue(res, r, 0));
	j->email_attempts = atoi(PQgetvalue(res, r, 4));
	j->message =
		build_message(w->cfg->smtp_from, to, PQgetvalue(res, r, 2), PQgetvalue(res, r, 3));
	j->message_len = strlen(j->message);
	if (strpbrk(to, "\r\n") || !setup_email(w, j, to)) {
		log_warn("notification %lld: cannot prepare the email", j->notification_id);
		settle(w, j->notification_id, "cannot prepare the email", -1);
		job_destroy(j);
		return;
	}
	deliver_start_email(w, j);
}

void notify_pump(struct worker *w)
{
	if (!w->cfg->smtp_url || lifecycle_state(w) != WORKER_RUNNING ||
		deliver_emails_inflight(w) > 0)
		return;
	char limit[16], lease[16];
	snprintf(limit, sizeof(limit), "%d", EMAIL_BATCH);
	snprintf(lease, sizeof(lease), "%d", EMAIL_LEASE_MS);
	const char *params[] = { limit, lease };
	PGresult *res = ph_db_exec(
		&w->db, "select * from pghook_claim_notifications($1::int, $2::bigint)", 2, params);
	if (!res)
		return;
	for (int r = 0; r < PQntuples(res); r++)
		start_row(w, res, r);
	PQclear(res);
}

/* The delay before the next try after a failed one: EMAIL_BACKOFF_MS doubling per attempt
 * (the claim counted this one), at most EMAIL_BACKOFF_MAX. */
static int64_t email_backoff_ms(int attempts)
{
	int doublings = attempts < 1 ? 0 : attempts > 20 ? 19 : attempts - 1;
	int64_t delay = EMAIL_BACKOFF_MS << doublings;
	return delay > EMAIL_BACKOFF_MAX ? EMAIL_BACKOFF_MAX : delay;
}

static void email_failed(struct worker *w, const struct job *j, CURLcode rc)
{
	char error[PH_REQUEST_ERROR_MAX];
	bool give_up = j->email_attempts >= EMAIL_MAX_ATTEMPTS;

	snprintf(error, sizeof(error), "%.80s%s%.160s", curl_easy_strerror(rc),
		j->text[0] ? ": " : "", j->text);
	metrics_email(w, false);
	log_warn("notification %lld not sent (attempt %d): %s", j->notification_id,
		j->email_attempts, error);
	settle(w, j->notification_id, error, give_up ? -1 : email_backoff_ms(j->email_attempts));
}

void notify_done(struct worker *w, struct job *j, CURLcode rc)
{
	if (rc == CURLE_OK) {
		metrics_email(w, true);
		log_info("notification %lld sent", j->notification_id);
		settle(w, j->notification_id, NULL, -1);
	} else {
		email_failed(w, j, rc);
	}
	job_destroy(j);
}
