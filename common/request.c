/* SPDX-License-Identifier: MIT
 *
 * request: the one place that turns a delivery into a libcurl easy handle. Every option that
 * is part of the security policy (protocols, redirects, proxies, the SSRF socket check) is set
 * here so the worker and the api's manual send cannot drift apart.
 *
 * The worker runs thousands of requests at once, so a request holds little of its own: the
 * response body buffer is allocated on the first body byte and grown to what arrives, the three
 * per-delivery header lines share one allocation, and the lines every delivery carries
 * unchanged are one list shared by all requests. Every option is set by set_options on every
 * init, so a reused (reset) easy handle carries nothing over.
 */
#include "request.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "json.h"
#include "log.h"
#include "sign.h"

/* Make room for need bytes in r->body (need <= PH_REQUEST_BODY_KEEP + 1), doubling from a small
 * first size: most receivers answer with a few bytes or none. */
static bool body_reserve(struct ph_request *r, size_t need)
{
	uint32_t cap = r->body_cap ? r->body_cap : 128;

	if (need <= r->body_cap)
		return true;
	while (cap < need)
		cap *= 2;
	if (cap > PH_REQUEST_BODY_KEEP + 1)
		cap = PH_REQUEST_BODY_KEEP + 1;
	char *b = realloc(r->body, cap);
	if (!b)
		return false;
	r->body = b;
	r->body_cap = cap;
	return true;
}

/* Keep the first PH_REQUEST_BODY_KEEP bytes; read and drop the rest up to the maximum, then
 * stop the transfer (returning less than asked makes curl fail it with CURLE_WRITE_ERROR, as
 * does running out of memory for the kept bytes: that fails this delivery only). */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct ph_request *r = arg;
	size_t len = size * n;
	size_t room = PH_REQUEST_BODY_KEEP - r->body_len;
	size_t keep = len < room ? len : room;

	if (keep > 0) {
		if (!body_reserve(r, r->body_len + keep + 1))
			return 0;
		memcpy(r->body + r->body_len, data, keep);
	}
	r->body_len += (uint32_t)keep;
	r->body_seen += (uint32_t)len; /* len is at most curl's buffer (CURLOPT_BUFFERSIZE) */
	if (r->body_seen > PH_REQUEST_BODY_MAX)
		return 0;
	return len;
}

/* Remember Retry-After (its first 63 bytes, allocated only when it comes: most answers have
 * none); every other response header is ignored. Out of memory, it is ignored too. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct ph_request *r = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		const char *v = data + sizeof(name) - 1;
		size_t vlen = len - (sizeof(name) - 1);
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
			vlen--;
		if (vlen > 63)
			vlen = 63;
		free(r->retry_after); /* a second line, or the answer to a re-sent request */
		r->retry_after = strndup(v, vlen);
	}
	return len;
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	buf[0] = '\0';
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			(socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			buf, (socklen_t)len);
}

/* curl's own words for a failure (CURLOPT_ERRORBUFFER) matter most while the connection is
 * made: a failed resolve, connect or TLS handshake has details no CURLcode carries (which
 * certificate problem, which TLS alert). The CURL_ERROR_SIZE bytes curl needs for them would be
 * most of a request's memory for its whole flight, and a worker holds thousands of requests
 * waiting for their answers: the buffer is allocated with the request and given back here,
 * once the connection is ready and the request about to be sent. A later failure is described
 * from its code and the socket's errno (describe_failure), as curl words the common ones. */
#if LIBCURL_VERSION_NUM >= 0x075000
static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct ph_request *r = arg;

	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
	if (r->curl_error) {
		/* curl only stores the pointer: it writes through it when a transfer fails */
		curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, NULL);
		free(r->curl_error);
		r->curl_error = NULL;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/* The SSRF check on the address curl is about to connect to, after DNS resolution. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct ph_request *r = arg;

	if (r->ssrf) {
		enum ph_ssrf_verdict v = ph_ssrf_check(r->ssrf, &a->addr, a->addrlen);
		if (v != PH_SSRF_ALLOWED) {
			char host[INET6_ADDRSTRLEN];
			format_addr(&a->addr, host, sizeof(host));
			free(r->refused); /* curl may try the next address */
			/* The address stays out of what the tenant reads: naming it would let a
			 * tenant map the operator's internal DNS one webhook at a time. */
			log_debug("SSRF policy refused %s: %s", host, ph_ssrf_reason(v));
			r->refused = ph_xasprintf(
				"refused to connect: the host resolved to a %s (SSRF policy)",
				ph_ssrf_reason(v));
			return CURL_SOCKET_BAD;
		}
	}
	return socket(a->family, a->socktype, a->protocol);
}

