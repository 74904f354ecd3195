"""Investigations: visible to the agencies on them, coordinators and
admins; a participating agency is pending until it accepts; court dates
become tasks; linking a case needs a current consent on that case naming
the linking agency (its organization or its kind), and while it is
current the agencies active on the investigation see the case's
non-personal categories."""
import pytest

from conftest import Client, etag, mint
from test_cases_kit import Party, grant, iso, new_case


@pytest.fixture(scope="module")
def cj(make_org):
    return {"police": Party(make_org, "law_enforcement", "investigator"),
            "state": Party(make_org, "law_enforcement", "investigator"),
            "da": Party(make_org, "prosecution", "prosecutor"),
            "other_police": Party(make_org, "law_enforcement", "investigator"),
            "shelter": Party(make_org, "victim_services", "case_manager"),
            "coord": Party(make_org, "government", "coordinator")}


def open_investigation(cj, **over):
    body = {"title": "Operation Lantern", "participating_agency_ids": [cj["state"].org],
            "prosecution_org_ids": [cj["da"].org], "jurisdictions": ["06037"],
            "suspects_identified": 2,
            "needs": [{"code": "witness_support", "status": "identified"}],
            "key_dates": [{"kind": "court_date", "at": iso(20), "label": "Arraignment"}]}
    body.update(over)
    r = cj["police"].c.post("/v1/investigations", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_and_visibility(cj, db):
    inv = open_investigation(cj)
    assert inv["lead_agency_id"] == cj["police"].org
    assert inv["participating_agency_ids"] == [cj["state"].org]
    url = f"/v1/investigations/{inv['id']}"
    for who in ("police", "state", "da", "coord"):
        assert cj[who].c.get(url).status_code == 200, who
    assert Client(mint(["admin"])).get(url).status_code == 200
    assert cj["other_police"].c.get(url).status_code == 404
    assert cj["shelter"].c.get(url).status_code == 403
    listed = {i["id"] for i in cj["other_police"].c.get("/v1/investigations").json()["items"]}
    assert inv["id"] not in listed
    assert inv["id"] in {i["id"] for i in cj["da"].c.get("/v1/investigations?status=open&limit=100").json()["items"]}
    with db.cursor() as cur:
        cur.execute("SELECT kind, title, assigned_org::text, status FROM tasks "
                    "WHERE investigation_id = %s", (inv["id"],))
        assert cur.fetchall() == [("court_date", "Arraignment", cj["police"].org, "open")]


def test_investigation_validation_and_mass_assignment(cj):
    r = cj["police"].c.post("/v1/investigations", json={
        "title": "", "lead_agency_id": cj["state"].org, "status": "solved",
        "participating_agency_ids": [cj["shelter"].org], "suspects_identified": -1,
        "needs": [{"code": "housing", "status": "identified"}],
        "key_dates": [{"kind": "court_date", "at": "tomorrow"}]})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"title", "lead_agency_id", "status", "participating_agency_ids",
                      "suspects_identified", "needs[0]", "key_dates[0]"}


def test_coordinator_names_the_lead_agency(cj):
    r = cj["coord"].c.post("/v1/investigations", json={"title": "T", "lead_agency_id": cj["state"].org})
    assert r.status_code == 201 and r.json()["lead_agency_id"] == cj["state"].org


