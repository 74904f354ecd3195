"""Open Referral HSDS 3.0 export (HSDA): every object validates against the
official compiled schemas in ../shared/reference/hsds-3.0/compiled/."""
import json
import os
import uuid

import jsonschema
import pytest

from conftest import SHARED, mint

HSDS = os.path.join(SHARED, "reference", "hsds-3.0", "compiled")
SECRET_STREET = "12 Unlisted Shelter Road"


@pytest.fixture(scope="module")
def schemas():
    if not os.path.isdir(HSDS):
        pytest.skip(f"HSDS 3.0 reference schemas not found at {HSDS} "
                    "(expected ../shared beside the repository)")
    out = {}
    for name in ("service", "organization", "service_list", "organization_list"):
        with open(os.path.join(HSDS, name + ".json")) as f:
            out[name] = json.load(f)
    return out


def check(schema, doc):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(doc)


@pytest.fixture(scope="module")
def exported(db):
    """An org with an open service (site, hours, languages, ages) and a
    confidential shelter, written through the API."""
    import conftest
    org = conftest._org(db, kind="victim_services", name=f"HSDS Org {uuid.uuid4().hex[:6]}")
    c = conftest.Client(mint(["provider"], org=org))
    open_svc = c.post(f"/v1/organizations/{org}/services", json={
        "name": "HSDS Drop-in Centre", "description": "Walk-in help",
        "needs": ["case_management", "housing_emergency"], "languages": ["en", "es-MX"],
        "age_min": 16, "age_max": 24, "eligibility_notes": "Young survivors",
        "eligibility": {"lgbtq_affirming": True, "no_id_required": False},
        "service_area": {"jurisdictions": ["06037"]},
        "location": {"lat": 34.05, "lon": -118.24,
                     "address": {"line1": "5 Open St", "city": "Los Angeles", "region": "CA",
                                 "postal_code": "90012", "country": "US"}},
        "hours": [{"day": "mon", "opens": "09:00", "closes": "17:00"},
                  {"day": "sat", "opens": "10:00", "closes": "14:00"}],
        "timezone": "America/Los_Angeles"})
    assert open_svc.status_code == 201, open_svc.text
    shelter = c.post(f"/v1/organizations/{org}/services", json={
        "name": "HSDS Safe House", "needs": ["housing"], "confidential": True,
        "open_24_7": True, "languages": ["en"],
        "service_area": {"jurisdictions": ["06037", "06059"],
                         "center": {"lat": 34.0, "lon": -118.0}, "radius_km": 40},
        "location": {"lat": 33.9, "lon": -118.1,
                     "address": {"line1": SECRET_STREET, "city": "Downey"}}})
    assert shelter.status_code == 201, shelter.text
    return {"org": org, "open": open_svc.json(), "shelter": shelter.json()}


def test_hsda_root(client, tokens):
    r = client(tokens["analyst"]).get("/v1/hsds/")
    assert r.status_code == 200
    assert r.json() == {"version": "3.0", "profile": "https://openreferral.org",
                        "openapi_url": "/openapi.yaml"}


def test_hsds_requires_a_token(anon):
    for path in ("/v1/hsds/", "/v1/hsds/services", "/v1/hsds/organizations"):
        assert anon.get(path).status_code == 401


def test_hsds_service_validates_and_maps_fields(client, tokens, schemas, exported):
    sid = exported["open"]["id"]
    r = client(tokens["hotline"]).get(f"/v1/hsds/services/{sid}")
    assert r.status_code == 200
    s = r.json()
    check(schemas["service"], s)
    assert s["id"] == sid and s["organization_id"] == exported["org"]
    assert s["status"] == "active" and s["name"] == "HSDS Drop-in Centre"
    assert (s["minimum_age"], s["maximum_age"]) == (16, 24)
    assert s["eligibility_description"] == "Young survivors"
    assert sorted(lang["code"] for lang in s["languages"]) == ["en", "es-MX"]
    terms = {a["taxonomy_term"]["code"]: a["taxonomy_term"] for a in s["attributes"]
             if a["link_type"] == "need"}
    assert set(terms) == {"case_management", "housing_emergency"}
    flags = [a["taxonomy_term"]["code"] for a in s["attributes"] if a["link_type"] == "eligibility"]
    assert flags == ["lgbtq_affirming"]
    assert {t["taxonomy"] for t in terms.values()} == {"Concord needs"}
    assert terms["housing_emergency"]["parent_id"]
    assert [a["name"] for a in s["service_areas"]] == ["06037"]
    days = sorted((x["byday"], x["opens_at"], x["closes_at"]) for x in s["schedules"])
    assert days == [("MO", "09:00", "17:00"), ("SA", "10:00", "14:00")]
    loc = s["service_at_locations"][0]["location"]
    assert (loc["latitude"], loc["longitude"]) == (34.05, -118.24)
    assert loc["addresses"][0]["address_1"] == "5 Open St"
    assert s["organization"]["id"] == exported["org"]


