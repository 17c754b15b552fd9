/* SPDX-License-Identifier: MIT */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Any constant works; it only has to be the same in every replica. */
#define MIGRATE_LOCK_KEY "7305118201"

/* previous_hash: what the file held before its last change, so that the previous release's
 * pods, which check for that content, stay ready while the next release rolls out. */
static const char create_tables[] =
	"create table if not exists pghook_schema_migrations ("
	" version int primary key, name text not null,"
	" applied_at timestamptz not null default now());"
	"create table if not exists pghook_schema_repeatables ("
	" file text primary key, hash text not null, previous_hash text,"
	" applied_at timestamptz not null default now())";

static int latest_version(void)
{
	return ph_migrations[ph_migration_count - 1].version;
}

/* Run a whole file (the simple query protocol takes many statements). NULL when it succeeded,
 * otherwise the failed result for the caller to read and PQclear(). */
static PGresult *run_sql(struct ph_db *db, const char *sql)
{
	PGresult *res = PQexec(db->conn, sql);
	if (!res)
		return PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
	ExecStatusType st = PQresultStatus(res);
	/* A numbered migration whose statements all moved to sql/functions is only comments. */
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		PQclear(res);
		return NULL;
	}
	return res;
}

static bool report(const char *what, PGresult *failed)
{
	if (!failed)
		return true;
	log_error("%s failed: %s", what, PQresultErrorMessage(failed));
	PQclear(failed);
	return false;
}

/* A one-row, one-column answer as a bool ("t") or an int. */
static bool query_value(
	struct ph_db *db, const char *sql, int nparams, const char *const *params, int *out)
{
	PGresult *res = ph_db_exec(db, sql, nparams, params);
	if (!res)
		return false;
	const char *v = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "0";
	*out = strcmp(v, "t") == 0 ? 1 : atoi(v);
	PQclear(res);
	return true;
}

static bool apply_numbered(struct ph_db *db, const struct ph_migration *m)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", m->version);
	const char *params[] = { v, m->name };
	int done;
	if (!query_value(db,
		    "select count(*) from pghook_schema_migrations where version = $1::int", 1,
		    params, &done))
		return false;
	if (done)
		return true;
	if (!report(m->name, run_sql(db, m->sql)) ||
		!ph_db_run(db,
			"insert into pghook_schema_migrations (version, name) values ($1::int, $2)",
			2, params))
		return false;
	log_info("applied migration %s", m->name);
	return true;
}

static bool object_exists(struct ph_db *db, enum ph_sql_kind kind, const char *object, int *out)
{
	static const char *const sql[] = {
		[PH_SQL_FUNCTIONS] = "select to_regprocedure($1) is not null",
		[PH_SQL_VIEWS] = "select to_regclass($1) is not null",
		[PH_SQL_POLICIES] = "select exists (select 1 from pg_policy"
				    " where polname = split_part($1, ' on ', 1)"
				    " and polrelid = to_regclass(split_part($1, ' on ', 2)))",
	};
	const char *params[] = { object };
	return query_value(db, sql[kind], 1, params, out);
}

/* Whether the database has r as this build has it: its hash recorded, its objects there. */
static bool is_applied(struct ph_db *db, const struct ph_repeatable *r, int *out)
{
	const char *params[] = { r->path, r->sha256 };
	if (!query_value(db,
		    "select count(*) from pghook_schema_repeatables where file = $1 and hash = $2",
		    2, params, out))
		return false;
	for (const char *const *o = r->objects; *out && *o; o++)
		if (!object_exists(db, r->kind, *o, out))
			return false;
	return true;
}

/* invalid_function_definition: another result type, other parameter names or defaults;
 * invalid_table_definition: a view whose columns changed. */
static bool needs_drop(const struct ph_repeatable *r, const PGresult *failed)
{
	const char *code = PQresultErrorField(failed, PG_DIAG_SQLSTATE);
	if (!code)
		return false;
	return (r->kind == PH_SQL_FUNCTIONS && strcmp(code, "42P13") == 0) ||
		(r->kind == PH_SQL_VIEWS && strcmp(code, "42P16") == 0);
}

static bool drop_objects(struct ph_db *db, const struct ph_repeatable *r)
{
	static const char *const what[] = {
		[PH_SQL_FUNCTIONS] = "function",
		[PH_SQL_VIEWS] = "view",
		[PH_SQL_POLICIES] = "policy",
	};
	for (const char *const *o = r->objects; *o; o++) {
		char sql[512];
		snprintf(sql, sizeof(sql), "drop %s if exists %s", what[r->kind], *o);
		if (!ph_db_run(db, sql, 0, NULL))
			return false;
	}
	return true;
}

/* Run r in a savepoint; when create or replace cannot make the change, drop what r defines and
 * run it again. Policies have no create or replace: they are dropped first. Then record r's
 * hash. */
