/* SPDX-License-Identifier: MIT */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Any constant works; it only has to be the same in every replica. */
#define MIGRATE_LOCK_KEY "7305118201"

static bool applied(struct ph_db *db, int version, bool *out)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", version);
	const char *params[] = { v };
	PGresult *res = ph_db_exec(
		db, "select 1 from pghook_schema_migrations where version = $1::int", 1, params);
	if (!res)
		return false;
	*out = PQntuples(res) > 0;
	PQclear(res);
	return true;
}

static bool apply_one(struct ph_db *db, const struct ph_migration *m)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", m->version);
	const char *params[] = { v, m->name };
	if (!ph_db_run(db, "begin", 0, NULL))
		return false;
	/* Simple query protocol: a migration file holds many statements. */
	PGresult *res = PQexec(db->conn, m->sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		log_error("migration %s failed: %s", m->name, PQresultErrorMessage(res));
	PQclear(res);
	ok = ok &&
		ph_db_run(db,
			"insert into pghook_schema_migrations (version, name) values ($1::int, $2)",
			2, params);
	if (!ph_db_run(db, ok ? "commit" : "rollback", 0, NULL))
		return false;
	if (ok)
		log_info("applied migration %s", m->name);
	return ok;
}

static bool run_locked(struct ph_db *db)
{
	if (!ph_db_run(db,
		    "create table if not exists pghook_schema_migrations ("
		    " version int primary key, name text not null,"
		    " applied_at timestamptz not null default now())",
		    0, NULL))
		return false;
	for (int i = 0; i < ph_migration_count; i++) {
		bool done;
		if (!applied(db, ph_migrations[i].version, &done))
			return false;
		if (!done && !apply_one(db, &ph_migrations[i]))
			return false;
	}
	return true;
}

bool ph_migrate_run(struct ph_db *db)
{
	if (!ph_db_run(db, "select pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL))
		return false;
	bool ok = run_locked(db);
	if (!ph_db_run(db, "select pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL))
		ok = false;
	return ok;
}

bool ph_migrate_is_current(struct ph_db *db)
{
	PGresult *res = ph_db_exec(
		db, "select coalesce(max(version), 0) from pghook_schema_migrations", 0, NULL);
	if (!res)
		return false;
	int have = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return have >= ph_migrations[ph_migration_count - 1].version;
}
