#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Embed sql/ into C so the binaries carry their schema, after checking its layout.

sql/NNNN_name.sql are the numbered migrations: what runs once (tables, indexes, types, data).
sql/functions, views, policies and grants hold one file each of what is applied again whenever
it changes (common/migrate.h). Each such file goes in with its SHA-256 and the objects it
defines, so that `migrate` can tell a changed file and an object that went missing. Other
files at the top of sql/ (reconcile.sql) are scripts for operators, not embedded.

The layout rules (layout_problems) are checked here, failing the build, and by
tests/unit/test_sql_layout.py. Function parameters are written `name type`: an unnamed
parameter of a two-word type would be read as a name.

Usage: embed_sql.py OUTPUT.c INPUT.sql...
"""
import hashlib
import os
import re
import sys

# Applied in this order: views call functions, policies may too, grants name views.
KINDS = ('functions', 'views', 'policies', 'grants')
NUMBERED = re.compile(r'^(\d{4})_[a-z0-9_]+\.sql$')
DOLLAR = re.compile(r'\$([A-Za-z_][A-Za-z_0-9]*)?\$')
DEFINITION = re.compile(
    r'^create\s+(?:(or\s+replace)\s+)?(function|view|policy)\s+([a-z_][a-z_0-9.]*)'
    r'(?:\s+on\s+([a-z_][a-z_0-9.]*))?', re.I)
SINGULAR = {'functions': 'function', 'views': 'view', 'policies': 'policy'}


def _quoted_end(text, i):
    """Index after the single-quoted literal starting at text[i] (E'' escapes included)."""
    escapes = i > 0 and text[i - 1] in 'eE' and (i < 2 or not text[i - 2].isalnum())
    j = i + 1
    while j < len(text):
        if escapes and text[j] == '\\':
            j += 2
        elif text[j] == "'" and text[j + 1:j + 2] == "'":
            j += 2
        elif text[j] == "'":
            return j + 1
        else:
            j += 1
    raise ValueError('unterminated string literal')


def statements(text):
    """The statements of a SQL file, comments removed. Each is a list of (part, kind) where
    kind is 'code', 'string' (a single-quoted literal) or 'body' (a dollar-quoted one)."""
    out, cur, code, i = [], [], [], 0

    def flush_code():
        if code:
            cur.append((''.join(code), 'code'))
            code.clear()
    while i < len(text):
        c = text[i]
        dollar = DOLLAR.match(text, i) if c == '$' else None
        if text.startswith('--', i):
            end = text.find('\n', i)
            i = end if end >= 0 else len(text)
        elif text.startswith('/*', i):
            i = text.index('*/', i) + 2
        elif c == "'":
            flush_code()
            j = _quoted_end(text, i)
            cur.append((text[i:j], 'string'))
            i = j
        elif dollar:
            flush_code()
            j = text.index(dollar.group(0), dollar.end()) + len(dollar.group(0))
            cur.append((text[i:j], 'body'))
            i = j
        elif c == ';':
            flush_code()
            out.append(cur)
            cur, i = [], i + 1
        else:
            code.append(c)
            i += 1
    flush_code()
    return [s for s in out + [cur] if ''.join(p for p, _ in s).strip()]


def statement_text(stmt, kinds=('code', 'string', 'body')):
    """A statement's parts of those kinds, its whitespace collapsed."""
    return ' '.join(' '.join(p for p, k in stmt if k in kinds).split())


def _split_top(s):
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        depth += c == '('
        depth -= c == ')'
        if c == ',' and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    return parts + [s[start:]] if s.strip() else []


def _arguments(code, start):
    """The text between the parenthesis at code[start] and its match."""
    depth = 0
    for i in range(start, len(code)):
        depth += code[i] == '('
        depth -= code[i] == ')'
        if depth == 0:
            return code[start + 1:i]
    raise ValueError('unbalanced parentheses')


def function_identity(name, args):
    """name(type, ...) of the input parameters, as to_regprocedure() reads it."""
    types = []
    for param in _split_top(args):
        words = re.split(r'\s+default\b|\s*=', param.strip(), maxsplit=1, flags=re.I)[0].split()
        mode = words.pop(0).lower() if words[0].lower() in ('in', 'out', 'inout', 'variadic') \
            else 'in'
        if mode != 'out':
            types.append(' '.join(words[1:] if len(words) > 1 else words))
    return '%s(%s)' % (name, ', '.join(types))


