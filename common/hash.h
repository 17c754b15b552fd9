/* SPDX-License-Identifier: MIT
 *
 * hash: SHA-256 of API keys (only hashes are stored), constant-time comparison, and the
 * generation of API keys and signing secrets.
 */
#ifndef PGHOOK_COMMON_HASH_H
#define PGHOOK_COMMON_HASH_H

#include <stdbool.h>
#include <stddef.h>

#define PH_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */
#define PH_API_KEY_MAX	  64
#define PH_SECRET_MAX	  64

/* Lowercase hex SHA-256 of n bytes into out (PH_SHA256_HEX_LEN). */
void ph_sha256_hex(const void *data, size_t n, char out[PH_SHA256_HEX_LEN]);
/* Compare two strings without an early exit on the first difference. */
bool ph_ct_streq(const char *a, const char *b);
/* A new API key: "phk_" + 43 base64url characters (32 random bytes). */
void ph_api_key_new(char out[PH_API_KEY_MAX]);
/* A new Standard Webhooks secret: "whsec_" + base64 of 24 random bytes. */
void ph_secret_new(char out[PH_SECRET_MAX]);

#endif
