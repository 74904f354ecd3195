"""/readyz checks the database's SQL code checksum (public.schema_code,
one row) against the one this build was made with (CONCORD_CODE_CHECKSUM;
empty: not checked), in the same round trip as the schema version, and a
503 is a problem document from the one funnel with the checks attached."""
import pytest

OTHER = "0" * 64


def code_check(anon):
    r = anon.get("/readyz")
    return r, r.json()["checks"]["code"]


def test_readyz_reports_the_code_checksum_it_expects_and_finds(anon):
    r, code = code_check(anon)
    assert set(code) == {"expected", "found"}
    if code["expected"] == "" or code["expected"] == code["found"]:
        assert r.status_code == 200
    else:
        assert r.status_code == 503


def test_readyz_reads_schema_code_lazily_and_refuses_foreign_code(anon, db):
    with db.cursor() as cur:
        cur.execute("SELECT to_regclass('public.schema_code') IS NOT NULL")
        if cur.fetchone()[0]:
            pytest.skip("public.schema_code exists here; not touching it")
    try:
        with db.cursor() as cur:
            cur.execute("CREATE TABLE public.schema_code (checksum text NOT NULL)")
            cur.execute("INSERT INTO public.schema_code VALUES (%s)", (OTHER,))
        # The API role may not read it yet: said so, never a 500.
        r, code = code_check(anon)
        assert code["found"] == "(not readable by the API role)"
        with db.cursor() as cur:
            cur.execute("GRANT SELECT ON public.schema_code TO concord_api")
        r, code = code_check(anon)
        assert code["found"] == OTHER
        if code["expected"] == "":
            assert r.status_code == 200          # this build does not check
        else:
            assert r.status_code == 503
            doc = r.json()
            assert doc["type"] == "urn:concord:problem:not-ready"
            assert "code is not this build's" in doc["detail"]
            assert r.headers["retry-after"] == "1"
            assert doc["checks"]["code"] == {"expected": code["expected"], "found": OTHER}
    finally:
        with db.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS public.schema_code")
    r, code = code_check(anon)
    assert code["found"] == ""
