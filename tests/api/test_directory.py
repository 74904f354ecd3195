"""Partner directory: organizations, services, capacity, search,
confidential-site redaction per role, ETag/If-Match and validation."""
import datetime
import re
import uuid

import pytest
import requests

from conftest import BASE, etag, mint
from test_consent_boundaries import Org

SECRET_STREET = "77 Hidden Refuge Lane"


def svc(**over):
    """A valid service body; keyword arguments replace fields."""
    body = {
        "name": f"Service {uuid.uuid4().hex[:8]}",
        "description": "Test service",
        "needs": ["case_management"],
        "languages": ["en"],
    }
    body.update(over)
    return body


def fields(resp):
    assert resp.status_code == 422, (resp.status_code, resp.text)
    return {e["field"] for e in resp.json()["errors"]}


def query_fields(resp):
    """Fields named by a 400 bad-query answer (every list, one rule)."""
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert resp.json()["type"] == "urn:concord:problem:bad-query"
    return {e["field"] for e in resp.json()["errors"]}


@pytest.fixture
def home(make_org):
    """A fresh victim-services org with its own provider, case manager,
    investigator and hotline members."""
    org = make_org(kind="victim_services")
    return {
        "id": org,
        "provider": mint(["provider"], org=org),
        "case_manager": mint(["case_manager"], org=org),
        "investigator": mint(["investigator"], org=org),
    }


@pytest.fixture
def other(make_org):
    org = make_org(kind="ngo")
    return {"id": org, "provider": mint(["provider"], org=org)}


def create(client, tok, org, **over):
    r = client(tok).post(f"/v1/organizations/{org}/services", json=svc(**over))
    assert r.status_code == 201, r.text
    return r


# ---------------------------------------------------------------- orgs


def test_coordinator_creates_reads_and_lists_an_organization(client, tokens):
    c = client(tokens["coordinator"])
    code = "T" + uuid.uuid4().hex[:6]
    r = c.post("/v1/organizations", json={
        "name": "Harbor Legal", "kind": "legal_aid", "jurisdictions": [code],
        "contact": {"email": "intake@harbor.example", "phone": "+1-555-0100"},
        "description": "Immigration lawyers", "task_force_member": False})
    assert r.status_code == 201, r.text
    org = r.json()
    assert r.headers["location"] == f"/v1/organizations/{org['id']}"
    assert r.headers["etag"] == etag(f"/v1/organizations/{org['id']}", 1)
    assert org["kind"] == "legal_aid" and org["task_force_member"] is False
    assert org["status"] == "active" and org["version"] == 1
    g = client(tokens["hotline"]).get(f"/v1/organizations/{org['id']}")
    assert g.status_code == 200 and g.json() == org and g.headers["etag"] == etag(f"/v1/organizations/{org['id']}", 1)
    lst = client(tokens["analyst"]).get(f"/v1/organizations?jurisdiction={code}")
    assert [o["id"] for o in lst.json()["items"]] == [org["id"]]
    assert lst.json()["next_cursor"] is None
    assert client(tokens["admin"]).get(
        f"/v1/organizations?jurisdiction={code}&kind=ngo").json()["items"] == []


@pytest.mark.parametrize("role", ["provider", "case_manager", "investigator",
                                  "prosecutor", "hotline", "analyst"])
def test_only_admin_and_coordinator_create_organizations(client, tokens, role):
    r = client(tokens[role]).post("/v1/organizations", json={"name": "X", "kind": "ngo"})
    assert r.status_code == 403


def test_organization_validation_names_every_field(client, tokens):
    r = client(tokens["admin"]).post("/v1/organizations", json={
        "name": "", "kind": "gang", "jurisdictions": ["bad code!"],
        "contact": {"email": "nope", "fax": "1"}, "status": "closed",
        "task_force_member": "yes", "id": str(uuid.uuid4()), "version": 9,
        "colour": "red"})
    assert fields(r) == {"name", "kind", "jurisdictions[0]", "contact.email",
                         "contact.fax", "status", "task_force_member", "id",
                         "version", "colour"}
    reasons = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert reasons["id"] == "read-only field" and reasons["colour"] == "unknown field"


def test_organization_requires_name_and_kind(client, tokens):
    assert fields(client(tokens["admin"]).post("/v1/organizations", json={})) == {"name", "kind"}


def test_organization_patch_needs_if_match_and_the_current_etag(client, tokens, make_org):
    org = make_org(kind="ngo")
    c = client(tokens["coordinator"])
    assert c.patch(f"/v1/organizations/{org}", json={"name": "Renamed"}).status_code == 428
    assert c.patch(f"/v1/organizations/{org}", json={"name": "Renamed"},
                   headers={"If-Match": etag(f"/v1/organizations/{org}", 7)}).status_code == 412
    r = c.patch(f"/v1/organizations/{org}", json={"name": "Renamed", "status": "inactive"},
                headers={"If-Match": etag(f"/v1/organizations/{org}", 1)})
    assert r.status_code == 200
    assert r.headers["etag"] == etag(f"/v1/organizations/{org}", 2) and r.json()["name"] == "Renamed"
    assert r.json()["status"] == "inactive" and r.json()["version"] == 2
    # Stale ETag after the change.
    assert c.patch(f"/v1/organizations/{org}", json={"name": "Again"},
                   headers={"If-Match": etag(f"/v1/organizations/{org}", 1)}).status_code == 412
    assert c.get(f"/v1/organizations/{org}").json()["name"] == "Renamed"


