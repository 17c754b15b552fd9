# SPDX-License-Identifier: MIT
"""Every dependency of the suite and of the deploy scripts is installed by the project's own
files: deploy/local/common.sh's package lists (*_PACKAGES), which deploy/local/test installs.

A machine that had a package installed by hand passes its tests while a fresh one fails, so
this check does not ask whether a thing is on this machine but who put it there. It reads
- the Python modules the tests, tools and inline scripts import (the standard library and
  the project's own modules aside),
- the programs they run: subprocess calls with a literal program, shutil.which() names,
  meson's find_program(), script interpreters, and the commands of every shell script,
then finds the Debian package each comes from (dpkg's database) and fails unless that
package is in a list, or is a dependency of one, or is on every Debian system already
(Essential or Priority: required). A program the lists install only when it is missing
("$(command -v X || echo PACKAGE)") counts as installed whoever provides it.

Not covered: tests/bench and tests/soak, which are run by hand; tests/bench/run installs its
own list (BENCH_PACKAGES) with install_missing.

    tests/repo/deps.py [SOURCE_ROOT]      exit 0, or 1 listing each gap
"""
import ast
import importlib.util
import os
import re
import subprocess
import sys

from tracked import tracked

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..', '..'))
COMMON = os.path.join('deploy', 'local', 'common.sh')
INSTALLER = os.path.join('deploy', 'local', 'test')
# Run by hand, not by the suite: the lists only it installs do not count for the suite.
BENCH_INSTALLER = os.path.join('tests', 'bench', 'run')
SKIPPED = ('tests/bench/', 'tests/soak/')
# Debian's PATH: packages install programs here, never under /usr/local.
SYSTEM_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']
# Used but deliberately not installed, and why.
EXEMPT = {
    'sudo': 'common.sh uses it only when not root, for a user who has it',
}
SHELL_BUILTINS = set('''. : [ [[ alias bg break builtin case cd command continue declare done
    echo esac eval exec exit export false fg fi for function getopts hash jobs kill let local
    printf pwd read readonly return select set shift source test trap true type typeset ulimit
    umask unalias unset wait'''.split())
# Words before a command that are not it.
KEYWORDS = {'if', 'then', 'elif', 'else', 'while', 'until', 'do', '!', 'time'}
# Words that run a command given after their options (and after this many arguments).
WRAPPERS = {'exec': 0, 'command': 0, 'sudo': 0, 'nice': 0, 'env': 0, 'as_root': 0,
            'pg_as_owner': 0, 'timeout': 1, 'runuser': 0, 'xargs': 0}
SUBPROCESS_CALLS = {'run', 'Popen', 'call', 'check_call', 'check_output', 'Proc'}
PROGRAM = re.compile(r'^(/[\w.+/-]+|[A-Za-z_][\w.+-]*)$')


# ---- what the project installs ----

def package_lists():
    """(list names, packages, programs): common.sh's *_PACKAGES lists, every package they
    name, and the programs a "$(command -v PROGRAM ... || echo PACKAGE)" entry stands for.
    Lists that only the benchmark installs are named but their packages left out."""
    text = read(COMMON)
    lists = re.findall(r'^(\w+_PACKAGES)="((?:[^"\\]|\\.|"[^"]*")*?)"\s*$', text, re.M | re.S)
    bench_only = installer_lists(BENCH_INSTALLER) - installer_lists()
    packages, programs = set(), set()
    for name, body in lists:
        if name in bench_only:
            continue
        for prog, pkg in re.findall(r'\$\(command -v ([\w.+-]+)[^)]*\|\| echo ([\w.+-]+)\)',
                                    body):
            programs.add(prog)
            packages.add(pkg)
        packages |= set(re.sub(r'\$\([^)]*\)', ' ', body).split())
    return {name for name, _ in lists}, packages, programs


def installer_lists(script=INSTALLER):
    """The $*_PACKAGES lists script (deploy/local/test) passes to install_missing."""
    calls = re.findall(r'^\s*install_missing (.*)$', read(script), re.M)
    return {n for call in calls for n in re.findall(r'\$(\w+_PACKAGES)', call)}


