"""/readyz checks the database's SQL code checksum (public.schema_code)
against the one this build was made with (CONCORD_CODE_CHECKSUM; empty:
not checked), in the same round trip as the schema version; its 503 is a
problem document from the one funnel with the checks attached."""
import pytest

OTHER = "0" * 64


def readyz(anon):
    r = anon.get("/readyz")
    return r, r.json()["checks"]["code"]


def test_readyz_reports_the_code_checksum_it_expects_and_finds(anon, db):
    r, code = readyz(anon)
    with db.cursor() as cur:
        cur.execute("SELECT checksum FROM schema_code")
        assert code["found"] == cur.fetchone()[0]
    assert code["expected"] in ("", code["found"])
    assert r.status_code == 200


def test_readyz_refuses_a_database_running_other_code(anon, db):
    r, code = readyz(anon)
    if code["expected"] == "":
        pytest.skip("this build does not check the code checksum")
    real = code["found"]
    try:
        with db.cursor() as cur:
            cur.execute("UPDATE schema_code SET checksum = %s", (OTHER,))
        r, code = readyz(anon)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        doc = r.json()
        assert doc["type"] == "urn:concord:problem:not-ready"
        assert "code is not this build's" in doc["detail"]
        assert code == {"expected": code["expected"], "found": OTHER}
        assert doc["checks"]["schema"]["expected"] == doc["checks"]["schema"]["found"]
        # A table the API role may not read is said so, never a 500.
        with db.cursor() as cur:
            cur.execute("REVOKE SELECT ON schema_code FROM concord_api")
        r, code = readyz(anon)
        assert r.status_code == 503
        assert code["found"] == "(not readable by the API role)"
    finally:
        with db.cursor() as cur:
            cur.execute("GRANT SELECT ON schema_code TO concord_api")
            cur.execute("UPDATE schema_code SET checksum = %s", (real,))
    assert anon.get("/readyz").status_code == 200