def test_hsds_confidential_service_has_areas_but_no_location(client, tokens, schemas, exported):
    sid = exported["shelter"]["id"]
    # Even the owning organization's export carries no site.
    for tok in (tokens["admin"], tokens["coordinator"], mint(["provider"], org=exported["org"])):
        r = client(tok).get(f"/v1/hsds/services/{sid}")
        assert r.status_code == 200
        check(schemas["service"], r.json())
        assert SECRET_STREET not in r.text and "33.9" not in r.text
        s = r.json()
        assert "service_at_locations" not in s
        assert sorted(a["name"] for a in s["service_areas"] if a["extent_type"] == "text") == \
            ["06037", "06059"]
        assert any(a["extent_type"] == "geojson" for a in s["service_areas"])
        assert s["schedules"][0]["byday"] == "MO,TU,WE,TH,FR,SA,SU"
    lst = client(tokens["admin"]).get(
        f"/v1/hsds/services?organization_id={exported['org']}")
    assert SECRET_STREET not in lst.text


def test_hsds_services_list_pages(client, tokens, schemas, exported):
    c = client(tokens["investigator"])
    base = f"/v1/hsds/services?organization_id={exported['org']}"
    p1 = c.get(base + "&per_page=1").json()
    assert (p1["total_items"], p1["total_pages"], p1["page_number"], p1["size"]) == (2, 2, 1, 1)
    assert (p1["first_page"], p1["last_page"], p1["empty"]) == (True, False, False)
    p2 = c.get(base + "&per_page=1&page=2").json()
    assert (p2["page_number"], p2["first_page"], p2["last_page"]) == (2, False, True)
    assert [x["name"] for x in p1["contents"] + p2["contents"]] == \
        ["HSDS Drop-in Centre", "HSDS Safe House"]
    p3 = c.get(base + "&per_page=1&page=3").json()
    assert p3["contents"] == [] and p3["empty"] is True and p3["size"] == 0
    for item in p1["contents"] + p2["contents"]:
        check(schemas["service_list"], item)
        check(schemas["service"], item)
    everything = c.get("/v1/hsds/services?per_page=100").json()
    assert everything["total_items"] >= 2
    for item in everything["contents"]:
        check(schemas["service_list"], item)


def test_hsds_organizations_validate(client, tokens, schemas, exported):
    c = client(tokens["prosecutor"])
    r = c.get(f"/v1/hsds/organizations/{exported['org']}")
    assert r.status_code == 200
    o = r.json()
    check(schemas["organization"], o)
    assert o["id"] == exported["org"] and o["description"]
    assert sorted(s["name"] for s in o["services"]) == ["HSDS Drop-in Centre", "HSDS Safe House"]
    assert SECRET_STREET not in r.text
    lst = c.get("/v1/hsds/organizations?per_page=100").json()
    assert lst["total_items"] >= 1 and lst["page_number"] == 1
    for item in lst["contents"]:
        check(schemas["organization_list"], item)


@pytest.mark.parametrize("query,field", [("page=0", "page"), ("per_page=0", "per_page"),
                                         ("per_page=101", "per_page"), ("page=x", "page"),
                                         ("organization_id=nope", "organization_id")])
def test_hsds_rejects_bad_paging(client, tokens, query, field):
    r = client(tokens["admin"]).get(f"/v1/hsds/services?{query}")
    assert r.status_code == 400 and {e["field"] for e in r.json()["errors"]} == {field}


def test_hsds_unknown_ids_are_404(client, tokens):
    c = client(tokens["admin"])
    assert c.get(f"/v1/hsds/services/{uuid.uuid4()}").status_code == 404
    assert c.get(f"/v1/hsds/organizations/{uuid.uuid4()}").status_code == 404
