/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "duration.h"
#include "json.h"
#include "log.h"
#include "migrate.h"
#include "tenants.h"

void cli_usage(FILE *out)
{
	fprintf(out,
		"usage: pghook-api [serve]\n"
		"       pghook-api migrate\n"
		"       pghook-api tenant create NAME\n"
		"       pghook-api tenant delete TENANT_ID\n"
		"       pghook-api tenant limits TENANT_ID ['{\"maxWebhooks\":N,...}']\n"
		"       pghook-api key create TENANT_ID\n"
		"       pghook-api key list TENANT_ID\n"
		"       pghook-api key revoke TENANT_ID KEY_ID\n"
		"       pghook-api stats\n"
		"       pghook-api prune --older-than DURATION (e.g. 30d)\n"
		"       pghook-api --help | --version\n"
		"configuration comes from the environment: see README.md\n");
}

static int print_json(json_object *obj)
{
	if (!obj)
		return 1;
	size_t len;
	const char *s = ph_json_compact(obj, &len);
	printf("%.*s\n", (int)len, s);
	json_object_put(obj);
	return 0;
}

/* Print the JSON the statement's first column renders, compact like print_json's. */
static int print_row(struct ph_db *db, const char *sql, int n, const char *const *params)
{
	PGresult *res = ph_db_exec(db, sql, n, params);
	if (!res)
		return 1;
	size_t len = (size_t)PQgetlength(res, 0, 0);
	char *out = ph_xmalloc(len + 1);
	len = ph_json_compact_text(PQgetvalue(res, 0, 0), len, out);
	printf("%.*s\n", (int)len, out);
	free(out);
	PQclear(res);
	return 0;
}

static int cmd_stats(struct ph_db *db)
{
	return print_row(db,
		"select json_build_object("
		" 'deliveries', (select json_object_agg(status, n) from"
		"   (select status, count(*) n from deliveries group by status) s),"
		" 'events', (select count(*) from events),"
		" 'webhooks', (select count(*) from webhooks where deleted_at is null),"
		" 'tenants', (select count(*) from tenants),"
		" 'queue', (select row_to_json(q) from report_queue q),"
		" 'notificationsPending', (select count(*) from notifications where status = 'pending'))",
		0, NULL);
}

/* Delete events whose deliveries are all final and older than the cutoff; attempts and
 * deliveries go with them (on delete cascade). */
static int cmd_prune(struct ph_db *db, int argc, char **argv)
{
	int64_t ms;
	if (argc != 3 || strcmp(argv[1], "--older-than") != 0 || !ph_duration_parse(argv[2], &ms)) {
		cli_usage(stderr);
		return 2;
	}
	char secs[32];
	snprintf(secs, sizeof(secs), "%lld", (long long)(ms / 1000));
	const char *params[] = { secs };
	return print_row(db,
		"with gone as (delete from events e where e.created_at < now() - make_interval("
		"secs => $1::bigint) and (pghook_event_state(e)).status <> 'pending' returning 1)"
		" select json_build_object('prunedEvents', count(*)) from gone",
		1, params);
}

/* Print what a tenants.h call returned; 1 when it found nothing or failed. */
static int print_found(json_object *out, bool not_found, const char *what, const char *id)
{
	if (!out && not_found)
		log_error("no such %s: %s", what, id);
	return print_json(out);
}

static int cmd_limits(struct ph_db *db, int argc, char **argv)
{
	bool nf;
	if (argc == 3)
		return print_found(tenant_limits_get(db, argv[2], &nf), nf, "tenant", argv[2]);
	json_object *limits = json_tokener_parse(argv[3]);
	const char *why = limits ? tenant_limits_problem(limits) : "limits must be JSON";
	if (why) {
		log_error("%s", why);
		json_object_put(limits);
		return 2;
	}
	json_object *out = tenant_limits_set(db, argv[2], ph_json_compact(limits, NULL), &nf);
	json_object_put(limits);
	return print_found(out, nf, "tenant", argv[2]);
}

/* tenant delete|limits, key list|revoke. */
static int cmd_lifecycle(struct ph_db *db, int argc, char **argv)
{
	bool nf;
	bool tenant = strcmp(argv[0], "tenant") == 0;
	const char *sub = argc > 1 ? argv[1] : "";
	if (tenant && argc == 3 && strcmp(sub, "delete") == 0)
		return print_found(tenant_delete(db, argv[2], &nf), nf, "tenant", argv[2]);
	if (tenant && (argc == 3 || argc == 4) && strcmp(sub, "limits") == 0)
		return cmd_limits(db, argc, argv);
	if (!tenant && argc == 3 && strcmp(sub, "list") == 0)
		return print_found(tenant_keys_list(db, argv[2], &nf), nf, "tenant", argv[2]);
	if (!tenant && argc == 4 && strcmp(sub, "revoke") == 0)
		return print_found(
			tenant_key_revoke(db, argv[2], argv[3], &nf), nf, "key", argv[3]);
	cli_usage(stderr);
	return 2;
}

static int dispatch(struct ph_db *db, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (strcmp(cmd, "migrate") == 0) {
		bool ok = ph_migrate_run(db);
		if (ok)
			printf("{\"migrated\":true,\"version\":%d}\n",
				ph_migrations[ph_migration_count - 1].version);
		return ok ? 0 : 1;
	}
	if (strcmp(cmd, "tenant") == 0 && argc == 3 && strcmp(argv[1], "create") == 0)
		return print_json(tenant_create(db, argv[2]));
	if (strcmp(cmd, "key") == 0 && argc == 3 && strcmp(argv[1], "create") == 0) {
		bool not_found;
		json_object *out = tenant_key_create(db, argv[2], &not_found);
		if (not_found)
			log_error("no such tenant: %s", argv[2]);
		return print_json(out);
	}
	if (strcmp(cmd, "tenant") == 0 || strcmp(cmd, "key") == 0)
		return cmd_lifecycle(db, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(db);
	if (strcmp(cmd, "prune") == 0)
		return cmd_prune(db, argc, argv);
	cli_usage(stderr);
	return 2;
}

int cli_run(const struct ph_config *cfg, int argc, char **argv)
{
	static const char *const known[] = { "migrate", "tenant", "key", "stats", "prune" };
	bool found = false;
	for (size_t i = 0; i < PH_ARRAY_LEN(known); i++)
		found = found || strcmp(argv[0], known[i]) == 0;
	if (!found)
		return -1;
	struct ph_db db;
	ph_db_init(&db, cfg->database_url);
	int rc = db.conn ? dispatch(&db, argc, argv) : 1;
	ph_db_finish(&db);
	return rc;
}
