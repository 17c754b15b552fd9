/* SPDX-License-Identifier: MIT
 *
 * pghook-api: start-up only. Reads and checks the configuration first, whatever the arguments
 * (so `pghook-api --help` also tells whether the environment is valid: deploy tests rely on
 * it), then prints the usage or the version, runs an admin subcommand, or serves HTTP until
 * told to stop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "server.h"

/* Limits every connection of the serving api carries. statement_timeout bounds what one request
 * can hold a loop's connection (and so every tenant of that loop) for; the pghook.* settings
 * are the quotas the SQL functions enforce when the tenant has no override (tenant_limits).
 * The admin subcommands (migrate builds indexes) run without them. */
static void set_session_limits(const struct ph_config *cfg)
{
	if (cfg->statement_timeout_ms > 0)
		ph_db_add_session_setting("statement_timeout", cfg->statement_timeout_ms);
	ph_db_add_session_setting("pghook.max_webhooks", cfg->tenant_max_webhooks);
	ph_db_add_session_setting("pghook.max_fanout", cfg->max_fanout_per_request);
}

static int serve(const struct ph_config *cfg)
{
	set_session_limits(cfg);
	struct server *s = server_create(cfg);
	if (!s)
		return 1;
	bool ok = server_run(s);
	server_destroy(s);
	return ok ? 0 : 1;
}

static int run(const struct ph_config *cfg, int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "serve";
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("pghook-api %s\n", PGHOOK_VERSION);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return serve(cfg);
	int rc = cli_run(cfg, argc - 1, argv + 1);
	if (rc >= 0)
		return rc;
	cli_usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct ph_config cfg;
	char err[256];
	ph_log_set_component("api");
	signal(SIGPIPE, SIG_IGN);
	if (!ph_config_load(&cfg, err, sizeof(err))) {
		log_error("invalid configuration: %s", err);
		ph_config_finish(&cfg);
		return 2;
	}
	ph_log_set_level(cfg.log_level);
	int rc = run(&cfg, argc, argv);
	ph_config_finish(&cfg);
	return rc;
}
