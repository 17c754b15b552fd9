/* SPDX-License-Identifier: MIT
 *
 * db: one PostgreSQL connection owned by one thread or loop, with the error handling every
 * caller needs: failures logged once here, SQLSTATE kept for callers that branch on it, and the
 * connection reset after it breaks so the next statement reconnects.
 */
#ifndef PGHOOK_COMMON_DB_H
#define PGHOOK_COMMON_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "util.h"

#define PH_DB_MAX_PREPARED 32
/* SQLSTATE of a quota refusal raised by pghook's SQL (sql/functions/quota.sql). */
#define PH_SQLSTATE_QUOTA "PH403"
#define PH_DB_TENANT_MAX  64

struct ph_db {
	PGconn *conn;
	const char *prepared[PH_DB_MAX_PREPARED]; /* statement names prepared on conn */
	int nprepared;
	char *conninfo; /* "" means libpq's PG* environment variables */
	char sqlstate[6]; /* of the last failure, "" when it was not a server error */
	char message[256]; /* the server's primary message of the last failure, or "" */
	bool last_conn_lost; /* the last failure was a broken connection */
	/* While not "", every statement runs tenant-scoped: in one transaction after
	 * set_config('pghook.tenant_id', tenant, true), which row-level security reads. */
	char tenant[PH_DB_TENANT_MAX];
};

/* Start every connection this process opens from now on with the setting name=value (appended
 * to PGOPTIONS, which libpq sends at connect: so the connections modules open with libpq
 * directly get it too, and no statement is spent on it). Call before starting threads (it
 * changes the environment). An `options` in DATABASE_URL replaces PGOPTIONS: list these there
 * too when setting one. */
void ph_db_add_session_setting(const char *name, long long value);
/* Remember conninfo (copied; NULL or "" for the environment) and try to connect. A failed
 * connect is logged and retried by the next ph_db_exec. */
void ph_db_init(struct ph_db *db, const char *conninfo);
void ph_db_finish(struct ph_db *db);
/* Connect if there is no healthy connection. Blocking. */
bool ph_db_ensure(struct ph_db *db) PH_MUSTCHECK;
/* Run one parameterised statement (text parameters, NULL for SQL NULL). Returns the result on
 * success (the caller PQclear()s it), NULL on failure with db->sqlstate set. */
PGresult *ph_db_exec(
	struct ph_db *db, const char *sql, int nparams, const char *const *params) PH_MUSTCHECK;
/* Same as ph_db_exec, as a named prepared statement: prepared on this connection the first time
 * (and again after a reconnect), so hot statements are parsed and planned once. name must be a
 * string literal or otherwise live as long as db. */
PGresult *ph_db_exec_prepared(struct ph_db *db, const char *name, const char *sql, int nparams,
	const char *const *params) PH_MUSTCHECK;
/* Scope every following ph_db_exec / ph_db_exec_prepared / ph_db_run to a tenant (copied;
 * NULL or "" ends the scope). A scoped statement is pipelined with libpq's pipeline mode as
 * set_config('pghook.tenant_id', tenant, true); <statement>; Sync: one round trip, one implicit
 * transaction that commits at the Sync, or rolls back as a whole when either part fails. Inside
 * a transaction the caller began, the setting lasts until that transaction ends. False when
 * tenant is too long (the scope is then cleared). */
bool ph_db_set_tenant(struct ph_db *db, const char *tenant) PH_MUSTCHECK;
/* Run a statement for its effect only. */
bool ph_db_run(
	struct ph_db *db, const char *sql, int nparams, const char *const *params) PH_MUSTCHECK;
/* True when the last failure's SQLSTATE equals code (e.g. "23505"). */
bool ph_db_failed_with(const struct ph_db *db, const char *code);

/* What a failed statement left on its connection, kept for answering on another thread. */
struct ph_db_failure {
	char sqlstate[6];
	char message[256];
	bool conn_lost;
};
void ph_db_failure_keep(struct ph_db_failure *f, const struct ph_db *db);

/* Value of row r, column c, or NULL when it is SQL NULL. */
const char *ph_db_value(const PGresult *res, int r, int c);

#endif
