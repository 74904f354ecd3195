"""Boundaries an outside caller can cross by combining documented
features: each test names the behaviour it protects.

Covers: task status moves by an assignee, what a lead by transfer can
infer from fields it may change, cancelling referrals about one's case,
consents a referral records (revocation, completion), an offered
organization's view once its window passed, the audit of referral reads,
and deeply nested merge patches."""
import requests

from conftest import BASE, Client, mint
from test_consent_boundaries import (Org, add_service, add_task,  # noqa: F401
                                     offers_of, open_case, patch_task,
                                     post_referral, record_consent,
                                     referral_consent, new_jurisdiction,
                                     wait_matched)

PERSONAL = {"identity", "contact", "location"}


# ------------------------------------------------------------ tasks

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


# ------------------------------------------------------------ transfers

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


def test_offered_organization_sees_no_client_data_once_its_offer_window_passed(
        make_org, db, add_service):
    """An expiry hides the client at once: past its window an offer can
    no longer be accepted, and the client's contact is no longer shown,
    whether or not the worker has processed the expiry yet."""
    hot = Client(mint(["hotline"], org=make_org(kind="other")))
    taker = Org(make_org, "legal_aid", "provider")
    where = new_jurisdiction()
    add_service(taker.org, ["clothing"], where)
    r = post_referral(hot, {"client": {"age": 30, "location": {"jurisdiction": where},
                                       "safe_contact_method": "text the shelter line"},
                            "needs": ["clothing"], "urgency": "routine",
                            "consent": referral_consent(["contact", "case_details",
                                                         "needs"])})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_matched(db, rid)
    oid = offers_of(db, rid)[0][0]
    assert "safe_contact_method" in taker.c.get(f"/v1/referrals/{rid}").json()["client"]
    with db.cursor() as cur:
        cur.execute("UPDATE referral_offers SET expires_at = now() - interval '1 minute' "
                    "WHERE id = %s", (oid,))
    r = taker.c.post(f"/v1/referrals/{rid}/offers/{oid}/accept")
    assert r.status_code == 409 and r.json()["type"].endswith("offer-expired"), r.text
    client = taker.c.get(f"/v1/referrals/{rid}").json()["client"]
    assert "safe_contact_method" not in client, client


# ------------------------------------------------------------ audit

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


# ------------------------------------------------------------ robustness

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


def test_forged_list_cursor_is_a_bad_query(make_org):
    """Every list answers a cursor it did not issue with 400 bad-query:
    a cursor of the right kind whose key is not a number too."""
    import base64
    import json
    lead = Org(make_org, "victim_services", "case_manager")
    coord = Org(make_org, "government", "coordinator")
    answers = {}
    for who, path, key in ((lead, "/v1/cases", {"k": "cases", "seq": "abc"}),
                           (coord, "/v1/investigations", {"k": "investigations", "seq": [1]}),
                           (coord, "/v1/audit", {"k": "audit", "id": "x"})):
        cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
        r = who.c.get(f"{path}?cursor={cursor}", validate=False)
        answers[path] = (r.status_code, r.json().get("type"))
    assert answers == {p: (400, "urn:concord:problem:bad-query") for p in answers}, answers
