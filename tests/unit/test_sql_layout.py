# SPDX-License-Identifier: MIT
"""sql/'s layout: every function, view and policy defined in exactly one file, numbered
migrations holding only what runs once, and the checker (tools/embed_sql.py, which also fails
the build) catching each way to break that."""
import os
import runpy
import sys
import types

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SQL_DIR = os.path.join(ROOT, 'sql')
sys.dont_write_bytecode = True
# tools/embed_sql.py is a build script of this repository, run from its path (not a package).
embed_sql = types.SimpleNamespace(**runpy.run_path(os.path.join(ROOT, 'tools', 'embed_sql.py')))


def test_every_function_view_and_policy_is_defined_in_exactly_one_file():
    files_of = {}
    for path in embed_sql.sql_files(SQL_DIR):
        with open(path, encoding='utf-8') as f:
            for kind, ident, _ in embed_sql.definitions(f.read()):
                name = ident.split('(')[0]
                files_of.setdefault((kind, name), set()).add(os.path.relpath(path, SQL_DIR))
    assert {k: f for k, f in files_of.items() if len(f) != 1} == {}
    # Not vacuous: the claim's two overloads, a view and a policy on every tenant table.
    assert files_of[('function', 'pghook_claim')] == {'functions/claim.sql'}
    assert files_of[('view', 'report_queue')] == {'views/report_queue.sql'}
    assert files_of[('policy', 'tenant_isolation on deliveries')] == \
        {'policies/tenant_isolation.sql'}


def test_sql_follows_its_layout():
    assert embed_sql.layout_problems(SQL_DIR, embed_sql.sql_files(SQL_DIR)) == []


def problems(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return embed_sql.layout_problems(str(tmp_path), embed_sql.sql_files(str(tmp_path)))


FN = 'create or replace function %s(p int) returns int language sql as $$ select p $$;\n'
TABLE = {'0001_init.sql': 'create table t (id int);\n'}


def test_a_function_in_two_files_is_reported(tmp_path):
    found = problems(tmp_path, dict(TABLE, **{'functions/a.sql': FN % 'f',
                                              'functions/b.sql': FN % 'f'}))
    assert found == ['function f is defined in 2 files: functions/a.sql, functions/b.sql']
    found = problems(tmp_path / 'again', dict(TABLE, **{'functions/a.sql': FN % 'f' * 2}))
    assert found == ['functions/a.sql: function f(int) is defined twice']


def test_overloads_belong_in_one_file(tmp_path):
    other = 'create or replace function f(p text) returns int language sql as $$ select 1 $$;'
    assert problems(tmp_path, dict(TABLE, **{'functions/a.sql': FN % 'f' + other})) == []
    assert problems(tmp_path, {'functions/b.sql': other.replace('text', 'bigint')}) == [
        'function f is defined in 2 files: functions/a.sql, functions/b.sql']


def test_numbered_migrations_define_no_function_and_grant_nothing(tmp_path):
    found = problems(tmp_path, {'0001_init.sql': FN % 'f' + 'grant select on t to r;\n'})
    assert found == [
        '0001_init.sql: a numbered migration creates function f(int) (it belongs in '
        'sql/functions)', '0001_init.sql: grants belong in sql/grants']


def test_numbered_migrations_may_drop_a_repeatable_function_but_not_call_it(tmp_path):
    files = {'functions/f.sql': FN % 'pghook_f',
             '0001_init.sql': "create table t (id int);\n"
                              "comment on table t is 'filled by pghook_f';\n"
                              "drop function if exists pghook_f(int);\n"
                              "-- pghook_f in a comment\n",
             '0002_fill.sql': 'do $$ begin update t set id = pghook_f(id); end $$;\n'}
    assert problems(tmp_path, files) == [
        '0002_fill.sql: uses pghook_f, which does not exist yet when a fresh database runs it '
        '(numbered migrations run first)']


def test_repeatable_files_can_run_again(tmp_path):
    found = problems(tmp_path, dict(TABLE, **{
        'functions/f.sql': 'create function f() returns int language sql as $$ select 1 $$;',
        'views/v.sql': 'create view v as select 1;',
        'policies/p.sql': 'create policy p on t using (true); drop policy q on t;',
        'grants/g.sql': 'create table u (id int); grant select on t to r;'}))
    assert found == [
        'functions/f.sql: f() is created without "or replace", so it cannot be applied again',
        'grants/g.sql: holds more than grant and revoke statements',
        'policies/p.sql: holds more than create policy statements',
        'views/v.sql: v is created without "or replace", so it cannot be applied again']


def test_files_go_where_their_kind_goes(tmp_path):
    found = problems(tmp_path, dict(TABLE, **{
        'views/f.sql': FN % 'f', 'extra/x.sql': 'select 1;', '0001_again.sql': 'select 1;'}))
    assert found == [
        'extra/x.sql: not a place for SQL (sql/NNNN_name.sql or '
        'sql/functions|views|policies|grants/)',
        '0001_again.sql and 0001_init.sql have the same number',
        'views/f.sql: a function in views/']


@pytest.mark.parametrize('args, identity', [
    ('', 'f()'),
    ('p_limit int, p_lease_ms bigint', 'f(int, bigint)'),
    ('e events, out status text, out updated_at timestamptz', 'f(events)'),
    ('in a int, b timestamp with time zone default now(), variadic c text[]',
     'f(int, timestamp with time zone, text[])'),
    ('a numeric(10, 2) = 1, inout b text', 'f(numeric(10, 2), text)'),
    ("a text default 'x', b int default 0", 'f(text, int)'),
])
def test_function_identity_is_its_input_types(args, identity):
    assert embed_sql.function_identity('f', args) == identity


def test_statements_split_at_semicolons_outside_literals_and_bodies():
    text = ("create function f() returns text language plpgsql as $body$ begin return ';'; "
            "end $body$; -- a comment; not a statement\n"
            "select 'it''s; one', E'\\'; still one', $$;$$; /* ; */ select 2")
    assert [embed_sql.statement_text(s) for s in embed_sql.statements(text)] == [
        "create function f() returns text language plpgsql as "
        "$body$ begin return ';'; end $body$",
        "select 'it''s; one' , E '\\'; still one' , $$;$$",
        'select 2']
