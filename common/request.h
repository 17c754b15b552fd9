/* SPDX-License-Identifier: MIT
 *
 * request: one signed delivery attempt as a libcurl easy handle, shared by the worker (which
 * adds it to its curl multi) and the api's synchronous send (ph_request_perform). It applies
 * the delivery policy in one place: POST of the event's bytes with the Standard Webhooks
 * headers (HMAC or ed25519, common/sign.h) and the webhook's own headers, http/https only, no
 * redirects, no proxy (environment proxies ignored), total timeout, the SSRF policy checked on the
 * socket actually opened, and the response body kept up to PH_REQUEST_BODY_KEEP bytes (the rest is
 * read and dropped, up to PH_REQUEST_BODY_MAX).
 *
 * Lifecycle: ph_request_init (or ph_request_init_on, reusing a finished request's handle) ->
 * (curl_multi_add_handle(r->easy) | ph_request_perform) -> ph_request_result ->
 * ph_request_finish (or ph_request_detach, keeping the handle for reuse). A ph_request must not
 * move while its transfer runs (curl holds pointers into it).
 *
 * Memory: a request is small (about 0.15 KiB) while its transfer runs. curl's error buffer is
 * held only until the connection is ready; the response body is kept in a buffer allocated
 * when the first body byte arrives and grown as bytes come, up to PH_REQUEST_BODY_KEEP, and
 * Retry-After only when it comes. The header lines that do not change between deliveries are
 * shared.
 */
#ifndef PGHOOK_COMMON_REQUEST_H
#define PGHOOK_COMMON_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ssrf.h"
#include "util.h"

#define PH_REQUEST_BODY_KEEP 4096
#define PH_REQUEST_BODY_MAX  (1024 * 1024)
#define PH_REQUEST_ERROR_MAX 256

/* What to send. All strings are borrowed and must outlive the request (curl reads body while
 * the transfer runs). */
struct ph_request_params {
	const char *url;
	const char *msg_id; /* webhook-id: the event id, stable across retries */
	const char *secret; /* whsec_... */
	const char *previous_secret; /* NULL unless a rotated secret still overlaps */
	const char *headers; /* the webhook's custom headers as a JSON object, or NULL */
	const char *body;
	size_t body_len;
	long long timestamp; /* webhook-timestamp, unix seconds */
	int64_t timeout_ms; /* total, PGHOOK_HTTP_TIMEOUT */
	const struct ph_ssrf_policy *ssrf; /* NULL: no address check (never in production) */
};

struct ph_request {
	CURL *easy;
	struct curl_slist *headers; /* curl's header list: hdr[0..2], then the shared lines */
	struct curl_slist hdr[3]; /* webhook-id, webhook-timestamp, webhook-signature */
	char *hdr_text; /* the three lines hdr[] point into, one allocation */
	struct curl_slist *custom; /* the webhook's own header lines, NULL when it has none */
	const struct ph_ssrf_policy *ssrf;
	char *body; /* first bytes of the response, NUL-terminated; NULL until a byte arrives */
	char *retry_after; /* Retry-After header value, NULL when absent (allocated: rare) */
	char *refused; /* why the SSRF policy refused a socket, NULL if it did not */
	long long started_us;
	uint32_t body_len; /* bytes kept in body (at most PH_REQUEST_BODY_KEEP) */
	uint32_t body_cap; /* bytes allocated for body */
	uint32_t body_seen; /* bytes received in total (curl stops past PH_REQUEST_BODY_MAX) */
	bool transfer_failed; /* curl ended the transfer with an error: do not reuse the handle */
	/* curl's message (CURL_ERROR_SIZE bytes) while the connection is made; NULL once it is
	 * ready (request.c, on_prereq) */
	char *curl_error;
};

/* Where an attempt's time went, from libcurl, in milliseconds; -1 where a phase did not happen
 * (no DNS, connect or TLS on a reused connection, no TLS over http, no first byte when no
 * answer came). dns, connect and tls are the durations of those phases; first_byte and total
 * count from the start of the attempt. */
struct ph_timings {
	bool measured; /* false: no transfer ran (all null) */
	int dns_ms, connect_ms, tls_ms, first_byte_ms, total_ms;
};

/* What happened. */
struct ph_request_result {
	struct ph_timings timings;
	long status; /* HTTP status, 0 when no response arrived */
	bool ok; /* 2xx */
	int duration_ms;
	const char *body; /* borrowed from the request, valid UTF-8, no NULs */
	const char *retry_after; /* borrowed, NULL when absent */
	char error[PH_REQUEST_ERROR_MAX]; /* "" on 2xx; else why it failed, valid UTF-8 */
};

/* Build the easy handle for p into r (caller's storage). False (with a message in err) when
 * the URL is not http(s), the secret does not sign, or curl refuses an option. On false r
 * holds nothing to finish. */
bool ph_request_init(struct ph_request *r, const struct ph_request_params *p, char *err,
	size_t errlen) PH_MUSTCHECK;
/* As ph_request_init, but on easy (takes ownership): a handle ph_request_detach gave back (it
 * reset it there) and that is in no multi handle. Every option is set again; reuse saves
 * creating a handle per request. easy NULL creates one. On false easy has been freed. */
bool ph_request_init_on(struct ph_request *r, CURL *easy, const struct ph_request_params *p,
	char *err, size_t errlen) PH_MUSTCHECK;
/* Run the transfer to its end, blocking the calling thread. Returns curl's code. */
CURLcode ph_request_perform(struct ph_request *r);
/* Interpret the finished transfer whose curl result was rc. r's body is made valid UTF-8. */
void ph_request_result(struct ph_request *r, CURLcode rc, struct ph_request_result *out);
/* Free the easy handle, headers and body. Remove r->easy from any multi handle first. Accepts
 * a zeroed request. */
void ph_request_finish(struct ph_request *r);
/* As ph_request_finish, but reset the easy handle and hand it back (the caller owns it; NULL
 * when r had none, or when its transfer failed in curl: such a handle is freed, not reused) for
 * ph_request_init_on. The result's borrowed strings end here too. */
CURL *ph_request_detach(struct ph_request *r) PH_MUSTCHECK;

/* Make buf (len bytes) valid UTF-8 in place: invalid sequences and NUL bytes become '?', and a
 * sequence cut at the end is dropped. Returns the new length (buf is NUL-terminated at it). */
size_t ph_utf8_sanitize(char *buf, size_t len);

#endif
