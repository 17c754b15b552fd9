/* SPDX-License-Identifier: MIT */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void ph_db_add_session_setting(const char *name, long long value)
{
	const char *old = getenv("PGOPTIONS");
	char *opts =
		ph_xasprintf("%s%s-c %s=%lld", old ? old : "", old && *old ? " " : "", name, value);
	setenv("PGOPTIONS", opts, 1);
	free(opts);
}

void ph_db_init(struct ph_db *db, const char *conninfo)
{
	memset(db, 0, sizeof(*db));
	db->conninfo = ph_xstrdup(conninfo ? conninfo : "");
	if (!ph_db_ensure(db))
		log_warn("database not reachable yet; will retry on first use");
}

void ph_db_finish(struct ph_db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	memset(db, 0, sizeof(*db));
}

bool ph_db_ensure(struct ph_db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return true;
	if (db->conn)
		PQfinish(db->conn);
	db->nprepared = 0;
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_error("cannot connect to postgresql: %s", PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		return false;
	}
	return true;
}

/* Keep a successful result; on failure record why, drop a broken connection, return NULL. */
static PGresult *check(struct ph_db *db, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (code)
		snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", code);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(db->message, sizeof(db->message), "%s", msg ? msg : "");
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db->last_conn_lost = true;
		log_error("postgresql connection lost: %s", PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
	} else if (!code || (strncmp(code, "23", 2) != 0 && strncmp(code, "PH", 2) != 0)) {
		/* Constraint violations and pghook's own refusals (class PH: quotas) are answers
		 * callers expect, not errors. */
		log_error("statement failed: %s", PQresultErrorMessage(res));
	}
	PQclear(res);
	return NULL;
}

static void remember_prepared(struct ph_db *db, const char *name)
{
	if (db->nprepared < PH_DB_MAX_PREPARED)
		db->prepared[db->nprepared++] = name;
	else
		log_warn("more than %d prepared statements; %s is prepared again",
			PH_DB_MAX_PREPARED, name);
}

/* The connection cannot be trusted to be in a known state (a pipeline that could not be sent
 * or left): drop it, the next statement reconnects. */
static PGresult *drop_connection(struct ph_db *db, const char *what)
{
	db->last_conn_lost = true;
	log_error("postgresql pipeline %s: %s", what, PQerrorMessage(db->conn));
	PQfinish(db->conn);
	db->conn = NULL;
	return NULL;
}

static bool send_scoped(struct ph_db *db, const char *name, const char *sql, bool prepare,
	int nparams, const char *const *params)
{
	PGconn *c = db->conn;
	const char *tenant[] = { db->tenant };
	if (prepare && !PQsendPrepare(c, name, sql, nparams, NULL))
		return false;
	if (!PQsendQueryParams(c, "select set_config('pghook.tenant_id', $1, true)", 1, NULL,
		    tenant, NULL, NULL, 0))
		return false;
	if (name ? !PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0)
		 : !PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0))
		return false;
	return PQpipelineSync(c) == 1;
}

/* Read a scoped pipeline's results up to its Sync. Keeps the statement's result, or the first
 * failure (the commands after a failure come back PGRES_PIPELINE_ABORTED). The implicit
 * transaction commits when the server processes the Sync, so success needs the Sync's answer:
 * a connection lost before it (a crash during the commit) or an error at the commit fails
 * the statement, even though its rows already came back. Sets *prepared when the pipeline's
 * Prepare (command 0 of 3) succeeded. */
