# SPDX-License-Identifier: MIT
"""podman for the image suite: its configuration, the Dockerfile's base images, builds, and
containers that are stopped and removed however a test ends.

The engine is Debian's podman with the runc runtime, configured by a containers.conf of the
suite's own (CONTAINERS_CONF, so nothing under /etc changes): podman's default ulimits ask for
more open files than a hard limit may allow, and raising a limit past the hard one is refused.

No registry is needed. A base image the Dockerfile names and podman's store lacks is made here
from Debian's package repository with mmdebstrap, set up as the registry's images are (see
DPKG_OPTIONS), imported under the registry's name, and kept in the store for later runs. A
user with a registry builds the same Dockerfile unchanged.
"""
import fcntl
import json
import os
import re
import resource
import shutil
import subprocess

# Base image (as the Dockerfile names it) -> the Debian suite it is made from.
BASE_SUITES = {'debian:12': 'bookworm', 'debian:12-slim': 'bookworm'}
# dpkg's and apt's settings in the registry's images, kept in the base for the Dockerfile's own
# installs: no manuals, documentation or translations (the slim image's trim), no fsync per
# file (a container's tree is thrown away, not recovered), no translated package lists.
DPKG_OPTIONS = ['path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/info/*',
                'path-exclude=/usr/share/doc/*', 'path-include=/usr/share/doc/*/copyright',
                'path-exclude=/usr/share/locale/*', 'force-unsafe-io']
APT_OPTIONS = ['Acquire::Languages "none"']
# The registry images' package sources: the release, its updates and its security updates.
MIRROR = 'http://deb.debian.org/'
BASE_LOCK = '/var/tmp/pghook-image-bases.lock'


def qualified(ref):
    """debian:12 -> docker.io/library/debian:12, the name a registry pull would store."""
    if '/' not in ref:
        ref = 'library/' + ref
    if '.' not in ref.split('/')[0] and ref.split('/')[0] != 'localhost':
        ref = 'docker.io/' + ref
    return ref


def limit(which, cap):
    """The hard limit of which, at most cap (unlimited counts as cap)."""
    hard = resource.getrlimit(which)[1]
    return cap if hard == resource.RLIM_INFINITY else min(hard, cap)


