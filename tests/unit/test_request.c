/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/request without a network: which URLs and secrets are refused before
 * any transfer, the exact headers a delivery carries (Standard Webhooks, content type, user
 * agent, no Expect), that a reused easy handle gets its own headers, and how a failed
 * transfer's curl code becomes the recorded error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "request.h"
#include "sign.h"

#define SECRET	 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define PREVIOUS "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
#define MSG_ID	 "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define BODY	 "{\"test\": 2432232314}"

static struct ph_request_params params(const char *url, const char *secret, const char *prev)
{
	struct ph_request_params p = {
		.url = url,
		.msg_id = MSG_ID,
		.secret = secret,
		.previous_secret = prev,
		.body = BODY,
		.body_len = strlen(BODY),
		.timestamp = 1614265330,
		.timeout_ms = 5000,
		.ssrf = NULL,
	};
	return p;
}

static bool has_header(const struct ph_request *r, const char *line)
{
	for (const struct curl_slist *h = r->headers; h; h = h->next)
		if (strcmp(h->data, line) == 0)
			return true;
	return false;
}

static const struct {
	const char *name;
	const char *url;
	const char *secret;
	bool ok;
} init_cases[] = {
	{ "http", "http://example.com/hook", SECRET, true },
	{ "https upper-case scheme", "HTTPS://example.com/hook", SECRET, true },
	{ "ftp refused", "ftp://example.com/x", SECRET, false },
	{ "file refused", "file:///etc/passwd", SECRET, false },
	{ "gopher refused", "gopher://example.com/", SECRET, false },
	{ "no scheme refused", "example.com/hook", SECRET, false },
	{ "bad secret refused", "https://example.com/hook", "whsec_!!!", false },
};

static void test_init(void)
{
	for (size_t i = 0; i < sizeof(init_cases) / sizeof(init_cases[0]); i++) {
		struct ph_request r;
		char err[128] = "";
		struct ph_request_params p = params(init_cases[i].url, init_cases[i].secret, NULL);
		bool ok = ph_request_init(&r, &p, err, sizeof(err));
		int before = check_failures;
		CHECK(ok == init_cases[i].ok);
		CHECK(ok || err[0] != '\0');
		if (check_failures != before)
			fprintf(stderr, "  in case \"%s\" (%s)\n", init_cases[i].name, err);
		if (ok)
			ph_request_finish(&r);
	}
}

