"""Cases: object visibility (404 for anyone unrelated), field redaction
by consent, personal data encrypted at rest, needs with history, tasks,
consents, mass assignment and optimistic concurrency."""
import psycopg2
import pytest

from conftest import ADMIN_DB, Client, etag, mint
from test_cases_kit import (ADDRESS, CATEGORIES, NAME, PHONE, Party, add_need,
                            add_task, case_body, expire, grant, iso, new_case,
                            shown)


@pytest.fixture(scope="module")
def world(make_org):
    """Lead shelter, a clinic and a police unit with tasks on cases, an
    unrelated clinic and police unit, a coordinator and an admin."""
    w = {
        "lead": Party(make_org, "victim_services", "case_manager"),
        "clinic": Party(make_org, "health", "provider"),
        "police": Party(make_org, "law_enforcement", "investigator"),
        "other_clinic": Party(make_org, "health", "provider"),
        "other_police": Party(make_org, "law_enforcement", "investigator"),
        "other_shelter": Party(make_org, "victim_services", "case_manager"),
        "coordinator": Party(make_org, "government", "coordinator"),
    }
    w["admin"] = Client(mint(["admin"]))
    return w


def matrix_case(w, db, state):
    """A case with tasks for the clinic and the police, consents naming
    the health kind (identity, contact, needs) and the police unit by id
    (identity), in the given state."""
    lead = w["lead"]
    case = new_case(lead)
    add_need(lead, case["id"])
    add_task(lead, case["id"], w["clinic"].org)
    add_task(lead, case["id"], w["police"].org, kind="court_date", title="Hearing")
    if state != "none":
        ks = [grant(lead, case["id"], ["identity", "contact", "needs"], kind="health"),
              grant(lead, case["id"], ["identity"], org=w["police"].org)]
        for k in ks:
            if state == "expired":
                expire(db, k["id"])
            elif state == "revoked":
                r = lead.c.post(f"/v1/cases/{case['id']}/consents/{k['id']}/revoke")
                assert r.status_code == 200 and r.json()["state"] == "revoked"
    return case


ALL = set(CATEGORIES)
EXPECTED = {
    # relation: (categories without consent, categories with an active one)
    "lead": (ALL, ALL),
    "clinic": (set(), {"identity", "contact", "needs"}),
    "police": (set(), {"identity"}),
    "coordinator": ({"case_details", "needs"}, {"case_details", "needs"}),
    "admin": ({"case_details", "needs"}, {"case_details", "needs"}),
    "other_clinic": (None, None),   # same kind as the consented kind: 404
    "other_police": (None, None),
    "other_shelter": (None, None),
}


@pytest.mark.parametrize("state", ["none", "active", "expired", "revoked"])
def test_visibility_matrix_role_relation_consent_field(world, db, state):
    case = matrix_case(world, db, state)
    for who, (without, with_) in EXPECTED.items():
        c = world[who] if who == "admin" else world[who].c
        r = c.get(f"/v1/cases/{case['id']}")
        want = with_ if state == "active" else without
        if want is None:
            assert r.status_code == 404, (who, state, r.status_code)
            continue
        assert r.status_code == 200, (who, state, r.text)
        doc = r.json()
        assert shown(doc) == want, (who, state, shown(doc))
        assert set(doc["redacted"]) == ALL - want, (who, state)
        assert doc["case_number"] == case["case_number"]
        if "identity" in want:
            assert doc["identity"]["legal_name"] == NAME
        if "contact" in want:
            assert doc["contact"]["phone"] == PHONE
        if "location" in want:
            assert doc["location"]["address"] == ADDRESS
        if "needs" in want:
            assert [n["code"] for n in doc["needs"]] == ["housing_emergency"]
        if "case_details" in want:
            assert doc["case_details"]["demographics"]["age_group"] == "minor"
        # Lists carry the same non-personal categories and no personal one.
        page = c.get(f"/v1/cases?lead_org_id={world['lead'].org}&limit=100").json()
        item = next(i for i in page["items"] if i["id"] == case["id"])
        assert shown(item) == want & {"case_details", "needs"}, (who, state)
        assert set(item["redacted"]) == {"case_details", "needs"} - want
        # The needs sub-resource follows the same rule.
        n = c.get(f"/v1/cases/{case['id']}/needs")
        assert n.status_code == 200
        assert bool(n.json()["items"]) == ("needs" in want), (who, state)
        assert n.json()["redacted"] == ([] if "needs" in want else ["needs"])


