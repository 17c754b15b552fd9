# SPDX-License-Identifier: MIT
# Shared by deploy/local/start and deploy/local/test: install what is missing, build.
# Sourced, not run. Works as root (CI, fresh Debian 12) or as a user with sudo.

PGHOOK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The Debian packages the project needs, by purpose: deploy/local/start installs the first two,
# deploy/local/test all of them, and tests/repo/deps.py fails when a test or script uses a
# Python module or a program that no list here brings (a package installed by hand would hide
# it on one machine and fail on a fresh one). "$(command -v X >/dev/null || echo PACKAGE)"
# installs PACKAGE only when the machine has no X (a vendor's Node.js or kubectl will do).
# chromium is the browser of the console's suite (tests/browser), driven by the npm package
# playwright-core, which never downloads a browser of its own.
BUILD_PACKAGES="gcc libc6-dev pkg-config meson ninja-build libpq-dev libssl-dev
	libcurl4-openssl-dev libevent-dev libjson-c-dev"
RUN_PACKAGES="postgresql curl ca-certificates"
TEST_PACKAGES="python3 python3-pytest python3-psycopg python3-requests python3-aiosmtpd
	python3-yaml python3-jsonschema git
	$(command -v kubectl >/dev/null || echo kubernetes-client)
	$(command -v node >/dev/null || echo nodejs) $(command -v npm >/dev/null || echo npm)
	chromium"
# The image suite (tests/image): podman with the runc runtime (crun, podman's first choice,
# fails on hosts with hybrid cgroups), and mmdebstrap to make the base images without a registry.
IMAGE_PACKAGES="podman runc mmdebstrap"
# The libFuzzer build (tests/fuzz).
FUZZ_PACKAGES="clang-14 libclang-rt-14-dev"
# tests/bench/run (by hand, not the suite): wrk drives the ingest scenario; pg_stat_statements
# ships with Debian's PostgreSQL server package.
BENCH_PACKAGES="wrk"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the Debian packages among "$@" that are not installed yet (one apt-get call).
install_missing() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# meson setup (once) and ninja for build dir $1 with extra meson options after it.
build() {
	local dir=$1
	shift
	if [ ! -f "$PGHOOK_ROOT/$dir/build.ninja" ]; then
		log "configuring $dir"
		meson setup "$PGHOOK_ROOT/$dir" "$PGHOOK_ROOT" "$@" >/dev/null
	fi
	log "building $dir"
	ninja -C "$PGHOOK_ROOT/$dir" >/dev/null || ninja -C "$PGHOOK_ROOT/$dir"
}

pg_bindir() {
	local d
	d=$(pg_config --bindir 2>/dev/null)
	[ -x "$d/initdb" ] || d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -x "$d/initdb" ] || die "PostgreSQL server binaries not found"
	echo "$d"
}

# Run a PostgreSQL tool; as root, as the postgres user (PostgreSQL refuses to run as root).
pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
