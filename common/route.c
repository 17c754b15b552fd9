/* SPDX-License-Identifier: MIT */
#include "route.h"

#include <string.h>

/* The length of the segment starting at s: up to the next '/' or the end. */
static size_t segment_len(const char *s)
{
	const char *end = strchr(s, '/');
	return end ? (size_t)(end - s) : strlen(s);
}

bool ph_route_match(const char *pattern, const char *path, const char **params, int max_params)
{
	const char *p = pattern, *s = path;
	int np = 0;
	memset(params, 0, (size_t)max_params * sizeof(*params));
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		size_t pl = segment_len(p), sl = segment_len(s);
		if (*p == '{') {
			if (sl == 0 || np == max_params)
				return false;
			params[np++] = s;
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			return false;
		}
		p += pl;
		s += sl;
	}
	return *p == '\0' && *s == '\0';
}

void ph_route_cut(char *path, const char **params, int n)
{
	for (int i = 0; i < n && params[i]; i++) {
		char *start = path + (params[i] - path);
		start[segment_len(start)] = '\0';
	}
}