def test_coordinator_sees_personal_data_only_under_consent(world):
    lead, coord = world["lead"], world["coordinator"]
    case = new_case(lead)
    assert "identity" not in coord.c.get(f"/v1/cases/{case['id']}").json()
    k = grant(lead, case["id"], ["identity"], org=coord.org)
    doc = coord.c.get(f"/v1/cases/{case['id']}").json()
    assert doc["identity"]["legal_name"] == NAME and "contact" not in doc
    lead.c.post(f"/v1/cases/{case['id']}/consents/{k['id']}/revoke")
    assert "identity" not in coord.c.get(f"/v1/cases/{case['id']}").json()


def test_consent_to_a_kind_reaches_only_related_orgs_of_that_kind(world):
    lead = world["lead"]
    case = new_case(lead)
    add_task(lead, case["id"], world["police"].org)
    grant(lead, case["id"], ["identity", "location"], kind="law_enforcement")
    doc = world["police"].c.get(f"/v1/cases/{case['id']}").json()
    assert shown(doc) == {"identity", "location"}
    assert world["other_police"].c.get(f"/v1/cases/{case['id']}").status_code == 404


def test_done_task_ends_visibility(world):
    lead, clinic = world["lead"], world["clinic"]
    case = new_case(lead)
    t = add_task(lead, case["id"], clinic.org)
    assert clinic.c.get(f"/v1/cases/{case['id']}").status_code == 200
    r = clinic.c.patch(f"/v1/cases/{case['id']}/tasks/{t['id']}", json={"status": "done"},
                       headers={"If-Match": etag(f"/v1/cases/{case['id']}/tasks/{t['id']}", 1)})
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert clinic.c.get(f"/v1/cases/{case['id']}").status_code == 404


def counts(db, case_id):
    with db.cursor() as cur:
        cur.execute("""SELECT (SELECT version FROM cases WHERE id = %(c)s),
            (SELECT count(*) FROM case_needs WHERE case_id = %(c)s),
            (SELECT count(*) FROM case_need_history WHERE case_id = %(c)s),
            (SELECT count(*) FROM tasks WHERE case_id = %(c)s),
            (SELECT sum(version) FROM tasks WHERE case_id = %(c)s),
            (SELECT count(*) FROM consents WHERE case_id = %(c)s),
            (SELECT count(*) FROM consents WHERE case_id = %(c)s AND revoked_at IS NOT NULL),
            (SELECT count(*) FROM case_transfers WHERE case_id = %(c)s),
            (SELECT lead_org FROM cases WHERE id = %(c)s),
            (SELECT count(*) FROM audit_log WHERE object_id = %(c)s)""", {"c": case_id})
        return cur.fetchone()


@pytest.mark.parametrize("who", ["other_shelter", "other_clinic", "other_police"])
def test_bola_every_path_of_an_invisible_case_is_404_and_changes_nothing(world, db, who):
    lead = world["lead"]
    case = new_case(lead)
    cid = case["id"]
    need = add_need(lead, cid)
    task = add_task(lead, cid, world["clinic"].org)
    # A consent naming the outsider (its kind, or itself where that kind
    # is the lead's own, which no organization may name).
    k = grant(lead, cid, ["identity"], **({"org": world[who].org}
                                         if world[who].kind == lead.kind
                                         else {"kind": world[who].kind}))
    before = counts(db, cid)
    c = mint([world[who].role, "case_manager", "provider"], org=world[who].org)
    from conftest import Client
    x = Client(c)
    m = {"If-Match": "*"}
    calls = [
        ("GET", f"/v1/cases/{cid}", None),
        ("PATCH", f"/v1/cases/{cid}", {"jurisdiction": "X"}),
        ("GET", f"/v1/cases/{cid}/needs", None),
        ("POST", f"/v1/cases/{cid}/needs", {"code": "food"}),
        ("PATCH", f"/v1/cases/{cid}/needs/{need['id']}", {"status": "met"}),
        ("GET", f"/v1/cases/{cid}/tasks", None),
        ("POST", f"/v1/cases/{cid}/tasks", {"title": "x", "kind": "other", "due_at": iso(1)}),
        ("PATCH", f"/v1/cases/{cid}/tasks/{task['id']}", {"status": "done"}),
        ("GET", f"/v1/cases/{cid}/consents", None),
        ("POST", f"/v1/cases/{cid}/consents", {"categories": ["identity"]}),
        ("POST", f"/v1/cases/{cid}/consents/{k['id']}/revoke", None),
        ("POST", f"/v1/cases/{cid}/transfer", {"to_org_id": world[who].org}),
        ("POST", f"/v1/cases/{cid}/transfer/accept", None),
        ("POST", f"/v1/cases/{cid}/transfer/decline", None),
    ]
    for method, path, body in calls:
        r = x.request(method, path, json=body, headers=m)
        assert r.status_code == 404, (who, method, path, r.status_code, r.text)
    assert counts(db, cid) == before
    items = x.get("/v1/cases?limit=100").json()["items"]
    assert cid not in {i["id"] for i in items}


