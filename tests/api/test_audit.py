"""Audit: every read and write of case data appends a record in the same
transaction, without a lock; the worker seals committed records into a
hash chain closed by chained batch heads. Records and seals are
append-only for everyone (the API's role has no table rights at all, a
trigger refuses UPDATE/DELETE even for the owner) and the trail is
verifiable through the API and concord-admin."""
import concurrent.futures
import os
import subprocess
import time
import uuid

import psycopg2
import pytest

from conftest import ADMIN_DB, ROOT, Client, etag, mint
from test_cases_kit import Party, add_need, grant, new_case
from test_consent_boundaries import (Org, add_service,  # noqa: F401
                                     new_jurisdiction, offers_of,
                                     post_referral, referral_consent,
                                     wait_matched)


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
                     headers={"If-Match": etag(f"/v1/cases/{case['id']}", 1)})
    assert r.status_code == 422
    assert len(records(db, case["id"])) == before
    r = lead.c.patch(f"/v1/cases/{case['id']}", json={"identity": {"aliases": ["R"]}},
                     headers={"If-Match": etag(f"/v1/cases/{case['id']}", 1)})
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


def seal_all(db, timeout=10):
    """Seal every committed record now (retrying while the worker seals)."""
    deadline = time.time() + timeout
    with db.cursor() as cur:
        while True:
            cur.execute("SELECT worker.audit_seal(100000)")
            cur.execute("SELECT count(*) FROM audit_pending")
            if cur.fetchone()[0] == 0 or time.time() > deadline:
                return
            time.sleep(0.05)


def seal_of(db, audit_id):
    with db.cursor() as cur:
        cur.execute("SELECT seq, batch FROM audit_seals WHERE audit_id = %s", (audit_id,))
        return cur.fetchone()


def test_the_worker_seals_committed_records_within_seconds(client, tokens, db, lead):
    case = new_case(lead)
    with db.cursor() as cur:
        cur.execute("SELECT max(id) FROM audit_log WHERE object_id = %s", (case["id"],))
        rid = cur.fetchone()[0]
    deadline = time.time() + 10
    while seal_of(db, rid) is None and time.time() < deadline:
        time.sleep(0.1)
    assert seal_of(db, rid) is not None
    body = client(tokens["admin"]).get("/v1/audit/verify").json()
    assert body["ok"] is True and body["first_broken"] is None
    assert body["checked"] >= 2 and body["batches"] >= 1
    assert body["sealed_up_to"] >= body["checked"] - 1
    assert body["oldest_unsealed_s"] < 10
    listed = client(tokens["admin"]).get(f"/v1/audit?object_id={case['id']}").json()["items"]
    assert any(i["seal"] is not None for i in listed)
    assert client(tokens["coordinator"]).get("/v1/audit/verify").status_code == 403


def test_parallel_requests_append_without_waiting_for_each_other(lead, db):
    case = new_case(lead)

    def read(_):
        return lead.c.get(f"/v1/cases/{case['id']}").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        assert set(ex.map(read, range(64))) == {200}
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE object_id = %s AND action = 'read'",
                    (case["id"],))
        assert cur.fetchone()[0] >= 64


def test_a_record_committed_late_is_sealed_in_a_later_batch(db, lead):
    """A record with a lower id that commits after a higher one was sealed
    is never skipped: it waits and goes into a later batch."""
    late = psycopg2.connect(ADMIN_DB)
    try:
        with late.cursor() as cur:
            cur.execute("SELECT lib.audit('{\"sub\":\"late\",\"roles\":[\"admin\"]}', "
                        "'read', 'probe', NULL, '{}')")
            cur.execute("SELECT max(id) FROM audit_log WHERE actor_sub = 'late'")
            late_id = cur.fetchone()[0]
        case = new_case(lead)
        with db.cursor() as cur:
            cur.execute("SELECT max(id) FROM audit_log WHERE object_id = %s", (case["id"],))
            early_id = cur.fetchone()[0]
        assert early_id > late_id
        seal_all(db)
        assert seal_of(db, early_id) is not None
        late.commit()
    finally:
        late.close()
    seal_all(db)
    assert seal_of(db, late_id)[1] > seal_of(db, early_id)[1]
    with db.cursor() as cur:
        cur.execute("SELECT ok, reason FROM lib.audit_verify()")
        assert cur.fetchone() == (True, None)


