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
		"       pghook-api secrets reencrypt\n"
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

/* Retention of attempts by time (sql/functions/partitions.sql): the daily partitions entirely
 * older than the cutoff are dropped, the rows older than it deleted from the one straddling it
 * and from attempts_default; the partitions ahead are created as the workers do. First, so
 * that the events deleted next cascade into as few attempt rows as possible. Logged, not
 * printed: prune's output stays {"prunedEvents": n}. */
static bool prune_attempts(struct ph_db *db, const char *secs)
{
	if (!ph_migrate_ensure_partitions(db))
		return false;
	const char *params[] = { secs };
	PGresult *res = ph_db_exec(db,
		"select pghook_prune_attempts(now() - make_interval(secs => $1::bigint))::text", 1,
		params);
	if (!res)
		return false;
	log_info("attempts pruned: %s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
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
	if (!prune_attempts(db, secs))
		return 1;
	return print_row(db,
		"with gone as (delete from events e where e.created_at < now() - make_interval("
		"secs => $1::bigint) and (pghook_event_state(e)).status <> 'pending' returning 1)"
		" select json_build_object('prunedEvents', count(*)) from gone",
		1, params);
}

/* Print what a tenants.h call returned; 1 when it found nothing or failed. */
/* not_found is read here, after the call that sets it (an argument's value could be read
 * before the call of another argument ran). */
static int print_found(json_object *out, const bool *not_found, const char *what, const char *id)
{
	if (!out && *not_found)
		log_error("no such %s: %s", what, id);
	return print_json(out);
}

static int cmd_limits(struct ph_db *db, int argc, char **argv)
{
	bool nf = false;
	if (argc == 3)
		return print_found(tenant_limits_get(db, argv[2], &nf), &nf, "tenant", argv[2]);
	json_object *limits = json_tokener_parse(argv[3]);
	const char *why = limits ? tenant_limits_problem(limits) : "limits must be JSON";
	if (why) {
		log_error("%s", why);
		json_object_put(limits);
		return 2;
	}
	json_object *out = tenant_limits_set(db, argv[2], ph_json_compact(limits, NULL), &nf);
	json_object_put(limits);
	return print_found(out, &nf, "tenant", argv[2]);
}

/* tenant delete|limits, key list|revoke. */
static int cmd_lifecycle(struct ph_db *db, int argc, char **argv)
{
	bool nf = false;
	bool tenant = strcmp(argv[0], "tenant") == 0;
	const char *sub = argc > 1 ? argv[1] : "";
	if (tenant && argc == 3 && strcmp(sub, "delete") == 0)
		return print_found(tenant_delete(db, argv[2], &nf), &nf, "tenant", argv[2]);
	if (tenant && (argc == 3 || argc == 4) && strcmp(sub, "limits") == 0)
		return cmd_limits(db, argc, argv);
	if (!tenant && argc == 3 && strcmp(sub, "list") == 0)
		return print_found(tenant_keys_list(db, argv[2], &nf), &nf, "tenant", argv[2]);
	if (!tenant && argc == 4 && strcmp(sub, "revoke") == 0)
		return print_found(
			tenant_key_revoke(db, argv[2], argv[3], &nf), &nf, "key", argv[3]);
	cli_usage(stderr);
	return 2;
}

/* Reseal one stored value into *out (NULL when there is none); false when it does not open. */
static bool reseal(const struct ph_crypto *c, const char *stored, const char *tenant,
	const char *webhook, char **out)
{
	const char *why = NULL;
	*out = NULL;
	if (!stored)
		return true;
	*out = ph_crypto_reseal(c, stored, tenant, webhook, &why);
	if (!*out)
		log_error("webhook %s: its secret does not open: %s", webhook, why);
	return *out != NULL;
}

/* Seal every webhook's secrets under the first key of PGHOOK_SECRET_KEY: the plaintext ones
 * from before a key was set and the ones under an older key, so that key can be dropped.
 * Each row is updated only if it still holds what was read (a concurrent rotation wins).
 * Across tenants: a superuser or a role granted pghook_admin, like stats and prune. */
static int cmd_reencrypt(struct ph_db *db, const struct ph_crypto *c)
{
	if (!ph_crypto_enabled(c)) {
		log_error("secrets reencrypt: PGHOOK_SECRET_KEY is not set");
		return 2;
	}
	PGresult *res = ph_db_exec(db,
		"select id, tenant_id, secret, previous_secret from webhooks order by id", 0, NULL);
	if (!res)
		return 1;
	int n = PQntuples(res), changed = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		const char *id = PQgetvalue(res, i, 0), *tenant = PQgetvalue(res, i, 1);
		const char *sec = PQgetvalue(res, i, 2), *prev = ph_db_value(res, i, 3);
		char *s2 = NULL, *p2 = NULL;
		if (!reseal(c, sec, tenant, id, &s2) || !reseal(c, prev, tenant, id, &p2)) {
			failed++;
		} else if (strcmp(s2, sec) != 0 || (prev && strcmp(p2, prev) != 0)) {
			const char *params[] = { id, s2, p2, sec, prev };
			PGresult *u = ph_db_exec(db,
				"update webhooks set secret = $2, previous_secret = $3"
				" where id = $1 and secret = $4"
				" and previous_secret is not distinct from $5",
				5, params);
			if (u && strcmp(PQcmdTuples(u), "1") == 0)
				changed++;
			else
				failed += u == NULL;
			PQclear(u);
		}
		free(s2);
		free(p2);
	}
	PQclear(res);
	printf("{\"webhooks\":%d,\"reencrypted\":%d,\"failed\":%d}\n", n, changed, failed);
	return failed ? 1 : 0;
}

static int dispatch(const struct ph_config *cfg, struct ph_db *db, int argc, char **argv)
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
	if (strcmp(cmd, "secrets") == 0 && argc == 2 && strcmp(argv[1], "reencrypt") == 0)
		return cmd_reencrypt(db, &cfg->crypto);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(db);
	if (strcmp(cmd, "prune") == 0)
		return cmd_prune(db, argc, argv);
	cli_usage(stderr);
	return 2;
}

int cli_run(const struct ph_config *cfg, int argc, char **argv)
{
	static const char *const known[] = { "migrate", "tenant", "key", "secrets", "stats",
		"prune" };
	bool found = false;
	for (size_t i = 0; i < PH_ARRAY_LEN(known); i++)
		found = found || strcmp(argv[0], known[i]) == 0;
	if (!found)
		return -1;
	struct ph_db db;
	ph_db_init(&db, cfg->database_url);
	int rc = db.conn ? dispatch(cfg, &db, argc, argv) : 1;
	ph_db_finish(&db);
	return rc;
}
