"""The database code as source: sql/migrations are applied once, in order;
sql/code is re-created by `concord-admin migrate` whenever it changes, the
same on a fresh database and on one upgraded from an older schema; the
entry point dispatches only to route functions."""
import os
import re
import shutil
import subprocess
import uuid

import psycopg2
import pytest

from conftest import ADMIN_DB, ROOT

ADMIN_BIN = os.path.join(ROOT, "bin", "concord-admin")
CODE_SCHEMAS = ("rpc", "api", "lib", "casework", "directory", "referral", "report", "worker", "store")
# The last migration before the code moved out of the migrations.
UPGRADE_FROM = 5

FUNCTIONS_MD5 = (
    "SELECT md5(string_agg(n.nspname || '.' || p.proname || '(' || "
    "pg_get_function_identity_arguments(p.oid) || ')' || E'\\n' || "
    "pg_get_functiondef(p.oid), E'\\n' ORDER BY n.nspname, p.proname, "
    "pg_get_function_identity_arguments(p.oid))), count(*) "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = ANY (%s)")
VIEWS_MD5 = (
    "SELECT md5(string_agg(c.oid::regclass::text || pg_get_viewdef(c.oid), "
    "E'\\n' ORDER BY c.oid::regclass::text)) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'v' AND n.nspname = ANY (%s)")


def _url(dbname):
    return re.sub(r"/[^/?]*(\?|$)", "/" + dbname + r"\1", ADMIN_DB, count=1) \
        if ADMIN_DB.count("/") >= 3 else ADMIN_DB


def migrate(url, *args):
    env = dict(os.environ, CONCORD_ADMIN_DATABASE_URL=url)
    return subprocess.run([ADMIN_BIN, "migrate", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def fingerprint(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(FUNCTIONS_MD5, (list(CODE_SCHEMAS),))
        funcs = cur.fetchone()
        cur.execute(VIEWS_MD5, (list(CODE_SCHEMAS),))
        return funcs, cur.fetchone()[0]


@pytest.fixture
def scratch_db(db, tmp_path):
    """A database of its own (dropped afterwards) and a copy of sql/."""
    if not os.path.exists(ADMIN_BIN):
        pytest.skip("bin/concord-admin not built (run through make test)")
    name = "concord_scratch_" + uuid.uuid4().hex[:8]
    with db.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    sql = tmp_path / "sql"
    shutil.copytree(os.path.join(ROOT, "sql"), sql)
    try:
        yield _url(name), sql
    finally:
        with db.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s", (name,))
            cur.execute(f"DROP DATABASE IF EXISTS {name}")


def test_upgraded_database_runs_the_same_code_as_a_fresh_one(scratch_db):
    url, sql = scratch_db
    # Bring the scratch database to the old layout: migrations up to
    # UPGRADE_FROM, whose functions still lived in them.
    old = sql.parent / "old"
    (old / "migrations").mkdir(parents=True)
    for f in sorted(os.listdir(sql / "migrations")):
        if int(f[:4]) <= UPGRADE_FROM:
            shutil.copy(sql / "migrations" / f, old / "migrations" / f)
    r = migrate(url, "--dir", str(old), "--migrations-only")
    assert r.returncode == 0, r.stderr
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('api.case_get(jsonb,jsonb,jsonb)') "
                    "IS NOT NULL, to_regclass('schema_code') IS NULL")
        assert cur.fetchone() == (True, True)
    r = migrate(url)
    assert r.returncode == 0, r.stderr
    assert "code applied" in r.stdout
    upgraded = fingerprint(url)
    assert upgraded == fingerprint(ADMIN_DB)
    assert upgraded[0][1] > 150


def test_migrate_twice_changes_nothing(db):
    with db.cursor() as cur:
        cur.execute("SELECT checksum, applied_at FROM schema_code")
        before = cur.fetchone()
        cur.execute("SELECT p.oid FROM pg_proc p WHERE p.pronamespace = "
                    "'api'::regnamespace ORDER BY 1")
        oids = cur.fetchall()
    r = migrate(ADMIN_DB)
    assert r.returncode == 0, r.stderr
    assert "code unchanged" in r.stdout and "(0 applied now)" in r.stdout
    with db.cursor() as cur:
        cur.execute("SELECT checksum, applied_at FROM schema_code")
        assert cur.fetchone() == before
        cur.execute("SELECT p.oid FROM pg_proc p WHERE p.pronamespace = "
                    "'api'::regnamespace ORDER BY 1")
        assert cur.fetchall() == oids


def test_an_edited_code_file_is_applied_in_place_by_the_next_migrate(scratch_db):
    url, sql = scratch_db
    assert migrate(url, "--dir", str(sql)).returncode == 0
    me = sql / "code" / "me.sql"
    me.write_text(me.read_text().replace(
        "-- me.sql: who the caller is.", "-- me.sql: who the caller is (edited)."))
    me.write_text(me.read_text() + "\nCREATE FUNCTION api.probe_route(p_ctx jsonb, "
                  "p_args jsonb, p_body jsonb, OUT status integer, OUT body jsonb, "
                  "OUT headers jsonb) LANGUAGE sql AS $$ SELECT 200, '{}'::jsonb, "
                  "'{}'::jsonb $$;\n")
    r = migrate(url, "--dir", str(sql))
    assert r.returncode == 0, r.stderr
    assert "code applied" in r.stdout and "(0 applied now)" in r.stdout
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('api.probe_route(jsonb,jsonb,jsonb)') IS NOT NULL")
        assert cur.fetchone()[0]
    # Removing it again leaves nothing stale behind.
    me.write_text(me.read_text().split("\nCREATE FUNCTION api.probe_route")[0])
    assert migrate(url, "--dir", str(sql)).returncode == 0
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('api.probe_route(jsonb,jsonb,jsonb)') IS NULL")
        assert cur.fetchone()[0]


def test_migrate_refuses_to_drop_what_a_table_depends_on(scratch_db):
    url, sql = scratch_db
    assert migrate(url, "--dir", str(sql)).returncode == 0
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE public.dep_probe (e jsonb DEFAULT lib.err('a', 'b'))")
        cur.execute("SELECT checksum FROM schema_code")
        before = cur.fetchone()[0]
    me = sql / "code" / "me.sql"
    me.write_text(me.read_text() + "\n-- changed\n")
    r = migrate(url, "--dir", str(sql))
    assert r.returncode == 1
    assert "refusing to re-create the code schemas" in r.stderr
    assert "dep_probe" in r.stderr
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT checksum FROM schema_code")
        assert cur.fetchone()[0] == before
        cur.execute("SELECT to_regclass('public.dep_probe') IS NOT NULL")
        assert cur.fetchone()[0]


def test_an_edited_landed_migration_is_refused(scratch_db):
    url, sql = scratch_db
    assert migrate(url, "--dir", str(sql)).returncode == 0
    first = sorted((sql / "migrations").iterdir())[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    r = migrate(url, "--dir", str(sql))
    assert r.returncode == 1 and "edited after it was applied" in r.stderr


@pytest.mark.parametrize("fn", ["fail", "audit", "case_fetch", "call", "pd_open",
                                "seal", "cursor_decode"])
def test_the_entry_point_refuses_a_helper_as_route(db, fn):
    with db.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT * FROM rpc.call(%s, '{\"roles\":[\"admin\"]}', "
                        "'{}', NULL)", (fn,))
        assert "unknown api function" in str(e.value)


def test_schema_api_holds_only_route_functions(db):
    """Every function of schema api is one the API calls: a route of the
    route table, or one a C handler runs through api_db_call."""
    served = set()
    api_dir = os.path.join(ROOT, "api")
    for name in os.listdir(api_dir):
        if name.endswith(".c"):
            with open(os.path.join(api_dir, name)) as f:
                text = f.read()
            served |= set(re.findall(r'api_db_call\(req, c, "([a-z_]+)"\)', text))
            if name == "routes.c":
                served |= set(re.findall(r'"([a-z_]+)"\s*\}', text))
    with db.cursor() as cur:
        cur.execute("SELECT proname FROM pg_proc WHERE pronamespace = 'api'::regnamespace")
        in_api = {r[0] for r in cur.fetchall()}
    assert len(served) > 40
    assert in_api == served
