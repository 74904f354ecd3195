"""Audit: every read and write of case data appends a record in the same
transaction; records are hash chained, append-only for everyone (the
API's role has no table rights at all, a trigger refuses UPDATE/DELETE
even for the owner) and verifiable through the API and concord-admin."""
import os
import subprocess
import uuid

import psycopg2
import pytest

from conftest import ADMIN_DB, ROOT, Client, mint
from test_cases_kit import Party, add_need, grant, new_case


@pytest.fixture(scope="module")
def lead(make_org):
    return Party(make_org, "victim_services", "case_manager")


def records(db, object_id):
    with db.cursor() as cur:
        cur.execute("SELECT action, object_type, fields, actor_sub, actor_org::text, "
                    "actor_roles, request_id FROM audit_log WHERE object_id = %s ORDER BY id",
                    (object_id,))
        return cur.fetchall()


def test_read_appends_a_record_with_actor_fields_and_request_id(lead, db):
    case = new_case(lead)
    n = len(records(db, case["id"]))
    rid = "audit-" + uuid.uuid4().hex[:8]
    r = lead.c.get(f"/v1/cases/{case['id']}", headers={"X-Request-Id": rid})
    assert r.status_code == 200
    recs = records(db, case["id"])
    assert len(recs) == n + 1
    action, otype, fields, sub, org, roles, req = recs[-1]
    assert (action, otype, req, org, roles) == ("read", "case", rid, lead.org, ["case_manager"])
    assert sorted(fields) == ["case_details", "contact", "identity", "location", "needs"]
    assert sub.startswith("test-")


def test_redacted_read_records_only_the_fields_shown(lead, db, make_org):
    case = new_case(lead)
    coord = Client(mint(["coordinator"], org=make_org(kind="government")))
    r = coord.get(f"/v1/cases/{case['id']}")
    assert r.status_code == 200
    assert records(db, case["id"])[-1][2] == ["case_details", "needs"]


def test_sub_resource_reads_are_audited_on_the_case(lead, db):
    case = new_case(lead)
    for sub in ("needs", "tasks", "consents"):
        assert lead.c.get(f"/v1/cases/{case['id']}/{sub}").status_code == 200
    assert [(a, t, f) for a, t, f, *_ in records(db, case["id"])[-3:]] == [
        ("read", "case", ["needs"]), ("read", "case", ["tasks"]), ("read", "case", ["consents"])]


def test_writes_are_audited_and_failed_writes_leave_nothing(lead, db):
    case = new_case(lead)
    kinds = [(a, t) for a, t, *_ in records(db, case["id"])]
    assert kinds == [("create", "case"), ("create", "case_personal")]
    before = len(records(db, case["id"]))
    r = lead.c.patch(f"/v1/cases/{case['id']}", json={"jurisdiction": ""},
                     headers={"If-Match": '"1"'})
    assert r.status_code == 422
    assert len(records(db, case["id"])) == before
    r = lead.c.patch(f"/v1/cases/{case['id']}", json={"identity": {"aliases": ["R"]}},
                     headers={"If-Match": '"1"'})
    assert r.status_code == 200
    recs = records(db, case["id"])[before:]
    assert [(a, t, f) for a, t, f, *_ in recs] == [("update", "case", ["identity"]),
                                                   ("update", "case_personal", ["identity"])]
    need = add_need(lead, case["id"])
    k = grant(lead, case["id"], ["needs"], kind="ngo")
    assert records(db, need["id"])[0][:2] == ("create", "need")
    assert records(db, k["id"])[0][:2] == ("create", "consent")


