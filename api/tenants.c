/* SPDX-License-Identifier: MIT */
#include "tenants.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "id.h"
#include "log.h"

/* The statements below run in the new key's tenant (ph_db_set_tenant): row-level security
 * lets a role that is not a superuser write a tenant's rows only inside that tenant, and the
 * owner that runs the CLI is held to it as well (sql/0004_security.sql). */

/* A new key for tenant_id: its id into key_id, the key itself into key, its hash into hash. */
static void new_key(char key_id[PH_ID_MAX], char key[PH_API_KEY_MAX], char hash[PH_SHA256_HEX_LEN])
{
	ph_id_new(key_id, "key");
	ph_api_key_new(key);
	ph_sha256_hex(key, strlen(key), hash);
}

/* Run one statement in tenant's scope, leaving db unscoped as it was found. */
static PGresult *exec_in(
	struct ph_db *db, const char *tenant, const char *sql, int n, const char *const *params)
{
	if (!ph_db_set_tenant(db, tenant))
		return NULL;
	PGresult *res = ph_db_exec(db, sql, n, params);
	if (!ph_db_set_tenant(db, NULL))
		log_warn("cannot clear the tenant scope");
	return res;
}

json_object *tenant_create(struct ph_db *db, const char *name)
{
	char tenant_id[PH_ID_MAX], key_id[PH_ID_MAX], key[PH_API_KEY_MAX], hash[PH_SHA256_HEX_LEN];
	ph_id_new(tenant_id, "ten");
	new_key(key_id, key, hash);
	const char *params[] = { tenant_id, name, key_id, hash };
	/* One statement, so one transaction: a tenant never exists without its first key. */
	PGresult *res = exec_in(db, tenant_id,
		"with t as (insert into tenants (id, name) values ($1, $2) returning user_id),"
		" k as (insert into api_keys (id, tenant_id, key_hash) values ($3, $1, $4))"
		" select user_id from t",
		4, params);
	if (!res)
		return NULL;
	json_object *out = json_object_new_object();
	json_object_object_add(out, "tenantId", json_object_new_string(tenant_id));
	json_object_object_add(
		out, "userId", json_object_new_int64(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	json_object_object_add(out, "apiKey", json_object_new_string(key));
	PQclear(res);
	return out;
}

json_object *tenant_key_create(struct ph_db *db, const char *tenant_id, bool *not_found)
{
	char key_id[PH_ID_MAX], key[PH_API_KEY_MAX], hash[PH_SHA256_HEX_LEN];
	*not_found = strlen(tenant_id) >= PH_DB_TENANT_MAX; /* no such tenant id can exist */
	if (*not_found)
		return NULL;
	new_key(key_id, key, hash);
	const char *params[] = { key_id, tenant_id, hash };
	PGresult *res = exec_in(db, tenant_id,
		"insert into api_keys (id, tenant_id, key_hash)"
		" select $1, t.id, $3 from tenants t where t.id = $2 returning 1",
		3, params);
	if (!res)
		return NULL;
	*not_found = PQntuples(res) == 0;
	PQclear(res);
	if (*not_found)
		return NULL;
	json_object *out = json_object_new_object();
	json_object_object_add(out, "tenantId", json_object_new_string(tenant_id));
	json_object_object_add(out, "keyId", json_object_new_string(key_id));
	json_object_object_add(out, "apiKey", json_object_new_string(key));
	return out;
}
