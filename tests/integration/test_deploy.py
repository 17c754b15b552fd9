# SPDX-License-Identifier: MIT
"""deploy/: the image's build script, the Dockerfile, and the Kubernetes manifests.

No container engine and no cluster run here, so what can be run is run and the rest is checked
statically: deploy/build.sh builds and installs both binaries exactly as the Dockerfile's build
stage calls it, the installed binaries start through the image's entry point, the Dockerfile
only copies what exists and installs the libraries the binaries load, every overlay renders
with `kubectl kustomize` and every object passes the Kubernetes API schemas (the npm package
kubernetes-models, pinned in deploy/k8s/check/), and the manifests agree with the binaries:
every variable they set is one the binaries read, DATABASE_URL reaches every container, the
configuration parses, ports, probes and shutdown timings line up, and the network policy lets
pods reach the internet and their database but not the cluster's private ranges.
"""
import fnmatch
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess

import pytest
import requests
import yaml
from psycopg import pq

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEPLOY = os.path.join(ROOT, 'deploy')
K8S = os.path.join(DEPLOY, 'k8s')
OVERLAYS = ['dev', 'production']
PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16',
                  '100.64.0.0/10']
# The variables the Secret provides, and its keys: one database URL per login role.
SECRET_VARS = {'DATABASE_URL', 'PGHOOK_ADMIN_KEY', 'PGHOOK_SECRET_KEY'}
SECRET_KEYS = SECRET_VARS | {'DATABASE_URL_API', 'DATABASE_URL_WORKER'}


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding='utf-8') as f:
        return f.read()


def duration_s(text):
    """A duration as the binaries write it (common/duration.c): 0, 500ms, 15s, 5m, 2h, 1d."""
    m = re.fullmatch(r'(\d+)(ms|s|m|h|d)?', text)
    assert m and (m.group(2) or m.group(1) == '0'), 'not a duration: %r' % text
    return int(m.group(1)) * {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400,
                              None: 0}[m.group(2)]


# ---- what the binaries read ----

def variables_the_binaries_read():
    """Every DATABASE_URL / PGHOOK_* name that appears as a whole string literal in the C
    sources (common/config.c's table and getenv calls), plus libpq's own variables (PGHOST,
    PGAPPNAME, ...), which the binaries read through libpq."""
    names = set()
    for sub in ('api', 'worker', 'common'):
        for f in os.listdir(os.path.join(ROOT, sub)):
            if f.endswith('.c'):
                names |= set(re.findall(r'"((?:DATABASE_URL|PGHOOK_[A-Z0-9_]+))"',
                                        read(sub, f)))
                names |= set(re.findall(r'getenv\("([A-Z0-9_]+)"\)', read(sub, f)))
    libpq = {o.envvar.decode() for o in pq.Conninfo.get_defaults() if o.envvar}
    return names, libpq


def readme_table():
    """The variable names of README.md's configuration table."""
    text = read('README.md')
    section = text.split('\n## Configuration\n', 1)[1].split('\n## ', 1)[0]
    return set(re.findall(r'^\| `([A-Z0-9_]+)`', section, re.M))


# ---- rendering ----

@pytest.fixture(scope='module')
def kubectl():
    path = shutil.which('kubectl')
    assert path, ('kubectl not found: deploy/local/common.sh installs it (Debian package '
                  'kubernetes-client) as part of the test packages')
    return path