static bool url_scheme_ok(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* The header lines every delivery carries unchanged: one list shared by every request of every
 * thread (curl only reads a header list). "Expect:" stops curl from waiting for 100-continue on
 * bodies over 1 KiB; "Accept:" removes the header curl adds. */
static struct curl_slist fixed_headers[] = {
	{ "content-type: application/json", &fixed_headers[1] },
	{ "user-agent: pghook/" PGHOOK_VERSION, &fixed_headers[2] },
	{ "Expect:", &fixed_headers[3] },
	{ "Accept:", NULL },
};

/* The webhook's custom headers (a JSON object the api validated: names and values safe for a
 * header line, none of ours) as curl_slist nodes chained to next, in one allocation: nodes
 * first, then the lines. NULL with next unchanged when there are none; false when they cannot
 * be read. */
static bool custom_headers(
	struct ph_request *r, const char *json, struct curl_slist *next, struct curl_slist **head)
{
	json_object *obj = NULL;
	*head = next;
	if (!json || !*json)
		return true;
	if (ph_json_parse(json, strlen(json), &obj) != PH_JSON_OK ||
		!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return false;
	}
	size_t n = (size_t)json_object_object_length(obj), text = 0;
	json_object_object_foreach(obj, k, v) text +=
		strlen(k) + 2 + strlen(json_object_get_string(v)) + 1;
	if (n == 0) {
		json_object_put(obj);
		return true;
	}
	struct curl_slist *nodes = malloc(n * sizeof(*nodes) + text);
	if (!nodes) {
		json_object_put(obj);
		return false;
	}
	char *line = (char *)(nodes + n);
	size_t i = 0;
	json_object_object_foreach(obj, name, val)
	{
		/* "Name:" with an empty value would tell curl to remove the header: "Name;" sends
		 * it empty. */
		const char *value = json_object_get_string(val);
		int len =
			*value ? sprintf(line, "%s: %s", name, value) : sprintf(line, "%s;", name);
		nodes[i].data = line;
		nodes[i].next = i + 1 < n ? &nodes[i + 1] : next;
		line += len + 1;
		i++;
	}
	json_object_put(obj);
	r->custom = nodes;
	*head = nodes;
	return true;
}

/* Sign the delivery and chain its three Standard Webhooks lines (one allocation, r->hdr_text)
 * in front of fixed_headers. */
static bool build_headers(
	struct ph_request *r, const struct ph_request_params *p, char *err, size_t errlen)
{
	static const char *const names[] = {
		"webhook-id: ", "webhook-timestamp: ", "webhook-signature: "
	};
	char sig[PH_SIGNATURE_HEADER_MAX];
	char ts[32];

	if (!ph_sign_header(p->secret, p->previous_secret, p->msg_id, p->timestamp, p->body,
		    p->body_len, sig)) {
		snprintf(err, errlen, "the webhook's signing secret is not valid");
		return false;
	}
	snprintf(ts, sizeof(ts), "%lld", p->timestamp);
	const char *values[] = { p->msg_id, ts, sig };
	size_t len[3], total = 0;
	for (int i = 0; i < 3; i++) {
		len[i] = strlen(names[i]) + strlen(values[i]) + 1;
		total += len[i];
	}
	r->hdr_text = malloc(total); /* msg_id is the caller's: fail only this request */
	if (!r->hdr_text) {
		snprintf(err, errlen, "out of memory for the request headers");
		return false;
	}
	struct curl_slist *tail;
	if (!custom_headers(r, p->headers, fixed_headers, &tail)) {
		snprintf(err, errlen, "the webhook's custom headers cannot be read");
		return false;
	}
	char *line = r->hdr_text;
	for (int i = 0; i < 3; i++) {
		snprintf(line, len[i], "%s%s", names[i], values[i]);
		r->hdr[i].data = line;
		r->hdr[i].next = i < 2 ? &r->hdr[i + 1] : tail;
		line += len[i];
	}
	r->headers = &r->hdr[0];
	return true;
}

static bool set_options(struct ph_request *r, const struct ph_request_params *p)
{
	CURL *e = r->easy;
	int64_t connect_ms = p->timeout_ms < 10000 ? p->timeout_ms : 10000;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(e, opt, val); \
	} while (0)
	SET(CURLOPT_URL, p->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* "" disables every proxy, the environment's (http_proxy, ALL_PROXY, ...) included: curl
	 * then never looks at them. CURLOPT_NOPROXY would add nothing but a string curl copies
	 * into every handle (32 bytes of heap per delivery in flight). */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, p->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
	SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	SET(CURLOPT_OPENSOCKETDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->curl_error);
#if LIBCURL_VERSION_NUM >= 0x075000
	SET(CURLOPT_PREREQFUNCTION, on_prereq);
	SET(CURLOPT_PREREQDATA, r);
#endif
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* curl's receive buffer is 16 KiB by default, allocated for every transfer: at thousands
	 * in flight that alone would be most of the worker's memory. Receivers answer briefly and
	 * only the first 4 KiB of a body is kept, so 1 KiB reads cost nothing measurable. */
	SET(CURLOPT_BUFFERSIZE, 1024L);
#undef SET
	return rc == CURLE_OK;
}

bool ph_request_init(
	struct ph_request *r, const struct ph_request_params *p, char *err, size_t errlen)
{
	return ph_request_init_on(r, NULL, p, err, errlen);
}

bool ph_request_init_on(struct ph_request *r, CURL *easy, const struct ph_request_params *p,
	char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->ssrf = p->ssrf;
	if (!url_scheme_ok(p->url)) {
		snprintf(err, errlen, "the webhook URL is not http or https");
		curl_easy_cleanup(easy);
		return false;
	}
	r->easy = easy ? easy : curl_easy_init();
	if (!r->easy) {
		snprintf(err, errlen, "curl_easy_init failed");
		return false;
	}
	if (!build_headers(r, p, err, errlen))
		goto fail;
	r->curl_error = calloc(1, CURL_ERROR_SIZE); /* NULL: failures go without curl's details */
	bool set = set_options(r, p);
	if (!set && easy) {
		/* A reused handle can keep state curl_easy_reset does not clear (curl 7.88 refuses
		 * CURLOPT_BUFFERSIZE on a handle whose last transfer failed before connecting): one
		 * delivery's failure must not become the next one's. Start over on a new handle. */
		curl_easy_cleanup(r->easy);
		r->easy = curl_easy_init();
		set = r->easy && set_options(r, p);
	}
	if (!set) {
		snprintf(err, errlen, "curl refused a request option");
		goto fail;
	}
	r->started_us = ph_now_us();
	return true;
fail:
	ph_request_finish(r);
	return false;
}

CURLcode ph_request_perform(struct ph_request *r)
{
	r->started_us = ph_now_us();
	return curl_easy_perform(r->easy);
}

/* One of curl's phase ends, in microseconds from the start (0: the phase did not happen). */
static curl_off_t info_us(CURL *e, CURLINFO what)
{
	curl_off_t v = 0;
	if (curl_easy_getinfo(e, what, &v) != CURLE_OK || v < 0)
		return 0;
	return v;
}

static int ms_or_null(curl_off_t us, bool happened)
{
	return happened ? (int)((us + 500) / 1000) : -1;
}

/* The phases of the finished transfer. curl gives each as the time from the start to its end;
 * a reused connection has no DNS, connect or TLS of its own (connect ends at 0). */
static void read_timings(CURL *e, long status, struct ph_timings *t)
{
	curl_off_t dns = info_us(e, CURLINFO_NAMELOOKUP_TIME_T);
	curl_off_t conn = info_us(e, CURLINFO_CONNECT_TIME_T);
	curl_off_t tls = info_us(e, CURLINFO_APPCONNECT_TIME_T);
	curl_off_t first = info_us(e, CURLINFO_STARTTRANSFER_TIME_T);
	curl_off_t total = info_us(e, CURLINFO_TOTAL_TIME_T);
	bool connected = conn > 0;

	t->measured = true;
	t->dns_ms = ms_or_null(dns, connected);
	t->connect_ms = ms_or_null(conn - dns, connected);
	t->tls_ms = ms_or_null(tls - conn, connected && tls > 0);
	t->first_byte_ms = ms_or_null(first, status > 0 && first > 0);
	t->total_ms = ms_or_null(total, true);
}

/* "curl's message for rc: its details", the details being what curl wrote while connecting
 * or, after that (on_prereq), what the code and the socket's errno tell for the failures
 * that set it. */
static void describe_failure(struct ph_request *r, CURLcode rc, char *out, size_t len)
{
	char detail[CURL_ERROR_SIZE] = "", os_text[128] = "";
	long os = 0;

	if (curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os) == CURLE_OK && os != 0 &&
		strerror_r((int)os, os_text, sizeof(os_text)) != 0)
		os_text[0] = '\0';
	if (r->curl_error && r->curl_error[0])
		snprintf(detail, sizeof(detail), "%s", r->curl_error);
	else if (rc == CURLE_GOT_NOTHING)
		snprintf(detail, sizeof(detail), "Empty reply from server");
	else if (rc == CURLE_RECV_ERROR && os_text[0])
		snprintf(detail, sizeof(detail), "Recv failure: %s", os_text);
	else if (rc == CURLE_SEND_ERROR && os_text[0])
		snprintf(detail, sizeof(detail), "Send failure: %s", os_text);
	else if (rc == CURLE_COULDNT_CONNECT) /* a fresh connection for a re-sent request */
		snprintf(detail, sizeof(detail), "%s", os_text);
	/* Otherwise the code alone: the errno may be an earlier attempt's (another address). */
	snprintf(out, len, "%.80s%s%.160s", curl_easy_strerror(rc), detail[0] ? ": " : "", detail);
}

