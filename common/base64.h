/* SPDX-License-Identifier: MIT
 *
 * base64: standard (RFC 4648 §4, padded) and URL-safe (§5, unpadded) encodings.
 */
#ifndef PGHOOK_COMMON_BASE64_H
#define PGHOOK_COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Bytes needed to encode n bytes, terminating NUL included. */
#define PH_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* Encode n bytes into out (at least PH_BASE64_ENCODED_LEN(n)); returns the length written. */
size_t ph_base64_encode(const unsigned char *in, size_t n, char *out);
size_t ph_base64url_encode(const unsigned char *in, size_t n, char *out);
/* Decode s (padding optional; either alphabet) into out (capacity cap). False on any invalid
 * character, bad length, or overflow. */
bool ph_base64_decode(const char *s, unsigned char *out, size_t cap, size_t *out_len) PH_MUSTCHECK;

#endif
