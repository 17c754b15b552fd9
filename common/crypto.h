/* SPDX-License-Identifier: MIT
 *
 * crypto: signing secrets encrypted at rest with AES-256-GCM under PGHOOK_SECRET_KEY.
 *
 * PGHOOK_SECRET_KEY is one base64 key of 32 bytes, or a comma-separated list of them: the first
 * encrypts, every one decrypts (key rotation: put the new key first, keep the old one after it
 * until no stored value names it any more, see README, then drop it). A stored value reads
 *
 *     enc:v1:<key id>:<base64 of nonce (12) | ciphertext | tag (16)>
 *
 * where v1 is the format, and the key id is the first 8 hex digits of SHA-256 of the key, so a
 * value names the key it needs without revealing anything about it. The associated data binds
 * the value to its row: the format, the tenant id and the webhook id, so a ciphertext copied
 * to another webhook or tenant does not decrypt. A value without the "enc:" prefix is
 * plaintext (written while no key was configured) and passes through unchanged, so turning
 * encryption on needs no downtime; with no key configured, secrets are stored in plaintext.
 */
#ifndef PGHOOK_COMMON_CRYPTO_H
#define PGHOOK_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define PH_CRYPTO_MAX_KEYS 4
#define PH_CRYPTO_KEY_LEN  32
#define PH_CRYPTO_KID_LEN  9 /* 8 hex digits + NUL */
#define PH_CRYPTO_PREFIX   "enc:"

struct ph_crypto_key {
	unsigned char key[PH_CRYPTO_KEY_LEN];
	char id[PH_CRYPTO_KID_LEN];
};

/* The configured keys; keys[0] encrypts. nkeys == 0: encryption off. */
struct ph_crypto {
	struct ph_crypto_key keys[PH_CRYPTO_MAX_KEYS];
	int nkeys;
};

/* Parse a key list (NULL or "" for none) into c. False when an entry is not base64 of 32
 * bytes or there are more than PH_CRYPTO_MAX_KEYS; c is then empty. */
bool ph_crypto_init(struct ph_crypto *c, const char *key_list) PH_MUSTCHECK;
/* Wipe the keys. */
void ph_crypto_finish(struct ph_crypto *c);
static inline bool ph_crypto_enabled(const struct ph_crypto *c)
{
	return c->nkeys > 0;
}
/* True when a stored value is in the encrypted form (whatever key it needs). */
bool ph_crypto_is_sealed(const char *stored);
/* Encrypt plaintext for the row (tenant_id, webhook_id) under keys[0]. Returns a new string
 * (caller frees): the stored form, or a copy of plaintext when encryption is off. */
char *ph_crypto_seal(const struct ph_crypto *c, const char *plaintext, const char *tenant_id,
	const char *webhook_id);
/* Decrypt a stored value of the row (tenant_id, webhook_id). Returns a new string (caller
 * frees): the plaintext, or a copy of stored when it is not in the encrypted form and no key
 * is configured. NULL when it is not in the encrypted form while a key is configured, or is
 * encrypted and does not decrypt (unknown key, tampered, another row's value, malformed);
 * the reason goes to *why (a static string) when why is not NULL. Never logs. */
char *ph_crypto_open(const struct ph_crypto *c, const char *stored, const char *tenant_id,
	const char *webhook_id, const char **why);

/* The stored form of a row's value under keys[0], from what is stored now (sealed under any
 * configured key, or plaintext from before a key was set). NULL (with *why) when it does not
 * open; otherwise a new string, equal to stored when it is already sealed under keys[0]. For
 * `pghook-api secrets reencrypt`. */
char *ph_crypto_reseal(const struct ph_crypto *c, const char *stored, const char *tenant_id,
	const char *webhook_id, const char **why);

#endif
