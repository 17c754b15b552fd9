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

#endif