def test_analyst_and_hotline_never_read_cases(tokens, client):
    for role in ("analyst", "hotline"):
        assert client(tokens[role]).get("/v1/cases").status_code == 403


def test_personal_data_is_ciphertext_at_rest(world, db):
    case = new_case(world["lead"])
    with db.cursor() as cur:
        cur.execute("SELECT identity_enc, contact_enc, location_enc FROM case_personal "
                    "WHERE case_id = %s", (case["id"],))
        row = cur.fetchone()
        cur.execute("SELECT row_to_json(c)::text FROM cases c WHERE id = %s", (case["id"],))
        plain_row = cur.fetchone()[0]
    raw = b"".join(bytes(x) for x in row)
    for secret in (NAME, PHONE, ADDRESS, "rosa@example.org", "2009-05-04"):
        assert secret.encode() not in raw
        assert secret not in plain_row
    # Without the key (an admin connection) the ciphertext cannot be opened.
    with db.cursor() as cur:
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT pgp_sym_decrypt(identity_enc, 'wrong-key-wrong-key-wrong-key-00') "
                        "FROM case_personal WHERE case_id = %s", (case["id"],))


def test_create_refuses_server_fields_naming_each(world):
    r = world["lead"].c.post("/v1/cases", json=case_body(
        lead_org_id=world["other_shelter"].org, case_number="CT-1", id="x", status="closed",
        created_at="2020-01-01T00:00:00Z", bogus=1))
    assert r.status_code == 422
    fields = {e["field"]: e["reason"] for e in r.json()["errors"]}
    for f in ("lead_org_id", "case_number", "id", "status", "created_at"):
        assert fields[f] == "read-only field", f
    assert fields["bogus"] == "unknown field"


def test_create_validates_every_field(world):
    r = world["lead"].c.post("/v1/cases", json={
        "identified_on": "2026-13-01", "identified_by": {"how": "rumour"},
        "jurisdiction": "", "demographics": {"age": 300, "trafficking_type": "x"},
        "identity": {"date_of_birth": "yesterday"}, "contact": {"email": "nope"}})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields >= {"identified_on", "identified_by.how", "jurisdiction", "demographics.age",
                      "demographics.trafficking_type", "identity.date_of_birth", "contact.email"}


def test_law_enforcement_cannot_lead_a_case(make_org):
    from conftest import Client
    org = make_org(kind="law_enforcement")
    r = Client(mint(["case_manager"], org=org)).post("/v1/cases", json=case_body())
    assert r.status_code == 403


def test_case_number_is_human_friendly_and_unique(world):
    a, b = new_case(world["lead"]), new_case(world["lead"])
    import re
    assert re.fullmatch(r"CT-\d{4}-\d{6}", a["case_number"])
    assert a["case_number"] != b["case_number"]


def test_age_group_from_date_of_birth_or_age(world):
    lead = world["lead"]
    adult = new_case(lead, identity={"date_of_birth": "1990-01-01"}, demographics={"age": 10})
    assert adult["case_details"]["demographics"]["age_group"] == "adult"
    unknown = new_case(lead, identity={"legal_name": "A"}, demographics={})
    assert unknown["case_details"]["demographics"]["age_group"] == "unknown"


