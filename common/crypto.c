/* SPDX-License-Identifier: MIT
 *
 * AES-256-GCM through OpenSSL's EVP interface: a fresh random 96-bit nonce per value (a
 * secret is encrypted a handful of times in its life, far below GCM's 2^32 random-nonce
 * bound), a 128-bit tag, associated data "v1\0<tenant>\0<webhook>". Key material lives only
 * in struct ph_crypto and is wiped by ph_crypto_finish.
 */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hash.h"
#include "id.h"
#include "log.h"

#define NONCE_LEN 12
#define TAG_LEN	  16
#define FORMAT	  "v1"
/* "enc:v1:" + 8 hex + ":" */
#define HEADER_LEN (sizeof(PH_CRYPTO_PREFIX) - 1 + sizeof(FORMAT) - 1 + 1 + 8 + 1)
/* Secrets are short (whsec_ + base64 of at most 64 bytes); anything longer is not ours. */
#define MAX_PLAIN 1024

static bool add_key(struct ph_crypto *c, const char *b64, size_t len)
{
	char buf[128];
	unsigned char raw[64];
	size_t n = 0;
	if (len == 0 || len >= sizeof(buf) || c->nkeys == PH_CRYPTO_MAX_KEYS)
		return false;
	memcpy(buf, b64, len);
	buf[len] = '\0';
	bool ok = ph_base64_decode(buf, raw, sizeof(raw), &n) && n == PH_CRYPTO_KEY_LEN;
	if (ok) {
		struct ph_crypto_key *k = &c->keys[c->nkeys++];
		char hex[PH_SHA256_HEX_LEN];
		memcpy(k->key, raw, PH_CRYPTO_KEY_LEN);
		ph_sha256_hex(raw, PH_CRYPTO_KEY_LEN, hex);
		memcpy(k->id, hex, 8);
		k->id[8] = '\0';
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

bool ph_crypto_init(struct ph_crypto *c, const char *key_list)
{
	memset(c, 0, sizeof(*c));
	if (!key_list || !*key_list)
		return true;
	for (const char *p = key_list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && p[0] == ' ') {
			p++;
			len--;
		}
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (!add_key(c, p, len)) {
			ph_crypto_finish(c);
			return false;
		}
		if (!comma)
			return true;
		p = comma + 1; /* an empty entry after it fails in add_key */
	}
}

void ph_crypto_finish(struct ph_crypto *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
	c->nkeys = 0;
}

bool ph_crypto_is_sealed(const char *stored)
{
	return stored && strncmp(stored, PH_CRYPTO_PREFIX, sizeof(PH_CRYPTO_PREFIX) - 1) == 0;
}

/* "v1\0tenant\0webhook" into a fresh buffer; *len gets its length. */
static unsigned char *associated_data(const char *tenant, const char *webhook, int *len)
{
	size_t lt = strlen(tenant), lw = strlen(webhook);
	size_t n = sizeof(FORMAT) + lt + 1 + lw;
	unsigned char *ad = ph_xmalloc(n);
	memcpy(ad, FORMAT, sizeof(FORMAT)); /* with its NUL */
	memcpy(ad + sizeof(FORMAT), tenant, lt + 1);
	memcpy(ad + sizeof(FORMAT) + lt + 1, webhook, lw);
	*len = (int)n;
	return ad;
}

/* One AES-256-GCM operation over in (n bytes) into out; tag is written when encrypting and
 * checked when decrypting. */
static bool gcm(bool encrypt, const unsigned char *key, const unsigned char *nonce,
	const unsigned char *ad, int adlen, const unsigned char *in, int n, unsigned char *out,
	unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;
	bool ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) &&
		EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) &&
		EVP_CipherUpdate(ctx, NULL, &len, ad, adlen) &&
		(n == 0 || EVP_CipherUpdate(ctx, out, &len, in, n)) &&
		(encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
		EVP_CipherFinal_ex(ctx, out + (n == 0 ? 0 : len), &fin) &&
		(!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag));
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

