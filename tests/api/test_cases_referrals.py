"""Cases meet referrals: a referral by case_id takes its profile from the
case (only for callers who see case_details), the organization whose
offer was accepted sees the case while the referral is open, and the
referral's progress moves the case's needs with history."""
import datetime
import time
import uuid

import pytest

from conftest import Client, mint
from test_cases_kit import Party, add_need, add_task, grant, new_case, shown


def referral_body(case_id, needs, categories=("needs", "case_details")):
    return {"case_id": case_id, "needs": list(needs), "urgency": "routine",
            "consent": {"categories": list(categories), "informed": True,
                        "written": True, "form_reference": "FORM-R1",
                        "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=30)).isoformat()}}


def post_referral(c, body):
    return c.post("/v1/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


@pytest.fixture(scope="module")
def parties(make_org):
    return {"lead": Party(make_org, "victim_services", "case_manager"),
            "provider": Party(make_org, "health", "provider"),
            "other": Party(make_org, "victim_services", "case_manager")}


def test_referral_by_case_id_uses_the_case_profile(parties, db):
    lead = parties["lead"]
    case = new_case(lead)
    r = post_referral(lead.c, referral_body(case["id"], ["food"]))
    assert r.status_code == 201, r.text
    with db.cursor() as cur:
        cur.execute("SELECT case_id::text, age, minor, languages, trafficking_type, jurisdiction "
                    "FROM referrals WHERE id = %s", (r.json()["id"],))
        assert cur.fetchone() == (case["id"], 17, True, ["es", "en"], "labor", "06037")
    r = post_referral(parties["other"].c, referral_body(case["id"], ["food"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case_id"


def matched(db, referral_id, timeout=15):
    """Wait until the worker's matching job for the referral has ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM jobs WHERE payload->>'referral_id' = %s "
                        "AND state = 'pending'", (referral_id,))
            if cur.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("matching did not end")


def offer_to(db, referral_id, org):
    """An open offer of the referral's needs to a service of org (direct
    insert once matching ended: matching is tested elsewhere)."""
    matched(db, referral_id)
    with db.cursor() as cur:
        cur.execute("INSERT INTO services (organization_id, name, needs, accepts_referrals) "
                    "VALUES (%s, 'case-ref test', '{food}', false) RETURNING id", (org,))
        sid = cur.fetchone()[0]
        cur.execute("UPDATE referral_offers SET status = 'withdrawn' WHERE referral_id = %s "
                    "AND status = 'offered'", (referral_id,))
        cur.execute("INSERT INTO referral_offers (referral_id, service_id, organization_id, "
                    "need_ids, expires_at) SELECT %s, %s, %s, array_agg(id), "
                    "now() + interval '1 day' FROM referral_needs WHERE referral_id = %s "
                    "RETURNING id", (referral_id, sid, org, referral_id))
        return str(cur.fetchone()[0])


def test_accepted_referral_opens_the_case_and_moves_its_needs(parties, db):
    lead, prov = parties["lead"], parties["provider"]
    case = new_case(lead)
    add_need(lead, case["id"], "food")
    rid = post_referral(lead.c, referral_body(case["id"], ["food"])).json()["id"]
    oid = offer_to(db, rid, prov.org)
    assert prov.c.get(f"/v1/cases/{case['id']}").status_code == 404
    staff = Client(mint(["provider"], org=prov.org))
    r = staff.post(f"/v1/referrals/{rid}/offers/{oid}/accept")
    assert r.status_code == 200, r.text
    doc = prov.c.get(f"/v1/cases/{case['id']}")
    assert doc.status_code == 200
    # The client's consent to be referred is recorded for the accepting
    # organization: it covers needs and case_details, nothing personal.
    assert set(doc.json()["redacted"]) == {"contact", "identity", "location"}
    consents = lead.c.get(f"/v1/cases/{case['id']}/consents").json()["items"]
    assert [(sorted(k["categories"]), k["state"]) for k in consents
            if k["shared_with_org_id"] == prov.org] == [(["case_details", "needs"], "active")]
    needs = lead.c.get(f"/v1/cases/{case['id']}/needs").json()["items"]
    assert [(n["code"], n["status"]) for n in needs] == [("food", "in_progress")]
    assert needs[0]["history"][-1]["changed_by_org_id"] == prov.org
    r = staff.post(f"/v1/referrals/{rid}/complete",
                   json={"outcomes": [{"need": "food", "outcome": "need_met"}]})
    assert r.status_code == 200, r.text
    needs = lead.c.get(f"/v1/cases/{case['id']}/needs").json()["items"]
    assert [h["status"] for h in needs[0]["history"]] == ["identified", "in_progress", "met"]
    # The referral is complete: the provider no longer sees the case.
    assert prov.c.get(f"/v1/cases/{case['id']}").status_code == 404


def test_consent_recorded_by_an_accepted_referral_is_audited(make_org, db):
    """Every write of a consent appends an audit record, the consent that
    accepting a referral about a case records included."""
    lead = Party(make_org, "victim_services", "case_manager")
    acceptor = Party(make_org, "legal_aid", "provider")
    case = new_case(lead)
    r = post_referral(lead.c, referral_body(case["id"], ["food"]))
    assert r.status_code == 201, r.text
    oid = offer_to(db, r.json()["id"], acceptor.org)
    a = acceptor.c.post(f"/v1/referrals/{r.json()['id']}/offers/{oid}/accept")
    assert a.status_code == 200, a.text
    with db.cursor() as cur:
        cur.execute("SELECT id FROM consents WHERE case_id = %s AND "
                    "shared_with_org = %s", (case["id"], acceptor.org))
        kid = cur.fetchone()[0]
        cur.execute("SELECT action, actor_org::text, fields FROM audit_log "
                    "WHERE object_type = 'consent' AND object_id = %s", (kid,))
        rows = [(a, o, sorted(f)) for a, o, f in cur.fetchall()]
        assert rows == [("create", acceptor.org, ["case_details", "needs"])]


def test_non_lead_cannot_grant_personal_data_through_a_referral(make_org, db):
    """An organization that sees a case (a task and a case_details
    consent) but is not its lead sends a referral about the case with a
    'consent' naming identity/contact/location. Only the lead records
    consents: accepting the referral must not open the case's personal
    data to the accepting organization."""
    lead = Party(make_org, "victim_services", "case_manager")
    helper = Party(make_org, "health", "provider")
    acceptor = Party(make_org, "legal_aid", "provider")
    case = new_case(lead)
    add_task(lead, case["id"], helper.org)
    grant(lead, case["id"], ["case_details", "needs"], org=helper.org)
    body = referral_body(case["id"], ["food"],
                         ["identity", "contact", "location", "case_details",
                          "needs"])
    r = post_referral(helper.c, body)
    if r.status_code == 422:
        assert r.json()["errors"][0]["field"].startswith("consent.categories")
        return
    assert r.status_code == 201, r.text
    oid = offer_to(db, r.json()["id"], acceptor.org)
    a = acceptor.c.post(f"/v1/referrals/{r.json()['id']}/offers/{oid}/accept")
    assert a.status_code == 200, a.text
    doc = acceptor.c.get(f"/v1/cases/{case['id']}").json()
    assert not ({"identity", "contact", "location"} & shown(doc)), doc


def test_hotline_cannot_read_a_case_through_a_referral(make_org):
    """A hotline operator of the organization that leads a case may not
    read cases, so may not refer by case_id either: the answer would
    carry the case's profile (age, gender, languages, trafficking type)."""
    lead = Party(make_org, "victim_services", "case_manager")
    case = new_case(lead)
    hot = Client(mint(["hotline"], org=lead.org))
    assert hot.get(f"/v1/cases/{case['id']}").status_code == 403
    r = post_referral(hot, referral_body(case["id"], ["food"]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "case_id"
