# SPDX-License-Identifier: MIT
"""tools/embed_console.py: every file of console/ embedded with its content type and an ETag,
and the build refused when console/ holds a file api/meson.build does not list, or one of an
unknown type."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOL = os.path.join(ROOT, 'tools', 'embed_console.py')


def embed(tmp_path, files, listed=None):
    folder = tmp_path / 'console'
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text)
    out = tmp_path / 'out.c'
    args = [str(folder / n) for n in (listed if listed is not None else files)]
    p = subprocess.run([sys.executable, TOOL, str(out)] + args, capture_output=True, text=True)
    return p, (out.read_text() if p.returncode == 0 else '')


def test_files_types_and_etags(tmp_path):
    p, c = embed(tmp_path, {'index.html': b'<p>hi</p>', 'app.js': b'export {};', 'app.css': b''})
    assert p.returncode == 0, p.stderr
    rows = re.findall(r'\{ "([\w.-]+)", "([^"]+)", "\\"([0-9a-f]{20})\\"", f\d+, (\d+) \}', c)
    assert [(n, t, int(size)) for n, t, _, size in rows] == [
        ('app.css', 'text/css; charset=utf-8', 0),
        ('app.js', 'text/javascript; charset=utf-8', 10),
        ('index.html', 'text/html; charset=utf-8', 9)]
    assert 'console_asset_count = 3;' in c


def test_an_unlisted_or_unknown_file_fails(tmp_path):
    p, _ = embed(tmp_path, {'index.html': b'', 'extra.js': b''}, listed=['index.html'])
    assert p.returncode != 0 and 'extra.js' in p.stderr
    other = tmp_path / 'other'
    other.mkdir()
    p, _ = embed(other, {'index.html': b'', 'logo.png': b'x'})
    assert p.returncode != 0 and 'no content type known for logo.png' in p.stderr


def test_the_console_embeds():
    listed = re.findall(r"'\.\./console/([\w.-]+)'", open(os.path.join(ROOT, 'api',
                                                                       'meson.build')).read())
    assert sorted(listed) == sorted(os.listdir(os.path.join(ROOT, 'console')))