def test_patch_with_if_match_updates_status_and_court_tasks(cj, db):
    inv = open_investigation(cj)
    url = f"/v1/investigations/{inv['id']}"
    assert cj["da"].c.patch(url, json={"status": "prosecution"}).status_code == 428
    r = cj["da"].c.patch(url, json={"status": "closed"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "outcome"
    new_date = iso(40)
    r = cj["da"].c.patch(url, json={"status": "prosecution", "suspects_identified": 3,
                                    "key_dates": [{"kind": "court_date", "at": new_date}]},
                         headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200 and r.json()["status"] == "prosecution"
    assert r.headers["etag"] == etag(url, 2)
    with db.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM tasks WHERE investigation_id = %s "
                    "GROUP BY status ORDER BY status", (inv["id"],))
        assert cur.fetchall() == [("cancelled", 1), ("open", 1)]
    assert cj["da"].c.patch(url, json={"title": "x"}, headers={"If-Match": etag(url, 1)}).status_code == 412
    r = cj["other_police"].c.patch(url, json={"title": "x"}, headers={"If-Match": etag(url, 2)})
    assert r.status_code == 404


def test_link_requires_consent_naming_the_linking_agency(cj, db):
    inv = open_investigation(cj)
    case = new_case(cj["shelter"])
    links = f"/v1/investigations/{inv['id']}/cases"
    # Coordinator sees the case: refused with a precise type.
    r = cj["coord"].c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 409
    assert r.json()["type"] == "urn:concord:problem:consent-required"
    # The investigator cannot see the case: the id's existence stays hidden.
    r = cj["police"].c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 404
    # A consent for health does not cover law enforcement.
    grant(cj["shelter"], case["id"], ["identity"], kind="health")
    assert cj["coord"].c.post(links, json={"case_id": case["id"]}).status_code == 409
    # Another agency's consent is not the linking agency's own.
    grant(cj["shelter"], case["id"], ["case_details"], org=cj["state"].org)
    r = cj["police"].c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 409 and r.json()["type"].endswith("consent-required")
    k = grant(cj["shelter"], case["id"], ["case_details"], org=cj["police"].org)
    r = cj["police"].c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["consent_id"] == k["id"] and r.json()["case_number"] == case["case_number"]
    assert cj["police"].c.post(links, json={"case_id": case["id"]}).status_code == 409
    items = cj["da"].c.get(links).json()["items"]
    assert [i["case_id"] for i in items] == [case["id"]] and items[0]["consent_active"]
    # While the link's consent is current, the agencies active on the
    # investigation see the case's non-personal categories; a pending one
    # sees nothing.
    url = f"/v1/cases/{case['id']}"
    for who in ("police", "da"):
        doc = cj[who].c.get(url).json()
        assert {"case_details", "needs"} <= set(doc), who
        assert not {"identity", "contact", "location"} & set(doc), who
    assert cj["state"].c.get(url).status_code == 404
    cj["shelter"].c.post(f"/v1/cases/{case['id']}/consents/{k['id']}/revoke")
    assert cj["da"].c.get(links).json()["items"][0]["consent_active"] is False
    assert cj["police"].c.get(url).status_code == 404
    assert cj["da"].c.get(url).status_code == 404
    assert cj["other_police"].c.get(links).status_code == 404


def test_expired_or_revoked_consent_does_not_allow_a_link(cj, db):
    inv = open_investigation(cj)
    case = new_case(cj["shelter"])
    links = f"/v1/investigations/{inv['id']}/cases"
    k = grant(cj["shelter"], case["id"], ["identity"], kind="law_enforcement")
    from test_cases_kit import expire
    expire(db, k["id"])
    r = cj["coord"].c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 409 and r.json()["type"].endswith("consent-required")
    r = cj["coord"].c.post(links, json={"case_id": "00000000-0000-4000-8000-000000000000"})
    assert r.status_code == 404
    r = cj["coord"].c.post(links, json={"case_id": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case_id"


def test_only_the_lead_agency_changes_who_is_on_it(cj):
    inv = open_investigation(cj)
    url = f"/v1/investigations/{inv['id']}"
    # A listed agency acts on the investigation once it accepted.
    r = cj["state"].c.patch(url, json={"suspects_identified": 3},
                            headers={"If-Match": cj["state"].c.get(url).headers["etag"]})
    assert r.status_code == 403 and r.json()["type"].endswith("not-on-investigation")
    assert cj["state"].c.post(url + "/participation/accept").status_code == 200
    etag = cj["state"].c.get(url).headers["etag"]
    for body in ({"participating_agency_ids": [cj["state"].org, cj["other_police"].org]},
                 {"prosecution_org_ids": []}, {"lead_agency_id": cj["state"].org}):
        r = cj["state"].c.patch(url, json=body, headers={"If-Match": etag})
        assert r.status_code == 403, body
        assert r.json()["type"] == "urn:concord:problem:lead-agency-only"
    assert cj["other_police"].c.get(url).status_code == 404
    # A participating agency may still update the rest; the lead may add agencies.
    r = cj["state"].c.patch(url, json={"suspects_identified": 3}, headers={"If-Match": etag})
    assert r.status_code == 200
    r = cj["police"].c.patch(url, json={"participating_agency_ids": [cj["state"].org,
                             cj["other_police"].org]}, headers={"If-Match": r.headers["etag"]})
    assert r.status_code == 200
    assert cj["other_police"].c.get(url).status_code == 200