def dpkg_status():
    """Installed packages: name -> (depends alternatives, provides, essential/required)."""
    out = {}
    with open('/var/lib/dpkg/status', encoding='utf-8', errors='replace') as f:
        stanzas = f.read().split('\n\n')
    for stanza in stanzas:
        fields = dict(re.findall(r'^([\w-]+): ?(.*(?:\n .*)*)', stanza, re.M))
        if 'install ok installed' not in fields.get('Status', ''):
            continue
        deps = ', '.join(fields.get(k, '') for k in ('Pre-Depends', 'Depends'))
        alternatives = [[re.split(r'[\s:(]', a.strip())[0] for a in group.split('|')]
                        for group in deps.split(',') if group.strip()]
        provides = [re.split(r'[\s(]', p.strip())[0]
                    for p in fields.get('Provides', '').split(',') if p.strip()]
        base = fields.get('Essential') == 'yes' or fields.get('Priority') == 'required'
        out[fields['Package']] = (alternatives, provides, base)
    return out


def installed_closure(roots, status):
    """roots and everything installed they depend on, transitively."""
    providers = {}
    for name, (_, provides, _) in status.items():
        for p in provides:
            providers.setdefault(p, []).append(name)
    seen, todo = set(), [r for r in roots if r in status]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for group in status[name][0]:
            for alt in group:
                found = [alt] if alt in status else providers.get(alt, [])
                todo += [f for f in found if f not in seen]
    return seen


# ---- what the project uses ----

def read(rel):
    with open(os.path.join(ROOT, rel), encoding='utf-8', errors='replace') as f:
        return f.read()




def shebang(rel):
    try:
        with open(os.path.join(ROOT, rel), 'rb') as f:
            first = f.readline().decode('utf-8', 'replace')
    except OSError:
        return None
    if not first.startswith('#!'):
        return None
    words = first[2:].split()
    return words[1:2] if words[:1] == ['/usr/bin/env'] else words[:1]