@pytest.fixture(scope='module')
def rendered(kubectl):
    """overlay -> its objects, as `kubectl kustomize` renders them."""
    out = {}
    for overlay in OVERLAYS:
        p = subprocess.run([kubectl, 'kustomize', os.path.join(K8S, 'overlays', overlay)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, 'kubectl kustomize %s failed:\n%s' % (overlay, p.stderr)
        out[overlay] = [d for d in yaml.safe_load_all(p.stdout) if d]
    return out


@pytest.fixture(scope='module')
def secret_example():
    with open(os.path.join(K8S, 'base', 'secret.example.yaml'), encoding='utf-8') as f:
        return yaml.safe_load(f)


def find(objects, kind, name=None):
    found = [o for o in objects if o['kind'] == kind and
             (name is None or o['metadata']['name'] == name)]
    assert found, 'no %s %s' % (kind, name or '')
    return found[0] if name else found


def pod_template(o):
    """The pod template of an object that runs pods, or None."""
    if o['kind'] in ('Deployment', 'StatefulSet', 'Job', 'DaemonSet'):
        return o['spec']['template']
    if o['kind'] == 'CronJob':
        return o['spec']['jobTemplate']['spec']['template']
    return None


def pod_specs(objects):
    """(owner name, pod spec) of every object that runs pods."""
    for o in objects:
        if pod_template(o):
            yield o['metadata']['name'], pod_template(o)['spec']


def pghook_containers(objects):
    """(owner, container) for every container running the pghook image."""
    for owner, spec in pod_specs(objects):
        for c in spec.get('containers', []) + spec.get('initContainers', []):
            if re.search(r'(^|/)pghook(:|@|$)', c['image']):
                yield owner, c


def container_env(objects, container, secret_example):
    """name -> where its value comes from, for one container: env entries, and the keys of
    ConfigMaps and Secrets it takes whole (envFrom). A Secret an overlay does not ship (the
    production one is made out of band) is taken to hold the example's keys."""
    env = {}
    for e in container.get('env', []):
        env[e['name']] = e
    for src in container.get('envFrom', []):
        if 'configMapRef' in src:
            cm = find(objects, 'ConfigMap', src['configMapRef']['name'])
            env.update({k: {'configMap': cm['metadata']['name']} for k in cm.get('data', {})})
        if 'secretRef' in src:
            name = src['secretRef']['name']
            secrets = [o for o in objects if o['kind'] == 'Secret'
                       and o['metadata']['name'] == name]
            keys = secret_keys(secrets[0] if secrets else secret_example)
            env.update({k: {'secret': name} for k in keys})
    return env


def secret_keys(secret):
    return set(secret.get('data', {})) | set(secret.get('stringData', {}))


def config_map(objects):
    return find(objects, 'ConfigMap')[0]['data']


# ---- the image ----

def dockerfile():
    """The Dockerfile as (instruction, arguments) pairs, continuation lines joined."""
    lines, cur = [], ''
    for line in read('deploy', 'Dockerfile').splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith('#')):
            continue
        cur += line.rstrip('\\').strip() + ' ' if line.endswith('\\') else line.strip()
        if not line.endswith('\\'):
            word, _, rest = cur.partition(' ')
            lines.append((word.upper(), rest.strip()))
            cur = ''
    return lines


def build_command():
    """The arguments the Dockerfile's build stage passes to deploy/build.sh."""
    for word, rest in dockerfile():
        if word == 'RUN' and 'deploy/build.sh' in rest:
            args = shlex.split(rest)
            return args[args.index(next(a for a in args if a.endswith('deploy/build.sh'))) + 1:]
    raise AssertionError('the Dockerfile does not run deploy/build.sh')


def option(args, name):
    return args[args.index(name) + 1]


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """deploy/build.sh run with the Dockerfile's own arguments, into a fresh build dir and a
    temporary DESTDIR. Returns the installed bin/ folder."""
    tmp = tmp_path_factory.mktemp('deploy-build')
    args = build_command()
    args[args.index('--builddir') + 1] = str(tmp / 'build')
    args[args.index('--destdir') + 1] = str(tmp / 'dest')
    p = subprocess.run([os.path.join(DEPLOY, 'build.sh')] + args, capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, 'deploy/build.sh %s failed:\n%s\n%s' % (
        ' '.join(args), p.stdout[-3000:], p.stderr[-3000:])
    return str(tmp / 'dest') + option(args, '--prefix') + '/bin'


def entrypoint(bindir, *args, env=None, **kw):
    e = dict(os.environ, PATH=bindir + ':/usr/bin:/bin', **(env or {}))
    return subprocess.run([os.path.join(DEPLOY, 'entrypoint.sh')] + list(args), env=e,
                          capture_output=True, text=True, timeout=30, **kw)


def test_build_script_installs_binaries_that_run(installed, logdir):
    for b in ('pghook-api', 'pghook-worker'):
        assert os.access(os.path.join(installed, b), os.X_OK), b
    # The image's entry point picks the program from its first argument.
    p = entrypoint(installed, '--help')
    assert p.returncode == 0 and 'usage: pghook-api' in p.stdout, p.stderr
    p = entrypoint(installed, 'pghook-api', '--help')
    assert p.returncode == 0 and 'pghook-api migrate' in p.stdout, p.stderr
    p = entrypoint(installed, 'no-such-role')
    assert p.returncode == 64 and 'unknown command' in p.stderr
    # `worker` starts the installed worker: it serves /healthz without a database, is not
    # ready without one, and exits 0 on SIGTERM.
    port = harness.free_port()
    env = dict(os.environ, PATH=installed + ':/usr/bin:/bin',
               DATABASE_URL='host=127.0.0.1 port=%d connect_timeout=2' % harness.free_port(),
               PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % port)
    w = harness.Proc('worker', [os.path.join(DEPLOY, 'entrypoint.sh'), 'worker'], env, logdir)
    try:
        url = 'http://127.0.0.1:%d' % port
        harness.wait_for(lambda: requests.get(url + '/healthz', timeout=1).status_code == 200,
                         timeout=20, what='installed worker /healthz')
        assert requests.get(url + '/readyz', timeout=2).status_code == 503
        assert 'pghook_inflight 0' in requests.get(url + '/metrics', timeout=2).text
    finally:
        assert w.stop(signal.SIGTERM, timeout=15) == 0


def test_each_role_is_its_manifest_args_away(installed, rendered, pg, logdir):
    """The installed binaries, started through the image's entry point with exactly the args
    of the dev overlay's containers, against a new database: the migration Job, the prune
    CronJob, then the api and the worker, each ready, each stopping with exit 0."""
    args = {owner: c.get('args', []) for owner, c in pghook_containers(rendered['dev'])}
    dsn = pg.create_database('deploy_roles_%d' % os.getpid())
    env = {'DATABASE_URL': dsn}
    p = entrypoint(installed, *args['pghook-migrate'], env=env)
    assert p.returncode == 0 and json.loads(p.stdout)['migrated'] is True, p.stderr
    p = entrypoint(installed, *args['pghook-prune'], env=env)
    assert p.returncode == 0 and json.loads(p.stdout) == {'prunedEvents': 0}, p.stderr

    base = dict(os.environ, PATH=installed + ':/usr/bin:/bin', DATABASE_URL=dsn)
    api = harness.Proc('api', [os.path.join(DEPLOY, 'entrypoint.sh')] + args['pghook-api'],
                       dict(base, PGHOOK_LISTEN='127.0.0.1:0', PGHOOK_API_THREADS='2'), logdir)
    port = harness.free_port()
    worker = harness.Proc('worker', [os.path.join(DEPLOY, 'entrypoint.sh')] +
                          args['pghook-worker'],
                          dict(base, PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % port), logdir)
    try:
        api_port = harness.wait_for(
            lambda: re.search(r'listening on \S+ \(port (\d+)\)', api.log()), timeout=20,
            what='installed api listening').group(1)
        for url in ('http://127.0.0.1:%s/readyz' % api_port,
                    'http://127.0.0.1:%d/readyz' % port):
            harness.wait_for(lambda: requests.get(url, timeout=1).status_code == 200,
                             timeout=20, what=url)
    finally:
        assert api.stop(signal.SIGTERM, timeout=15) == 0
        assert worker.stop(signal.SIGTERM, timeout=15) == 0


def test_image_runtime_packages_cover_the_libraries_the_binaries_load(installed):
    """Each shared library the binaries name (ELF NEEDED) belongs to a package the runtime
    stage installs, or to libc6, which every Debian image has."""
    runtime = [rest for word, rest in dockerfile() if word == 'RUN' and 'apt-get install' in rest]
    assert len(runtime) == 1, runtime
    words = shlex.split(runtime[0].split('apt-get install', 1)[1].split('&&', 1)[0])
    packages = {w for w in words if not w.startswith('-')}
    for b in ('pghook-api', 'pghook-worker'):
        path = os.path.join(installed, b)
        needed = re.findall(r'NEEDED\s+(\S+)', subprocess.run(
            ['objdump', '-p', path], capture_output=True, text=True, check=True).stdout)
        ldd = dict(re.findall(r'^\s*(\S+) => (\S+)', subprocess.run(
            ['ldd', path], capture_output=True, text=True, check=True).stdout, re.M))
        for lib in needed:
            owner = None
            for candidate in (ldd[lib], os.path.realpath(ldd[lib])):
                for variant in (candidate, candidate.replace('/usr/lib/', '/lib/', 1),
                                candidate.replace('/lib/', '/usr/lib/', 1)):
                    p = subprocess.run(['dpkg', '-S', variant], capture_output=True, text=True)
                    if p.returncode == 0:
                        owner = p.stdout.split(':')[0]
                        break
                if owner:
                    break
            assert owner, 'no Debian package owns %s (%s)' % (lib, ldd[lib])
            assert owner == 'libc6' or owner in packages, (
                '%s needs %s from %s, which the Dockerfile runtime stage does not install '
                '(it installs %s)' % (b, lib, owner, sorted(packages)))
    assert 'ca-certificates' in packages  # libcurl verifies receivers' certificates


def test_dockerfile_copies_what_exists_and_runs_unprivileged():
    steps = dockerfile()
    stages = [rest.split() for word, rest in steps if word == 'FROM']
    assert stages[0][0] == 'debian:12' and stages[0][-1] == 'build', stages
    assert stages[-1][0] == 'debian:12-slim', stages
    ignore = [l.strip() for l in read('.dockerignore').splitlines()
              if l.strip() and not l.startswith('#')]
    names, copied = [s[-1] for s in stages if len(s) == 3], {}
    args = build_command()
    installed_prefix = option(args, '--destdir') + option(args, '--prefix') + '/bin/'
    for word, rest in steps:
        if word != 'COPY':
            continue
        parts = shlex.split(rest)
        flags = [p for p in parts if p.startswith('--')]
        sources, dest = [p for p in parts if not p.startswith('--')][:-1], parts[-1]
        stage = [f.split('=', 1)[1] for f in flags if f.startswith('--from=')]
        for src in sources:
            if stage:
                assert stage[0] in names, 'COPY --from=%s: no such stage' % stage[0]
                assert src.startswith(installed_prefix), (
                    '%s is not where deploy/build.sh installs (%s)' % (src, installed_prefix))
                assert os.path.basename(src) in ('pghook-api', 'pghook-worker'), src
            else:
                assert src == '.' or os.path.exists(os.path.join(ROOT, src)), (
                    'COPY %s: no such file in the checkout' % src)
                for pat in ignore:
                    assert not fnmatch.fnmatch(src, pat), '%s is excluded by .dockerignore' % src
            copied[os.path.join(dest, os.path.basename(src)) if dest.endswith('/') else dest] = src
    # What the build needs is in the build context.
    for needed in ('deploy/build.sh', 'deploy/local/common.sh', 'meson.build', 'sql', 'api'):
        assert not any(fnmatch.fnmatch(needed, pat) for pat in ignore), needed
    # Both binaries, and the entry point, end up in the runtime stage.
    assert {'/usr/local/bin/pghook-api', '/usr/local/bin/pghook-worker'} <= set(copied), copied
    entry = [json.loads(rest) for word, rest in steps if word == 'ENTRYPOINT']
    assert entry and len(entry[-1]) == 1 and copied.get(entry[-1][0]) == 'deploy/entrypoint.sh'
    assert [json.loads(rest) for word, rest in steps if word == 'CMD'][-1] == ['serve']
    user = [rest for word, rest in steps if word == 'USER'][-1]
    uid = user.split(':')[0]
    assert uid.isdigit() and int(uid) != 0, 'USER must be a numeric non-root uid: %s' % user
    assert '--uid %s' % uid in read('deploy', 'Dockerfile')
    exposed = {int(p) for word, rest in steps if word == 'EXPOSE' for p in rest.split()}
    assert exposed == {8080, 9090}


# ---- the manifests ----

@pytest.mark.parametrize('overlay', OVERLAYS)
def test_overlay_renders_the_whole_system(rendered, overlay):
    objs = rendered[overlay]
    for kind, name in [('Deployment', 'pghook-api'), ('Deployment', 'pghook-worker'),
                       ('Service', 'pghook-api'), ('Job', 'pghook-migrate'),
                       ('HorizontalPodAutoscaler', 'pghook-worker'),
                       ('PodDisruptionBudget', 'pghook-api'),
                       ('PodDisruptionBudget', 'pghook-worker'),
                       ('NetworkPolicy', 'pghook-egress'), ('ServiceAccount', 'pghook'),
                       ('CronJob', 'pghook-prune')]:
        find(objs, kind, name)
    namespaces = {o['metadata'].get('namespace') for o in objs if o['kind'] != 'Namespace'}
    assert namespaces == {find(objs, 'Namespace')[0]['metadata']['name']}
    if overlay == 'dev':
        find(objs, 'StatefulSet', 'pghook-postgres')
        find(objs, 'Service', 'pghook-postgres')
        find(objs, 'Secret', 'pghook')
    else:
        # Production ships no secret values and no database of its own.
        assert not [o for o in objs if o['kind'] in ('Secret', 'StatefulSet')]
        api = find(objs, 'Deployment', 'pghook-api')
        assert api['spec']['replicas'] >= 3
        assert find(objs, 'HorizontalPodAutoscaler', 'pghook-worker')['spec']['minReplicas'] >= 4
        for _, c in pghook_containers(objs):
            assert not c['image'].startswith('pghook'), 'production image not set: ' + c['image']


@pytest.fixture(scope='module')
def validator():
    """The checkers' node_modules (kubernetes-models, dockerfile-utils), installed by
    deploy/k8s/check/install (npm ci of the pinned lock file into .cache/npm). Skips only
    when that install cannot be done."""
    p = subprocess.run([os.path.join(K8S, 'check', 'install')], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        why = [l for l in p.stderr.splitlines()
               if re.search(r'npm (error|ERR!) (code|errno|network|request)|not installed', l)]
        pytest.skip('cannot install the Kubernetes schema validator (npm package '
                    'kubernetes-models, deploy/k8s/check/install): %s'
                    % ('; '.join(why)[:600] or p.stderr.strip()[-600:] or
                       'exit %d' % p.returncode))
    return p.stdout.strip().splitlines()[-1]


def validate(validator, objects):
    p = subprocess.run(['node', os.path.join(K8S, 'check', 'validate.mjs'), validator],
                       input=json.dumps(objects), capture_output=True, text=True, timeout=120)
    assert p.stdout, 'validator crashed:\n' + p.stderr
    results = json.loads(p.stdout)
    assert len(results) == len(objects)
    return p.returncode, results


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_every_object_passes_the_kubernetes_schemas(rendered, validator, overlay):
    rc, results = validate(validator, rendered[overlay])
    bad = ['%s %s: %s' % (r['kind'], r['name'], '; '.join(r['errors']))
           for r in results if r['errors']]
    assert rc == 0 and not bad, '\n'.join(bad)


def test_dockerfile_passes_a_dockerfile_linter(validator, tmp_path):
    """dockerfile-utils (the linter behind VS Code's Dockerfile support, pinned with the
    validator) finds nothing wrong, and does find a broken copy's mistakes."""
    lint = os.path.join(validator, 'dockerfile-utils', 'bin', 'dockerfile-utils')
    p = subprocess.run(['node', lint, 'lint', os.path.join(DEPLOY, 'Dockerfile')],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout + p.stderr
    broken = tmp_path / 'Dockerfile'
    broken.write_text(read('deploy', 'Dockerfile').replace('EXPOSE 8080 9090',
                                                           'EXPOSE 8080/tcpx'))
    p = subprocess.run(['node', lint, 'lint', str(broken)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and 'Invalid proto' in p.stdout, p.stdout + p.stderr


def test_secret_example_passes_the_schemas_and_the_validator_catches_mistakes(
        rendered, validator, secret_example):
    rc, results = validate(validator, [secret_example])
    assert rc == 0, results
    # The validator is not a rubber stamp: a misspelt field, a wrong type and an unknown
    # kind are each reported.
    broken = json.loads(json.dumps(find(rendered['dev'], 'Deployment', 'pghook-worker')))
    c = broken['spec']['template']['spec']['containers'][0]
    c['readinesProbe'] = c.pop('readinessProbe')
    c['ports'][0]['containerPort'] = '9090'
    rc, results = validate(validator, [broken, {'apiVersion': 'v1', 'kind': 'Nonsense',
                                                'metadata': {'name': 'x'}}])
    assert rc != 0
    text = json.dumps(results)
    assert 'readinesProbe: unknown field' in text
    assert 'containerPort' in text and 'must be integer' in text
    assert 'no schema for apiVersion v1 kind Nonsense' in text


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_every_variable_set_is_read_by_the_binaries(rendered, secret_example, overlay):
    read_by_pghook, libpq = variables_the_binaries_read()
    objs = rendered[overlay]
    containers = list(pghook_containers(objs))
    assert {o for o, _ in containers} == {'pghook-api', 'pghook-worker', 'pghook-migrate',
                                          'pghook-prune'}
    for owner, c in containers:
        env = container_env(objs, c, secret_example)
        unknown = set(env) - read_by_pghook - libpq
        assert not unknown, '%s sets variables no binary reads: %s' % (owner, sorted(unknown))
        # ...and the required one reaches every container, from a value or a Secret key
        # that is not optional (the Secret holds it: dev ships it, production's follows the
        # example's keys).
        db = env.get('DATABASE_URL')
        assert db, '%s: DATABASE_URL is not set' % owner
        ref = db.get('valueFrom', {}).get('secretKeyRef')
        if ref:
            assert not ref.get('optional'), '%s: DATABASE_URL must not be optional' % owner
            secrets = [o for o in objs if o['kind'] == 'Secret'
                       and o['metadata']['name'] == ref['name']]
            assert ref['key'] in secret_keys(secrets[0] if secrets else secret_example)
            # Row-level security: the api and the workers log in as roles of their own.
            want = {'pghook-api': 'DATABASE_URL_API', 'pghook-worker': 'DATABASE_URL_WORKER'}
            assert ref['key'] == want.get(owner, 'DATABASE_URL'), (owner, ref['key'])
        else:
            assert db.get('value') or 'secret' in db or 'configMap' in db, (owner, db)
        # Secrets come from Secrets, never from a ConfigMap or a literal.
        for k in SECRET_KEYS & set(env):
            assert 'configMap' not in env[k] and 'value' not in env[k], (owner, k)


def test_manifests_readme_and_binaries_name_the_same_configuration(rendered, secret_example):
    """README.md's table lists exactly what the binaries read; the ConfigMap plus the Secret
    hold every one of those variables, each in its one place."""
    read_by_pghook, _ = variables_the_binaries_read()
    table = readme_table()
    assert table == read_by_pghook, (
        'README.md configuration table and the binaries differ: only in README %s, only in '
        'the code %s' % (sorted(table - read_by_pghook), sorted(read_by_pghook - table)))
    assert secret_keys(secret_example) == SECRET_KEYS
    for overlay in OVERLAYS:
        cm = set(config_map(rendered[overlay]))
        assert not cm & SECRET_KEYS, 'secrets in the ConfigMap: %s' % (cm & SECRET_KEYS)
        assert cm | SECRET_VARS == table, (
            '%s: ConfigMap + Secret miss %s, have extra %s'
            % (overlay, sorted(table - cm - SECRET_VARS), sorted(cm | SECRET_VARS - table)))


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_the_binaries_accept_the_configuration(rendered, secret_example, overlay):
    """The ConfigMap's values and the example Secret's, given to the real configuration loader
    (pghook-api loads and checks every variable before it looks at its arguments)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PGHOOK_', 'DATABASE_'))}
    env.update(config_map(rendered[overlay]))
    env.update(secret_example['stringData'])
    p = subprocess.run([harness.API_BIN, '--help'], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, 'configuration refused: %s' % p.stderr


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_ports_probes_and_scrape_annotations_line_up(rendered, overlay):
    objs = rendered[overlay]
    cm = config_map(objs)
    api_port = int(cm['PGHOOK_LISTEN'].rsplit(':', 1)[1])
    metrics_port = int(cm['PGHOOK_METRICS_LISTEN'].rsplit(':', 1)[1])
    for name, port in (('pghook-api', api_port), ('pghook-worker', metrics_port)):
        d = find(objs, 'Deployment', name)
        tmpl = d['spec']['template']
        assert all(tmpl['metadata']['labels'].get(k) == v
                   for k, v in d['spec']['selector']['matchLabels'].items())
        c = tmpl['spec']['containers'][0]
        ports = {p['name']: p['containerPort'] for p in c['ports']}
        assert list(ports.values()) == [port], (name, ports)
        for probe, path in (('readinessProbe', '/readyz'), ('livenessProbe', '/healthz')):
            get = c[probe]['httpGet']
            assert get['path'] == path and ports.get(get['port'], get['port']) == port, (name,
                                                                                       probe)
        ann = tmpl['metadata']['annotations']
        assert ann['prometheus.io/scrape'] == 'true'
        assert int(ann['prometheus.io/port']) == port and ann['prometheus.io/path'] == '/metrics'
        assert c['resources']['requests'] and c['resources']['limits'], name
    assert find(objs, 'Deployment', 'pghook-api')['spec']['template']['spec']['containers'][0][
        'args'] == ['serve']
    assert find(objs, 'Deployment', 'pghook-worker')['spec']['template']['spec'][
        'containers'][0]['args'] == ['worker']
    job = find(objs, 'Job', 'pghook-migrate')['spec']['template']['spec']
    assert job['containers'][0]['args'] == ['migrate'] and job['restartPolicy'] != 'Always'
    prune = find(objs, 'CronJob', 'pghook-prune')
    args = pod_template(prune)['spec']['containers'][0]['args']
    assert args[:2] == ['prune', '--older-than'] and duration_s(args[2]) >= 86400, args
    assert prune['spec']['concurrencyPolicy'] == 'Forbid'
    svc = find(objs, 'Service', 'pghook-api')
    api_labels = find(objs, 'Deployment', 'pghook-api')['spec']['template']['metadata']['labels']
    assert all(api_labels.get(k) == v for k, v in svc['spec']['selector'].items())
    assert svc['spec']['ports'][0]['targetPort'] in ('http', api_port)
    for pdb in find(objs, 'PodDisruptionBudget'):
        owner = find(objs, 'Deployment', pdb['metadata']['name'])
        assert pdb['spec']['selector']['matchLabels'] == owner['spec']['selector']['matchLabels']
    hpa = find(objs, 'HorizontalPodAutoscaler', 'pghook-worker')['spec']
    assert hpa['scaleTargetRef'] == {'apiVersion': 'apps/v1', 'kind': 'Deployment',
                                     'name': 'pghook-worker'}
    assert hpa['minReplicas'] <= hpa['maxReplicas']
    # The HPA owns the worker count: a replicas field would be reset by every apply.
    assert 'replicas' not in find(objs, 'Deployment', 'pghook-worker')['spec']
    assert [m['resource']['name'] for m in hpa['metrics'] if m['type'] == 'Resource'] == ['cpu']


def prestop_seconds(container):
    """How long a preStop hook waits, when it is a sleep (0 without one)."""
    hook = container.get('lifecycle', {}).get('preStop')
    if not hook:
        return 0
    if 'sleep' in hook:
        return hook['sleep']['seconds']
    cmd = hook.get('exec', {}).get('command', [])
    assert cmd[:1] == ['sleep'] or cmd[-1:] and cmd[-1].startswith('sleep'), hook
    return float(cmd[-1].split()[-1])


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_termination_grace_covers_the_shutdown(rendered, overlay):
    objs = rendered[overlay]
    cm = config_map(objs)
    http_timeout = duration_s(cm['PGHOOK_HTTP_TIMEOUT'])

    api = find(objs, 'Deployment', 'pghook-api')['spec']['template']['spec']
    c = api['containers'][0]
    delay = duration_s(cm['PGHOOK_SHUTDOWN_DELAY'])
    ready = c['readinessProbe']
    # /readyz fails at SIGTERM: the probe sees it before the listeners close...
    assert delay > 0
    assert ready['periodSeconds'] * ready['failureThreshold'] + ready['timeoutSeconds'] <= delay
    # ...and the kubelet waits for the delay plus a request in flight (a manual send takes up
    # to PGHOOK_HTTP_TIMEOUT) before it kills.
    assert api['terminationGracePeriodSeconds'] >= prestop_seconds(c) + delay + http_timeout + 5

    worker = find(objs, 'Deployment', 'pghook-worker')['spec']['template']['spec']
    c = worker['containers'][0]
    drain = duration_s(cm['PGHOOK_SHUTDOWN_TIMEOUT'])
    # Deliveries in flight at SIGTERM may run their whole timeout, the drain deadline is below
    # the grace period with room to release and record, and a lease outlives a delivery.
    assert drain >= http_timeout
    assert worker['terminationGracePeriodSeconds'] >= prestop_seconds(c) + drain + 10
    assert duration_s(cm['PGHOOK_WORKER_LEASE']) > http_timeout


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_pods_run_unprivileged(rendered, overlay):
    uid = int([rest for word, rest in dockerfile() if word == 'USER'][-1].split(':')[0])
    for owner, spec in pod_specs(rendered[overlay]):
        sc = spec.get('securityContext', {})
        assert sc.get('runAsNonRoot') is True, owner
        assert sc.get('seccompProfile', {}).get('type') == 'RuntimeDefault', owner
        assert spec.get('automountServiceAccountToken') is False, owner
        # Service links would put names such as PGHOOK_API_PORT in pghook's environment.
        assert spec.get('enableServiceLinks') is False, owner
        for c in spec['containers']:
            csc = c.get('securityContext', {})
            assert csc.get('allowPrivilegeEscalation') is False, (owner, c['name'])
            assert csc.get('readOnlyRootFilesystem') is True, (owner, c['name'])
            assert csc.get('capabilities', {}).get('drop') == ['ALL'], (owner, c['name'])
        if owner in {o for o, _ in pghook_containers(rendered[overlay])}:
            assert sc.get('runAsUser') == uid, (owner, 'runAsUser must be the image user')


# ---- the network policy, evaluated ----

def selects(selector, labels):
    if any(labels.get(k) != v for k, v in selector.get('matchLabels', {}).items()):
        return False
    for e in selector.get('matchExpressions', []):
        has = e['key'] in labels
        if e['operator'] == 'In' and not (has and labels[e['key']] in e['values']):
            return False
        if e['operator'] == 'NotIn' and has and labels[e['key']] in e['values']:
            return False
        if e['operator'] == 'Exists' and not has:
            return False
        if e['operator'] == 'DoesNotExist' and has:
            return False
    return True


def egress_allowed(objs, pod_labels, ip=None, port=443, peer_labels=None, proto='TCP'):
    """Whether the NetworkPolicies let a pod with pod_labels open proto/port to an address
    (ip) or to a pod of the same namespace (peer_labels). Unselected pods are unrestricted."""
    policies = [p for p in objs if p['kind'] == 'NetworkPolicy'
                and 'Egress' in p['spec'].get('policyTypes', [])
                and selects(p['spec']['podSelector'], pod_labels)]
    if not policies:
        return True
    for pol in policies:
        for rule in pol['spec'].get('egress', []):
            ports = rule.get('ports')
            if ports and not any(p.get('port') == port and p.get('protocol', 'TCP') == proto
                                 for p in ports):
                continue
            peers = rule.get('to')
            if not peers:
                return True
            for peer in peers:
                if 'ipBlock' in peer and ip is not None:
                    addr = ipaddress.ip_address(ip)
                    net = ipaddress.ip_network(peer['ipBlock']['cidr'])
                    if addr.version == net.version and addr in net and not any(
                            addr in ipaddress.ip_network(x) for x in peer['ipBlock'].get(
                                'except', []) if ipaddress.ip_network(x).version == addr.version):
                        return True
                if 'podSelector' in peer and 'namespaceSelector' not in peer and peer_labels:
                    if selects(peer['podSelector'], peer_labels):
                        return True
    return False


@pytest.mark.parametrize('overlay', OVERLAYS)
def test_network_policy_allows_the_internet_and_the_database_only(rendered, overlay):
    objs = rendered[overlay]
    pods = {name: spec for name, spec in pod_specs(objs)}
    labels = {o['metadata']['name']: pod_template(o)['metadata']['labels']
              for o in objs if pod_template(o)}
    for owner in ('pghook-api', 'pghook-worker', 'pghook-migrate', 'pghook-prune'):
        assert owner in pods
        pod = labels[owner]
        # Receivers anywhere on the internet, on any port; DNS.
        for ip, port in (('93.184.216.34', 443), ('1.1.1.1', 8443), ('8.8.8.8', 80),
                         ('2606:4700:4700::1111', 443)):
            assert egress_allowed(objs, pod, ip, port), (owner, ip, port)
        assert egress_allowed(objs, pod, '10.96.0.10', 53, proto='UDP')
        # Never the cluster's own ranges, the metadata service, or other pods.
        for cidr in PRIVATE_RANGES:
            net = ipaddress.ip_network(cidr)
            for ip in (net[1], net[net.num_addresses // 2], net[-2]):
                assert not egress_allowed(objs, pod, str(ip), 443), (owner, str(ip))
                assert not egress_allowed(objs, pod, str(ip), 80), (owner, str(ip))
        assert not egress_allowed(objs, pod, '169.254.169.254', 80)
        assert not egress_allowed(objs, pod, 'fd00::1', 443)
        assert not egress_allowed(objs, pod, peer_labels={'app': 'anything'}, port=8080)
        # The database.
        if overlay == 'dev':
            db = labels['pghook-postgres']
            assert egress_allowed(objs, pod, peer_labels=db, port=5432), owner
            assert not egress_allowed(objs, pod, peer_labels=db, port=22), owner
        else:
            rules = [r for p in objs if p['kind'] == 'NetworkPolicy'
                     for r in p['spec']['egress'] if r.get('ports', [{}])[0].get('port') == 5432]
            assert rules, 'no egress rule for the database'
            ip = ipaddress.ip_network(rules[0]['to'][0]['ipBlock']['cidr'])[0]
            assert egress_allowed(objs, pod, str(ip), 5432), owner
            assert not egress_allowed(objs, pod, '10.1.2.3', 5432), owner


def test_docs_name_paths_that_exist():
    for doc in ('README.md', os.path.join('docs', 'operations.md')):
        # deploy/<file or folder> (not kubectl's deploy/NAME, short for deployment/NAME)
        for path in set(re.findall(r'\b(deploy/(?:k8s|local|Dockerfile|[\w-]+\.\w+)'
                                   r'(?:/[\w.-]*\w)*)', read(doc))):
            assert os.path.exists(os.path.join(ROOT, path)), '%s names %s' % (doc, path)
    assert 'docs/operations.md' in read('README.md')
    assert 'kubectl apply -k deploy/k8s/overlays/dev' in read('README.md')
