/* SPDX-License-Identifier: MIT
 *
 * fuzz_query: the small values a client puts in a query string or a header: ?limit=,
 * ?notify_failure= and the Authorization header's bearer token. An accepted limit is 1..250
 * and is what the text says (printing it back gives the text without its leading spaces, sign
 * and zeros); an accepted boolean is one of the six spellings; a bearer token is a non-empty
 * suffix of the header with no leading space, found only after "Bearer ".
 */
#include "fuzz.h"

#include <ctype.h>
#include <strings.h>

#include "validate.h"

static void check_limit(const char *s)
{
	int n = 0;
	if (!ph_parse_limit(s, &n))
		return;
	FUZZ_CHECK(n >= 1 && n <= PH_LIMIT_MAX);
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '+')
		s++;
	while (*s == '0')
		s++;
	char again[16];
	snprintf(again, sizeof(again), "%d", n);
	FUZZ_CHECK(strcmp(again, s) == 0);
}

static void check_bool(const char *s)
{
	bool b;
	if (!ph_parse_bool(s, &b))
		return;
	FUZZ_CHECK(b ? strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0
		     : strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0);
}

static void check_bearer(const char *s)
{
	const char *t = ph_bearer_token(s);
	if (!t)
		return;
	FUZZ_CHECK(strncasecmp(s, "Bearer ", 7) == 0);
	FUZZ_CHECK(t >= s + 7 && t < s + strlen(s));
	FUZZ_CHECK(*t != ' ' && *t != '\0');
	for (const char *p = s + 7; p < t; p++)
		FUZZ_CHECK(*p == ' ');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	check_limit(s);
	check_bool(s);
	check_bearer(s);
	free(s);
	return 0;
}
