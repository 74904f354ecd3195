"""Consent boundaries: an organization sees a personal category
(identity, contact, location) of a case only under a current consent that
names it or its kind, recorded by the organization that holds the case
with the victim (the lead). Nothing an organization does on its own
creates, widens or prolongs its own access, and revoking or ending the
relation ends access on the next request.

Covers: transfers of the lead role (and what a lead by transfer can
infer from fields it may change), referrals about a case (cancelling
them, and the consents they record ending with the sender's hold and
with the referral), personal data at rest, investigations and their
participating agencies, tasks (done or cancelled ones stay closed to
their assignee), the privacy of consent and task records, and the API's
database role."""
import datetime
import os
import secrets
import time
import urllib.parse
import uuid

import psycopg2
import psycopg2.sql
import pytest

from conftest import ADMIN_DB, Client, etag, mint

# The single function the API's database role may execute.
ENTRY_POINT = "rpc.call(text,jsonb,jsonb,jsonb)"

PERSONAL = {"identity", "contact", "location"}
CATEGORIES = {"identity", "contact", "location", "case_details", "needs"}
NAME = "Ana Boundary-Example"
PHONE = "+1-213-555-0142"
ADDRESS = "7 Quiet Court, Harbour Town"


# ------------------------------------------------------------ helpers

def iso(days=0.0):
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(days=days)).isoformat()


def parse_ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Org:
    """An organization of a kind with a client holding one role."""

    def __init__(self, make_org, kind, role):
        self.org = make_org(kind=kind)
        self.kind = kind
        self.role = role
        self.c = Client(mint([role], org=self.org))


def case_body(**over):
    body = {
        "identified_on": "2026-03-01",
        "identified_by": {"how": "hotline"},
        "jurisdiction": "06037",
        "demographics": {"age": 17, "gender": "female", "nationality": "MX",
                         "languages": ["es", "en"], "trafficking_type": "labor"},
        "identity": {"legal_name": NAME, "aliases": ["Ana B"],
                     "date_of_birth": "2009-05-04"},
        "contact": {"phone": PHONE, "email": "ana@example.org"},
        "location": {"address": ADDRESS},
    }
    body.update(over)
    return body


def open_case(lead, **over):
    r = lead.c.post("/v1/cases", json=case_body(**over))
    assert r.status_code == 201, r.text
    return r.json()


def add_need(lead, case_id, code):
    r = lead.c.post(f"/v1/cases/{case_id}/needs", json={"code": code})
    assert r.status_code == 201, r.text
    return r.json()


def add_task(actor, case_id, org, title="Check in"):
    r = actor.c.post(f"/v1/cases/{case_id}/tasks",
                     json={"title": title, "kind": "follow_up", "due_at": iso(3),
                           "assigned_org_id": org})
    assert r.status_code == 201, r.text
    return r.json()


def consent_fields(categories, days=30):
    return {"categories": list(categories), "purpose": "service coordination",
            "informed": True, "written": True,
            "form_ref": "FORM-" + uuid.uuid4().hex[:6], "expires_at": iso(days)}