def test_organization_patch_rejects_mass_assignment(client, tokens, make_org):
    org = make_org(kind="ngo")
    r = client(tokens["admin"]).patch(f"/v1/organizations/{org}",
                                      json={"id": str(uuid.uuid4()), "version": 5,
                                            "created_at": "2020-01-01T00:00:00Z"},
                                      headers={"If-Match": etag(f"/v1/organizations/{org}", 1)})
    assert fields(r) == {"id", "version", "created_at"}


def test_members_edit_their_contact_only(client, make_org):
    org = make_org(kind="health")
    member = client(mint(["investigator"], org=org))
    r = member.patch(f"/v1/organizations/{org}", json={"contact": {"phone": "+1-555-0199"}},
                     headers={"If-Match": etag(f"/v1/organizations/{org}", 1)})
    assert r.status_code == 200 and r.json()["contact"] == {"phone": "+1-555-0199"}
    r = member.patch(f"/v1/organizations/{org}", json={"name": "Mine now", "kind": "ngo",
                                                        "contact": {}},
                     headers={"If-Match": etag(f"/v1/organizations/{org}", 2)})
    assert r.status_code == 403
    assert {e["field"] for e in r.json()["errors"]} == {"name", "kind"}
    stranger = client(mint(["provider"], org=make_org(kind="ngo")))
    r = stranger.patch(f"/v1/organizations/{org}", json={"contact": {}},
                       headers={"If-Match": etag(f"/v1/organizations/{org}", 2)})
    assert r.status_code == 403
    assert member.get(f"/v1/organizations/{org}").json()["contact"] == {"phone": "+1-555-0199"}


def test_organization_list_pages_with_cursor(client, tokens, make_org):
    code = "P" + uuid.uuid4().hex[:6]
    ids = sorted((make_org(kind="ngo", name=f"Page {i} {code}", jurisdictions=(code,)), i)
                 for i in range(3))
    c = client(tokens["hotline"])
    p1 = c.get(f"/v1/organizations?jurisdiction={code}&limit=2").json()
    assert [o["name"] for o in p1["items"]] == [f"Page 0 {code}", f"Page 1 {code}"]
    assert p1["next_cursor"]
    p2 = c.get(f"/v1/organizations?jurisdiction={code}&limit=2&cursor={p1['next_cursor']}").json()
    assert [o["name"] for o in p2["items"]] == [f"Page 2 {code}"]
    assert p2["next_cursor"] is None
    assert len(ids) == 3


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=101", "limit"),
                                         ("limit=x", "limit"), ("cursor=garbage", "cursor"),
                                         ("kind=gang", "kind"), ("sort=name", "sort")])
def test_organization_list_rejects_bad_paging_and_filters(client, tokens, query, field):
    assert query_fields(client(tokens["admin"]).get(f"/v1/organizations?{query}")) == {field}


def test_unknown_organization_is_404(client, tokens):
    missing = str(uuid.uuid4())
    assert client(tokens["admin"]).get(f"/v1/organizations/{missing}").status_code == 404
    assert client(tokens["admin"]).post(f"/v1/organizations/{missing}/services",
                                        json=svc()).status_code == 404


def test_org_claim_of_an_inactive_organization_is_403(client, make_org):
    dead = make_org(kind="ngo", status="inactive")
    r = client(mint(["provider"], org=dead)).get("/v1/services")
    assert r.status_code == 403
    r = client(mint(["provider"], org=str(uuid.uuid4()))).get("/v1/organizations")
    assert r.status_code == 403