def definitions(text):
    """(kind, identity, or_replace) of each function, view and policy a file creates. A
    function's identity is name(argument types), a view's its name, a policy's "name on table"."""
    found = []
    for stmt in statements(text):
        code = statement_text(stmt, ('code',))
        m = DEFINITION.match(code)
        if not m:
            continue
        kind, name = m.group(2).lower(), m.group(3).lower()
        if kind == 'function':
            ident = function_identity(name, _arguments(code, code.index('(', m.end(3))))
        elif kind == 'policy':
            ident = '%s on %s' % (name, (m.group(4) or '').lower())
        else:
            ident = name
        found.append((kind, ident, bool(m.group(1))))
    return found


def classify(sql_dir, path):
    """('numbered', version), (kind, None) for a repeatable file, ('script', None) for another
    file at the top of sql/, or None for a file nowhere the layout has a place for."""
    rel = os.path.relpath(path, sql_dir)
    folder, base = os.path.split(rel)
    if folder == '':
        m = NUMBERED.match(base)
        return ('numbered', int(m.group(1))) if m else ('script', None)
    return (folder, None) if folder in KINDS and base.endswith('.sql') else None


def sql_files(sql_dir):
    """Every .sql file under sql_dir."""
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(sql_dir) for f in fs
                  if f.endswith('.sql'))


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def _object_name(ident):
    return ident.split('(')[0].split(' on ')[0]


def _repeatable_problems(rel, kind, text, defs):
    problems = []
    allowed = {'grants': r'(grant|revoke)\b', 'policies': r'create\s+policy\b'}.get(kind)
    if allowed and any(not re.match(allowed, statement_text(s), re.I) for s in statements(text)):
        problems.append('%s: holds more than %s statements'
                        % (rel, 'grant and revoke' if kind == 'grants' else 'create policy'))
    if kind == 'grants':
        return problems
    for k, ident, or_replace in defs:
        if k != SINGULAR[kind]:
            problems.append('%s: a %s in %s/' % (rel, k, kind))
        elif k != 'policy' and not or_replace:
            problems.append('%s: %s is created without "or replace", so it cannot be applied '
                            'again' % (rel, ident))
    if not defs:
        problems.append('%s: defines nothing' % rel)
    return problems


def _numbered_problems(rel, text, defs, repeatable_names):
    problems = ['%s: a numbered migration creates %s %s (it belongs in sql/%s)'
                % (rel, k, ident, {v: k for k, v in SINGULAR.items()}[k])
                for k, ident, _ in defs]
    for stmt in statements(text):
        code = statement_text(stmt, ('code', 'body'))
        if re.match(r'(grant|revoke)\b', code, re.I):
            problems.append('%s: grants belong in sql/grants' % rel)
        named = {n for n in repeatable_names if re.search(r'\b%s\b' % re.escape(n), code, re.I)}
        if named and not re.match(r'drop\b', code, re.I):
            problems.append('%s: uses %s, which does not exist yet when a fresh database runs '
                            'it (numbered migrations run first)' % (rel, ', '.join(sorted(named))))
    return problems


def _duplicates(owners):
    """owners: (kind, identity) -> the files defining it, once per definition. A function's
    overloads count as one name: all of them belong in one file."""
    problems, files_of = [], {}
    for (kind, ident), files in sorted(owners.items()):
        problems += ['%s: %s %s is defined twice' % (f, kind, ident)
                     for f in sorted(set(files)) if files.count(f) > 1]
        files_of.setdefault((kind, ident.split('(')[0]), set()).update(files)
    return problems + ['%s %s is defined in %d files: %s'
                       % (kind, name, len(files), ', '.join(sorted(files)))
                       for (kind, name), files in sorted(files_of.items()) if len(files) > 1]


