/* SPDX-License-Identifier: MIT
 *
 * fuzz_route: request paths against route patterns. The input is "<pattern>\n<path>" (the
 * path alone, against a few patterns shaped like the api's, when there is no newline). When a
 * path matches: it has as many segments as the pattern, its literal segments are the
 * pattern's, each {name} captured one non-empty segment, and writing the captures back into
 * the pattern gives the path again. ph_route_cut then ends every capture at its segment.
 */
#include "fuzz.h"

#include "route.h"

#define MAX_PARAMS 3

static const char *const patterns[] = { "/v1/webhooks", "/v1/webhooks/{id}",
	"/v1/webhooks/{id}/enable", "/admin/v1/tenants/{id}/keys", "/{a}/{b}/{c}" };

/* The path the pattern gives with its {name} segments replaced by params (each up to its
 * next '/'), into out; false when it does not fit. */
static bool rebuild(const char *pattern, const char **params, char *out, size_t cap)
{
	size_t n = 0;
	int k = 0;
	for (const char *p = pattern; *p;) {
		const char *seg = p;
		size_t len = 1;
		if (*p == '{' && p > pattern && p[-1] == '/') {
			FUZZ_CHECK(k < MAX_PARAMS && params[k] != NULL);
			seg = params[k++];
			len = strcspn(seg, "/");
			p += strcspn(p, "/");
		} else {
			p++;
		}
		if (n + len >= cap)
			return false;
		memcpy(out + n, seg, len);
		n += len;
	}
	out[n] = '\0';
	return true;
}

static void check(const char *pattern, char *path)
{
	const char *params[MAX_PARAMS];
	if (!ph_route_match(pattern, path, params, MAX_PARAMS))
		return;
	char again[1024];
	for (int i = 0; i < MAX_PARAMS && params[i]; i++) {
		FUZZ_CHECK(params[i] > path && params[i][-1] == '/');
		FUZZ_CHECK(params[i][0] != '/' && params[i][0] != '\0');
	}
	if (rebuild(pattern, params, again, sizeof(again)))
		FUZZ_CHECK(strcmp(again, path) == 0);
	char *copy = ph_xstrdup(path);
	const char *cut[MAX_PARAMS];
	FUZZ_CHECK(ph_route_match(pattern, copy, cut, MAX_PARAMS));
	ph_route_cut(copy, cut, MAX_PARAMS);
	for (int i = 0; i < MAX_PARAMS && cut[i]; i++) {
		FUZZ_CHECK(strchr(cut[i], '/') == NULL);
		FUZZ_CHECK(strncmp(cut[i], params[i], strlen(cut[i])) == 0);
		FUZZ_CHECK(params[i][strlen(cut[i])] == '/' || params[i][strlen(cut[i])] == '\0');
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = size > 0 ? memchr(data, '\n', size) : NULL;
	if (nl) {
		char *pattern = fuzz_string(data, (size_t)(nl - data));
		char *path = fuzz_string(nl + 1, size - (size_t)(nl + 1 - data));
		check(pattern, path);
		free(pattern);
		free(path);
		return 0;
	}
	char *path = fuzz_string(data, size);
	for (size_t i = 0; i < PH_ARRAY_LEN(patterns); i++)
		check(patterns[i], path);
	free(path);
	return 0;
}
