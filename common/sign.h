/* SPDX-License-Identifier: MIT
 *
 * sign: Standard Webhooks signatures. The signed content is "<msg id>.<unix seconds>.<body>",
 * HMAC-SHA256 keyed with the base64-decoded part of a "whsec_..." secret, written
 * "v1,<base64 of the MAC>". While a rotated secret overlaps, the header carries one signature
 * per secret, separated by spaces.
 */
#ifndef PGHOOK_COMMON_SIGN_H
#define PGHOOK_COMMON_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* "v1," + 44 base64 characters + NUL. */
#define PH_SIGNATURE_LEN 48
/* "v1a," + 88 base64 characters (a 64-byte ed25519 signature) + NUL. */
#define PH_SIGNATURE_ED_LEN 93
/* Room for the header value with two signatures of either kind. */
#define PH_SIGNATURE_HEADER_MAX (2 * PH_SIGNATURE_ED_LEN + 2)
/* "whsk_" or "whpk_" + 44 base64 characters (32 bytes) + NUL. */
#define PH_ED25519_KEY_MAX 50

/* True when secret is "whsec_" followed by base64 of 24..64 bytes (or, for secrets generated
 * elsewhere, plain base64 without the prefix). */
bool ph_sign_secret_valid(const char *secret);
/* Sign one message; out receives "v1,<base64>". False (and out empty) when the secret is not
 * valid as ph_sign_secret_valid defines it. */
bool ph_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
	size_t body_len, char out[PH_SIGNATURE_LEN]) PH_MUSTCHECK;
/* ed25519 (Standard Webhooks "v1a"): the private key is written "whsk_<base64 of the 32-byte
 * seed>", the public key "whpk_<base64 of the 32-byte key>", and a signature
 * "v1a,<base64 of the 64-byte ed25519 signature of id.timestamp.body>". ph_sign_header signs
 * with ed25519 for a "whsk_" secret and with HMAC otherwise, so a rotation may mix both. */
/* A new key pair; false only when OpenSSL fails. */
bool ph_sign_ed25519_keypair(
	char private_key[PH_ED25519_KEY_MAX], char public_key[PH_ED25519_KEY_MAX]) PH_MUSTCHECK;
/* True when key is "whsk_" and base64 of 32 bytes. */
bool ph_sign_ed25519_key_valid(const char *key);
/* Sign one message with a "whsk_" key; out receives "v1a,<base64>". False (out empty) when
 * the key is not valid or OpenSSL fails. */
bool ph_sign_ed25519(const char *private_key, const char *msg_id, long long timestamp,
	const char *body, size_t body_len, char out[PH_SIGNATURE_ED_LEN]) PH_MUSTCHECK;

/* The webhook-signature header value for secret and, when not NULL or empty, previous_secret
 * (current first, space-separated). False (and out empty) when either secret is not valid. */
bool ph_sign_header(const char *secret, const char *previous_secret, const char *msg_id,
	long long timestamp, const char *body, size_t body_len,
	char out[PH_SIGNATURE_HEADER_MAX]) PH_MUSTCHECK;

#endif
