/* SPDX-License-Identifier: MIT
 *
 * pghook-api: start-up only. --help and --version answer before anything else, so they work
 * without a configuration or a database; otherwise it reads the configuration, then runs an
 * admin subcommand or serves HTTP until told to stop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "server.h"

static int serve(const struct ph_config *cfg)
{
	struct server *s = server_create(cfg);
	if (!s)
		return 1;
	bool ok = server_run(s);
	server_destroy(s);
	return ok ? 0 : 1;
}

/* Run what argv asks for with the configuration of the environment. */
static int run(int argc, char **argv)
{
	struct ph_config cfg;
	char err[256];
	if (!ph_config_load(&cfg, err, sizeof(err))) {
		log_error("invalid configuration: %s", err);
		ph_config_finish(&cfg);
		return 2;
	}
	ph_log_set_level(cfg.log_level);
	int rc;
	if (argc < 2 || strcmp(argv[1], "serve") == 0) {
		rc = serve(&cfg);
	} else {
		rc = cli_run(&cfg, argc - 1, argv + 1);
		if (rc < 0) {
			cli_usage(stderr);
			rc = 2;
		}
	}
	ph_config_finish(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	ph_log_set_component("api");
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("pghook-api %s\n", PGHOOK_VERSION);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return run(argc, argv);
}