def test_one_sealer_at_a_time(db):
    """While one transaction seals, another sealer answers busy at once."""
    a = psycopg2.connect(ADMIN_DB)
    b = psycopg2.connect(ADMIN_DB)
    try:
        with a.cursor() as ca, b.cursor() as cb:
            ca.execute("SELECT worker.audit_seal(10)")
            t0 = time.time()
            cb.execute("SELECT worker.audit_seal(10)")
            assert cb.fetchone()[0].get("busy") is True
            assert time.time() - t0 < 1
        a.commit()
        b.commit()
    finally:
        a.close()
        b.close()


def admin_verify():
    env = dict(os.environ)
    return subprocess.run([os.path.join(ROOT, "bin", "concord-admin"), "audit-verify"],
                          env=env, capture_output=True, text=True, timeout=30)


def tamper(db, *stmts):
    """Run statements as the owner, in one transaction of their own, with
    the append-only triggers off."""
    conn = psycopg2.connect(ADMIN_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in ("audit_log", "audit_seals", "audit_batches"):
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for s, args in stmts:
                cur.execute(s, args)
            for table in ("audit_log", "audit_seals", "audit_batches"):
                cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        conn.commit()
    finally:
        conn.close()


def verify_fails(client, tokens, broken, reason):
    admin = client(tokens["admin"])
    body = admin.get("/v1/audit/verify").json()
    assert body["ok"] is False, body
    assert body["first_broken"] == {"id": str(broken), "reason": reason}, body
    out = admin_verify()
    assert out.returncode == 1 and f"broken at record {broken}" in out.stdout, out.stdout


def verify_passes(client, tokens):
    assert client(tokens["admin"]).get("/v1/audit/verify").json()["ok"] is True
    out = admin_verify()
    assert out.returncode == 0 and "intact" in out.stdout, out.stdout


@pytest.fixture
def sealed_case(db, lead):
    """A case whose records are all sealed, and its records. The sealer
    is held off (its lock taken) while the test tampers and restores."""
    case = new_case(lead)
    lead.c.get(f"/v1/cases/{case['id']}")
    hold = psycopg2.connect(ADMIN_DB)
    hold.autocommit = True
    try:
        with hold.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7261004)")
            cur.execute("SELECT worker.audit_seal(100000)")
        with db.cursor() as cur:
            cur.execute("SELECT id, fields FROM audit_log WHERE object_id = %s ORDER BY id",
                        (case["id"],))
            rows = cur.fetchall()
        assert all(seal_of(db, r[0]) for r in rows)
        yield rows
    finally:
        hold.close()


def test_a_changed_record_fails_verification(client, tokens, db, sealed_case):
    victim, fields = sealed_case[0]
    tamper(db, ("UPDATE audit_log SET fields = '{}' WHERE id = %s", (victim,)))
    try:
        verify_fails(client, tokens, victim, "content does not match its seal")
    finally:
        tamper(db, ("UPDATE audit_log SET fields = %s WHERE id = %s", (fields, victim)))
    verify_passes(client, tokens)


def test_a_deleted_record_fails_verification(client, tokens, db, sealed_case):
    victim = sealed_case[0][0]
    with db.cursor() as cur:
        cur.execute("SELECT * FROM audit_log WHERE id = %s", (victim,))
        row = cur.fetchone()
    tamper(db, ("DELETE FROM audit_log WHERE id = %s", (victim,)))
    try:
        verify_fails(client, tokens, victim, "record missing")
    finally:
        tamper(db, ("INSERT INTO audit_log VALUES (" + ", ".join(["%s"] * len(row)) + ")",
                    row))
    verify_passes(client, tokens)


def test_reordered_seals_fail_verification(client, tokens, db, sealed_case):
    a, b = sealed_case[0][0], sealed_case[1][0]
    (sa, _), (sb, _) = seal_of(db, a), seal_of(db, b)
    swap = [("UPDATE audit_seals SET audit_id = -1 WHERE audit_id = %s", (a,)),
            ("UPDATE audit_seals SET audit_id = %s WHERE audit_id = %s", (a, b)),
            ("UPDATE audit_seals SET audit_id = %s WHERE audit_id = -1", (b,))]
    tamper(db, *swap)
    try:
        verify_fails(client, tokens, b if sa < sb else a, "content does not match its seal")
    finally:
        tamper(db, *swap)
    verify_passes(client, tokens)


