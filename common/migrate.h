/* SPDX-License-Identifier: MIT
 *
 * migrate: the forward-only migrations of sql/, embedded at build time, applied in order and
 * recorded in schema_migrations. Safe when several replicas migrate at once: a session advisory
 * lock serialises them, and each migration commits with its record.
 */
#ifndef PGHOOK_COMMON_MIGRATE_H
#define PGHOOK_COMMON_MIGRATE_H

#include <stdbool.h>

#include "db.h"
#include "util.h"

struct ph_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct ph_migration ph_migrations[];
extern const int ph_migration_count;

/* Apply every migration not yet recorded. Logs each one applied. */
bool ph_migrate_run(struct ph_db *db) PH_MUSTCHECK;
/* True when the database has every embedded migration (readiness). */
bool ph_migrate_is_current(struct ph_db *db);

#endif
