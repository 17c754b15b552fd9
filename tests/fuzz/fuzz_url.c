/* SPDX-License-Identifier: MIT
 *
 * fuzz_url: ph_webhook_url_problem, the check a webhook URL passes before pghook stores it
 * (issue 18: the URL must be one libcurl delivers to).
 *
 * Invariants:
 * - an accepted URL starts with http:// or https:// (any case), is at most 2048 bytes, and
 *   libcurl's parser takes it and gives it a host of ASCII only, no user and no password;
 * - a refusal is a non-empty message;
 * - ph_webhook_url_valid agrees with it.
 */
#include "fuzz.h"

#include <curl/curl.h>
#include <strings.h>

#include "validate.h"

static void check_accepted(const char *s)
{
	FUZZ_CHECK(strlen(s) <= 2048);
	FUZZ_CHECK(strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
	CURLU *u = curl_url();
	FUZZ_CHECK(u && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK);
	char *host = NULL, *user = NULL, *password = NULL;
	FUZZ_CHECK(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host);
	for (const char *p = host; *p; p++)
		FUZZ_CHECK((unsigned char)*p < 0x80);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_PASSWORD, &password, 0) != CURLUE_OK);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	const char *why = ph_webhook_url_problem(s);
	FUZZ_CHECK(ph_webhook_url_valid(s) == (why == NULL));
	if (why)
		FUZZ_CHECK(*why != '\0');
	else
		check_accepted(s);
	free(s);
	return 0;
}