class Podman:
    def __init__(self, workdir):
        path = shutil.which('podman')
        assert path, 'podman not found: deploy/local/common.sh installs it (IMAGE_PACKAGES)'
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        conf = os.path.join(workdir, 'containers.conf')
        nofile = limit(resource.RLIMIT_NOFILE, 1048576)
        nproc = limit(resource.RLIMIT_NPROC, 32768)
        with open(conf, 'w', encoding='utf-8') as f:
            f.write('# Written by tests/image/engine.py for the image suite.\n'
                    '[containers]\n'
                    'default_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]\n'
                    '[engine]\n'
                    'runtime = "runc"\n' % (nofile, nofile, nproc, nproc))
        self.path = path
        self.env = dict(os.environ, CONTAINERS_CONF=conf)

    def __call__(self, *args, timeout=120, check=True):
        p = subprocess.run([self.path] + list(args), env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert p.returncode == 0, 'podman %s: exit %d\n%s\n%s' % (
                ' '.join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:])
        return p

    def has_image(self, ref):
        return self('image', 'exists', ref, check=False).returncode == 0

    def size(self, ref):
        return int(self('image', 'inspect', '--format', '{{.Size}}', ref).stdout)

    # ---- base images ----

    def ensure_bases(self, refs):
        """Make each missing base of refs (as a Dockerfile names them), one mmdebstrap run per
        Debian suite. Several runs of the suite may start at once: one makes, the others
        wait for it and find the images there."""
        with open(BASE_LOCK, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            missing = [r for r in refs if not self.has_image(qualified(r))]
            for suite in sorted({self._suite(r) for r in missing}):
                names = [qualified(r) for r in missing if BASE_SUITES[r] == suite]
                self._make_base(suite, names)

    @staticmethod
    def _suite(ref):
        assert ref in BASE_SUITES, (
            'the Dockerfile is based on %s, which the image suite cannot make without a '
            'registry: add it to BASE_SUITES in tests/image/engine.py' % ref)
        return BASE_SUITES[ref]

    def _make_base(self, suite, names):
        mmdebstrap = shutil.which('mmdebstrap')
        assert mmdebstrap, 'mmdebstrap not found: deploy/local/common.sh installs it'
        rootfs = os.path.join(self.workdir, '%s-rootfs.tar' % suite)
        sources = ['deb %sdebian %s main' % (MIRROR, suite),
                   'deb %sdebian %s-updates main' % (MIRROR, suite),
                   'deb %sdebian-security %s-security main' % (MIRROR, suite)]
        args = [mmdebstrap, '--quiet', '--variant=minbase',
                # merged /usr as the registry's images have it, without the usrmerge package
                # (which brings perl along)
                '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr']
        args += ['--dpkgopt=' + o for o in DPKG_OPTIONS]
        args += ['--aptopt=' + o for o in APT_OPTIONS]
        p = subprocess.run(args + [suite, rootfs] + sources, capture_output=True, text=True,
                           timeout=900, stdin=subprocess.DEVNULL)
        try:
            assert p.returncode == 0, 'mmdebstrap %s failed:\n%s' % (suite, p.stderr[-3000:])
            self('import', '--change', 'CMD ["bash"]', rootfs, names[0], timeout=300)
            for name in names[1:]:
                self('tag', names[0], name)
        finally:
            if os.path.exists(rootfs):
                os.unlink(rootfs)

    # ---- building ----

    def build(self, dockerfile, context, tag):
        """Build with the host's network (no container network is set up here, and the build
        only needs Debian's repository), never pulling: the bases are local. Without cached
        layers, so a build leaves nothing behind but its image."""
        self.ensure_bases(from_images(dockerfile))
        return self('build', '--pull=never', '--layers=false', '--network=host', '--tag', tag,
                    '--file', dockerfile, context, timeout=1200)

    def remove_image(self, ref):
        self('rmi', '--force', ref, check=False, timeout=120)

    def remove_leftovers(self, prefix):
        """Remove the containers and images named prefix-PID (or prefix:PID) of runs whose
        process is gone: a run killed at its timeout cannot clean up after itself."""
        names = self('ps', '--all', '--format', '{{.Names}}').stdout.split()
        tags = self('images', '--format', '{{.Repository}}:{{.Tag}}').stdout.split()
        for name in names + tags:
            m = re.match(re.escape(prefix) + r'[-:](\d+)\b', name.split('/')[-1])
            if m and not os.path.exists('/proc/' + m.group(1)):
                if name in names:
                    self('rm', '--force', '--time', '0', name, check=False)
                else:
                    self.remove_image(name)

    # ---- running ----

    def start(self, name, image, args=(), env=None, flags=()):
        """A detached container; remove it with Container.remove()."""
        self('run', '--detach', '--name', name, *flags, *env_flags(env), image, *args)
        return Container(self, name)

    def run(self, image, args=(), env=None, flags=(), timeout=120):
        """A container run to its end: (exit code, stdout, stderr)."""
        p = self('run', '--rm', *flags, *env_flags(env), image, *args, timeout=timeout,
                 check=False)
        return p.returncode, p.stdout, p.stderr


class Container:
    def __init__(self, podman, name):
        self.podman = podman
        self.name = name

    def inspect(self):
        return json.loads(self.podman('inspect', '--type', 'container', self.name).stdout)[0]

    def logs(self):
        p = self.podman('logs', self.name, check=False)
        return p.stdout + p.stderr

    def host_pid(self):
        return self.inspect()['State']['Pid']

    def kill(self, sig):
        self.podman('kill', '--signal', sig, self.name)

    def wait(self, timeout):
        """The exit code, or None when the container still runs after timeout seconds."""
        try:
            p = self.podman('wait', self.name, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return int(p.stdout.strip().splitlines()[-1])

    def remove(self):
        self.podman('rm', '--force', '--time', '0', self.name, check=False)


def env_flags(env):
    return [a for k, v in (env or {}).items() for a in ('--env', '%s=%s' % (k, v))]


def from_images(dockerfile):
    """The images a Dockerfile's FROM lines name, less its own stages."""
    stages, images = set(), []
    with open(dockerfile, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?', line, re.I)
            if m:
                if m.group(1) not in stages and m.group(1) not in images:
                    images.append(m.group(1))
                if m.group(2):
                    stages.add(m.group(2))
    return images