def test_a_dropped_batch_fails_verification(client, tokens, db, sealed_case):
    victim = sealed_case[0][0]
    batch = seal_of(db, victim)[1]
    with db.cursor() as cur:
        cur.execute("SELECT * FROM audit_batches WHERE batch = %s", (batch,))
        brow = cur.fetchone()
        cur.execute("SELECT * FROM audit_seals WHERE batch = %s ORDER BY seq", (batch,))
        srows = cur.fetchall()
    tamper(db, ("DELETE FROM audit_seals WHERE batch = %s", (batch,)),
           ("DELETE FROM audit_batches WHERE batch = %s", (batch,)))
    try:
        body = client(tokens["admin"]).get("/v1/audit/verify").json()
        assert body["ok"] is False
        assert body["first_broken"]["reason"] in (
            f"batch {batch} is missing", "record neither sealed nor waiting to be sealed")
        assert admin_verify().returncode == 1
    finally:
        tamper(db, ("INSERT INTO audit_batches VALUES (%s, %s, %s, %s, %s, %s)", brow),
               *[("INSERT INTO audit_seals VALUES (%s, %s, %s, %s)", s) for s in srows])
    verify_passes(client, tokens)


def test_api_role_cannot_change_or_remove_audit_records(db):
    # The API's own connection string (the role needs its password).
    conn = psycopg2.connect(os.environ.get("CONCORD_DATABASE_URL") or ADMIN_DB,
                            user="concord_api")
    conn.autocommit = True
    try:
        for stmt in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                     "TRUNCATE audit_log", "SELECT count(*) FROM audit_log",
                     "INSERT INTO audit_log (id) VALUES (-1)",
                     "DELETE FROM audit_seals", "UPDATE audit_batches SET head = ''",
                     "DELETE FROM audit_pending"):
            with conn.cursor() as cur:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
    finally:
        conn.close()


def test_even_the_owner_cannot_update_or_delete_audit_records(db):
    for stmt in ("UPDATE audit_log SET action = 'x' WHERE id = 1",
                 "DELETE FROM audit_log WHERE id = 1", "TRUNCATE audit_log",
                 "UPDATE audit_seals SET chain = 'x' WHERE seq = 1",
                 "DELETE FROM audit_seals WHERE seq = 1", "TRUNCATE audit_seals",
                 "UPDATE audit_batches SET head = 'x' WHERE batch = 1",
                 "DELETE FROM audit_batches WHERE batch = 1"):
        with db.cursor() as cur:
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(stmt)
            assert "append-only" in str(e.value)


def test_worker_health_reports_a_stale_sealing_backlog(db, tmp_path, lead):
    """With sealing held off longer than CONCORD_AUDIT_SEAL_MAX_AGE the
    worker's health file says not-ready; once sealing resumes, ready."""
    worker_bin = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
    if not worker_bin:
        pytest.skip("needs the worker binary of `make test`")
    health = tmp_path / "worker.health"
    hold = psycopg2.connect(ADMIN_DB)
    hold.autocommit = True
    proc = None
    try:
        with hold.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7261004)")
        new_case(lead)
        proc = subprocess.Popen([worker_bin], env=dict(
            os.environ, CONCORD_WORKER_HEARTBEAT=str(health),
            CONCORD_AUDIT_SEAL_MAX_AGE="1", CONCORD_AUDIT_SEAL_MS="100"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def line2():
            try:
                return health.read_text().split("\n")[1]
            except (OSError, IndexError):
                return ""

        deadline = time.time() + 15
        while not line2().startswith("not-ready") and time.time() < deadline:
            time.sleep(0.1)
        assert line2().startswith("not-ready: audit sealing backlog"), line2()
        with hold.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(7261004)")
        deadline = time.time() + 15
        while line2() != "ready" and time.time() < deadline:
            time.sleep(0.1)
        assert line2() == "ready"
    finally:
        hold.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def test_reading_a_referral_with_client_contact_is_audited(make_org, db, add_service):
    """Every access to personal data leaves an audit record: an offered
    organization reading the client's safe contact method on a referral
    is such an access."""
    hot = Client(mint(["hotline"], org=make_org(kind="other")))
    taker = Org(make_org, "legal_aid", "provider")
    where = new_jurisdiction()
    add_service(taker.org, ["clothing"], where)
    r = post_referral(hot, {"client": {"age": 30, "location": {"jurisdiction": where},
                                       "safe_contact_method": "ask for the nurse"},
                            "needs": ["clothing"], "urgency": "routine",
                            "consent": referral_consent(["contact", "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    r = taker.c.get(f"/v1/referrals/{rid}")
    assert r.status_code == 200 and "safe_contact_method" in r.json()["client"], r.text
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE request_id = %s",
                    (r.headers["x-request-id"],))
        assert cur.fetchone()[0] >= 1, "the read of the client's contact left no audit record"