static void test_headers(void)
{
	struct ph_request r;
	char err[128];
	struct ph_request_params p = params("https://example.com/hook", SECRET, NULL);
	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	CHECK(has_header(&r, "webhook-id: " MSG_ID));
	CHECK(has_header(&r, "webhook-timestamp: 1614265330"));
	/* The spec's published test vector. */
	CHECK(has_header(&r, "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
	CHECK(has_header(&r, "content-type: application/json"));
	CHECK(has_header(&r, "user-agent: pghook/" PGHOOK_VERSION));
	CHECK(has_header(&r, "Expect:"));
	ph_request_finish(&r);

	/* A rotated secret still overlapping: both signatures, space-separated. */
	p = params("https://example.com/hook", SECRET, PREVIOUS);
	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	char want[PH_SIGNATURE_HEADER_MAX], line[PH_SIGNATURE_HEADER_MAX + 32];
	CHECK(ph_sign_header(SECRET, PREVIOUS, MSG_ID, 1614265330, BODY, strlen(BODY), want));
	CHECK(strchr(want, ' ') != NULL);
	snprintf(line, sizeof(line), "webhook-signature: %s", want);
	CHECK(has_header(&r, line));
	ph_request_finish(&r);
}

static void test_results(void)
{
	struct ph_request r;
	struct ph_request_result res;
	char err[128];
	struct ph_request_params p = params("http://example.com/hook", SECRET, NULL);

	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	ph_request_result(&r, CURLE_OPERATION_TIMEDOUT, &res);
	CHECK(res.status == 0 && !res.ok);
	CHECK(strncmp(res.error, "timed out after ", 16) == 0);
	CHECK_STR(res.body, "");
	CHECK(res.retry_after == NULL);

	/* The SSRF callback's reason wins over curl's generic message. */
	r.refused = strdup("refused to connect to 10.0.0.1: private address");
	ph_request_result(&r, CURLE_COULDNT_CONNECT, &res);
	CHECK_STR(res.error, "refused to connect to 10.0.0.1: private address");
	free(r.refused);
	r.refused = NULL;

	ph_request_result(&r, CURLE_COULDNT_RESOLVE_HOST, &res);
	CHECK(strstr(res.error, "resolve") != NULL);

	/* A body kept past its cap is sanitized on the way out. */
	r.body = strdup("ok\xff");
	r.body_len = 3;
	r.body_cap = 4;
	ph_request_result(&r, CURLE_OK, &res);
	CHECK_STR(res.body, "ok?");
	CHECK(res.status == 0 && !res.ok); /* no transfer ran: no status line */
	CHECK_STR(res.error, "HTTP 0");
	ph_request_finish(&r);
}

/* A handle given back by ph_request_detach and built on again carries the new delivery's
 * headers only, and a failed init frees it. */
static void test_reuse(void)
{
	struct ph_request r;
	char err[128];
	struct ph_request_params p = params("https://example.com/hook", SECRET, PREVIOUS);

	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	CURL *easy = ph_request_detach(&r);
	CHECK(easy != NULL);
	CHECK(r.easy == NULL && r.headers == NULL);

	p = params("http://example.com/other", SECRET, NULL);
	p.msg_id = "msg_second";
	p.timestamp = 1614265331;
	CHECK(ph_request_init_on(&r, easy, &p, err, sizeof(err)));
	CHECK(r.easy == easy);
	CHECK(has_header(&r, "webhook-id: msg_second"));
	CHECK(!has_header(&r, "webhook-id: " MSG_ID));
	CHECK(has_header(&r, "webhook-timestamp: 1614265331"));
	CHECK(has_header(&r, "content-type: application/json"));
	CHECK(has_header(&r, "Expect:"));
	int n = 0;
	for (const struct curl_slist *h = r.headers; h; h = h->next)
		n++;
	CHECK(n == 7);
	struct ph_request_result res;
	ph_request_result(&r, CURLE_OPERATION_TIMEDOUT, &res);
	CHECK_STR(res.body, "");

	/* A refused URL frees the handle it was given (LeakSanitizer checks). */
	easy = ph_request_detach(&r);
	p = params("ftp://example.com/x", SECRET, NULL);
	CHECK(!ph_request_init_on(&r, easy, &p, err, sizeof(err)));
	p = params("http://example.com/", SECRET, NULL);
	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	easy = ph_request_detach(&r);
	p = params("http://example.com/", "whsec_!!!", NULL);
	CHECK(!ph_request_init_on(&r, easy, &p, err, sizeof(err)));
}

/* The host of issue 18: accepted by curl_url, refused by curl at transfer time (IDN). */
static void bad_idn_url(char *buf, size_t len)
{
	snprintf(buf, len, "https://a");
	for (int i = 0; i < 70; i++)
		strcat(buf, "\xc3\xa9");
	strcat(buf, ".example/");
}

/* A transfer that fails inside curl before connecting leaves state curl_easy_reset keeps (curl
 * 7.88 then refuses CURLOPT_BUFFERSIZE): the next delivery must not inherit that failure. */
static void test_reuse_after_failure(void)
{
	struct ph_request r;
	struct ph_request_result res;
	char err[128], url[256];

	bad_idn_url(url, sizeof(url));
	struct ph_request_params p = params(url, SECRET, NULL);
	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	CURLcode rc = ph_request_perform(&r);
	CHECK(rc != CURLE_OK);
	ph_request_result(&r, rc, &res);
	CHECK(!res.ok && res.error[0] != '\0');
	/* detach does not hand back a handle whose transfer failed */
	CHECK(ph_request_detach(&r) == NULL);

	/* A handle broken that way and reset anyway is replaced, not refused. */
	CURL *easy = curl_easy_init();
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 1024L);
	CHECK(curl_easy_perform(easy) != CURLE_OK);
	curl_easy_reset(easy);
	p = params("http://example.com/hook", SECRET, NULL);
	CHECK(ph_request_init_on(&r, easy, &p, err, sizeof(err)));
	ph_request_finish(&r);
}

/* The recorded error is valid UTF-8 even when curl's message is cut inside a character. */
static void test_error_utf8(void)
{
	struct ph_request r;
	struct ph_request_result res;
	char err[128];
	struct ph_request_params p = params("http://example.com/hook", SECRET, NULL);

	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	/* 159 ASCII bytes then an e-acute: the %.160s cut falls between its two bytes. */
	memset(r.curl_error, 'x', 159);
	memcpy(r.curl_error + 159, "\xc3\xa9\xff", 4);
	ph_request_result(&r, CURLE_COULDNT_RESOLVE_HOST, &res);
	size_t n = strlen(res.error);
	CHECK(n > 159);
	CHECK(ph_utf8_sanitize(res.error, n) == n); /* already valid: unchanged */
	CHECK(strchr(res.error, '\xc3') == NULL);
	ph_request_finish(&r);
}

/* Once the connection is ready curl's error buffer is given back (request.c, on_prereq): a
 * later failure is told from its code, in curl's words for the common ones. */
static void test_error_after_connect(void)
{
	struct ph_request r;
	struct ph_request_result res;
	char err[128];
	struct ph_request_params p = params("http://example.com/hook", SECRET, NULL);

	CHECK(ph_request_init(&r, &p, err, sizeof(err)));
	CHECK(r.curl_error != NULL);
	curl_easy_setopt(r.easy, CURLOPT_ERRORBUFFER, NULL);
	free(r.curl_error);
	r.curl_error = NULL;
	ph_request_result(&r, CURLE_GOT_NOTHING, &res);
	CHECK(strstr(res.error, "Empty reply from server") != NULL);
	CHECK(res.status == 0 && !res.ok);
	ph_request_result(&r, CURLE_RECV_ERROR, &res);
	CHECK(strcmp(res.error, curl_easy_strerror(CURLE_RECV_ERROR)) == 0); /* no errno here */
	ph_request_finish(&r);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	test_init();
	test_headers();
	test_results();
	test_reuse();
	test_reuse_after_failure();
	test_error_utf8();
	test_error_after_connect();
	curl_global_cleanup();
	return check_finish("request");
}
