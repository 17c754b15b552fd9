# SPDX-License-Identifier: MIT
"""The image suite: deploy/Dockerfile built with podman, then run as the Kubernetes manifests
run it.

The containers run as the image's user, with a read-only root filesystem (and no tmpfs in its
place), no capabilities and no privilege escalation, the base kustomization's configuration
and the manifests' arguments. Against a throwaway PostgreSQL on the host network they migrate,
create a tenant, then serve: an event posted to the api reaches a receiver on loopback,
signed as Standard Webhooks defines, and SIGTERM stops the api and the worker with exit 0
within the manifests' grace periods. Any broken step fails the suite.

Needs root (podman runs rootful here) and the packages deploy/local/common.sh installs
(IMAGE_PACKAGES); the base images are made on first use (engine.py).
"""
import base64
import json
import os
import re
import sys

import pytest
import requests
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import harness  # noqa: E402
import receivers  # noqa: E402
from engine import Podman, from_images  # noqa: E402

K8S = os.path.join(ROOT, 'deploy', 'k8s', 'base')
DOCKERFILE = os.path.join(ROOT, 'deploy', 'Dockerfile')
# The manifests' securityContext, in podman's words (--read-only alone would put a tmpfs on
# /tmp, /var/tmp and /run, which a pod does not get), and the host's network, where the
# suite's PostgreSQL and receiver listen on loopback.
AS_DEPLOYED = ['--read-only', '--read-only-tmpfs=false', '--cap-drop=ALL',
               '--security-opt=no-new-privileges', '--network=host']
# What the image may add to its base: the runtime libraries, the binaries, the entry point.
# A compiler or a build tree left in the final stage would add hundreds of MB.
ADDED_MB_MAX = 50
# The suite's images are PREFIX:PID, its containers PREFIX-PID-ROLE.
PREFIX = 'pghook-suite'


def manifests(name):
    with open(os.path.join(K8S, name), encoding='utf-8') as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_spec(name, kind):
    doc = next(d for d in manifests(name) if d['kind'] == kind)
    return doc['spec']['template']['spec']


# The Deployments' pod specs: arguments, plain environment values, grace periods.
API_POD = pod_spec('api.yaml', 'Deployment')
WORKER_POD = pod_spec('worker.yaml', 'Deployment')


def config_map():
    """The base kustomization's configMapGenerator literals: the deployed configuration."""
    with open(os.path.join(K8S, 'kustomization.yaml'), encoding='utf-8') as f:
        gen = yaml.safe_load(f)['configMapGenerator'][0]
    return dict(literal.split('=', 1) for literal in gen['literals'])


def container_env(spec):
    """The plain values a manifest's container sets itself (PGAPPNAME, ...)."""
    return {e['name']: e['value'] for e in spec['containers'][0].get('env', []) if 'value' in e}


@pytest.fixture(scope='module')
def podman():
    if os.geteuid() != 0:
        pytest.skip('the image suite runs podman rootful: run it as root')
    workdir = os.environ.get('PGHOOK_IMAGE_WORKDIR') or os.path.join(ROOT, 'build', 'image')
    engine = Podman(workdir)
    engine.remove_leftovers(PREFIX)
    return engine


@pytest.fixture(scope='module')
def image(podman):
    tag = 'localhost/%s:%d' % (PREFIX, os.getpid())
    try:
        podman.build(DOCKERFILE, ROOT, tag)
        yield tag
    finally:
        podman.remove_image(tag)


@pytest.fixture(scope='module')
def pg():
    cluster = harness.Postgres()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def containers(podman):
    started = []

    def start(role, image, args, env):
        c = podman.start('%s-%d-%s' % (PREFIX, os.getpid(), role), image, args, env,
                         AS_DEPLOYED)
        started.append(c)
        return c
    yield start
    for c in started:
        c.remove()


def test_image_is_small_and_holds_no_build_tools(podman, image):
    size, base = podman.size(image), podman.size(from_images(DOCKERFILE)[-1])
    print('\nimage: %.1f MB, of which %.1f MB is its base' % (size / 1e6, base / 1e6))
    assert size - base < ADDED_MB_MAX * 1e6, 'the image adds %.1f MB to its base' % (
        (size - base) / 1e6)
    code, out, err = podman.run(image, ['-c', 'for p in cc gcc meson ninja pkg-config; do '
                                        'command -v $p && exit 1; done; exit 0'],
                                flags=['--entrypoint=/bin/sh'])
    assert code == 0, 'build tools in the runtime image: %s %s' % (out, err)
    config = json.loads(podman('image', 'inspect', image).stdout)[0]['Config']
    assert config['User'] == '10001:10001'


def test_the_image_runs_as_deployed(podman, image, pg, containers):
    owner = pg.create_database('pghook')
    tenant = migrate_and_add_tenant(podman, image, owner)
    pg.grant_services()
    api, api_url, worker = start_services(containers, image, owner)
    deliver_one_event(api_url, tenant)
    stop_like_kubernetes(api, worker)