def record_consent(lead, case_id, categories, org=None, kind=None, days=30):
    body = consent_fields(categories, days)
    if org:
        body["shared_with_org_id"] = org
    if kind:
        body["shared_with_kind"] = kind
    r = lead.c.post(f"/v1/cases/{case_id}/consents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def shown(doc):
    return {k for k in CATEGORIES if k in doc}


def patch_task(actor, case_id, task_id, body, db):
    with db.cursor() as cur:
        cur.execute("SELECT version FROM tasks WHERE id = %s", (task_id,))
        version = cur.fetchone()[0]
    url = f"/v1/cases/{case_id}/tasks/{task_id}"
    return actor.c.patch(url, json=body, headers={"If-Match": etag(url, version)})


def task_status(db, task_id):
    with db.cursor() as cur:
        cur.execute("SELECT status FROM tasks WHERE id = %s", (task_id,))
        return cur.fetchone()[0]


def referral_consent(categories, days=30):
    return {"categories": list(categories), "informed": True, "written": True,
            "form_reference": "FORM-" + uuid.uuid4().hex[:6], "expires_at": iso(days)}


def post_referral(c, body):
    return c.post("/v1/referrals", json=body,
                  headers={"Idempotency-Key": uuid.uuid4().hex})


def wait_matched(db, referral_id, timeout=20):
    """Wait until the worker's matching job for the referral has ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM jobs WHERE kind = 'referral.match' "
                        "AND payload->>'referral_id' = %s "
                        "AND state IN ('pending', 'running')", (referral_id,))
            if cur.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("matching did not end")


def offers_of(db, referral_id):
    """[(offer id, organization id, status)] of a referral."""
    with db.cursor() as cur:
        cur.execute("SELECT id::text, organization_id::text, status FROM referral_offers "
                    "WHERE referral_id = %s ORDER BY created_at, id", (referral_id,))
        return cur.fetchall()


def new_jurisdiction():
    """A jurisdiction code no other test's service covers."""
    return "97" + "".join(secrets.choice("0123456789") for _ in range(8))


def _insert_service(db, org, needs, jurisdiction):
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO services (organization_id, name, needs, languages, "
            "trafficking_types, open_24_7, accepts_referrals, status, "
            "area_jurisdictions) VALUES (%s, %s, %s, %s, %s, true, true, 'active', %s) "
            "RETURNING id",
            (org, "boundary svc " + uuid.uuid4().hex[:6], list(needs), ["en", "es"],
             ["sex", "labor"], [jurisdiction]))
        return str(cur.fetchone()[0])


@pytest.fixture
def add_service(db):
    """Only the services a test adds take part in matching while it runs:
    add_service(org, needs, jurisdiction) -> service id. Afterwards every
    other service accepts referrals again and the test's are deleted."""
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = false "
                    "WHERE accepts_referrals RETURNING id::text")
        saved = [row[0] for row in cur.fetchall()]
    mine = []

    def add(org, needs, jurisdiction):
        mine.append(_insert_service(db, org, needs, jurisdiction))
        return mine[-1]

    yield add
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = true WHERE id = ANY (%s::uuid[])",
                    (saved,))
        cur.execute("UPDATE services SET deleted_at = now(), accepts_referrals = false "
                    "WHERE id = ANY (%s::uuid[])", (mine,))


# ------------------------------------------------------------ transfers

def test_only_the_lead_organization_may_propose_a_transfer(make_org, db):
    lead = Org(make_org, "victim_services", "case_manager")
    receiver = Org(make_org, "ngo", "case_manager")
    helper = Org(make_org, "legal_aid", "case_manager")
    coord = Org(make_org, "government", "coordinator")
    case = open_case(lead)
    add_task(lead, case["id"], helper.org)
    url = f"/v1/cases/{case['id']}/transfer"
    for who, target in ((coord, receiver.org), (coord, coord.org),
                        (helper, helper.org), (helper, receiver.org)):
        r = who.c.post(url, json={"to_org_id": target, "reason": "take it over"})
        assert r.status_code == 403, (who.kind, target == who.org, r.status_code, r.text)
        assert r.json()["type"] == "urn:concord:problem:not-lead"
        with db.cursor() as cur:
            cur.execute("SELECT lead_org::text, (SELECT count(*) FROM case_transfers t "
                        "WHERE t.case_id = c.id AND t.status = 'pending') "
                        "FROM cases c WHERE c.id = %s", (case["id"],))
            assert cur.fetchone() == (lead.org, 0)
    # The lead itself still proposes.
    r = lead.c.post(url, json={"to_org_id": receiver.org})
    assert r.status_code == 201, r.text


def test_lead_by_transfer_without_consent_sees_no_personal_data(make_org):
    old, new = (Org(make_org, "victim_services", "case_manager"),
                Org(make_org, "ngo", "case_manager"))
    case = open_case(old)
    add_need(old, case["id"], "food")
    url = f"/v1/cases/{case['id']}"
    r = old.c.post(url + "/transfer", json={"to_org_id": new.org, "reason": "client moved"})
    assert r.status_code == 201, r.text
    r = new.c.post(url + "/transfer/accept")
    assert r.status_code == 200, r.text
    doc = new.c.get(url).json()
    assert doc["lead_org_id"] == new.org
    assert set(doc["redacted"]) >= PERSONAL, doc["redacted"]
    assert not (PERSONAL & shown(doc)), doc
    assert NAME not in str(doc) and PHONE not in str(doc) and ADDRESS not in str(doc)
    assert {"case_details", "needs"} <= shown(doc)
    assert [n["code"] for n in doc["needs"]] == ["food"]
    assert old.c.get(url).status_code == 404


