/* SPDX-License-Identifier: MIT
 *
 * duration: the "500ms", "15s", "5m", "2h", "1d" notation of the configuration, in milliseconds.
 */
#ifndef PGHOOK_COMMON_DURATION_H
#define PGHOOK_COMMON_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Parse one duration: digits then a unit among ms, s, m, h, d. A bare "0" is allowed.
 * Rejects signs, spaces, fractions, unknown units and values over 100 days. */
bool ph_duration_parse(const char *s, int64_t *out_ms) PH_MUSTCHECK;
/* Write ms in the shortest exact unit ("1500ms", "5m"). Returns snprintf's count. */
int ph_duration_format(int64_t ms, char *buf, size_t len);
/* Parse a comma-separated list of durations into out (capacity cap). Returns the count,
 * or -1 if any entry is invalid, the list is empty, or it holds more than cap entries. */
int ph_duration_list_parse(const char *s, int64_t *out, int cap) PH_MUSTCHECK;

#endif
