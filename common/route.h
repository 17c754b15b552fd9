/* SPDX-License-Identifier: MIT
 *
 * route: matching a request path against a route pattern such as "/v1/webhooks/{id}/enable".
 * A pattern is literal segments and {name} segments; a {name} segment matches any one
 * non-empty path segment and captures it. Matching reads the path only; once a route is
 * chosen, ph_route_cut ends each captured segment in place so it reads as a string.
 */
#ifndef PGHOOK_COMMON_ROUTE_H
#define PGHOOK_COMMON_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* True when path matches pattern segment by segment, with the same number of segments. The
 * {name} segments' starts are stored in params[0..max_params) (pointers into path); a pattern
 * with more than max_params of them matches nothing. params is cleared first. */
bool ph_route_match(const char *pattern, const char *path, const char **params, int max_params);
/* Terminate each of the n captured params (pointers into path, as ph_route_match left them;
 * NULL ends the list early) at its segment's end, by writing a NUL over the '/' after it. */
void ph_route_cut(char *path, const char **params, int n);

#endif
