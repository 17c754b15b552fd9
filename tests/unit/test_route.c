/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/route: literal and {name} segments, the captures and where
 * ph_route_cut ends them, and the paths that must not match (other lengths, empty segments,
 * more parameters than the caller has room for).
 */
#include <string.h>

#include "check.h"
#include "route.h"
#include "util.h"

#define MAX_PARAMS 3

static const struct {
	const char *pattern, *path;
	bool want;
	const char *params[MAX_PARAMS]; /* after ph_route_cut */
} cases[] = {
	{ "/healthz", "/healthz", true, { NULL } },
	{ "/v1/webhooks", "/v1/webhooks", true, { NULL } },
	{ "/v1/webhooks/{id}", "/v1/webhooks/wh_1", true, { "wh_1" } },
	{ "/v1/webhooks/{id}/enable", "/v1/webhooks/wh_1/enable", true, { "wh_1" } },
	{ "/a/{x}/b/{y}", "/a/1/b/2", true, { "1", "2" } },
	{ "/{a}/{b}/{c}", "/x/y/z", true, { "x", "y", "z" } },
	{ "/v1/webhooks/{id}", "/v1/webhooks/wh%2F1", true, { "wh%2F1" } },
	{ "/v1/webhooks", "/v1/webhook", false, { NULL } },
	{ "/v1/webhooks", "/v1/webhooksx", false, { NULL } },
	{ "/v1/webhooks", "/v1/webhooks/", false, { NULL } },
	{ "/v1/webhooks/{id}", "/v1/webhooks", false, { NULL } },
	{ "/v1/webhooks/{id}", "/v1/webhooks/", false, { NULL } }, /* empty segment */
	{ "/v1/webhooks/{id}", "/v1/webhooks/a/b", false, { NULL } },
	{ "/v1/webhooks/{id}/enable", "/v1/webhooks/a/disable", false, { NULL } },
	{ "/v1/webhooks/{id}/enable", "/v1/webhooks//enable", false, { NULL } },
	{ "/{a}/{b}/{c}/{d}", "/w/x/y/z", false, { NULL } }, /* more params than room */
	{ "/healthz", "healthz", false, { NULL } },
	{ "/healthz", "", false, { NULL } },
	{ "", "", true, { NULL } },
};

int main(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char path[64];
		const char *params[MAX_PARAMS] = { "stale", "stale", "stale" };
		snprintf(path, sizeof(path), "%s", cases[i].path);
		bool got = ph_route_match(cases[i].pattern, path, params, MAX_PARAMS);
		CHECK(got == cases[i].want);
		if (got) {
			ph_route_cut(path, params, MAX_PARAMS);
			for (int k = 0; k < MAX_PARAMS; k++) {
				if (cases[i].params[k])
					CHECK_STR(params[k], cases[i].params[k]);
				else
					CHECK(params[k] == NULL);
			}
		}
		if (check_failures != before)
			fprintf(stderr, "  for %s against %s\n", cases[i].path, cases[i].pattern);
	}
	return check_finish("route");
}