char *ph_crypto_seal(const struct ph_crypto *c, const char *plaintext, const char *tenant_id,
	const char *webhook_id)
{
	size_t n = strlen(plaintext);
	if (!ph_crypto_enabled(c) || n > MAX_PLAIN)
		return ph_xstrdup(plaintext);
	unsigned char blob[NONCE_LEN + MAX_PLAIN + TAG_LEN];
	int adlen;
	unsigned char *ad = associated_data(tenant_id, webhook_id, &adlen);
	ph_random_bytes(blob, NONCE_LEN);
	bool ok = gcm(true, c->keys[0].key, blob, ad, adlen, (const unsigned char *)plaintext,
		(int)n, blob + NONCE_LEN, blob + NONCE_LEN + n);
	free(ad);
	if (!ok) {
		/* Only an allocation failure inside OpenSSL can get here. */
		log_error("AES-256-GCM encryption failed");
		abort();
	}
	size_t blen = NONCE_LEN + n + TAG_LEN;
	char *out = ph_xmalloc(HEADER_LEN + PH_BASE64_ENCODED_LEN(blen));
	memcpy(out, PH_CRYPTO_PREFIX FORMAT ":", HEADER_LEN - 9);
	memcpy(out + HEADER_LEN - 9, c->keys[0].id, 8);
	out[HEADER_LEN - 1] = ':';
	ph_base64_encode(blob, blen, out + HEADER_LEN);
	OPENSSL_cleanse(blob, sizeof(blob));
	return out;
}

static const struct ph_crypto_key *find_key(const struct ph_crypto *c, const char *id)
{
	for (int i = 0; i < c->nkeys; i++) {
		if (memcmp(c->keys[i].id, id, 8) == 0)
			return &c->keys[i];
	}
	return NULL;
}

static char *fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return NULL;
}

char *ph_crypto_open(const struct ph_crypto *c, const char *stored, const char *tenant_id,
	const char *webhook_id, const char **why)
{
	if (!ph_crypto_is_sealed(stored)) {
		/* With a key set every secret is written sealed: a plaintext one was written
		 * before the key (and `pghook-api secrets reencrypt` seals those), or by whoever
		 * can write the table without the key. Refused, so that a row written around
		 * the api cannot choose the signing secret. */
		if (ph_crypto_enabled(c))
			return fail(why,
				"stored without encryption while PGHOOK_SECRET_KEY is set "
				"(run pghook-api secrets reencrypt)");
		return ph_xstrdup(stored);
	}
	size_t slen = strlen(stored);
	if (slen <= HEADER_LEN || strncmp(stored + 4, FORMAT ":", 3) != 0 ||
		stored[HEADER_LEN - 1] != ':')
		return fail(why, "malformed encrypted value");
	const struct ph_crypto_key *k = find_key(c, stored + HEADER_LEN - 9);
	if (!k)
		return fail(why, "encrypted under a key that is not configured");
	unsigned char blob[NONCE_LEN + MAX_PLAIN + TAG_LEN];
	size_t blen = 0;
	if (slen - HEADER_LEN > PH_BASE64_ENCODED_LEN(sizeof(blob)) ||
		!ph_base64_decode(stored + HEADER_LEN, blob, sizeof(blob), &blen) ||
		blen < NONCE_LEN + TAG_LEN)
		return fail(why, "malformed encrypted value");
	size_t n = blen - NONCE_LEN - TAG_LEN;
	char *out = ph_xmalloc(n + 1);
	int adlen;
	unsigned char *ad = associated_data(tenant_id, webhook_id, &adlen);
	bool ok = gcm(false, k->key, blob, ad, adlen, blob + NONCE_LEN, (int)n,
		(unsigned char *)out, blob + NONCE_LEN + n);
	free(ad);
	out[n] = '\0';
	if (!ok || strlen(out) != n) {
		OPENSSL_cleanse(out, n);
		free(out);
		return fail(why, "does not decrypt (tampered, or another row's value)");
	}
	return out;
}

char *ph_crypto_reseal(const struct ph_crypto *c, const char *stored, const char *tenant_id,
	const char *webhook_id, const char **why)
{
	if (!ph_crypto_enabled(c))
		return fail(why, "PGHOOK_SECRET_KEY is not set");
	bool sealed = ph_crypto_is_sealed(stored);
	/* A sealed value is opened even when it is under the first key already: one that does
	 * not open (tampered, another row's) is reported, not carried along. */
	char *plain =
		sealed ? ph_crypto_open(c, stored, tenant_id, webhook_id, why) : ph_xstrdup(stored);
	if (!plain)
		return NULL;
	bool current = sealed && strlen(stored) >= HEADER_LEN &&
		find_key(c, stored + HEADER_LEN - 9) == &c->keys[0];
	char *out = current ? ph_xstrdup(stored) : ph_crypto_seal(c, plain, tenant_id, webhook_id);
	OPENSSL_cleanse(plain, strlen(plain));
	free(plain);
	return out;
}
