/* SPDX-License-Identifier: MIT
 *
 * rfc3339: the date-times clients send (?since=, ?until=, nextRetryAt), checked before they
 * reach PostgreSQL. Everything accepted here is also accepted by PostgreSQL's timestamptz
 * input: a value it refuses (February 30, a sign in the year, an offset over 15:59) would fail
 * the statement and answer 500 instead of 422.
 */
#ifndef PGHOOK_COMMON_RFC3339_H
#define PGHOOK_COMMON_RFC3339_H

#include <stdbool.h>

/* True when s is an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS, an optional fraction, then Z or
 * a numeric offset of at most 15:59), with a real calendar date and a leap second at most. */
bool ph_rfc3339_valid(const char *s);

#endif