static bool apply_repeatable(struct ph_db *db, const struct ph_repeatable *r)
{
	if (!ph_db_run(db, "savepoint repeatable", 0, NULL) ||
		(r->kind == PH_SQL_POLICIES && !drop_objects(db, r)))
		return false;
	PGresult *failed = run_sql(db, r->sql);
	if (failed && needs_drop(r, failed)) {
		log_info("%s: dropping what create or replace cannot change (%s)", r->path,
			PQresultErrorField(failed, PG_DIAG_MESSAGE_PRIMARY));
		PQclear(failed);
		if (!ph_db_run(db, "rollback to savepoint repeatable", 0, NULL) ||
			!drop_objects(db, r))
			return false;
		failed = run_sql(db, r->sql);
	}
	const char *params[] = { r->path, r->sha256 };
	if (!report(r->path, failed) || !ph_db_run(db, "release savepoint repeatable", 0, NULL) ||
		!ph_db_run(db,
			"insert into pghook_schema_repeatables as r (file, hash) values ($1, $2)"
			" on conflict (file) do update set hash = excluded.hash, applied_at = now(),"
			" previous_hash = case when r.hash = excluded.hash then r.previous_hash"
			" else r.hash end",
			2, params))
		return false;
	log_info("applied %s", r->path);
	return true;
}

static bool apply_kind(struct ph_db *db, enum ph_sql_kind kind, bool force, int *applied)
{
	for (int i = 0; i < ph_repeatable_count; i++) {
		const struct ph_repeatable *r = &ph_repeatables[i];
		int done = 0;
		if (r->kind != kind)
			continue;
		if (!force && !is_applied(db, r, &done))
			return false;
		if (done)
			continue;
		if (!apply_repeatable(db, r))
			return false;
		(*applied)++;
	}
	return true;
}

/* Check a function's body with its language's validator, as creating it with
 * check_function_bodies on would have. */
static bool validate_function(struct ph_db *db, const char *path, const char *function)
{
	const char *params[] = { function };
	if (ph_db_run(db,
		    "select case l.lanname when 'sql' then fmgr_sql_validator(p.oid)"
		    " when 'plpgsql' then plpgsql_validator(p.oid) end"
		    " from pg_proc p join pg_language l on l.oid = p.prolang"
		    " where p.oid = $1::regprocedure",
		    1, params))
		return true;
	log_error("%s: function %s does not compile", path, function);
	return false;
}

static bool validate_functions(struct ph_db *db)
{
	if (!ph_db_run(db, "set local check_function_bodies = on", 0, NULL))
		return false;
	for (int i = 0; i < ph_repeatable_count; i++) {
		const struct ph_repeatable *r = &ph_repeatables[i];
		if (r->kind != PH_SQL_FUNCTIONS)
			continue;
		for (const char *const *o = r->objects; *o; o++)
			if (!validate_function(db, r->path, *o))
				return false;
	}
	return true;
}

static bool apply_repeatables(struct ph_db *db)
{
	int applied = 0;
	/* As in pg_dump's output: a function's body may call one that a later file creates. */
	if (!ph_db_run(db, "set local check_function_bodies = off", 0, NULL) ||
		!apply_kind(db, PH_SQL_FUNCTIONS, false, &applied))
		return false;
	if (applied > 0 && !validate_functions(db))
		return false;
	return apply_kind(db, PH_SQL_VIEWS, false, &applied) &&
		apply_kind(db, PH_SQL_POLICIES, false, &applied) &&
		apply_kind(db, PH_SQL_GRANTS, applied > 0, &applied);
}

static bool run_in_transaction(struct ph_db *db)
{
	/* Not the notices of "drop ... if exists" and "create ... if not exists" on stderr. */
	if (!ph_db_run(db, "set local client_min_messages = warning", 0, NULL) ||
		!report("creating the migration tables", run_sql(db, create_tables)))
		return false;
	for (int i = 0; i < ph_migration_count; i++)
		if (!apply_numbered(db, &ph_migrations[i]))
			return false;
	int have;
	if (!query_value(db, "select coalesce(max(version), 0) from pghook_schema_migrations", 0,
		    NULL, &have))
		return false;
	if (have > latest_version()) {
		log_info(
			"the database has migration %d, newer than this build's %d: its functions, "
			"views, policies and grants are left as they are",
			have, latest_version());
		return true;
	}
	return apply_repeatables(db) && ph_migrate_ensure_partitions(db);
}

bool ph_migrate_run(struct ph_db *db)
{
	if (!ph_db_run(db, "select pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL))
		return false;
	bool ok = ph_db_run(db, "begin", 0, NULL);
	if (ok) {
		ok = run_in_transaction(db);
		ok = ph_db_run(db, ok ? "commit" : "rollback", 0, NULL) && ok;
	}
	if (!ph_db_run(db, "select pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL))
		ok = false;
	return ok;
}

bool ph_migrate_ensure_partitions(struct ph_db *db)
{
	char days[16];
	snprintf(days, sizeof(days), "%d", PH_ATTEMPT_PARTITIONS_AHEAD);
	const char *params[] = { days };
	int created;
	if (!query_value(
		    db, "select pghook_ensure_attempt_partitions($1::int)", 1, params, &created))
		return false;
	if (created > 0)
		log_info("created %d daily partition(s) of attempts", created);
	return true;
}

bool ph_migrate_is_current(struct ph_db *db)
{
	const char *params[] = { ph_repeatable_files, ph_repeatable_hashes };
	PGresult *res = ph_db_exec(db,
		"select (select coalesce(max(version), 0) from pghook_schema_migrations),"
		" (select count(*) from unnest($1::text[], $2::text[]) as m(file, hash)"
		" where not exists (select 1 from pghook_schema_repeatables r"
		" where r.file = m.file and m.hash in (r.hash, r.previous_hash)))",
		2, params);
	if (!res)
		return false;
	int have = atoi(PQgetvalue(res, 0, 0));
	bool missing = strcmp(PQgetvalue(res, 0, 1), "0") != 0;
	PQclear(res);
	return have > latest_version() || (have == latest_version() && !missing);
}
