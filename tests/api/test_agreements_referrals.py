"""Agreements gate referrals as they gate cases: what an offered or
accepting organization sees of a referral's client needs the client's
consent AND a current agreement allowing each category to that
organization (read on every request, so a suspension or expiry hides it
on the next GET), and the consent an acceptance records on a case never
names a category no current agreement lets flow."""
import json

import pytest

from conftest import Client, mint
from test_consent_boundaries import (Org, add_service, new_jurisdiction,  # noqa: F401
                                     offers_of, open_case, post_referral,
                                     record_consent, referral_consent,
                                     wait_matched)
from test_task_forces import Coord, org_row, today

CONTACT = "text 555-0142 after 9pm"
NOTES = "met outside the depot"


def send(c, jur, categories=("contact", "location", "case_details", "needs"), **extra):
    body = {"client": {"age": 24, "languages": ["en"], "trafficking_type": "labor",
                       "safe_contact_method": CONTACT,
                       "location": {"jurisdiction": jur, "lat": 34.05, "lon": -118.25}},
            "needs": ["food"], "urgency": "urgent", "notes": NOTES,
            "consent": referral_consent(categories), **extra}
    r = post_referral(c, body)
    assert r.status_code == 201, r.text
    return r.json()


def offered_referral(db, make_org, add_service, provider_org=None, sender_org=None):
    """A referral with every personal category consented, offered to a
    provider (a default member with its allow-all agreement unless
    provider_org is given)."""
    jur = new_jurisdiction()
    sender = sender_org or make_org(kind="other")
    provider = provider_org or make_org(kind="ngo")
    add_service(provider, ["food"], jur)
    hot = Client(mint(["hotline"], org=sender))
    ref = send(hot, jur)
    wait_matched(db, ref["id"])
    offers = [o for o in offers_of(db, ref["id"]) if o[1] == provider]
    assert offers, offers_of(db, ref["id"])
    ref["sender_client"] = hot
    return ref, provider, Client(mint(["provider"], org=provider)), offers[0][0]


def personal(doc):
    """The client's personal categories a referral document shows."""
    client = doc.get("client", {})
    got = set()
    if "safe_contact_method" in client:
        got.add("contact")
    if "location" in client:
        got.add("location")
    if "age" in client or "notes" in client:
        got.add("case_details")
    return got


def set_agreements(db, org, sql, args=()):
    with db.cursor() as cur:
        cur.execute(f"UPDATE agreements SET {sql} WHERE org_a = %s OR org_b = %s",
                    (*args, org, org))
        assert cur.rowcount >= 1


@pytest.mark.parametrize("change", ["suspend", "expire"])
def test_an_agreement_that_stops_hides_the_referrals_client_on_the_next_get(
        db, make_org, add_service, change):
    ref, provider, pc, _ = offered_referral(db, make_org, add_service)
    url = f"/v1/referrals/{ref['id']}"
    doc = pc.get(url).json()
    assert personal(doc) == {"contact", "location", "case_details"}, doc
    assert CONTACT in json.dumps(doc)
    if change == "suspend":
        set_agreements(db, provider, "status = 'suspended'")
    else:
        set_agreements(db, provider, "effective_on = %s, expires_on = %s",
                       (today(-10), today(-1)))
    r = pc.get(url)
    assert r.status_code == 200
    doc = r.json()
    assert personal(doc) == set(), doc
    assert CONTACT not in r.text and NOTES not in r.text
    assert {"contact", "location", "case_details", "needs"} <= set(doc["redacted"])
    # Its own offer's needs stay visible: it must know what it is offered.
    assert [n["code"] for n in doc["needs"]] == ["food"]
    # The sender is not affected.
    assert CONTACT in ref["sender_client"].get(url).text
    # Back to active and current: the client shows again.
    set_agreements(db, provider, "status = 'active', effective_on = %s, expires_on = NULL",
                   (today(-10),))
    assert personal(pc.get(url).json()) == {"contact", "location", "case_details"}


def test_a_category_the_agreement_does_not_allow_is_hidden(db, make_org, add_service):
    ref, provider, pc, _ = offered_referral(db, make_org, add_service)
    set_agreements(db, provider, "categories = %s", (["case_details", "needs"],))
    r = pc.get(f"/v1/referrals/{ref['id']}")
    doc = r.json()
    assert personal(doc) == {"case_details"}, doc
    assert doc["client"]["age"] == 24
    assert CONTACT not in r.text
    assert sorted(doc["redacted"]) == ["contact", "location"]


def test_a_consent_without_an_agreement_shows_nothing_personal(db, add_service):
    co = Coord(db)
    sender, provider = org_row(db, kind="other", member=False), org_row(db, kind="ngo",
                                                                        member=False)
    co.add(sender, discipline="other")
    co.add(provider, discipline="ngo")
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM agreements WHERE org_a = %s OR org_b = %s",
                    (provider, provider))
        assert cur.fetchone()[0] == 0
    ref, _, pc, oid = offered_referral(db, None, add_service, provider_org=provider,
                                       sender_org=sender)
    url = f"/v1/referrals/{ref['id']}"
    r = pc.get(url)
    assert r.status_code == 200
    assert personal(r.json()) == set(), r.json()
    assert CONTACT not in r.text and NOTES not in r.text
    # Accepting does not open it either.
    a = pc.post(f"{url}/offers/{oid}/accept")
    assert a.status_code == 200, a.text
    r = pc.get(url)
    assert personal(r.json()) == set() and CONTACT not in r.text


def test_acceptance_records_only_categories_an_agreement_allows(db, make_org, add_service):
    lead = Org(make_org, "victim_services", "case_manager")
    provider = make_org(kind="ngo")
    jur = new_jurisdiction()
    add_service(provider, ["food"], jur)
    case = open_case(lead, jurisdiction=jur)
    set_agreements(db, provider, "categories = %s", (["case_details", "needs"],))
    r = post_referral(lead.c, {"case_id": case["id"], "needs": ["food"], "urgency": "urgent",
                               "consent": referral_consent(["contact", "case_details",
                                                            "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    oid = next(o[0] for o in offers_of(db, rid) if o[1] == provider)
    pc = Client(mint(["provider"], org=provider))
    a = pc.post(f"/v1/referrals/{rid}/offers/{oid}/accept")
    assert a.status_code == 200, a.text
    with db.cursor() as cur:
        cur.execute("SELECT categories FROM consents WHERE case_id = %s AND "
                    "shared_with_org = %s AND referral_id = %s", (case["id"], provider, rid))
        rows = cur.fetchall()
    assert [sorted(x[0]) for x in rows] == [["case_details", "needs"]]


def test_acceptance_without_any_allowed_category_records_no_consent(db, make_org, add_service):
    lead = Org(make_org, "victim_services", "case_manager")
    provider = make_org(kind="ngo")
    jur = new_jurisdiction()
    add_service(provider, ["food"], jur)
    case = open_case(lead, jurisdiction=jur)
    set_agreements(db, provider, "status = 'suspended'")
    r = post_referral(lead.c, {"case_id": case["id"], "needs": ["food"], "urgency": "urgent",
                               "consent": referral_consent(["contact", "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    oid = next(o[0] for o in offers_of(db, rid) if o[1] == provider)
    a = Client(mint(["provider"], org=provider)).post(f"/v1/referrals/{rid}/offers/{oid}/accept")
    assert a.status_code == 200, a.text
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM consents WHERE case_id = %s AND referral_id = %s",
                    (case["id"], rid))
        assert cur.fetchone()[0] == 0
