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

static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC-SHA256 of "<id>.<ts>.<body>" under key into mac[MAC_LEN]. */
static bool hmac_content(const unsigned char *key, size_t key_len, const char *msg_id,
	long long timestamp, const char *body, size_t body_len, unsigned char mac[MAC_LEN])
{
	char ts[24];
	int ts_len = snprintf(ts, sizeof(ts), "%lld", timestamp);
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	pthread_once(&hmac_once, hmac_fetch);
	EVP_MAC_CTX *ctx = hmac_alg ? EVP_MAC_CTX_new(hmac_alg) : NULL;
	size_t mac_len = 0;
	bool ok = ctx && EVP_MAC_init(ctx, key, key_len, params) &&
		EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) &&
		EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
		EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)ts_len) &&
		EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
		(body_len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, body_len)) &&
		EVP_MAC_final(ctx, mac, &mac_len, MAC_LEN) && mac_len == MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok;
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

bool ph_sign_header(const char *secret, const char *previous_secret, const char *msg_id,
	long long timestamp, const char *body, size_t body_len, char out[PH_SIGNATURE_HEADER_MAX])
{
	char previous[PH_SIGNATURE_LEN];
	out[0] = '\0';
	if (!ph_sign(secret, msg_id, timestamp, body, body_len, out))
		return false;
	/* An empty previous secret is what a cleared database column looks like: no rotation. */
	if (!previous_secret || !*previous_secret)
		return true;
	if (!ph_sign(previous_secret, msg_id, timestamp, body, body_len, previous)) {
		out[0] = '\0';
		return false;
	}
	size_t n = strlen(out);
	out[n] = ' ';
	memcpy(out + n + 1, previous, strlen(previous) + 1);
	return true;
}