def test_patch_needs_if_match_and_bumps_etag(world, db):
    lead = world["lead"]
    case = new_case(lead)
    url = f"/v1/cases/{case['id']}"
    r = lead.c.get(url)
    tag = r.headers["etag"]
    assert lead.c.patch(url, json={"jurisdiction": "06059"}).status_code == 428
    assert lead.c.patch(url, json={"jurisdiction": "06059"},
                        headers={"If-Match": etag(url, 99)}).status_code == 412
    r = lead.c.patch(url, json={"jurisdiction": "06059", "contact": {"phone": None, "email": "n@x.org"}},
                     headers={"If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.json()["jurisdiction"] == "06059" and r.headers["etag"] != tag
    assert r.json()["contact"] == {"email": "n@x.org"}
    assert r.json()["identity"]["legal_name"] == NAME
    r2 = lead.c.patch(url, json={"jurisdiction": "x"}, headers={"If-Match": tag})
    assert r2.status_code == 412


def test_patch_refuses_server_fields_and_requires_close_reason(world):
    lead = world["lead"]
    case = new_case(lead)
    url = f"/v1/cases/{case['id']}"
    m = {"If-Match": etag(url, 1)}
    r = lead.c.patch(url, json={"lead_org_id": world["other_shelter"].org, "version": 5}, headers=m)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"lead_org_id", "version"}
    r = lead.c.patch(url, json={"status": "closed"}, headers=m)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "closed_reason"
    r = lead.c.patch(url, json={"status": "closed", "closed_reason": "services completed"}, headers=m)
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_only_the_lead_changes_a_case(world):
    lead = world["lead"]
    case = new_case(lead)
    add_task(lead, case["id"], world["clinic"].org)
    r = world["clinic"].c.patch(f"/v1/cases/{case['id']}", json={"jurisdiction": "x"},
                                headers={"If-Match": etag(f"/v1/cases/{case['id']}", 1)})
    assert r.status_code == 403


def test_need_status_changes_keep_history(world):
    lead = world["lead"]
    case = new_case(lead)
    need = add_need(lead, case["id"], "food")
    url = f"/v1/cases/{case['id']}/needs/{need['id']}"
    assert lead.c.patch(url, json={"status": "referred"}).status_code == 428
    r = lead.c.patch(url, json={"status": "referred"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200 and r.headers["etag"] == etag(url, 2)
    r = lead.c.patch(url, json={"status": "met"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 412
    r = lead.c.patch(url, json={"status": "met"}, headers={"If-Match": etag(url, 2)})
    hist = r.json()["history"]
    assert [h["status"] for h in hist] == ["identified", "referred", "met"]
    assert all(h["changed_by_org_id"] == lead.org and h["changed_by"] for h in hist)
    r = lead.c.get(f"/v1/cases/{case['id']}/needs?status=met")
    assert [n["id"] for n in r.json()["items"]] == [need["id"]]


def test_need_codes_come_from_the_victim_taxonomy(world):
    lead = world["lead"]
    case = new_case(lead)
    for bad in ("no_such_need", "witness_protection", 5):
        r = lead.c.post(f"/v1/cases/{case['id']}/needs", json={"code": bad})
        assert r.status_code == 422, bad
    add_need(lead, case["id"], "food")
    r = lead.c.post(f"/v1/cases/{case['id']}/needs", json={"code": "food"})
    assert r.status_code == 409
    r = lead.c.post(f"/v1/cases/{case['id']}/needs", json={"code": "clothing", "id": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id"


def test_tasks_assigned_org_changes_status_only(world):
    lead, clinic = world["lead"], world["clinic"]
    case = new_case(lead)
    t = add_task(lead, case["id"], clinic.org, kind="document_deadline")
    url = f"/v1/cases/{case['id']}/tasks/{t['id']}"
    r = clinic.c.patch(url, json={"title": "renamed"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "title"
    r = clinic.c.patch(url, json={"status": "in_progress"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = lead.c.patch(url, json={"title": "Passport renewal", "due_at": iso(10)},
                     headers={"If-Match": etag(url, 2)})
    assert r.status_code == 200 and r.json()["title"] == "Passport renewal"
    items = clinic.c.get(f"/v1/cases/{case['id']}/tasks?status=in_progress").json()["items"]
    assert [i["id"] for i in items] == [t["id"]]


def test_coordinator_adds_tasks_and_task_validation(world):
    lead, coord = world["lead"], world["coordinator"]
    case = new_case(lead)
    t = add_task(coord, case["id"], world["police"].org, kind="court_date")
    assert t["assigned_org_id"] == world["police"].org
    r = coord.c.post(f"/v1/cases/{case['id']}/tasks", json={"title": "", "kind": "party",
                                                           "due_at": "soon"})
    assert {e["field"] for e in r.json()["errors"]} == {"title", "kind", "due_at"}


def test_consent_validation(world):
    lead = world["lead"]
    case = new_case(lead)
    url = f"/v1/cases/{case['id']}/consents"
    r = lead.c.post(url, json={"categories": ["identity"], "shared_with_kind": "health",
                               "purpose": "x", "informed": True, "written": False})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["expires_at"]
    r = lead.c.post(url, json={"categories": ["dna"], "shared_with_kind": "health",
                               "shared_with_org_id": lead.org, "purpose": "", "informed": False,
                               "written": True, "expires_at": iso(-1), "revoked_at": iso()})
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"categories", "shared_with_org_id", "purpose", "informed", "form_ref",
                      "expires_at", "revoked_at"}
    k = grant(lead, case["id"], ["needs"], kind="ngo", written=False, form_ref=None)
    assert k["state"] == "active" and k["written"] is False
    items = lead.c.get(url).json()["items"]
    assert [i["id"] for i in items] == [k["id"]]
    r = lead.c.post(f"{url}/{k['id']}/revoke")
    assert r.status_code == 200
    assert lead.c.post(f"{url}/{k['id']}/revoke").status_code == 409


def test_only_the_lead_records_consent(world):
    lead, coord = world["lead"], world["coordinator"]
    case = new_case(lead)
    add_task(lead, case["id"], world["clinic"].org)
    r = world["clinic"].c.post(f"/v1/cases/{case['id']}/consents", json={})
    assert r.status_code == 403


def test_list_need_filter_tells_nothing_about_hidden_needs(make_org):
    """An organization that sees two cases (an open task on each) but not
    their needs filters the list by a need both cases have. It gets no
    items and no next_cursor either: a cursor would give away the
    position of a case that has the need."""
    lead = Party(make_org, "victim_services", "case_manager")
    other = Party(make_org, "health", "provider")
    for _ in range(2):
        case = new_case(lead)
        r = lead.c.post(f"/v1/cases/{case['id']}/needs",
                        json={"code": "mental_health_care_long_term"})
        assert r.status_code == 201, r.text
        add_task(lead, case["id"], other.org)
    r = other.c.get("/v1/cases", params={"need": "mental_health_care_long_term",
                                         "limit": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None}


def test_list_filters_and_paginates(world, make_org):
    lead = Party(make_org, "victim_services", "case_manager")
    ids = [new_case(lead)["id"] for _ in range(3)]
    add_need(lead, ids[1], "food")
    page = lead.c.get("/v1/cases?limit=2").json()
    assert [i["id"] for i in page["items"]] == ids[:2] and page["next_cursor"]
    page2 = lead.c.get(f"/v1/cases?limit=2&cursor={page['next_cursor']}").json()
    assert [i["id"] for i in page2["items"]] == ids[2:] and page2["next_cursor"] is None
    assert [i["id"] for i in lead.c.get("/v1/cases?need=food").json()["items"]] == [ids[1]]
    for item in page["items"]:
        assert not ({"identity", "contact", "location"} & set(item))
    r = world["coordinator"].c.get(f"/v1/cases?lead_org_id={lead.org}&status=open")
    assert [i["id"] for i in r.json()["items"]] == ids
    r = lead.c.get("/v1/cases?updated_since=2999-01-01T00:00:00Z")
    assert r.json()["items"] == []


@pytest.mark.parametrize("qs", ["limit=0", "limit=101", "limit=x", "cursor=abc", "status=gone",
                                "lead_org_id=nope", "updated_since=yesterday", "colour=red",
                                "limit=1&limit=2"])
def test_list_bad_query_is_400(world, qs):
    r = world["lead"].c.get("/v1/cases?" + qs)
    assert r.status_code == 400, qs
    assert r.json()["type"] == "urn:concord:problem:bad-query"


def test_api_connections_carry_the_data_key_only_as_a_setting(db):
    # The key never reaches SQL text: nothing in pg_stat_activity shows it.
    key = __import__("os").environ.get("CONCORD_DATA_KEY", "")
    assert len(key) >= 32
    with db.cursor() as cur:
        cur.execute("SELECT coalesce(string_agg(query, ' '), '') FROM pg_stat_activity")
        assert key not in cur.fetchone()[0]
