"""Transfer of a case's lead role: requested by the lead organization
only, effective only when the receiving organization accepts."""
import pytest

from conftest import Client, mint
from test_cases_kit import NAME, Party, iso, new_case


@pytest.fixture(scope="module")
def orgs3(make_org):
    return {"a": Party(make_org, "victim_services", "case_manager"),
            "b": Party(make_org, "ngo", "case_manager"),
            "c": Party(make_org, "legal_aid", "case_manager"),
            "coord": Party(make_org, "government", "coordinator")}


def test_transfer_takes_effect_only_on_acceptance(orgs3):
    a, b = orgs3["a"], orgs3["b"]
    case = new_case(a)
    url = f"/v1/cases/{case['id']}"
    assert b.c.get(url).status_code == 404
    # The victim's consent for the receiver travels with the transfer.
    consent = {"categories": ["identity", "case_details", "needs"],
               "purpose": "continued care", "informed": True, "written": True,
               "form_ref": "FORM-T1", "expires_at": iso(30)}
    r = a.c.post(url + "/transfer", json={"to_org_id": b.org, "reason": "client moved",
                                          "consent": consent})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    # Pending: the receiver sees that the case exists, nothing categorised.
    doc = b.c.get(url).json()
    assert doc["lead_org_id"] == a.org and "identity" not in doc and "case_details" not in doc
    assert a.c.post(url + "/transfer", json={"to_org_id": b.org}).status_code == 409
    assert a.c.post(url + "/transfer/accept").status_code == 403
    r = b.c.post(url + "/transfer/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    doc = b.c.get(url).json()
    assert doc["lead_org_id"] == b.org and doc["identity"]["legal_name"] == NAME
    # A lead by transfer sees personal categories only under consent.
    assert "contact" not in doc and "location" not in doc
    assert a.c.get(url).status_code == 404
    assert b.c.post(url + "/transfer/accept").status_code == 409


def test_declined_transfer_changes_nothing(orgs3):
    a, c = orgs3["a"], orgs3["c"]
    case = new_case(a)
    url = f"/v1/cases/{case['id']}"
    a.c.post(url + "/transfer", json={"to_org_id": c.org})
    r = c.c.post(url + "/transfer/decline")
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert a.c.get(url).json()["lead_org_id"] == a.org
    assert c.c.get(url).status_code == 404


def test_only_the_lead_may_request_not_a_coordinator(orgs3):
    a, b, c, coord = orgs3["a"], orgs3["b"], orgs3["c"], orgs3["coord"]
    case = new_case(a)
    url = f"/v1/cases/{case['id']}/transfer"
    assert c.c.post(url, json={"to_org_id": b.org}).status_code == 404
    r = Client(coord.token).post(url, json={"to_org_id": c.org})
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "urn:concord:problem:not-lead"
    assert a.c.post(url, json={"to_org_id": c.org}).status_code == 201


def test_transfer_validation(orgs3, make_org):
    a = orgs3["a"]
    case = new_case(a)
    url = f"/v1/cases/{case['id']}/transfer"
    police = make_org(kind="law_enforcement")
    for body, field in (({"to_org_id": police}, "to_org_id"), ({"to_org_id": a.org}, "to_org_id"),
                        ({}, "to_org_id"), ({"to_org_id": orgs3["b"].org, "status": "accepted"},
                                            "status"),
                        ({"to_org_id": orgs3["b"].org, "consent": {"categories": ["dna"]}},
                         "consent.categories")):
        r = a.c.post(url, json=body)
        assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}, body
