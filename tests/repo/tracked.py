# SPDX-License-Identifier: MIT
"""The files the repository tracks: what a clone has, not what a work tree accumulates."""
import subprocess


def tracked(root):
    """Paths relative to root, of the files git tracks there (staged ones included)."""
    p = subprocess.run(['git', '-C', root, 'ls-files', '-z'], capture_output=True)
    assert p.returncode == 0, 'git ls-files failed: %s' % p.stderr.decode(errors='replace')
    return [f for f in p.stdout.decode().split('\0') if f]
