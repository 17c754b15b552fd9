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

/* Run a statement in tenant_id's scope whose first row's first column is the JSON to show;
 * no row means not found. */
static json_object *json_in(struct ph_db *db, const char *tenant_id, bool *not_found,
	const char *sql, int n, const char *const *params)
{
	*not_found = strlen(tenant_id) >= PH_DB_TENANT_MAX;
	if (*not_found)
		return NULL;
	PGresult *res = exec_in(db, tenant_id, sql, n, params);
	if (!res)
		return NULL;
	*not_found = PQntuples(res) == 0 || PQgetisnull(res, 0, 0);
	json_object *out = *not_found ? NULL : json_tokener_parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

json_object *tenant_keys_list(struct ph_db *db, const char *tenant_id, bool *not_found)
{
	const char *params[] = { tenant_id };
	return json_in(db, tenant_id, not_found,
		"select json_build_object('tenantId', t.id, 'data', coalesce((select json_agg("
		" json_build_object('keyId', k.id, 'createdAt', pghook_ts(k.created_at),"
		" 'revokedAt', pghook_ts(k.revoked_at)) order by k.id)"
		" from api_keys k where k.tenant_id = t.id), '[]'))"
		" from tenants t where t.id = $1",
		1, params);
}

json_object *tenant_key_revoke(
	struct ph_db *db, const char *tenant_id, const char *key_id, bool *not_found)
{
	const char *params[] = { tenant_id, key_id };
	return json_in(db, tenant_id, not_found,
		"update api_keys set revoked_at = coalesce(revoked_at, now())"
		" where tenant_id = $1 and id = $2"
		" returning json_build_object('tenantId', tenant_id, 'keyId', id,"
		" 'revokedAt', pghook_ts(revoked_at))",
		2, params);
}

json_object *tenant_delete(struct ph_db *db, const char *tenant_id, bool *not_found)
{
	const char *params[] = { tenant_id };
	/* Every table's tenant_id references tenants on delete cascade: one statement erases
	 * it all, in one transaction. */
	return json_in(db, tenant_id, not_found,
		"delete from tenants where id = $1"
		" returning json_build_object('tenantId', id, 'deleted', true)",
		1, params);
}

#define LIMITS_JSON                                                                     \
	"json_build_object('tenantId', t.id, 'maxWebhooks', l.max_webhooks,"            \
	" 'maxFanoutPerRequest', l.max_fanout, 'eventsPerSecond', l.events_per_second," \
	" 'eventsBurst', l.events_burst)"

json_object *tenant_limits_get(struct ph_db *db, const char *tenant_id, bool *not_found)
{
	const char *params[] = { tenant_id };
	return json_in(db, tenant_id, not_found,
		"select " LIMITS_JSON " from tenants t"
		" left join tenant_limits l on l.tenant_id = t.id where t.id = $1",
		1, params);
}

json_object *tenant_limits_set(
	struct ph_db *db, const char *tenant_id, const char *limits_json, bool *not_found)
{
	const char *params[] = { tenant_id, limits_json };
	/* A member absent keeps the stored value; present (a number or null) replaces it. */
	return json_in(db, tenant_id, not_found,
		"with v as (select $2::jsonb as j), up as ("
		" insert into tenant_limits as l (tenant_id, max_webhooks, max_fanout,"
		"  events_per_second, events_burst)"
		" select t.id, (v.j->>'maxWebhooks')::int, (v.j->>'maxFanoutPerRequest')::int,"
		"  (v.j->>'eventsPerSecond')::int, (v.j->>'eventsBurst')::int"
		" from tenants t, v where t.id = $1"
		" on conflict (tenant_id) do update set"
		"  max_webhooks = case when (select j from v) ? 'maxWebhooks'"
		"   then excluded.max_webhooks else l.max_webhooks end,"
		"  max_fanout = case when (select j from v) ? 'maxFanoutPerRequest'"
		"   then excluded.max_fanout else l.max_fanout end,"
		"  events_per_second = case when (select j from v) ? 'eventsPerSecond'"
		"   then excluded.events_per_second else l.events_per_second end,"
		"  events_burst = case when (select j from v) ? 'eventsBurst'"
		"   then excluded.events_burst else l.events_burst end,"
		"  updated_at = now()"
		" returning l.*)"
		" select " LIMITS_JSON " from up l join tenants t on t.id = l.tenant_id",
		2, params);
}

const char *tenant_limits_problem(json_object *limits)
{
	static const char *const names[] = { "maxWebhooks", "maxFanoutPerRequest",
		"eventsPerSecond", "eventsBurst" };
	if (!json_object_is_type(limits, json_type_object))
		return "limits must be a JSON object";
	json_object_object_foreach(limits, key, val)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			known = known || strcmp(key, names[i]) == 0;
		if (!known)
			return "limits take maxWebhooks, maxFanoutPerRequest, eventsPerSecond and "
			       "eventsBurst only";
		if (val &&
			(!json_object_is_type(val, json_type_int) ||
				json_object_get_int64(val) < 0 ||
				json_object_get_int64(val) > 2147483647))
			return "each limit is an integer from 0 (no limit) to 2147483647, or null "
			       "(the default)";
	}
	return NULL;
}