def test_deeply_nested_contact_patch_is_a_client_error(make_org):
    """Every bad input gets a problem+json 4xx, never a 5xx: a member's
    merge patch of its organization's contact nested 1,000 deep."""
    org = Org(make_org, "ngo", "provider")
    depth = 1000
    body = '{"contact":' + '{"a":' * depth + '1' + '}' * depth + '}'
    r = requests.patch(f"{BASE}/v1/organizations/{org.org}", data=body, timeout=30,
                       headers={"Authorization": "Bearer " + org.c.token,
                                "Content-Type": "application/merge-patch+json",
                                "If-Match": "*"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/problem+json")


def test_deeply_nested_service_patch_is_a_client_error(client, home):
    """A service's merge patch nested deeper than a service document ever
    is answers 422 naming the field, not a stack-depth 500."""
    sid = create(client, home["provider"], home["id"]).json()["id"]
    depth = 1000
    body = '{"eligibility":' + '{"a":' * depth + '1' + '}' * depth + '}'
    r = requests.patch(f"{BASE}/v1/services/{sid}", data=body, timeout=30,
                       headers={"Authorization": "Bearer " + home["provider"],
                                "Content-Type": "application/merge-patch+json",
                                "If-Match": "*"})
    assert r.status_code == 422, (r.status_code, r.text[:200])
    assert [e["field"] for e in r.json()["errors"]] == ["eligibility"]


def test_organization_list_refuses_a_cursor_with_keys_of_the_wrong_type(client, tokens):
    import base64
    import json
    for key in ({"k": "org", "n": "A", "i": "not-a-uuid"}, {"k": "org", "n": 1, "i": None}):
        cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
        r = client(tokens["admin"]).get(f"/v1/organizations?cursor={cursor}")
        assert query_fields(r) == {"cursor"}, (key, r.status_code, r.text)


# ------------------------------------------------------------ services


def test_owner_provider_creates_and_reads_a_service(client, home):
    body = svc(name="Night Shelter", needs=["housing_emergency", "food"],
               languages=["en", "es-MX"], age_min=18, genders=["female", "transgender"],
               trafficking_types=["sex"], eligibility_notes="Survivors only",
               eligibility={"no_immigration_status_requirement": True, "lgbtq_affirming": True},
               service_area={"jurisdictions": ["06037"], "center": {"lat": 34.0, "lon": -118.2},
                             "radius_km": 25},
               location={"lat": 34.05, "lon": -118.25,
                         "address": {"line1": "1 Main St", "city": "Los Angeles",
                                     "region": "CA", "postal_code": "90012", "country": "US"}},
               hours=[{"day": "mon", "opens": "09:00", "closes": "17:00"}],
               timezone="America/Los_Angeles",
               capacity={"total": 12, "available": 4, "unit": "beds"},
               accepts_referrals=True, response_time_hours=24)
    r = client(home["provider"]).post(f"/v1/organizations/{home['id']}/services", json=body)
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["location"] == f"/v1/services/{s['id']}"
    assert r.headers["etag"] == etag(f"/v1/services/{s['id']}", 1)
    assert s["organization"]["id"] == home["id"]
    assert s["organization"]["kind"] == "victim_services"
    assert s["needs"] == ["food", "housing_emergency"]
    assert s["languages"] == ["en", "es-MX"]
    assert s["capacity"]["total"] == 12 and s["capacity"]["available"] == 4
    assert s["capacity"]["unit"] == "beds"
    assert s["location"]["address"]["line1"] == "1 Main St"
    assert s["service_area"] == {"jurisdictions": ["06037"],
                                 "center": {"lat": 34.0, "lon": -118.2}, "radius_km": 25}
    assert s["timezone"] == "America/Los_Angeles" and s["confidential"] is False
    assert s["eligibility"] == body["eligibility"]
    g = client(home["case_manager"]).get(f"/v1/services/{s['id']}")
    assert g.status_code == 200 and g.headers["etag"] == etag(f"/v1/services/{s['id']}", 1)
    assert g.json() == s


def test_coordinator_and_admin_create_services_for_any_org(client, tokens, other):
    for role in ("coordinator", "admin"):
        create(client, tokens[role], other["id"])


def test_provider_of_another_org_cannot_create_there(client, home, other):
    r = client(other["provider"]).post(f"/v1/organizations/{home['id']}/services", json=svc())
    assert r.status_code == 403


@pytest.mark.parametrize("role", ["investigator", "prosecutor", "hotline", "analyst"])
def test_read_only_roles_cannot_write_services(client, tokens, home, role):
    sid = create(client, home["provider"], home["id"]).json()["id"]
    c = client(tokens[role])
    assert c.post(f"/v1/organizations/{home['id']}/services", json=svc()).status_code == 403
    assert c.patch(f"/v1/services/{sid}", json={"name": "x"},
                   headers={"If-Match": etag(f"/v1/services/{sid}", 1)}).status_code == 403
    assert c.delete(f"/v1/services/{sid}").status_code == 403
    assert c.put(f"/v1/services/{sid}/capacity", json={"available": 1}).status_code == 403
    assert c.get(f"/v1/services/{sid}").status_code == 200


def test_member_with_a_read_only_role_cannot_write_own_org_services(client, home):
    r = client(home["investigator"]).post(f"/v1/organizations/{home['id']}/services",
                                          json=svc())
    assert r.status_code == 403


@pytest.mark.parametrize("over,expect", [
    ({"needs": ["housing", "teleportation"]}, {"needs[1]"}),
    ({"needs": []}, {"needs"}),
    ({"needs": None}, {"needs"}),
    ({"languages": ["english!", "x"]}, {"languages[0]", "languages[1]"}),
    ({"location": {"lat": 91, "lon": -181}}, {"location.lat", "location.lon"}),
    ({"location": {"lat": 10}}, {"location.lon"}),
    ({"service_area": {"center": {"lat": -95, "lon": 0}, "radius_km": 0}},
     {"service_area.center.lat", "service_area.radius_km"}),
    ({"service_area": {"center": {"lat": 1, "lon": 1}, "radius_km": -3}},
     {"service_area.radius_km"}),
    ({"capacity": {"total": -1}}, {"capacity.total"}),
    ({"capacity": {"total": 3, "available": -2}}, {"capacity.available"}),
    ({"capacity": {"total": 3, "available": 4}}, {"capacity.available"}),
    ({"age_min": 30, "age_max": 20}, {"age_max"}),
    ({"age_min": "ten", "response_time_hours": 1.5}, {"age_min", "response_time_hours"}),
    ({"genders": ["robot"], "trafficking_types": ["organ"]}, {"genders[0]", "trafficking_types[0]"}),
    ({"hours": [{"day": "funday", "opens": "9am", "closes": "25:00"}]},
     {"hours[0].day", "hours[0].opens", "hours[0].closes"}),
    ({"timezone": "Mars/Olympus"}, {"timezone"}),
    ({"confidential": True, "service_area": {"jurisdictions": []}}, {"service_area"}),
    ({"eligibility": {"lgbtq_affirming": "yes", "rich_only": True}},
     {"eligibility.lgbtq_affirming", "eligibility.rich_only"}),
    ({"name": 7, "description": ["x"], "open_24_7": "always"}, {"name", "description", "open_24_7"}),
    ({"favourite_colour": "red"}, {"favourite_colour"}),
    ({"id": "00000000-0000-4000-8000-000000000000", "version": 3, "created_at": "x",
      "updated_at": "x", "organization_id": "00000000-0000-4000-8000-000000000000"},
     {"id", "version", "created_at", "updated_at", "organization_id"}),
    ({"location": {"lat": 1, "lon": 1, "address": {"city": "X", "zip": "1"}}},
     {"location.address.line1", "location.address.zip"}),
])
def test_service_validation_names_the_fields(client, tokens, home, over, expect):
    r = client(tokens["admin"]).post(f"/v1/organizations/{home['id']}/services",
                                     json=svc(**over))
    assert fields(r) == expect


def test_service_validation_collects_all_errors_at_once(client, tokens, home):
    r = client(tokens["admin"]).post(f"/v1/organizations/{home['id']}/services", json={
        "needs": ["nope"], "languages": ["1"], "capacity": {"total": 1, "available": 2},
        "location": {"lat": 100, "lon": 0}, "extra": 1})
    assert fields(r) == {"name", "needs[0]", "languages[0]", "capacity.available",
                         "location.lat", "extra"}


def test_service_patch_etag_flow(client, home):
    s = create(client, home["provider"], home["id"], capacity={"total": 5, "unit": "slots"}).json()
    c = client(home["provider"])
    url = f"/v1/services/{s['id']}"
    assert c.patch(url, json={"name": "New"}).status_code == 428
    assert c.patch(url, json={"name": "New"}, headers={"If-Match": etag(url, 2)}).status_code == 412
    r = c.patch(url, json={"name": "New", "capacity": {"available": 2}, "languages": ["fr"]},
                headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == etag(url, 2)
    b = r.json()
    assert b["name"] == "New" and b["languages"] == ["fr"] and b["version"] == 2
    # Merge patch: the nested object merges, total and unit survive.
    assert (b["capacity"]["total"], b["capacity"]["available"], b["capacity"]["unit"]) == (5, 2, "slots")
    assert c.get(url).headers["etag"] == etag(url, 2)
    # null removes an optional field.
    r = c.patch(url, json={"capacity": None}, headers={"If-Match": etag(url, 2)})
    assert r.status_code == 200 and r.json()["capacity"] is None


def test_service_patch_rejects_mass_assignment_and_bad_values(client, home, other):
    s = create(client, home["provider"], home["id"]).json()
    c = client(home["provider"])
    r = c.patch(f"/v1/services/{s['id']}", json={"organization_id": other["id"], "id": s["id"],
                                                  "version": 10, "updated_at": "x"},
                headers={"If-Match": etag(f"/v1/services/{s['id']}", 1)})
    assert fields(r) == {"organization_id", "id", "version", "updated_at"}
    r = c.patch(f"/v1/services/{s['id']}", json={"needs": ["unicorns"],
                                                  "capacity": {"total": 1, "available": 3}},
                headers={"If-Match": etag(f"/v1/services/{s['id']}", 1)})
    assert fields(r) == {"needs[0]", "capacity.available"}
    g = c.get(f"/v1/services/{s['id']}").json()
    assert g["organization"]["id"] == home["id"] and g["version"] == 1


def test_bola_another_orgs_provider_cannot_touch_a_service(client, home, other):
    s = create(client, home["provider"], home["id"], capacity={"total": 3}).json()
    intruder = client(other["provider"])
    url = f"/v1/services/{s['id']}"
    r = intruder.patch(url, json={"name": "Hijacked"}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 403
    assert intruder.put(url + "/capacity", json={"available": 0}).status_code == 403
    assert intruder.delete(url).status_code == 403
    g = client(home["provider"]).get(url).json()
    assert g["name"] == s["name"] and g["capacity"]["available"] == 3 and g["version"] == 1


def test_capacity_put_is_cheap_and_validated(client, home):
    s = create(client, home["provider"], home["id"], capacity={"total": 10, "available": 10,
                                                              "unit": "beds"}).json()
    c = client(home["case_manager"])
    url = f"/v1/services/{s['id']}/capacity"
    r = c.put(url, json={"available": 3})
    assert r.status_code == 200
    assert r.json()["id"] == s["id"]
    assert (r.json()["capacity"]["available"], r.json()["capacity"]["total"]) == (3, 10)
    assert fields(c.put(url, json={"available": 11})) == {"available"}
    assert fields(c.put(url, json={"available": -1})) == {"available"}
    assert fields(c.put(url, json={})) == {"available"}
    assert fields(c.put(url, json={"available": "2", "beds": 1})) == {"available", "beds"}
    r = c.put(url, json={"available": 15, "total": 20})
    assert r.status_code == 200 and r.json()["capacity"]["total"] == 20
    g = c.get(f"/v1/services/{s['id']}")
    assert g.json()["capacity"]["available"] == 15
    # Capacity is live state: the record's ETag does not move.
    assert g.headers["etag"] == etag(f"/v1/services/{s['id']}", 1)


def test_capacity_first_report_needs_total(client, home):
    s = create(client, home["provider"], home["id"]).json()
    c = client(home["provider"])
    assert fields(c.put(f"/v1/services/{s['id']}/capacity", json={"available": 1})) == {"total"}
    r = c.put(f"/v1/services/{s['id']}/capacity", json={"available": 1, "total": 2})
    assert r.status_code == 200 and r.json()["capacity"]["available"] == 1


def test_delete_removes_a_service(client, home, tokens):
    s = create(client, home["provider"], home["id"]).json()
    c = client(home["provider"])
    assert c.delete(f"/v1/services/{s['id']}", headers={"If-Match": etag(f"/v1/services/{s['id']}", 9)}).status_code == 412
    r = c.delete(f"/v1/services/{s['id']}")
    assert r.status_code == 204 and r.content == b""
    assert c.get(f"/v1/services/{s['id']}").status_code == 404
    assert c.delete(f"/v1/services/{s['id']}").status_code == 404
    found = client(tokens["admin"]).get(f"/v1/services?organization={home['id']}").json()
    assert s["id"] not in [i["id"] for i in found["items"]]


def test_unknown_service_is_404_and_bad_id_is_404(client, tokens):
    c = client(tokens["admin"])
    assert c.get(f"/v1/services/{uuid.uuid4()}").status_code == 404
    assert c.get("/v1/services/not-a-uuid").status_code == 404
    assert c.patch(f"/v1/services/{uuid.uuid4()}", json={"name": "x"},
                   headers={"If-Match": etag("/v1/services/x", 1)}).status_code == 404


# ----------------------------------------------------------- redaction


@pytest.fixture
def shelter(client, home):
    s = create(client, home["provider"], home["id"], name="Confidential Shelter",
               needs=["housing_emergency"], confidential=True,
               service_area={"jurisdictions": ["06037"], "center": {"lat": 34.1, "lon": -118.3},
                             "radius_km": 30},
               location={"lat": 34.0522, "lon": -118.2437,
                         "address": {"line1": SECRET_STREET, "city": "Los Angeles",
                                     "postal_code": "90012"}}).json()
    return s


def _full(resp, sid):
    doc = resp.json()
    items = doc["items"] if "items" in doc else [doc]
    return next(i for i in items if i["id"] == sid)


@pytest.mark.parametrize("who", ["owner_provider", "owner_investigator", "coordinator", "admin"])
def test_confidential_site_is_shown_to_owner_coordinator_admin(client, tokens, home, shelter, who):
    tok = {"owner_provider": home["provider"], "owner_investigator": home["investigator"],
           "coordinator": tokens["coordinator"], "admin": tokens["admin"]}[who]
    c = client(tok)
    for r in (c.get(f"/v1/services/{shelter['id']}"),
              c.get(f"/v1/services?organization={home['id']}")):
        s = _full(r, shelter["id"])
        assert s["confidential"] is True
        assert s["location"]["address"]["line1"] == SECRET_STREET
        assert (s["location"]["lat"], s["location"]["lon"]) == (34.0522, -118.2437)


@pytest.mark.parametrize("who", ["unrelated_provider", "investigator", "hotline", "prosecutor",
                                 "analyst", "case_manager"])
def test_confidential_site_is_hidden_from_everyone_else(client, tokens, other, shelter, who):
    tok = other["provider"] if who == "unrelated_provider" else tokens[who]
    c = client(tok)
    org = shelter["organization"]["id"]
    for r in (c.get(f"/v1/services/{shelter['id']}"),
              c.get(f"/v1/services?organization={org}"),
              c.get(f"/v1/services?organization={org}&near=34.1,-118.3&radius_km=5")):
        assert r.status_code == 200
        assert SECRET_STREET not in r.text and "34.0522" not in r.text
        assert "-118.2437" not in r.text
        s = _full(r, shelter["id"])
        assert s["confidential"] is True and s["location"] is None
        assert s["service_area"]["jurisdictions"] == ["06037"]


def test_confidential_service_is_found_by_its_area_not_its_site(client, tokens, shelter):
    c = client(tokens["hotline"])
    org = shelter["organization"]["id"]
    # The site (34.0522,-118.2437) is 7.43 km from the area centre
    # (34.1,-118.3), inside the 30 km area: found because the area covers
    # the searcher, at the distance of the centre, never 0 at the site.
    near_site = c.get(f"/v1/services?organization={org}&near=34.0522,-118.2437&radius_km=1")
    assert [i["id"] for i in near_site.json()["items"]] == [shelter["id"]]
    assert near_site.json()["items"][0]["distance_km"] == pytest.approx(7.426, abs=0.01)
    near_area = c.get(f"/v1/services?organization={org}&near=34.1,-118.3&radius_km=1").json()
    assert [i["id"] for i in near_area["items"]] == [shelter["id"]]
    assert near_area["items"][0]["distance_km"] == 0
    outside = c.get(f"/v1/services?organization={org}&near=34.6,-118.3&radius_km=5").json()
    assert outside["items"] == []


def test_near_finds_services_whose_area_covers_the_point(client, tokens, home):
    create(client, home["provider"], home["id"], name="Regional Outreach",
           service_area={"center": {"lat": 36.0, "lon": -119.0}, "radius_km": 300})
    create(client, home["provider"], home["id"], name="Local Office",
           location={"lat": 34.06, "lon": -118.25})
    c = client(tokens["hotline"])
    q = f"/v1/services?organization={home['id']}&near=34.05,-118.24&radius_km=10"
    items = c.get(q).json()["items"]
    # Ordered by distance to each service's point: the office, then the
    # regional service whose centre is 227.6 km away but whose area covers.
    assert [i["name"] for i in items] == ["Local Office", "Regional Outreach"]
    assert items[1]["distance_km"] == pytest.approx(227.604, abs=0.01)
    far = c.get(f"/v1/services?organization={home['id']}&near=40.0,-100.0&radius_km=10")
    assert far.json()["items"] == []


def test_confidential_needs_an_area_also_on_patch(client, home):
    s = create(client, home["provider"], home["id"]).json()
    r = client(home["provider"]).patch(f"/v1/services/{s['id']}", json={"confidential": True},
                                       headers={"If-Match": etag(f"/v1/services/{s['id']}", 1)})
    assert fields(r) == {"service_area"}


# -------------------------------------------------------------- search


@pytest.fixture(scope="module")
def catalog(db):
    """Three services with distinct attributes in a fresh org, written
    through the API as that org's provider."""
    import conftest
    org = conftest._org(db, kind="victim_services")
    tok = mint(["provider"], org=org)
    cl = conftest.Client(tok)
    today = datetime.datetime.utcnow().strftime("%a").lower()[:3]
    bodies = {
        "Alpha": svc(name="Alpha", needs=["housing"], languages=["en"], age_min=18,
                     genders=[], trafficking_types=["sex"],
                     location={"lat": 34.05, "lon": -118.24},
                     service_area={"jurisdictions": ["06037"]}, open_24_7=True,
                     capacity={"total": 5, "available": 0}),
        "Bravo": svc(name="Bravo", needs=["housing_emergency", "food"], languages=["es-MX", "en"],
                     age_max=17, genders=["female"], trafficking_types=["labor"],
                     location={"lat": 32.7157, "lon": -117.1611},
                     service_area={"jurisdictions": ["06073"]}, hours=[],
                     capacity={"total": 5, "available": 2}),
        "Charlie": svc(name="Charlie", needs=["legal_representation_immigration"],
                       languages=["fr"], genders=["transgender", "non_binary"],
                       trafficking_types=["sex", "labor"],
                       service_area={"jurisdictions": ["06037", "06059"]},
                       hours=[{"day": d, "opens": "00:00", "closes": "24:00"}
                              for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]),
        "Delta": svc(name="Delta", needs=["food"], status="inactive"),
    }
    ids = {}
    for name, body in bodies.items():
        r = cl.post(f"/v1/organizations/{org}/services", json=body)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    assert today
    return {"org": org, "ids": ids, "token": tok}


def names(client, tok, org, query):
    r = client(tok).get(f"/v1/services?organization={org}&{query}")
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["items"]]


@pytest.mark.parametrize("query,expect", [
    ("", ["Alpha", "Bravo", "Charlie"]),
    ("need=housing", ["Alpha", "Bravo"]),
    ("need=housing_emergency", ["Alpha", "Bravo"]),
    ("need=housing_transitional", ["Alpha"]),
    ("need=food,housing_emergency", ["Bravo"]),
    ("need=food&need=housing", ["Bravo"]),
    ("need=legal_representation", ["Charlie"]),
    ("need=dental_care", []),
    ("language=es", ["Bravo"]),
    ("language=es-MX", ["Bravo"]),
    ("language=ES-mx", ["Bravo"]),
    ("language=fr&language=es", ["Bravo", "Charlie"]),
    ("language=de", []),
    ("age=10", ["Bravo", "Charlie"]),
    ("age=30", ["Alpha", "Charlie"]),
    ("gender=male", ["Alpha"]),
    ("gender=non_binary", ["Alpha", "Charlie"]),
    ("gender=female", ["Alpha", "Bravo"]),
    ("trafficking_type=sex", ["Alpha", "Charlie"]),
    ("trafficking_type=labor", ["Bravo", "Charlie"]),
    ("trafficking_type=both", ["Charlie"]),
    ("jurisdiction=06037", ["Alpha", "Charlie"]),
    ("jurisdiction=06059,06073", ["Bravo", "Charlie"]),
    ("open_now=true", ["Alpha", "Charlie"]),
    ("open_now=false", ["Alpha", "Bravo", "Charlie"]),
    ("available_only=true", ["Bravo", "Charlie"]),
    ("near=34.05,-118.24&radius_km=10", ["Alpha"]),
    ("near=34.05,-118.24&radius_km=200", ["Alpha", "Bravo"]),
    ("near=32.7157,-117.1611&radius_km=200", ["Bravo", "Alpha"]),
    ("near=34.05,-118.24", ["Alpha"]),
    ("need=housing&language=en&near=34.05,-118.24&radius_km=500", ["Alpha", "Bravo"]),
])
def test_search_filters(client, tokens, catalog, query, expect):
    assert names(client, tokens["investigator"], catalog["org"], query) == expect


def test_search_by_distance_reports_distance_and_org_summary(client, tokens, catalog):
    r = client(tokens["hotline"]).get(
        f"/v1/services?organization={catalog['org']}&near=34.05,-118.24&radius_km=200")
    items = r.json()["items"]
    assert items[0]["distance_km"] == 0
    assert 178 < items[1]["distance_km"] < 182
    assert items[0]["organization"]["id"] == catalog["org"]
    assert set(items[0]["organization"]) == {"id", "name", "kind"}


def test_search_pages_by_name_and_by_distance(client, tokens, catalog):
    c = client(tokens["analyst"])
    seen, cursor = [], None
    for _ in range(5):
        q = f"/v1/services?organization={catalog['org']}&limit=1"
        r = c.get(q + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [i["name"] for i in r["items"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Alpha", "Bravo", "Charlie"]
    q = f"/v1/services?organization={catalog['org']}&near=32.7157,-117.1611&radius_km=300&limit=1"
    p1 = c.get(q).json()
    assert [i["name"] for i in p1["items"]] == ["Bravo"]
    p2 = c.get(q + "&cursor=" + p1["next_cursor"]).json()
    assert [i["name"] for i in p2["items"]] == ["Alpha"] and p2["next_cursor"] is None
    # A name cursor is no distance cursor.
    name_cursor = c.get(f"/v1/services?organization={catalog['org']}&limit=1").json()["next_cursor"]
    assert query_fields(c.get(q + "&cursor=" + name_cursor)) == {"cursor"}


def test_inactive_services_are_not_listed_but_readable(client, tokens, catalog):
    assert "Delta" not in names(client, tokens["admin"], catalog["org"], "need=food")
    r = client(tokens["admin"]).get(f"/v1/services/{catalog['ids']['Delta']}")
    assert r.status_code == 200 and r.json()["status"] == "inactive"


@pytest.mark.parametrize("query,field", [
    ("need=teleportation", "need"),
    ("need=housing,nope", "need"),
    ("language=e", "language"),
    ("language=en_US", "language"),
    ("age=abc", "age"),
    ("age=121", "age"),
    ("gender=robot", "gender"),
    ("trafficking_type=organ", "trafficking_type"),
    ("near=95,0", "near"),
    ("near=0,181", "near"),
    ("near=somewhere", "near"),
    ("near=1,1&radius_km=0", "radius_km"),
    ("near=1,1&radius_km=-5", "radius_km"),
    ("near=1,1&radius_km=far", "radius_km"),
    ("radius_km=5", "radius_km"),
    ("jurisdiction=bad code", "jurisdiction"),
    ("open_now=maybe", "open_now"),
    ("available_only=1", "available_only"),
    ("organization=acme", "organization"),
    ("limit=0", "limit"),
    ("limit=500", "limit"),
    ("cursor=%21%21%21", "cursor"),
    ("cursor=eyJrIjoibmFtZSJ9", "cursor"),
    ("colour=red", "colour"),
    ("age=1&age=2", "age"),
])
def test_search_rejects_bad_filters(client, tokens, query, field):
    assert query_fields(client(tokens["provider"]).get(f"/v1/services?{query}")) == {field}


def test_search_names_several_bad_filters_at_once(client, tokens):
    r = client(tokens["provider"]).get("/v1/services?need=nope&language=1&age=x&near=91,0")
    assert query_fields(r) == {"need", "language", "age", "near"}


@pytest.mark.parametrize("role", ["admin", "coordinator", "case_manager", "provider",
                                  "investigator", "prosecutor", "hotline", "analyst"])
def test_every_role_may_search(client, tokens, catalog, role):
    assert names(client, tokens[role], catalog["org"], "need=housing") == ["Alpha", "Bravo"]


def test_demo_directory_is_idempotent_and_covers_every_victim_need(db, client, tokens):
    import os
    from conftest import ROOT
    with open(os.path.join(ROOT, "deploy", "demo.sql")) as f:
        # The directory's part only: other parts need other settings.
        stmts = [st for st in f.read().split(";\n")
                 if re.search(r"^INSERT INTO (organizations|services) ", st, re.M)]
    assert len(stmts) >= 2
    with db.cursor() as cur:
        for _ in range(2):
            for st in stmts:
                cur.execute(st)
        cur.execute("SELECT count(*) FROM services WHERE id::text LIKE '20000000-%'")
        assert cur.fetchone()[0] == 10
        cur.execute("SELECT code FROM need_taxonomy t WHERE grp = 'victim' AND NOT EXISTS "
                    "(SELECT 1 FROM services s WHERE s.id::text LIKE '20000000-%' "
                    "AND s.need_cover @> ARRAY[t.code])")
        assert cur.fetchall() == []
        cur.execute("SELECT count(DISTINCT l) FROM services, unnest(languages) l "
                    "WHERE id::text LIKE '20000000-%'")
        assert cur.fetchone()[0] >= 5
    shelter = "20000000-0000-4000-8000-000000000001"
    r = client(tokens["hotline"]).get(f"/v1/services/{shelter}")
    assert r.json()["confidential"] is True and r.json()["location"] is None
    assert "Harbor Way" not in r.text
    owner = mint(["provider"], org="10000000-0000-4000-8000-000000000004")
    r = client(owner).get(f"/v1/services/{shelter}")
    assert "Harbor Way" in r.json()["location"]["address"]["line1"]


def test_open_now_uses_each_services_time_zone(client, home):
    from zoneinfo import ZoneInfo
    now = datetime.datetime.now(datetime.timezone.utc)
    tokyo = now.astimezone(ZoneInfo("Asia/Tokyo"))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tokyo.weekday()]
    hours = [{"day": day, "opens": f"{tokyo.hour:02d}:00",
              "closes": "24:00" if tokyo.hour >= 22 else f"{tokyo.hour + 2:02d}:00"}]
    # The same wall-clock hours, 14 hours apart: open in Tokyo only.
    create(client, home["provider"], home["id"], name="TZ Tokyo", hours=hours,
           timezone="Asia/Tokyo")
    create(client, home["provider"], home["id"], name="TZ Honolulu", hours=hours,
           timezone="Pacific/Honolulu")
    create(client, home["provider"], home["id"], name="TZ Always", open_24_7=True)
    assert names(client, home["provider"], home["id"], "open_now=true") == \
        ["TZ Always", "TZ Tokyo"]


def test_patch_accepts_merge_patch_media_type(client, home):
    s = create(client, home["provider"], home["id"], languages=["en", "fr"]).json()
    r = client(home["provider"]).patch(
        f"/v1/services/{s['id']}", data='{"languages": ["uk"], "age_max": 25}',
        headers={"If-Match": etag(f"/v1/services/{s['id']}", 1), "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200
    assert r.json()["languages"] == ["uk"] and r.json()["age_max"] == 25
    r = client(home["provider"]).patch(f"/v1/services/{s['id']}", data="name=x",
                                       headers={"If-Match": etag(f"/v1/services/{s['id']}", 2),
                                                "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_organization_list_filters_by_status_and_kinds(client, tokens, make_org):
    code = "S" + uuid.uuid4().hex[:6]
    a = make_org(kind="ngo", name=f"A {code}", jurisdictions=(code,))
    b = make_org(kind="health", name=f"B {code}", jurisdictions=(code,), status="inactive")
    c = make_org(kind="legal_aid", name=f"C {code}", jurisdictions=(code,))
    cl = client(tokens["prosecutor"])
    ids = lambda q: [o["id"] for o in cl.get(f"/v1/organizations?jurisdiction={code}&{q}").json()["items"]]
    assert ids("status=inactive") == [b]
    assert ids("status=active") == [a, c]
    assert ids("kind=ngo,health") == [a, b]
    assert ids("kind=ngo&kind=legal_aid") == [a, c]
