/* SPDX-License-Identifier: MIT */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db->last_conn_lost = true;
		log_error("postgresql connection lost: %s", PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
	} else if (!code || strncmp(code, "23", 2) != 0) {
		/* Constraint violations are answers callers expect, not errors. */
		log_error("statement failed: %s", PQresultErrorMessage(res));
	}
	PQclear(res);
	return NULL;
}

PGresult *ph_db_exec(struct ph_db *db, const char *sql, int nparams, const char *const *params)
{
	db->sqlstate[0] = '\0';
	db->last_conn_lost = false;
	if (!ph_db_ensure(db)) {
		db->last_conn_lost = true;
		return NULL;
	}
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

PGresult *ph_db_exec_prepared(struct ph_db *db, const char *name, const char *sql, int nparams,
	const char *const *params)
{
	db->sqlstate[0] = '\0';
	db->last_conn_lost = false;
	if (!ph_db_ensure(db)) {
		db->last_conn_lost = true;
		return NULL;
	}
	if (!is_prepared(db, name)) {
		PGresult *res = check(db, PQprepare(db->conn, name, sql, nparams, NULL));
		if (!res)
			return NULL;
		PQclear(res);
		if (db->nprepared < PH_DB_MAX_PREPARED)
			db->prepared[db->nprepared++] = name;
		else
			log_warn("more than %d prepared statements; %s is prepared again", PH_DB_MAX_PREPARED, name);
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

const char *ph_db_value(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}
