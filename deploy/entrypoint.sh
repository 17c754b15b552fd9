#!/bin/sh
# SPDX-License-Identifier: MIT
# The container image's entry point (deploy/Dockerfile). The first argument picks the program,
# the rest is passed on, so each role is one `args:` away in a manifest:
#   serve (the default), migrate, tenant ..., key ..., stats, prune ..., --help -> pghook-api
#   worker                                                                      -> pghook-worker
#   pghook-api ... / pghook-worker                                              -> as written
# exec keeps the program as PID 1, so the SIGTERM Kubernetes sends at shutdown reaches it
# directly (both binaries handle it; docs/operations.md, "Shutdown"); neither starts children,
# so no init process is needed to reap them.
set -eu
case "${1:-serve}" in
worker | pghook-worker)
	shift
	exec pghook-worker "$@"
	;;
pghook-api)
	shift
	exec pghook-api "$@"
	;;
serve | migrate | tenant | key | stats | prune | --help | -h)
	exec pghook-api "$@"
	;;
*)
	echo "pghook: unknown command \"$1\" (serve, migrate, worker, tenant, key, stats, prune)" >&2
	exit 64
	;;
esac