def test_consent_carried_by_a_transfer_opens_only_the_categories_it_names(make_org, db):
    old, new = (Org(make_org, "victim_services", "case_manager"),
                Org(make_org, "health", "case_manager"))
    case = open_case(old)
    url = f"/v1/cases/{case['id']}"
    body = {"to_org_id": new.org, "reason": "specialised care",
            "consent": consent_fields(["identity", "case_details", "needs"])}
    r = old.c.post(url + "/transfer", json=body)
    assert r.status_code == 201, r.text
    r = new.c.post(url + "/transfer/accept")
    assert r.status_code == 200, r.text
    doc = new.c.get(url).json()
    assert doc["lead_org_id"] == new.org
    assert doc["identity"]["legal_name"] == NAME
    assert "contact" not in doc and "location" not in doc
    assert {"contact", "location"} <= set(doc["redacted"])
    # The consent is the previous lead's record, naming the receiver.
    with db.cursor() as cur:
        cur.execute("SELECT categories, recorded_by_org::text FROM consents "
                    "WHERE case_id = %s AND shared_with_org = %s", (case["id"], new.org))
        rows = [(sorted(c), o) for c, o in cur.fetchall()]
    assert rows == [(["case_details", "identity", "needs"], old.org)]
    assert old.c.get(url).status_code == 404


def test_lead_by_transfer_cannot_record_consent_for_itself(make_org, db):
    old, new = (Org(make_org, "victim_services", "case_manager"),
                Org(make_org, "ngo", "case_manager"))
    case = open_case(old)
    url = f"/v1/cases/{case['id']}"
    assert old.c.post(url + "/transfer", json={"to_org_id": new.org}).status_code == 201
    assert new.c.post(url + "/transfer/accept").status_code == 200
    for target in ({"shared_with_org_id": new.org}, {"shared_with_kind": new.kind}):
        body = dict(consent_fields(["identity", "contact", "location"]), **target)
        r = new.c.post(url + "/consents", json=body)
        assert r.status_code in (403, 422), (target, r.status_code, r.text)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM consents WHERE case_id = %s AND "
                    "(shared_with_org = %s OR shared_with_kind = %s)",
                    (case["id"], new.org, new.kind))
        assert cur.fetchone()[0] == 0
    doc = new.c.get(url).json()
    assert not (PERSONAL & shown(doc)), doc


def test_lead_by_transfer_without_identity_consent_cannot_learn_date_of_birth(make_org):
    """A lead by transfer sees no identity without a consent; changing
    identified_on (a field it may change) must not turn age_group into an
    oracle for the date of birth it may not read."""
    old = Org(make_org, "victim_services", "case_manager")
    new = Org(make_org, "ngo", "case_manager")
    case = open_case(old, identity={"legal_name": "Dob Oracle-Example",
                                    "date_of_birth": "1990-03-15"},
                     demographics={"gender": "female"})
    url = f"/v1/cases/{case['id']}"
    assert old.c.post(url + "/transfer", json={"to_org_id": new.org}).status_code == 201
    assert new.c.post(url + "/transfer/accept").status_code == 200
    assert "identity" in new.c.get(url).json()["redacted"]
    groups = {}
    # 18 years before each of these is the day before / the day of birth.
    for on in ("2008-03-14", "2008-03-15"):
        etag = new.c.get(url).headers["etag"]
        r = new.c.patch(url, json={"identified_on": on}, headers={"If-Match": etag})
        if r.status_code == 200:
            groups[on] = r.json()["case_details"]["demographics"]["age_group"]
    assert len(set(groups.values())) <= 1, (
        "age_group flips exactly at the hidden date of birth 1990-03-15", groups)


# ------------------------------------------------------------ referrals