void ph_request_result(struct ph_request *r, CURLcode rc, struct ph_request_result *out)
{
	long status = 0;

	memset(out, 0, sizeof(*out));
	r->transfer_failed = rc != CURLE_OK;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	out->duration_ms = (int)((ph_now_us() - r->started_us) / 1000);
	read_timings(r->easy, status, &out->timings);
	if (r->body)
		r->body_len = (uint32_t)ph_utf8_sanitize(r->body, r->body_len);
	out->body = r->body ? r->body : "";
	out->retry_after = r->retry_after && r->retry_after[0] ? r->retry_after : NULL;

	/* A body over the cap is our own abort; the status line had arrived and counts. */
	bool capped = rc == CURLE_WRITE_ERROR && r->body_seen > PH_REQUEST_BODY_MAX;
	if (rc != CURLE_OK && !capped) {
		out->status = 0;
		if (r->refused)
			snprintf(out->error, sizeof(out->error), "%s", r->refused);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			snprintf(out->error, sizeof(out->error), "timed out after %d ms",
				out->duration_ms);
		else
			describe_failure(r, rc, out->error, sizeof(out->error));
		/* Cut at a byte count, and curl's message quotes the host: it may end inside a
		 * multi-byte character or carry bytes that are not UTF-8, which PostgreSQL would
		 * refuse along with the whole completion batch it travels in. */
		ph_utf8_sanitize(out->error, strlen(out->error));
		return;
	}
	out->status = status;
	out->ok = status >= 200 && status <= 299;
	if (!out->ok)
		snprintf(out->error, sizeof(out->error), "HTTP %ld", status);
}