def test_audit_list_filters_and_paginates(lead, client, tokens):
    case = new_case(lead)
    for _ in range(3):
        lead.c.get(f"/v1/cases/{case['id']}")
    c = client(tokens["coordinator"])
    page = c.get(f"/v1/audit?object_id={case['id']}&limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert all(i["object_id"] == case["id"] for i in page["items"])
    ids = [int(i["id"]) for i in page["items"]]
    assert ids == sorted(ids, reverse=True)
    rest = c.get(f"/v1/audit?object_id={case['id']}&limit=2&cursor={page['next_cursor']}").json()
    assert len(rest["items"]) == 2 and int(rest["items"][0]["id"]) < ids[-1]
    last = c.get(f"/v1/audit?object_id={case['id']}&limit=2&cursor={rest['next_cursor']}").json()
    # create case, create personal data, three reads
    assert len(last["items"]) == 1 and last["next_cursor"] is None
    reads = c.get(f"/v1/audit?object_type=case&object_id={case['id']}&since=2000-01-01T00:00:00Z")
    assert {i["action"] for i in reads.json()["items"]} == {"create", "read"}
    sub = page["items"][0]["actor_sub"]
    assert all(i["actor_sub"] == sub for i in c.get(f"/v1/audit?actor={sub}").json()["items"])
    assert c.get("/v1/audit?limit=0").status_code == 400
    for role in ("case_manager", "investigator", "analyst", "provider"):
        assert client(tokens[role]).get("/v1/audit").status_code == 403


def test_chain_verifies_and_links_each_record_to_the_previous(client, tokens, db, lead):
    new_case(lead)
    r = client(tokens["admin"]).get("/v1/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["first_broken"] is None
    assert r.json()["checked"] >= 2
    with db.cursor() as cur:
        cur.execute("SELECT a.prev_hash = b.hash FROM audit_log a JOIN audit_log b "
                    "ON b.id = a.id - 1")
        assert all(x for (x,) in cur.fetchall())
    assert client(tokens["coordinator"]).get("/v1/audit/verify").status_code == 403


def admin_verify():
    env = dict(os.environ)
    return subprocess.run([os.path.join(ROOT, "bin", "concord-admin"), "audit-verify"],
                          env=env, capture_output=True, text=True, timeout=30)


def test_tampering_is_reported_at_the_first_broken_link(client, tokens, db, lead):
    case = new_case(lead)
    lead.c.get(f"/v1/cases/{case['id']}")
    with db.cursor() as cur:
        cur.execute("SELECT id, fields FROM audit_log WHERE object_id = %s ORDER BY id LIMIT 1",
                    (case["id"],))
        victim_id, fields = cur.fetchone()
    admin = client(tokens["admin"])
    try:
        with db.cursor() as cur:
            cur.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
            cur.execute("UPDATE audit_log SET fields = '{}' WHERE id = %s", (victim_id,))
            cur.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
        body = admin.get("/v1/audit/verify").json()
        assert body["ok"] is False
        assert body["first_broken"] == {"id": str(victim_id),
                                        "reason": "content does not match its hash"}
        out = admin_verify()
        assert out.returncode == 1 and f"broken at record {victim_id}" in out.stdout
    finally:
        with db.cursor() as cur:
            cur.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
            cur.execute("UPDATE audit_log SET fields = %s WHERE id = %s", (fields, victim_id))
            cur.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    assert admin.get("/v1/audit/verify").json()["ok"] is True
    out = admin_verify()
    assert out.returncode == 0 and "intact" in out.stdout


def test_api_role_cannot_change_or_remove_audit_records(db):
    # The API's own connection string (the role needs its password).
    conn = psycopg2.connect(os.environ.get("CONCORD_DATABASE_URL") or ADMIN_DB,
                            user="concord_api")
    conn.autocommit = True
    try:
        for stmt in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                     "TRUNCATE audit_log", "SELECT count(*) FROM audit_log",
                     "INSERT INTO audit_log (id) VALUES (-1)",
                     "UPDATE audit_chain_head SET last_id = 0"):
            with conn.cursor() as cur:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
    finally:
        conn.close()


def test_even_the_owner_cannot_update_or_delete_audit_records(db):
    for stmt in ("UPDATE audit_log SET action = 'x' WHERE id = 1",
                 "DELETE FROM audit_log WHERE id = 1", "TRUNCATE audit_log"):
        with db.cursor() as cur:
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(stmt)
            assert "append-only" in str(e.value)
