#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build and install pghook. This is the build stage of deploy/Dockerfile, and the test suite
# runs it too (tests/integration/test_deploy.py), so the image's build steps cannot rot
# unnoticed even where no container engine runs.
#
#   deploy/build.sh [--builddir DIR] [--prefix PREFIX] [--destdir DIR] [--buildtype TYPE]
#                   [--strip] [--no-deps]
#
# 1. installs the Debian build packages that are missing (BUILD_PACKAGES of
#    deploy/local/common.sh, the same list the quick start uses), unless --no-deps;
# 2. meson setup DIR (only when DIR is not configured yet: an existing build dir is reused as it
#    is, which is how the test keeps this fast) and ninja;
# 3. meson install into DESTDIR/PREFIX: bin/pghook-api and bin/pghook-worker.
#
# Defaults: --builddir build-release, --prefix /usr/local, --buildtype release, no DESTDIR.
set -euo pipefail
source "$(dirname "$0")/local/common.sh"

builddir=build-release
prefix=/usr/local
destdir=
buildtype=release
strip=
deps=1
usage() {
	echo "usage: deploy/build.sh [--builddir DIR] [--prefix PREFIX] [--destdir DIR]" \
		"[--buildtype TYPE] [--strip] [--no-deps]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case "$1" in
	--builddir) builddir=${2:?--builddir needs a value}; shift 2 ;;
	--prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
	--destdir) destdir=${2:?--destdir needs a value}; shift 2 ;;
	--buildtype) buildtype=${2:?--buildtype needs a value}; shift 2 ;;
	--strip) strip=--strip; shift ;;
	--no-deps) deps=; shift ;;
	-h | --help) usage ;;
	*) echo "deploy/build.sh: unknown argument $1" >&2; usage ;;
	esac
done
case "$builddir" in /*) ;; *) builddir="$PGHOOK_ROOT/$builddir" ;; esac
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path, not $prefix" ;; esac
case "$destdir" in /* | '') ;; *) destdir="$PWD/$destdir" ;; esac

if [ -n "$deps" ]; then
	install_missing $BUILD_PACKAGES
fi

if [ -f "$builddir/build.ninja" ]; then
	log "reusing $builddir"
	configured=$(meson introspect --buildoptions "$builddir" |
		python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
	[ "$configured" = "$prefix" ] ||
		die "$builddir is configured with prefix $configured, not $prefix: use another --builddir"
else
	log "configuring $builddir ($buildtype, prefix $prefix)"
	meson setup "$builddir" "$PGHOOK_ROOT" --prefix "$prefix" --buildtype "$buildtype"
fi
log "building $builddir"
ninja -C "$builddir"

log "installing into $destdir$prefix"
meson install -C "$builddir" --no-rebuild --quiet $strip ${destdir:+--destdir "$destdir"}
for b in pghook-api pghook-worker; do
	[ -x "$destdir$prefix/bin/$b" ] || die "$destdir$prefix/bin/$b was not installed"
done
log "installed $destdir$prefix/bin/pghook-api and $destdir$prefix/bin/pghook-worker"