def python_imports(code, where, local, found):
    """Top-level modules code imports, less the standard library and the project's own."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise SystemExit('%s: cannot parse Python: %s' % (where, e))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split('.')[0]
            if top not in sys.stdlib_module_names and top not in local:
                found.setdefault(top, where)
    return tree


def python_programs(tree, where, found):
    """Programs a Python file runs with a literal name: subprocess calls (and the test
    harness's Proc) given a list starting with a string, and shutil.which('name')."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
        owner = getattr(f.value, 'id', '') if isinstance(f, ast.Attribute) else ''
        if name == 'which' and owner == 'shutil':
            candidates = node.args[:1]
        elif name in SUBPROCESS_CALLS and owner in ('subprocess', 'harness', ''):
            candidates = [a for a in node.args if isinstance(a, (ast.List, ast.Tuple))]
            candidates = [a.elts[0] for a in candidates if a.elts]
        else:
            continue
        for c in candidates:
            if isinstance(c, ast.Constant) and isinstance(c.value, str):
                found.setdefault(c.value, where)


def strip_heredocs(text, where, local, modules):
    """The script without its here-documents; Python ones (fed to python3) are scanned."""
    out, lines, i = [], text.split('\n'), 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
        i += 1
        if not m:
            continue
        body = []
        while i < len(lines) and lines[i].strip() != m.group(2):
            body.append(lines[i])
            i += 1
        i += 1
        if re.search(r'\bpython3\b', line):
            python_imports('\n'.join(body), where, local, modules)
    return '\n'.join(out)


class ShellScan:
    """The commands of a shell script, for scripts written plainly: quoting, command
    substitutions, redirections, case patterns and here-documents (removed beforehand) are
    understood; the first word of each simple command (and what a wrapper such as exec, env
    or runuser runs, and `command -v NAME`) is kept in self.words."""

    def __init__(self, text):
        self.s, self.i, self.words = text, 0, []
        self.cases = []  # per open case: True while reading a pattern
        self.parse(None)

    def peek(self, n=0):
        return self.s[self.i + n] if self.i + n < len(self.s) else ''

    def parse(self, end):
        cmd, word = [], None
        while self.i < len(self.s):
            c = self.peek()
            self.i += 1
            if c == end:
                break
            if c == '\\':
                if self.peek() != '\n':
                    word = (word or '') + self.peek()
                self.i += 1
            elif c in ' \t':
                cmd, word = self.end_word(cmd, word)
            elif c == '#' and word is None:
                while self.peek() not in ('\n', ''):
                    self.i += 1
            elif c == "'":
                j = self.s.find("'", self.i)
                j = len(self.s) if j < 0 else j
                word, self.i = (word or '') + self.s[self.i:j], j + 1
            elif c == '"':
                word = (word or '') + self.double_quoted()
            elif c in '$`':
                word = (word or '') + self.expansion(c)
            elif c in '<>':
                if word is not None and word.isdigit():
                    word = None
                cmd, word = self.end_word(cmd, word)
                self.redirection()
            elif c in '\n;&|(){}' and (c not in '{}' or word is None):
                cmd, word = self.end_word(cmd, word)
                if self.cases and self.cases[-1]:
                    if c == ')':
                        self.cases[-1], cmd = False, []
                    continue
                if c == ';' and self.peek() == ';' and self.cases:
                    self.i += 1
                    self.cases[-1] = True
                self.command(cmd)
                cmd = []
            else:
                word = (word or '') + c
        cmd, word = self.end_word(cmd, word)
        self.command(cmd)

    def end_word(self, cmd, word):
        if word is None:
            return cmd, None
        cmd = cmd + [word]
        if self.cases and self.cases[-1]:
            if cmd == ['esac']:
                self.cases.pop()
            return [], None
        if cmd[0] == 'case' and word == 'in' and len(cmd) > 2:
            self.cases.append(True)
            return [], None
        return cmd, None

    def double_quoted(self):
        out = ''
        while self.i < len(self.s) and self.peek() != '"':
            c = self.peek()
            self.i += 1
            if c == '\\':
                out += self.peek()
                self.i += 1
            elif c in '$`':
                out += self.expansion(c)
            else:
                out += c
        self.i += 1
        return out

    def expansion(self, c):
        """Skip $x, ${...}, $((...)); scan $(...) and `...`. Returns '$' for the word."""
        if c == '`':
            self.parse('`')
        elif self.peek() == '(' and self.peek(1) == '(':
            self.skip_balanced('(', ')')
        elif self.peek() == '(':
            self.i += 1
            self.parse(')')
        elif self.peek() == '{':
            self.skip_balanced('{', '}')
        return '$'

    def skip_balanced(self, open_, close):
        depth = 0
        while self.i < len(self.s):
            c = self.peek()
            self.i += 1
            depth += (c == open_) - (c == close)
            if depth == 0:
                return

    def redirection(self):
        """Skip a redirection's operator and its target word."""
        while self.peek() and self.peek() in '<>&|':
            self.i += 1
        while self.peek() in (' ', '\t'):
            self.i += 1
        if self.peek().isdigit() or self.peek() == '-':
            self.i += 1
            return
        while self.peek() and self.peek() not in ' \t\n;&|()':
            c = self.peek()
            self.i += 1
            if c == '"':
                self.double_quoted()
            elif c == "'":
                self.i = self.s.find("'", self.i) + 1 or len(self.s)
            elif c in '$`':
                self.expansion(c)

    def command(self, cmd):
        while cmd and (re.match(r'^\w+\+?=', cmd[0]) or cmd[0] in KEYWORDS):
            cmd = cmd[1:]
        while cmd:
            name, cmd = cmd[0], cmd[1:]
            if name == 'command' and cmd[:1] == ['-v']:
                self.words += cmd[1:2]
                return
            self.words.append(name)
            if name not in WRAPPERS:
                return
            if '--' in cmd:
                cmd = cmd[cmd.index('--') + 1:]
                continue
            while cmd and (cmd[0].startswith('-') or re.match(r'^\w+=', cmd[0])):
                cmd = cmd[1:]
            cmd = cmd[WRAPPERS[name]:]


def gather():
    """(modules, programs): name -> the file that first uses it."""
    files = [f for f in tracked(ROOT) if not f.startswith(SKIPPED)]
    local = {os.path.splitext(os.path.basename(f))[0] for f in files if f.endswith('.py')}
    modules, programs, functions = {}, {}, set()
    for rel in files:
        interp = shebang(rel)
        if interp:
            programs.setdefault(interp[0], rel)
        if rel.endswith('.py') or (interp and 'python3' in interp[0]):
            tree = python_imports(read(rel), rel, local, modules)
            python_programs(tree, rel, programs)
        elif rel.endswith('.sh') or (interp and re.search(r'\b(ba)?sh$', interp[0])):
            text = strip_heredocs(read(rel), rel, local, modules)
            for code in re.findall(r"\bpython3 -c '([^']*)'", text):
                python_imports(code, rel, local, modules)
            functions |= set(re.findall(r'(?m)^\s*([\w-]+)\s*\(\)\s*\{', text))
            for word in ShellScan(text).words:
                programs.setdefault(word, rel)
        elif os.path.basename(rel) == 'meson.build':
            for args in re.findall(r'find_program\(([^)]*)\)', read(rel)):
                first = re.findall(r"'([^']*)'", args)[:1]
                programs.update({p: rel for p in first if p not in programs})
    # pghook-* are the project's own programs (the binaries, the image's entry point).
    programs = {p: w for p, w in programs.items()
                if PROGRAM.match(p) and p not in SHELL_BUILTINS and p not in functions
                and not p.startswith('pghook-')}
    return modules, programs


# ---- where each comes from ----

def owners(paths):
    """path -> the packages dpkg says own it (absent when none does)."""
    if not paths:
        return {}
    p = subprocess.run(['dpkg-query', '--search'] + sorted(paths), capture_output=True,
                       text=True)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith('diversion ') or ': ' not in line:
            continue
        pkgs, path = line.split(': ', 1)
        out[path] = [q.strip().split(':')[0] for q in pkgs.split(',')]
    return out


def program_paths(name):
    """Where a program is on this machine: candidate paths a package could own, the symlink
    and its target (alternatives), in /usr and in its merged-/usr alias."""
    if name.startswith('/'):
        found = [name] if os.path.exists(name) else []
    else:
        found = [os.path.join(d, name) for d in SYSTEM_PATH
                 if os.access(os.path.join(d, name), os.X_OK)]
    out = []
    for path in found:
        for p in (path, os.path.realpath(path)):
            out += [p, re.sub(r'^/usr/', '/', p) if p.startswith('/usr/') else '/usr' + p]
    return out


def module_paths(name):
    spec = importlib.util.find_spec(name)
    if spec is None:
        return []
    if spec.origin and spec.origin not in ('built-in', 'frozen', 'namespace'):
        return [spec.origin]
    return list(spec.submodule_search_locations or [])


def main():
    defined, packages, conditional = package_lists()
    problems = []
    missing_lists = defined - installer_lists() - installer_lists(BENCH_INSTALLER)
    if missing_lists:
        problems.append('%s does not install %s' % (INSTALLER, ', '.join(sorted(missing_lists))))
    status = dpkg_status()
    ok = installed_closure(packages | {n for n, s in status.items() if s[2]}, status)
    modules, programs = gather()

    wanted = {}
    for name in modules:
        wanted[('python module', name)] = module_paths(name)
    for name in programs:
        if name not in conditional and name not in EXEMPT:
            wanted[('program', name)] = program_paths(name)
    owned = owners({p for paths in wanted.values() for p in paths})
    for (kind, name), paths in sorted(wanted.items()):
        where = (modules if kind == 'python module' else programs)[name]
        pkgs = sorted({q for p in paths for q in owned.get(p, [])})
        if not paths:
            problems.append('%s %s (used in %s): not on this machine, and no list in %s '
                            'installs it' % (kind, name, where, COMMON))
        elif not pkgs:
            problems.append('%s %s (used in %s): %s belongs to no Debian package; add the '
                            'package that provides it to %s' % (kind, name, where, paths[0],
                                                                COMMON))
        elif not ok & set(pkgs):
            problems.append('%s %s (used in %s) comes from %s, which %s does not install' % (
                kind, name, where, ' or '.join(pkgs), COMMON))
    for p in problems:
        print('deps: ' + p)
    print('deps: %d Python modules and %d programs checked against %d listed packages: %s' % (
        len(modules), len(programs), len(packages), 'ok' if not problems else
        '%d problems' % len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