def test_sender_is_never_offered_its_own_referral(make_org, db, add_service):
    """An organization that sees a case through a task and is the only
    provider of a need sends a referral about the case: it is not offered
    the referral, and cannot accept any offer of it."""
    lead = Org(make_org, "victim_services", "case_manager")
    sender = Org(make_org, "health", "provider")
    where = new_jurisdiction()
    case = open_case(lead, jurisdiction=where)
    add_task(lead, case["id"], sender.org)
    record_consent(lead, case["id"], ["case_details", "needs"], org=sender.org)
    add_service(sender.org, ["clothing"], where)
    r = post_referral(sender.c, {"case_id": case["id"], "needs": ["clothing"],
                                 "urgency": "routine",
                                 "consent": referral_consent(["case_details", "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    offers = offers_of(db, rid)
    assert [o for o in offers if o[1] == sender.org] == [], offers
    with db.cursor() as cur:
        cur.execute("SELECT status FROM referral_needs WHERE referral_id = %s", (rid,))
        assert cur.fetchone()[0] in ("unmatched", "offered")
    for oid, _, _ in offers:
        a = sender.c.post(f"/v1/referrals/{rid}/offers/{oid}/accept")
        assert a.status_code in (404, 409), a.text
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM consents WHERE case_id = %s AND "
                    "recorded_by_org = %s", (case["id"], sender.org))
        assert cur.fetchone()[0] == 0


def test_referral_by_a_non_lead_records_no_consent_wider_or_longer_than_its_own(
        make_org, db, add_service):
    lead = Org(make_org, "victim_services", "case_manager")
    sender = Org(make_org, "health", "provider")
    taker = Org(make_org, "legal_aid", "provider")
    where = new_jurisdiction()
    case = open_case(lead, jurisdiction=where)
    add_task(lead, case["id"], sender.org)
    own = record_consent(lead, case["id"], ["case_details"], org=sender.org, days=5)
    add_service(taker.org, ["clothing"], where)
    r = post_referral(sender.c, {"case_id": case["id"], "needs": ["clothing"],
                                 "urgency": "routine",
                                 "consent": referral_consent(["case_details", "needs"],
                                                             days=30)})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    offered = [o for o in offers_of(db, rid) if o[1] == taker.org and o[2] == "offered"]
    assert offered, offers_of(db, rid)
    a = taker.c.post(f"/v1/referrals/{rid}/offers/{offered[0][0]}/accept")
    assert a.status_code == 200, a.text
    items = lead.c.get(f"/v1/cases/{case['id']}/consents").json()["items"]
    recorded = [k for k in items if k["shared_with_org_id"] == taker.org]
    own_expiry = parse_ts(own["expires_at"])
    wider = [(k["categories"], k["expires_at"]) for k in recorded
             if not set(k["categories"]) <= {"case_details"}
             or parse_ts(k["expires_at"]) > own_expiry]
    assert wider == [], (f"sender holds ['case_details'] until {own['expires_at']}", wider)


def test_lead_cancels_a_referral_about_its_case_and_ends_the_takers_access(
        make_org, db, add_service):
    lead = Org(make_org, "victim_services", "case_manager")
    sender = Org(make_org, "health", "provider")
    taker = Org(make_org, "legal_aid", "provider")
    where = new_jurisdiction()
    case = open_case(lead, jurisdiction=where)
    add_task(lead, case["id"], sender.org)
    record_consent(lead, case["id"], ["case_details", "needs"], org=sender.org)
    add_service(taker.org, ["clothing"], where)
    r = post_referral(sender.c, {"case_id": case["id"], "needs": ["clothing"],
                                 "urgency": "routine",
                                 "consent": referral_consent(["case_details", "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    offered = [o for o in offers_of(db, rid) if o[1] == taker.org and o[2] == "offered"]
    assert offered, offers_of(db, rid)
    assert taker.c.post(f"/v1/referrals/{rid}/offers/{offered[0][0]}/accept").status_code == 200
    assert taker.c.get(f"/v1/cases/{case['id']}").status_code == 200
    r = lead.c.post(f"/v1/referrals/{rid}/cancel", json={"reason": "the client withdrew"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert taker.c.get(f"/v1/cases/{case['id']}").status_code == 404


def _referral_from_task_holder(make_org, db, add_service, lead, taker_kind="legal_aid",
                               categories=("case_details", "needs", "identity")):
    sender = Org(make_org, "health", "provider")
    taker = Org(make_org, taker_kind, "provider")
    where = new_jurisdiction()
    case = open_case(lead, jurisdiction=where)
    add_task(lead, case["id"], sender.org)
    own = record_consent(lead, case["id"], list(categories), org=sender.org)
    return sender, taker, where, case, own


def test_lead_offered_on_a_referral_about_its_case_can_still_cancel_it(make_org, db,
                                                                     add_service):
    """The lead may cancel any referral about its case, which ends the
    taker's access; having been offered (and declined) that referral
    itself must not take this away."""
    lead = Org(make_org, "victim_services", "case_manager")
    sender, taker, where, case, _ = _referral_from_task_holder(make_org, db, add_service, lead)
    add_service(lead.org, ["clothing"], where)
    slower = add_service(taker.org, ["clothing"], where)
    with db.cursor() as cur:     # ranks the lead's own service first
        cur.execute("UPDATE services SET open_24_7 = false WHERE id = %s", (slower,))
    r = post_referral(sender.c, {"case_id": case["id"], "needs": ["clothing"],
                                 "urgency": "routine",
                                 "consent": referral_consent(["case_details", "needs",
                                                              "identity"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    first = offers_of(db, rid)
    assert [o[1] for o in first] == [lead.org], first
    r = lead.c.post(f"/v1/referrals/{rid}/offers/{first[0][0]}/decline",
                    json={"reason": "we hold the case already"})
    assert r.status_code == 200, r.text
    nxt = [o for o in offers_of(db, rid) if o[1] == taker.org and o[2] == "offered"]
    assert nxt, offers_of(db, rid)
    assert taker.c.post(f"/v1/referrals/{rid}/offers/{nxt[0][0]}/accept").status_code == 200
    assert taker.c.get(f"/v1/cases/{case['id']}").status_code == 200
    r = lead.c.post(f"/v1/referrals/{rid}/cancel", json={"reason": "the client withdrew"})
    assert r.status_code == 200, (r.status_code, r.text)
    assert taker.c.get(f"/v1/cases/{case['id']}").status_code == 404


def test_revoking_the_senders_consent_ends_the_access_its_referral_passed_on(
        make_org, db, add_service):
    """A referral records for the taker no more, and for no longer, than
    the sender holds; when the lead revokes the sender's consent, what
    was passed on from it ends on the next request too."""
    lead = Org(make_org, "victim_services", "case_manager")
    sender, taker, where, case, own = _referral_from_task_holder(make_org, db, add_service,
                                                                 lead)
    add_service(taker.org, ["clothing"], where)
    r = post_referral(sender.c, {"case_id": case["id"], "needs": ["clothing"],
                                 "urgency": "routine",
                                 "consent": referral_consent(["case_details", "needs",
                                                              "identity"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    offered = [o for o in offers_of(db, rid) if o[1] == taker.org and o[2] == "offered"]
    assert offered, offers_of(db, rid)
    assert taker.c.post(f"/v1/referrals/{rid}/offers/{offered[0][0]}/accept").status_code == 200
    assert "identity" in taker.c.get(f"/v1/cases/{case['id']}").json()
    r = lead.c.post(f"/v1/cases/{case['id']}/consents/{own['id']}/revoke")
    assert r.status_code == 200, r.text
    assert "identity" not in sender.c.get(f"/v1/cases/{case['id']}").json()
    doc = taker.c.get(f"/v1/cases/{case['id']}").json()
    assert "identity" not in doc, ("the taker still reads identity the lead revoked "
                                   "from the sender", doc.get("identity"))


def test_completing_a_referral_ends_the_consent_its_acceptance_recorded(make_org, db,
                                                                       add_service):
    """A completed referral ends the taker's relation; the consent its
    acceptance recorded must not keep opening personal data when the
    lead later gives the same organization an unrelated task."""
    lead = Org(make_org, "victim_services", "case_manager")
    taker = Org(make_org, "legal_aid", "provider")
    where = new_jurisdiction()
    case = open_case(lead, jurisdiction=where)
    add_service(taker.org, ["clothing"], where)
    r = post_referral(lead.c, {"case_id": case["id"], "needs": ["clothing"],
                               "urgency": "routine",
                               "consent": referral_consent(["case_details", "needs",
                                                            "identity"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    oid = offers_of(db, rid)[0][0]
    assert taker.c.post(f"/v1/referrals/{rid}/offers/{oid}/accept").status_code == 200
    r = taker.c.post(f"/v1/referrals/{rid}/complete",
                     json={"outcomes": [{"need": "clothing", "outcome": "need_met"}]})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert taker.c.get(f"/v1/cases/{case['id']}").status_code == 404
    add_task(lead, case["id"], taker.org, title="Paperwork drop-off")
    doc = taker.c.get(f"/v1/cases/{case['id']}").json()
    assert not (PERSONAL & set(doc)), ("the completed referral's consent still opens",
                                       sorted(PERSONAL & set(doc)))


# ------------------------------------------------------- data at rest

def test_no_personal_marker_is_stored_as_plain_text(make_org, db, tokens):
    markers = {k: f"mk-{k}-{secrets.token_hex(8)}" for k in (
        "legal_name", "alias", "phone", "email", "address", "contact_method",
        "notes", "case_notes")}
    lead = Org(make_org, "victim_services", "case_manager")
    case = open_case(lead, identity={"legal_name": markers["legal_name"],
                                     "aliases": [markers["alias"]]},
                     contact={"phone": markers["phone"],
                              "email": markers["email"] + "@example.org"},
                     location={"address": markers["address"]})
    hot = Client(tokens["hotline"])
    r = post_referral(hot, {"client": {"age": 30, "location": {"lat": 10.5, "lon": 10.5},
                                       "safe_contact_method": markers["contact_method"]},
                            "needs": ["food"], "urgency": "routine",
                            "consent": referral_consent(["needs", "contact"]),
                            "notes": markers["notes"]})
    assert r.status_code == 201, r.text
    inline_id = r.json()["id"]
    r = post_referral(lead.c, {"case_id": case["id"], "needs": ["food"],
                               "urgency": "routine",
                               "consent": referral_consent(["case_details", "needs"]),
                               "notes": markers["case_notes"]})
    assert r.status_code == 201, r.text
    wait_matched(db, inline_id)
    wait_matched(db, r.json()["id"])
    patterns = ["%" + m + "%" for m in markers.values()]
    found = []
    with db.cursor() as cur:
        cur.execute("""SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema
             AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND (c.data_type IN ('text',
             'character varying', 'character', 'json', 'jsonb')
             OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar',
             '_json', '_jsonb')))
            ORDER BY 1, 2""")
        columns = cur.fetchall()
        assert ("idempotency_keys", "body") in columns
        for table, column in columns:
            cur.execute(psycopg2.sql.SQL(
                "SELECT count(*) FROM public.{} WHERE {}::text LIKE ANY (%s)").format(
                psycopg2.sql.Identifier(table), psycopg2.sql.Identifier(column)),
                (patterns,))
            if cur.fetchone()[0]:
                found.append(f"{table}.{column}")
    assert found == [], f"personal data in plain text at rest: {found}"


# ------------------------------------------------------- investigations

def agency_status(doc, org):
    """The status (pending/active/...) of an agency on an investigation
    document: its entry in `agencies` ({org_id, role, status})."""
    for a in doc.get("agencies") or []:
        if a.get("org_id") == org:
            return a.get("status")
    return None


@pytest.fixture
def agencies(make_org):
    return {"le1": Org(make_org, "law_enforcement", "investigator"),
            "le2": Org(make_org, "law_enforcement", "investigator"),
            "le3": Org(make_org, "law_enforcement", "investigator"),
            "shelter": Org(make_org, "victim_services", "case_manager")}


def open_investigation(le, participants):
    r = le.c.post("/v1/investigations", json={"title": "Operation Harbour",
                                              "participating_agency_ids": participants,
                                              "jurisdictions": ["06037"]})
    assert r.status_code == 201, r.text
    return r.json()


def test_participating_agency_is_pending_until_it_accepts(agencies):
    le1, le2, le3 = agencies["le1"], agencies["le2"], agencies["le3"]
    inv = open_investigation(le2, [le1.org, le3.org])
    url = f"/v1/investigations/{inv['id']}"
    doc = le2.c.get(url).json()
    assert agency_status(doc, le2.org) == "active", doc
    assert agency_status(doc, le1.org) == "pending", doc
    assert agency_status(doc, le3.org) == "pending", doc
    r = le1.c.post(url + "/participation/accept", validate=False)
    assert r.status_code == 200, r.text
    r = le3.c.post(url + "/participation/decline", validate=False)
    assert r.status_code == 200, r.text
    doc = le2.c.get(url).json()
    assert agency_status(doc, le1.org) == "active", doc
    assert agency_status(doc, le3.org) != "active", doc


def test_case_link_needs_a_consent_naming_the_linking_agency(agencies, db):
    le1, le2, shelter = agencies["le1"], agencies["le2"], agencies["shelter"]
    case = open_case(shelter)
    record_consent(shelter, case["id"], ["case_details"], org=le1.org)
    inv = open_investigation(le2, [le1.org])
    links = f"/v1/investigations/{inv['id']}/cases"

    def linked():
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM investigation_cases WHERE "
                        "investigation_id = %s", (inv["id"],))
            return cur.fetchone()[0]

    r = le2.c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 409, (r.status_code, r.text)
    assert r.json()["type"] == "urn:concord:problem:consent-required"
    assert linked() == 0
    # Still refused once the named agency has joined: its consent is not LE2's.
    assert le1.c.post(f"/v1/investigations/{inv['id']}/participation/accept",
                      validate=False).status_code == 200
    r = le2.c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 409, (r.status_code, r.text)
    assert r.json()["type"] == "urn:concord:problem:consent-required"
    assert linked() == 0
    k = record_consent(shelter, case["id"], ["case_details"], org=le2.org)
    r = le2.c.post(links, json={"case_id": case["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["consent_id"] == k["id"]


# ------------------------------------------------------------ tasks

def test_assignee_cannot_reopen_a_task_the_lead_cancelled(make_org, db):
    lead = Org(make_org, "victim_services", "case_manager")
    x = Org(make_org, "health", "provider")
    coord = Org(make_org, "government", "coordinator")

    # One task: cancelling it ends the assignee's access.
    case = open_case(lead)
    t = add_task(lead, case["id"], x.org)
    assert patch_task(lead, case["id"], t["id"], {"status": "cancelled"}, db).status_code == 200
    for st in ("open", "in_progress"):
        r = patch_task(x, case["id"], t["id"], {"status": st}, db)
        assert r.status_code in (403, 404), (st, r.status_code, r.text)
    assert task_status(db, t["id"]) == "cancelled"
    assert x.c.get(f"/v1/cases/{case['id']}").status_code == 404

    # Two tasks, cancelled one after the other: in between, the assignee
    # (still seeing the case through the second) may not reopen the first.
    case = open_case(lead)
    t1 = add_task(lead, case["id"], x.org, title="First visit")
    t2 = add_task(lead, case["id"], x.org, title="Second visit")
    assert patch_task(lead, case["id"], t1["id"], {"status": "cancelled"}, db).status_code == 200
    for st in ("open", "in_progress"):
        r = patch_task(x, case["id"], t1["id"], {"status": st}, db)
        assert r.status_code in (403, 404), (st, r.status_code, r.text)
        assert task_status(db, t1["id"]) == "cancelled"
    assert patch_task(lead, case["id"], t2["id"], {"status": "cancelled"}, db).status_code == 200
    assert x.c.get(f"/v1/cases/{case['id']}").status_code == 404
    r = patch_task(x, case["id"], t1["id"], {"status": "open"}, db)
    assert r.status_code in (403, 404), r.text

    # The lead and a coordinator may reopen.
    r = patch_task(lead, case["id"], t1["id"], {"status": "open"}, db)
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    r = patch_task(coord, case["id"], t2["id"], {"status": "in_progress"}, db)
    assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text


def test_assignee_cannot_reopen_a_task_the_lead_marked_done(make_org, db):
    """Marking a task done ends the assignee's relation through it; an
    assignee still seeing the case through a second task may not reopen
    the first and so keep the case after the lead closes the second."""
    lead = Org(make_org, "victim_services", "case_manager")
    x = Org(make_org, "health", "provider")
    case = open_case(lead)
    record_consent(lead, case["id"], ["identity"], org=x.org)
    t1 = add_task(lead, case["id"], x.org, title="First visit")
    t2 = add_task(lead, case["id"], x.org, title="Second visit")
    assert patch_task(lead, case["id"], t1["id"], {"status": "done"}, db).status_code == 200
    r = patch_task(x, case["id"], t1["id"], {"status": "open"}, db)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    assert patch_task(lead, case["id"], t2["id"], {"status": "done"}, db).status_code == 200
    r = x.c.get(f"/v1/cases/{case['id']}")
    assert r.status_code == 404, ("the assignee still reads the case", r.status_code,
                                  sorted(PERSONAL & set(r.json())))


# ------------------------------------------------- privacy of records

def test_consents_and_tasks_of_other_organizations_are_private(make_org):
    lead = Org(make_org, "victim_services", "case_manager")
    x = Org(make_org, "health", "provider")
    y = Org(make_org, "legal_aid", "provider")
    recipient = Org(make_org, "ngo", "case_manager")
    coord = Org(make_org, "government", "coordinator")
    case = open_case(lead)
    cid = case["id"]
    tx = add_task(lead, cid, x.org, title="Clinic visit")
    ty = add_task(lead, cid, y.org, title="Legal intake")
    k_x = record_consent(lead, cid, ["case_details"], org=x.org)
    k_health = record_consent(lead, cid, ["needs"], kind="health")
    k_y = record_consent(lead, cid, ["identity"], org=y.org)
    k_police = record_consent(lead, cid, ["identity", "location"], kind="law_enforcement")
    k_ngo = record_consent(lead, cid, ["case_details"], kind="ngo")
    r = lead.c.post(f"/v1/cases/{cid}/transfer", json={"to_org_id": recipient.org})
    assert r.status_code == 201, r.text
    label = {k_x["id"]: "consent naming x", k_health["id"]: "consent naming health",
             k_y["id"]: "consent naming y", k_police["id"]: "consent naming law_enforcement",
             k_ngo["id"]: "consent naming ngo", tx["id"]: "task of x", ty["id"]: "task of y"}

    def seen(who):
        k = who.c.get(f"/v1/cases/{cid}/consents")
        t = who.c.get(f"/v1/cases/{cid}/tasks")
        assert k.status_code == 200 and t.status_code == 200, (k.text, t.text)
        return sorted(label[i["id"]] for i in k.json()["items"] + t.json()["items"])

    everything = sorted(label.values())
    assert seen(lead) == everything
    assert seen(coord) == everything
    assert {"task holder x": seen(x), "task holder y": seen(y),
            "transfer recipient (ngo)": seen(recipient)} == {
        "task holder x": ["consent naming health", "consent naming x", "task of x"],
        "task holder y": ["consent naming y", "task of y"],
        "transfer recipient (ngo)": ["consent naming ngo"]}


# ------------------------------------------------- the database role

def test_api_role_executes_only_the_entry_point(db):
    with db.cursor() as cur:
        cur.execute("""SELECT p.oid::regprocedure::text FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE
                d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND
                d.deptype = 'e')
            AND has_function_privilege('concord_api', p.oid, 'EXECUTE')
            ORDER BY 1""")
        executable = [row[0] for row in cur.fetchall()]
    assert executable == [ENTRY_POINT], (
        f"{len(executable)} functions: {executable[:12]}")


ROUTE_CALLS = [("api", "me", "'{}', '{}', '{}'"),
               ("api", "case_get", "'{}', '{}', '{}'"),
               ("api", "case_consent_create", "'{}', '{}', '{}'"),
               ("api", "case_transfer_accept", "'{}', '{}', '{}'"),
               ("api", "referral_create", "'{}', '{}', '{}'"),
               ("lib", "pd_open", "NULL::bytea")]


def test_api_role_cannot_call_route_functions_directly():
    """As concord_api, each call is refused on the function itself or its
    schema (not on something it calls later)."""
    conn = psycopg2.connect(ADMIN_DB)
    conn.autocommit = True
    not_refused = []
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE concord_api")
            for schema, fn, args in ROUTE_CALLS:
                call = f"SELECT * FROM {schema}.{fn}({args})"
                try:
                    cur.execute(call)
                except psycopg2.Error as e:
                    msg = str(e).strip().splitlines()[0]
                    if e.pgcode == "42501" and msg in (
                            f"permission denied for function {fn}",
                            f"permission denied for schema {schema}"):
                        continue
                    not_refused.append((call, msg.splitlines()[0]))
                else:
                    not_refused.append((call, "ran"))
    finally:
        conn.close()
    assert not_refused == [], not_refused


def test_api_database_role_needs_a_password(monkeypatch):
    url = os.environ.get("CONCORD_DATABASE_URL", "")
    if not url:
        pytest.skip("CONCORD_DATABASE_URL not set (run through make test)")
    u = urllib.parse.urlsplit(url)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    monkeypatch.delenv("PGSERVICE", raising=False)
    try:
        conn = psycopg2.connect(host=u.hostname or "127.0.0.1", port=u.port or 5432,
                                dbname=(u.path or "/concord").lstrip("/") or "concord",
                                user="concord_api", passfile="/dev/null",
                                connect_timeout=5)
    except psycopg2.OperationalError:
        return
    conn.close()
    pytest.fail("the role concord_api connected without a password")
