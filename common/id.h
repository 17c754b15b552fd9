/* SPDX-License-Identifier: MIT
 *
 * id: opaque, prefixed, time-ordered identifiers ("evt_" + 12 hex digits of unix milliseconds +
 * 16 random hex digits). Sorting ids as strings sorts them by creation time, which is what
 * cursor pagination relies on. sql/ generates the same format with pghook_new_id().
 */
#ifndef PGHOOK_COMMON_ID_H
#define PGHOOK_COMMON_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PH_ID_BODY_LEN 28
#define PH_ID_MAX      40 /* prefix (up to 8) + '_' + body + NUL, rounded up */

/* Write prefix "_" body into out (capacity PH_ID_MAX) using time ms and random bits. */
void ph_id_format(char *out, const char *prefix, uint64_t unix_ms, uint64_t random_bits);
/* A new id with the current time and fresh random bits. */
void ph_id_new(char *out, const char *prefix);
/* True when s is a well-formed id with the given prefix. */
bool ph_id_valid(const char *s, const char *prefix);
/* Fill buf with n cryptographically random bytes; aborts if the kernel cannot supply them. */
void ph_random_bytes(void *buf, size_t n);

#endif