void ph_request_finish(struct ph_request *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	r->easy = NULL;
	free(r->hdr_text);
	free(r->custom);
	r->custom = NULL;
	free(r->body);
	free(r->refused);
	free(r->retry_after);
	free(r->curl_error);
	r->headers = NULL;
	r->hdr_text = r->body = r->refused = r->retry_after = r->curl_error = NULL;
	r->body_len = r->body_cap = 0;
}

CURL *ph_request_detach(struct ph_request *r)
{
	CURL *easy = r->easy;

	/* A transfer that failed in curl (bad host name, resolve error, ...) can leave state
	 * in the handle that curl_easy_reset keeps and that makes the next setup fail: such a
	 * handle is not reused. */
	if (easy && r->transfer_failed) {
		curl_easy_cleanup(easy);
		easy = NULL;
	}
	/* Reset now: the handle's options point into r, which is about to go. */
	if (easy)
		curl_easy_reset(easy);
	r->easy = NULL;
	ph_request_finish(r);
	return easy;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid or cut short. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, min = 0x80, cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, min = 0x800, cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* True when s (n bytes) is a prefix of some valid multi-byte sequence. */
static bool utf8_cut(const unsigned char *s, size_t n)
{
	size_t want = (s[0] & 0xe0) == 0xc0 ? 2
		: (s[0] & 0xf0) == 0xe0	    ? 3
		: (s[0] & 0xf8) == 0xf0	    ? 4
					    : 0;
	if (want == 0 || n >= want)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	return true;
}

size_t ph_utf8_sanitize(char *buf, size_t len)
{
	unsigned char *s = (unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		size_t k = utf8_seq(s + i, len - i);
		if (k > 0) {
			i += k;
			continue;
		}
		if (utf8_cut(s + i, len - i)) {
			len = i;
			break;
		}
		s[i++] = '?';
	}
	buf[len] = '\0';
	return len;
}
