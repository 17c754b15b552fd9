/* SPDX-License-Identifier: MIT
 *
 * sign: Standard Webhooks signatures (see sign.h). The MAC is computed with OpenSSL's EVP_MAC
 * over the pieces "<id>", ".", "<timestamp>", ".", "<body>" fed one after another, so a large
 * body is never copied. Decoded keys live on the stack and are wiped before returning.
 */
#include "sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define SECRET_PREFIX	  "whsec_"
#define KEY_MIN		  24
#define KEY_MAX		  64
#define MAC_LEN		  32
#define SIGNATURE_VERSION "v1,"

/* Decode the key of a secret into key[KEY_MAX]; false unless it is 24..64 bytes. */
static bool decode_secret(const char *secret, unsigned char key[KEY_MAX], size_t *key_len)
{
	size_t prefix = strlen(SECRET_PREFIX);
	if (!secret)
		return false;
	if (strncmp(secret, SECRET_PREFIX, prefix) == 0)
		secret += prefix;
	if (!ph_base64_decode(secret, key, KEY_MAX, key_len))
		return false;
	return *key_len >= KEY_MIN;
}

bool ph_sign_secret_valid(const char *secret)
{
	unsigned char key[KEY_MAX];
	size_t key_len = 0;
	bool ok = decode_secret(secret, key, &key_len);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/* Fetching the algorithm searches OpenSSL's provider tables under a lock: done per signature,
 * it was most of the signing cost (7% of a worker's CPU in a drain). Fetched once, kept for
 * the process's life; EVP_MAC is shared read-only between threads. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

/* The last key each thread signed with, in an EVP_MAC_CTX that holds it: deliveries come in
 * runs of one webhook, and keying a fresh context (fetching SHA256, hashing the padded key) was
 * most of the signing cost besides the body's own hash. A context re-initialized without a key
 * starts over with the key it holds. Freed when its thread ends. */
struct hmac_cache {
	EVP_MAC_CTX *ctx;
	unsigned char key[KEY_MAX];
	size_t key_len;
};

static pthread_key_t hmac_cache_key;

static void hmac_cache_free(void *p)
{
	struct hmac_cache *c = p;
	EVP_MAC_CTX_free(c->ctx);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	pthread_key_create(&hmac_cache_key, hmac_cache_free);
}

/* This thread's context, initialized for key; NULL on failure. */
static EVP_MAC_CTX *hmac_keyed(const unsigned char *key, size_t key_len)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	pthread_once(&hmac_once, hmac_fetch);
	if (!hmac_alg)
		return NULL;
	struct hmac_cache *c = pthread_getspecific(hmac_cache_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || pthread_setspecific(hmac_cache_key, c) != 0) {
			free(c);
			return NULL;
		}
	}
	if (c->ctx && c->key_len == key_len && CRYPTO_memcmp(c->key, key, key_len) == 0)
		return EVP_MAC_init(c->ctx, NULL, 0, NULL) ? c->ctx : NULL;
	EVP_MAC_CTX_free(c->ctx);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	c->key_len = 0;
	c->ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!c->ctx || !EVP_MAC_init(c->ctx, key, key_len, params)) {
		EVP_MAC_CTX_free(c->ctx);
		c->ctx = NULL;
		return NULL;
	}
	memcpy(c->key, key, key_len);
	c->key_len = key_len;
	return c->ctx;
}

/* HMAC-SHA256 of "<id>.<ts>.<body>" under key into mac[MAC_LEN]. */
static bool hmac_content(const unsigned char *key, size_t key_len, const char *msg_id,
	long long timestamp, const char *body, size_t body_len, unsigned char mac[MAC_LEN])
{
	char ts[24];
	int ts_len = snprintf(ts, sizeof(ts), "%lld", timestamp);
	EVP_MAC_CTX *ctx = hmac_keyed(key, key_len);
	size_t mac_len = 0;
	return ctx && EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) &&
		EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
		EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)ts_len) &&
		EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
		(body_len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, body_len)) &&
		EVP_MAC_final(ctx, mac, &mac_len, MAC_LEN) && mac_len == MAC_LEN;
}

bool ph_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
	size_t body_len, char out[PH_SIGNATURE_LEN])
{
	unsigned char key[KEY_MAX], mac[MAC_LEN];
	size_t key_len = 0;
	bool ok = decode_secret(secret, key, &key_len) &&
		hmac_content(key, key_len, msg_id, timestamp, body, body_len, mac);
	OPENSSL_cleanse(key, sizeof(key));
	out[0] = '\0';
	if (!ok)
		return false;
	memcpy(out, SIGNATURE_VERSION, strlen(SIGNATURE_VERSION));
	ph_base64_encode(mac, MAC_LEN, out + strlen(SIGNATURE_VERSION));
	return true;
}

#define ED_PRIVATE_PREFIX "whsk_"
#define ED_PUBLIC_PREFIX  "whpk_"
#define ED_KEY_LEN	  32
#define ED_SIG_LEN	  64