def layout_problems(sql_dir, paths):
    """What breaks the layout's rules, as readable lines; [] when nothing does."""
    problems, owners, files = [], {}, {}
    for path in paths:
        rel = os.path.relpath(path, sql_dir)
        where = classify(sql_dir, path)
        if where is None:
            problems.append('%s: not a place for SQL (sql/NNNN_name.sql or sql/%s/)'
                            % (rel, '|'.join(KINDS)))
            continue
        text = _read(path)
        files[rel] = (where, text, definitions(text))
        for kind, ident, _ in files[rel][2]:
            owners.setdefault((kind, ident), []).append(rel)
    problems += _duplicates(owners)
    repeatable_names = {_object_name(ident) for (_, ident), rels in owners.items()
                        if files[rels[0]][0][0] in KINDS}
    versions = {}
    for rel, ((kind, version), text, defs) in sorted(files.items()):
        if kind in KINDS:
            problems += _repeatable_problems(rel, kind, text, defs)
        elif kind == 'numbered':
            problems += _numbered_problems(rel, text, defs, repeatable_names)
            if version in versions:
                problems.append('%s and %s have the same number' % (versions[version], rel))
            versions[version] = rel
    return problems


def c_bytes(text):
    # A byte array, not a string literal: pedantic C caps string literals at 4095 characters.
    data = [b if b < 128 else '(char)%d' % b for b in text.encode('utf-8')] + [0]
    rows = [', '.join(str(b) for b in data[i:i + 24]) for i in range(0, len(data), 24)]
    return '{\n\t' + ',\n\t'.join(rows) + '\n}'


def c_string(s):
    assert re.match(r'^[\w./(), \[\]{}-]*$', s), s
    return '"%s"' % s


def generate(sql_dir, paths):
    numbered, repeatable = [], []
    for path in paths:
        kind, version = classify(sql_dir, path)
        if kind == 'numbered':
            numbered.append((version, os.path.basename(path), _read(path)))
        elif kind in KINDS:
            repeatable.append((KINDS.index(kind), os.path.relpath(path, sql_dir), _read(path)))
    numbered.sort()
    repeatable.sort()
    arrays, migrations, entries, files, hashes = [], [], [], [], []
    for n, (version, name, text) in enumerate(numbered):
        arrays.append('static const char migration_%d[] = %s;' % (n, c_bytes(text)))
        migrations.append('\t{%d, "%s", migration_%d},' % (version, name, n))
    for n, (kind, rel, text) in enumerate(repeatable):
        objects = [c_string(ident) for _, ident, _ in definitions(text)] + ['NULL']
        arrays.append('static const char repeatable_%d[] = %s;' % (n, c_bytes(text)))
        arrays.append('static const char *const objects_%d[] = {%s};' % (n, ', '.join(objects)))
        files.append(rel)
        hashes.append(hashlib.sha256(text.encode('utf-8')).hexdigest())
        entries.append('\t{PH_SQL_%s, "%s", "%s", repeatable_%d, objects_%d},'
                       % (KINDS[kind].upper(), rel, hashes[-1], n, n))
    lines = ['/* generated by tools/embed_sql.py: do not edit */', '#include <stddef.h>', '',
             '#include "migrate.h"', ''] + arrays
    lines += ['', 'const struct ph_migration ph_migrations[] = {'] + migrations + ['};']
    lines += ['const int ph_migration_count = %d;' % len(numbered), '']
    lines += ['const struct ph_repeatable ph_repeatables[] = {'] + entries + ['};']
    lines += ['const int ph_repeatable_count = %d;' % len(repeatable),
              'const char ph_repeatable_files[] = %s;' % c_string('{%s}' % ','.join(files)),
              'const char ph_repeatable_hashes[] = %s;' % c_string('{%s}' % ','.join(hashes))]
    return '\n'.join(lines) + '\n'


def main():
    output, inputs = sys.argv[1], [os.path.abspath(p) for p in sys.argv[2:]]
    sql_dir = os.path.commonpath(inputs)
    while os.path.basename(sql_dir) in KINDS:
        sql_dir = os.path.dirname(sql_dir)
    present = sql_files(sql_dir)
    problems = layout_problems(sql_dir, present)
    problems += ["%s is not in common/meson.build's sql_files" % os.path.relpath(p, sql_dir)
                 for p in present
                 if p not in inputs and classify(sql_dir, p) not in (None, ('script', None))]
    if problems:
        sys.exit('embed_sql.py: sql/ breaks its layout:\n  ' + '\n  '.join(problems))
    with open(output, 'w', encoding='utf-8') as f:
        f.write(generate(sql_dir, inputs))


if __name__ == '__main__':
    main()
