/* SPDX-License-Identifier: MIT */
#include "tenants.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "id.h"
#include "log.h"

static bool insert_key(struct ph_db *db, const char *tenant_id, char key_id[PH_ID_MAX],
	char key[PH_API_KEY_MAX])
{
	char hash[PH_SHA256_HEX_LEN];
	ph_id_new(key_id, "key");
	ph_api_key_new(key);
	ph_sha256_hex(key, strlen(key), hash);
	const char *params[] = {key_id, tenant_id, hash};
	return ph_db_run(db,
		"insert into api_keys (id, tenant_id, key_hash) values ($1, $2, $3)", 3, params);
}

json_object *tenant_create(struct ph_db *db, const char *name)
{
	char tenant_id[PH_ID_MAX], key_id[PH_ID_MAX], key[PH_API_KEY_MAX];
	ph_id_new(tenant_id, "ten");
	const char *params[] = {tenant_id, name};
	if (!ph_db_run(db, "begin", 0, NULL))
		return NULL;
	PGresult *res = ph_db_exec(db,
		"insert into tenants (id, name) values ($1, $2) returning user_id", 2, params);
	if (!res || !insert_key(db, tenant_id, key_id, key) || !ph_db_run(db, "commit", 0, NULL)) {
		PQclear(res);
		if (db->conn && !ph_db_run(db, "rollback", 0, NULL))
			log_warn("rollback after a failed tenant create failed too");
		return NULL;
	}
	json_object *out = json_object_new_object();
	json_object_object_add(out, "tenantId", json_object_new_string(tenant_id));
	json_object_object_add(out, "userId",
		json_object_new_int64(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	json_object_object_add(out, "apiKey", json_object_new_string(key));
	PQclear(res);
	return out;
}

json_object *tenant_key_create(struct ph_db *db, const char *tenant_id, bool *not_found)
{
	char key_id[PH_ID_MAX], key[PH_API_KEY_MAX];
	*not_found = false;
	const char *params[] = {tenant_id};
	PGresult *res = ph_db_exec(db, "select 1 from tenants where id = $1", 1, params);
	if (!res)
		return NULL;
	*not_found = PQntuples(res) == 0;
	PQclear(res);
	if (*not_found || !insert_key(db, tenant_id, key_id, key))
		return NULL;
	json_object *out = json_object_new_object();
	json_object_object_add(out, "tenantId", json_object_new_string(tenant_id));
	json_object_object_add(out, "keyId", json_object_new_string(key_id));
	json_object_object_add(out, "apiKey", json_object_new_string(key));
	return out;
}