static bool is_ed25519(const char *secret)
{
	return secret && strncmp(secret, ED_PRIVATE_PREFIX, strlen(ED_PRIVATE_PREFIX)) == 0;
}

/* The 32-byte seed of a "whsk_" key. */
static bool decode_ed25519(const char *key, unsigned char seed[KEY_MAX])
{
	size_t n = 0;
	return is_ed25519(key) &&
		ph_base64_decode(key + strlen(ED_PRIVATE_PREFIX), seed, KEY_MAX, &n) &&
		n == ED_KEY_LEN;
}

bool ph_sign_ed25519_key_valid(const char *key)
{
	unsigned char seed[KEY_MAX];
	bool ok = decode_ed25519(key, seed);
	OPENSSL_cleanse(seed, sizeof(seed));
	return ok;
}

bool ph_sign_ed25519_keypair(
	char private_key[PH_ED25519_KEY_MAX], char public_key[PH_ED25519_KEY_MAX])
{
	unsigned char seed[ED_KEY_LEN], pub[ED_KEY_LEN];
	size_t seed_len = sizeof(seed), pub_len = sizeof(pub);
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	bool ok = ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_keygen(ctx, &key) > 0 &&
		EVP_PKEY_get_raw_private_key(key, seed, &seed_len) > 0 &&
		EVP_PKEY_get_raw_public_key(key, pub, &pub_len) > 0 && seed_len == ED_KEY_LEN &&
		pub_len == ED_KEY_LEN;
	if (ok) {
		strcpy(private_key, ED_PRIVATE_PREFIX);
		ph_base64_encode(seed, ED_KEY_LEN, private_key + strlen(ED_PRIVATE_PREFIX));
		strcpy(public_key, ED_PUBLIC_PREFIX);
		ph_base64_encode(pub, ED_KEY_LEN, public_key + strlen(ED_PUBLIC_PREFIX));
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool ph_sign_ed25519(const char *private_key, const char *msg_id, long long timestamp,
	const char *body, size_t body_len, char out[PH_SIGNATURE_ED_LEN])
{
	unsigned char seed[KEY_MAX], sig[ED_SIG_LEN];
	size_t sig_len = sizeof(sig);
	char ts[24];
	int ts_len = snprintf(ts, sizeof(ts), "%lld", timestamp);
	size_t id_len = strlen(msg_id);
	out[0] = '\0';
	if (!decode_ed25519(private_key, seed)) {
		OPENSSL_cleanse(seed, sizeof(seed));
		return false;
	}
	/* ed25519 hashes the message twice, so it takes it whole: "<id>.<ts>.<body>" in one
	 * buffer. */
	size_t len = id_len + 1 + (size_t)ts_len + 1 + body_len;
	unsigned char *msg = malloc(len ? len : 1);
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED_KEY_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	OPENSSL_cleanse(seed, sizeof(seed));
	bool ok = msg && key && ctx;
	if (ok) {
		memcpy(msg, msg_id, id_len);
		msg[id_len] = '.';
		memcpy(msg + id_len + 1, ts, (size_t)ts_len);
		msg[id_len + 1 + (size_t)ts_len] = '.';
		if (body_len)
			memcpy(msg + id_len + 2 + (size_t)ts_len, body, body_len);
		ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) > 0 &&
			EVP_DigestSign(ctx, sig, &sig_len, msg, len) > 0 && sig_len == ED_SIG_LEN;
	}
	if (ok) {
		strcpy(out, "v1a,");
		ph_base64_encode(sig, ED_SIG_LEN, out + 4);
	}
	free(msg);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok;
}

/* One signature with either kind of secret. */
static bool sign_any(const char *secret, const char *msg_id, long long timestamp, const char *body,
	size_t body_len, char out[PH_SIGNATURE_ED_LEN])
{
	if (is_ed25519(secret))
		return ph_sign_ed25519(secret, msg_id, timestamp, body, body_len, out);
	return ph_sign(secret, msg_id, timestamp, body, body_len, out);
}

bool ph_sign_header(const char *secret, const char *previous_secret, const char *msg_id,
	long long timestamp, const char *body, size_t body_len, char out[PH_SIGNATURE_HEADER_MAX])
{
	char previous[PH_SIGNATURE_ED_LEN];
	out[0] = '\0';
	if (!sign_any(secret, msg_id, timestamp, body, body_len, out))
		return false;
	/* An empty previous secret is what a cleared database column looks like: no rotation. */
	if (!previous_secret || !*previous_secret)
		return true;
	if (!sign_any(previous_secret, msg_id, timestamp, body, body_len, previous)) {
		out[0] = '\0';
		return false;
	}
	size_t n = strlen(out);
	out[n] = ' ';
	memcpy(out + n + 1, previous, strlen(previous) + 1);
	return true;
}
