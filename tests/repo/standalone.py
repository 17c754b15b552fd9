# SPDX-License-Identifier: MIT
"""The repository stands alone: no tracked file points at documents that live outside it
(the contract is docs/api.md and api/openapi.json, the code style .clang-format).

    tests/repo/standalone.py [SOURCE_ROOT]      exit 0, or 1 naming each file and line
"""
import os
import re
import sys

from tracked import tracked

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..', '..'))
# Spelt in pieces so that this file does not name them itself.
OUTSIDE = re.compile(r'\.\./' + 'shared' + r'|\bAPI' + r'\.md\b|\bSTYLE' + r'\.md\b')


def main():
    hits = []
    files = tracked(ROOT)
    for rel in files:
        try:
            with open(os.path.join(ROOT, rel), encoding='utf-8', errors='replace') as f:
                for n, line in enumerate(f, 1):
                    if OUTSIDE.search(line):
                        hits.append('%s:%d: %s' % (rel, n, line.strip()[:160]))
        except (IsADirectoryError, FileNotFoundError):
            continue  # a submodule, or a file deleted but not yet staged
    for h in hits:
        print('standalone: ' + h)
    print('standalone: %d tracked files, %d references to files outside the repository'
          % (len(files), len(hits)))
    return 1 if hits else 0


if __name__ == '__main__':
    sys.exit(main())
