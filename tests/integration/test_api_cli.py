# SPDX-License-Identifier: MIT
"""pghook-api's command line: --help and --version print and exit 0 without starting (no
database, no listener), after the configuration is checked like every command's (the deploy
tests use --help to check one); usage errors exit 2 with the usage on stderr; the admin
subcommands each print one line of compact JSON."""
import json
import os
import re
import subprocess

import harness
from jsontext import blanks_outside_strings

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
# A database nothing listens for: --help and --version must not try it.
NOWHERE = {'DATABASE_URL': 'host=/nonexistent dbname=none', 'PGHOOK_LISTEN': '127.0.0.1:1'}


def project_version():
    with open(os.path.join(ROOT, 'meson.build')) as f:
        return re.search(r"version: '([^']+)'", f.read()).group(1)


def run(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('PGHOOK_') and k != 'DATABASE_URL'}
    env.update(env_extra or {})
    return subprocess.run([harness.API_BIN] + list(args), env=env, capture_output=True,
                          text=True, timeout=30)


def test_help_prints_the_usage_and_exits_0_without_starting():
    for flag in ('--help', '-h'):
        for env in (None, NOWHERE):
            out = run(flag, env_extra=env)
            assert out.returncode == 0, (flag, env, out.stderr)
            assert out.stdout.startswith('usage: pghook-api [serve]\n'), out.stdout
            for sub in ('migrate', 'tenant create NAME', 'key create TENANT_ID', 'stats',
                        'prune --older-than DURATION', '--help | --version'):
                assert 'pghook-api ' + sub in out.stdout, (sub, out.stdout)
            assert out.stderr == '', out.stderr


def test_version_prints_the_version_and_exits_0_without_starting():
    for env in (None, NOWHERE):
        out = run('--version', env_extra=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == 'pghook-api %s\n' % project_version()
        assert out.stderr == ''


def test_help_and_version_refuse_a_bad_configuration():
    for flag in ('--help', '--version'):
        out = run(flag, env_extra={'PGHOOK_LOG_LEVEL': 'loud'})
        assert out.returncode == 2, (flag, out.stdout)
        assert out.stdout == ''
        assert 'PGHOOK_LOG_LEVEL' in out.stderr, out.stderr


def test_usage_errors_exit_2_with_the_usage_on_stderr(dsn):
    for args in (['bogus'], ['--bogus'], ['tenant'], ['key', 'create'],
                 ['prune', '--older-than', 'soon'], ['prune']):
        out = run(*args, env_extra={'DATABASE_URL': dsn})
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert out.stdout == '', (args, out.stdout)
        assert 'usage: pghook-api' in out.stderr, (args, out.stderr)


def test_subcommands_print_one_line_of_compact_json(dsn):
    env = {'DATABASE_URL': dsn}
    outputs = {}
    for name, args in (('migrate', ['migrate']), ('tenant', ['tenant', 'create', 'Acme : Inc']),
                       ('stats', ['stats']), ('prune', ['prune', '--older-than', '30d'])):
        out = run(*args, env_extra=env)
        assert out.returncode == 0, (args, out.stderr)
        outputs[name] = out.stdout
    tenant = json.loads(outputs['tenant'])
    out = run('key', 'create', tenant['tenantId'], env_extra=env)
    assert out.returncode == 0, out.stderr
    outputs['key'] = out.stdout
    for name, text in outputs.items():
        assert text.endswith('\n') and text.count('\n') == 1, (name, text)
        assert blanks_outside_strings(text.rstrip('\n')) == [], (name, text)
        json.loads(text)
    assert json.loads(outputs['prune']) == {'prunedEvents': 0}
    assert set(json.loads(outputs['stats'])) >= {'events', 'webhooks', 'tenants', 'queue'}
