/* SPDX-License-Identifier: MIT
 *
 * tenants: creating tenants and API keys, shared by the admin CLI and the admin routes. The
 * plain key exists only in the returned JSON; the database keeps its SHA-256.
 */
#ifndef PGHOOK_API_TENANTS_H
#define PGHOOK_API_TENANTS_H

#include <json-c/json.h>

#include "db.h"

/* Create a tenant and its first key. Returns {"tenantId", "userId", "apiKey"} (caller owns),
 * or NULL after a database error. */
json_object *tenant_create(struct ph_db *db, const char *name);
/* Create another key for a tenant. Returns {"tenantId", "keyId", "apiKey"}, or NULL with
 * *not_found set when the tenant does not exist, or NULL after a database error. */
json_object *tenant_key_create(struct ph_db *db, const char *tenant_id, bool *not_found);

/* The lifecycle and limits of a tenant (issue 18). Each returns the JSON to show (caller
 * owns), or NULL with *not_found set when the tenant (or key) does not exist, or NULL after a
 * database error (reply_db_error / the log tell which). */

/* {"tenantId", "data": [{"keyId", "createdAt", "revokedAt"}]}: every key, never the key
 * itself (only its hash is kept). */
json_object *tenant_keys_list(struct ph_db *db, const char *tenant_id, bool *not_found);
/* Revoke a key: {"tenantId", "keyId", "revokedAt"}. An api loop that checked the key in the
 * last 10 s may still accept it that long (auth.c). */
json_object *tenant_key_revoke(
	struct ph_db *db, const char *tenant_id, const char *key_id, bool *not_found);
/* Erase the tenant and every row of it (keys, webhooks, events, deliveries, attempts,
 * emails, limits): {"tenantId", "deleted": true}. */
json_object *tenant_delete(struct ph_db *db, const char *tenant_id, bool *not_found);
/* The tenant's quota overrides, {"tenantId", "maxWebhooks", "maxFanoutPerRequest",
 * "eventsPerSecond", "eventsBurst"}, null where the api's default applies. */
json_object *tenant_limits_get(struct ph_db *db, const char *tenant_id, bool *not_found);
/* Set the overrides named in limits_json (a JSON object of those members, each an integer
 * >= 0, 0 for no limit, or null for the default; members absent stay as they were). */
json_object *tenant_limits_set(
	struct ph_db *db, const char *tenant_id, const char *limits_json, bool *not_found);
/* Why limits (a parsed body) is not a limits object, or NULL when it is. */
const char *tenant_limits_problem(json_object *limits);

#endif