def migrate_and_add_tenant(podman, image, owner):
    """The migration Job, then the admin CLI through the same entry point."""
    job = pod_spec('migrate-job.yaml', 'Job')
    code, out, err = podman.run(image, job['containers'][0]['args'],
                                dict(container_env(job), DATABASE_URL=owner), AS_DEPLOYED)
    assert code == 0 and json.loads(out)['migrated'] is True, err
    code, out, err = podman.run(image, ['tenant', 'create', 'image-suite'],
                                {'DATABASE_URL': owner}, AS_DEPLOYED)
    assert code == 0, err
    return harness.Tenant(json.loads(out))


def start_services(containers, image, owner):
    """The api and a worker with the deployed configuration and arguments, each as its own
    login role, on loopback ports of the host network; both ready, as their own user."""
    metrics_port = harness.free_port()
    common = dict(config_map(), PGHOOK_ALLOW_CIDRS='127.0.0.0/8',
                  PGHOOK_SECRET_KEY=base64.b64encode(os.urandom(32)).decode())
    api = containers('api', image, API_POD['containers'][0]['args'], dict(
        common, **container_env(API_POD), PGHOOK_LISTEN='127.0.0.1:0',
        DATABASE_URL=harness.service_dsn(owner, 'api')))
    worker = containers('worker', image, WORKER_POD['containers'][0]['args'], dict(
        common, **container_env(WORKER_POD),
        PGHOOK_METRICS_LISTEN='127.0.0.1:%d' % metrics_port,
        DATABASE_URL=harness.service_dsn(owner, 'worker')))
    api_url = 'http://127.0.0.1:%s' % harness.wait_for(
        lambda: re.search(r'listening on \S+ \(port (\d+)\)', api.logs()).group(1),
        timeout=30, what='the api container listening')
    for url in (api_url, 'http://127.0.0.1:%d' % metrics_port):
        harness.wait_for(lambda: requests.get(url + '/readyz', timeout=2).status_code == 200,
                         timeout=30, what=url + '/readyz')
    for c in (api, worker):
        assert_runs_as_image_user(c)
    return api, api_url, worker


def deliver_one_event(api_url, tenant):
    """A webhook and an event through the api; the receiver gets the payload, signed."""
    receiver = receivers.HttpReceiver()
    try:
        r = requests.post(api_url + '/v1/webhooks', headers=tenant.headers, timeout=10, json={
            'url': receiver.url, 'subscriptions': ['invoice.paid']})
        assert r.status_code == 201, r.text
        secret = r.json()['secret']
        data = {'invoice': 'in_1', 'amount': 4200}
        r = requests.post(api_url + '/v1/events', headers=tenant.headers, timeout=10,
                          json={'type': 'invoice.paid', 'data': data})
        assert r.status_code == 201, r.text
        event = r.json()['id']
        rec = harness.wait_for(lambda: receiver.received(), timeout=30,
                               what='the delivery at the receiver')[0]
        assert rec.headers['webhook-id'] == event
        assert receivers.verify_signature(secret, rec), rec.headers
        assert json.loads(rec.body) == data
        harness.wait_for(lambda: requests.get(
            api_url + '/v1/events/' + event, headers=tenant.headers,
            timeout=5).json()['status'] == 'delivered', timeout=30, what='event delivered')
    finally:
        receiver.close()


def stop_like_kubernetes(api, worker):
    """SIGTERM to both; each must exit 0, without an error logged, before its
    terminationGracePeriodSeconds (after which Kubernetes would SIGKILL it)."""
    for c in (api, worker):
        c.kill('TERM')
    for c, spec in ((api, API_POD), (worker, WORKER_POD)):
        grace = spec['terminationGracePeriodSeconds']
        code = c.wait(timeout=grace)
        assert code is not None, '%s still running %ds after SIGTERM\n%s' % (
            c.name, grace, c.logs()[-3000:])
        assert code == 0, '%s exited with %d\n%s' % (c.name, code, c.logs()[-3000:])
    assert 'api stopped' in api.logs()
    assert 'worker stopped' in worker.logs()
    for c in (api, worker):
        errors = [line for line in c.logs().splitlines() if '"level":"error"' in line]
        assert not errors, '%s logged errors:\n%s' % (c.name, '\n'.join(errors))


def assert_runs_as_image_user(container):
    """The container's process, seen from the host, has the image's uid and gid, and no
    capabilities."""
    with open('/proc/%d/status' % container.host_pid(), encoding='utf-8') as f:
        status = dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)
    assert status['Uid'].split() == ['10001'] * 4, status['Uid']
    assert status['Gid'].split() == ['10001'] * 4, status['Gid']
    assert int(status['CapEff'], 16) == 0, status['CapEff']