static PGresult *collect_scoped(struct ph_db *db, int ncmds, bool *prepared)
{
	PGresult *keep = NULL, *failure = NULL;
	bool synced = false;
	int cmd = 0;
	*prepared = false;
	for (;;) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) {
			/* Each command's results end with NULL; a dead connection only says NULL.
			 */
			if (PQstatus(db->conn) != CONNECTION_OK || ++cmd > ncmds)
				break;
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			synced = true;
			break;
		}
		bool failed = st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK;
		if (ncmds == 3 && cmd == 0 && !failed)
			*prepared = true;
		if (failed && !failure)
			failure = res;
		else if (!failed && cmd == ncmds - 1 && !keep)
			keep = res;
		else
			PQclear(res);
	}
	if (failure || !synced) {
		PQclear(keep);
		return failure; /* NULL when only the Sync's answer is missing */
	}
	return keep;
}

/* A statement in its tenant's transaction, in one round trip (see ph_db_set_tenant). name is
 * NULL for an unnamed statement; prepare asks to prepare name first, in the same pipeline. */
static PGresult *exec_scoped(struct ph_db *db, const char *name, const char *sql, bool prepare,
	int nparams, const char *const *params)
{
	if (!PQenterPipelineMode(db->conn))
		return drop_connection(db, "not entered");
	if (!send_scoped(db, name, sql, prepare, nparams, params))
		return drop_connection(db, "not sent");
	bool prepared;
	PGresult *res = collect_scoped(db, prepare ? 3 : 2, &prepared);
	if (PQstatus(db->conn) == CONNECTION_OK && !PQexitPipelineMode(db->conn)) {
		PQclear(res);
		return drop_connection(db, "not left");
	}
	if (prepared)
		remember_prepared(db, name);
	if (!res && PQstatus(db->conn) == CONNECTION_OK)
		return drop_connection(db, "ended without an answer");
	if (!res) /* the connection died before the Sync's answer: the commit is unknown */
		res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
	return check(db, res);
}

bool ph_db_set_tenant(struct ph_db *db, const char *tenant)
{
	size_t n = tenant ? strlen(tenant) : 0;
	if (n >= sizeof(db->tenant)) {
		db->tenant[0] = '\0';
		return false;
	}
	memcpy(db->tenant, tenant ? tenant : "", n + 1);
	return true;
}

/* Forget the last failure and make sure there is a connection; false when there is none. */
static bool begin_statement(struct ph_db *db)
{
	db->sqlstate[0] = '\0';
	db->message[0] = '\0';
	db->last_conn_lost = !ph_db_ensure(db);
	return !db->last_conn_lost;
}

PGresult *ph_db_exec(struct ph_db *db, const char *sql, int nparams, const char *const *params)
{
	if (!begin_statement(db))
		return NULL;
	if (db->tenant[0])
		return exec_scoped(db, NULL, sql, false, nparams, params);
	return check(db, PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0));
}

static bool is_prepared(const struct ph_db *db, const char *name)
{
	for (int i = 0; i < db->nprepared; i++) {
		if (db->prepared[i] == name)
			return true;
	}
	return false;
}

PGresult *ph_db_exec_prepared(
	struct ph_db *db, const char *name, const char *sql, int nparams, const char *const *params)
{
	if (!begin_statement(db))
		return NULL;
	if (db->tenant[0])
		return exec_scoped(db, name, sql, !is_prepared(db, name), nparams, params);
	if (!is_prepared(db, name)) {
		PGresult *res = check(db, PQprepare(db->conn, name, sql, nparams, NULL));
		if (!res)
			return NULL;
		PQclear(res);
		remember_prepared(db, name);
	}
	return check(db, PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0));
}

bool ph_db_run(struct ph_db *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = ph_db_exec(db, sql, nparams, params);
	PQclear(res);
	return res != NULL;
}

bool ph_db_failed_with(const struct ph_db *db, const char *code)
{
	return strcmp(db->sqlstate, code) == 0;
}

void ph_db_failure_keep(struct ph_db_failure *f, const struct ph_db *db)
{
	memcpy(f->sqlstate, db->sqlstate, sizeof(f->sqlstate));
	snprintf(f->message, sizeof(f->message), "%s", db->message);
	f->conn_lost = db->last_conn_lost;
}

const char *ph_db_value(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}
