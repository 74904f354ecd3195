"""Task forces: membership and who coordinates what, matching offered only
to active members of the referral's task force (or of one it was widened
to), agreements as a second key next to the victim's consent (no
agreement, or an expired or suspended one, and nothing personal flows on
the next request), the default task force keeping older behaviour,
meetings whose action items become tasks and whose agenda never carries
case data, training records, the agreement expiry notice, and the public
face (off unless CONCORD_PUBLIC=1, cacheable, nothing private)."""
import datetime
import json
import uuid

import pytest
import requests

from conftest import Client, mint
from test_consent_boundaries import (CATEGORIES, NAME, PHONE, Org,  # noqa: F401
                                     add_service, add_task, new_jurisdiction,
                                     offers_of, open_case, post_referral,
                                     record_consent, referral_consent, shown,
                                     wait_matched)


def today(days=0):
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def iso(days=0.0):
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(days=days)).isoformat()


def org_row(db, kind="victim_services", member=True, name=None):
    """A new organization straight in the database; member=False keeps it
    out of the default task force (and so without any agreement)."""
    with db.cursor() as cur:
        cur.execute("INSERT INTO organizations (name, kind, jurisdictions, "
                    "task_force_member) VALUES (%s, %s, %s, %s) RETURNING id",
                    (name or f"TF {kind} {uuid.uuid4().hex[:6]}", kind, ["06037"], member))
        return str(cur.fetchone()[0])


class Coord:
    """A coordinator token of a new organization and the task force it
    created (its organization leads it)."""

    def __init__(self, db, name="Local task force"):
        self.org = org_row(db, kind="government", member=False)
        self.c = Client(mint(["coordinator"], org=self.org))
        r = self.c.post("/v1/task-forces", json={"name": name, "jurisdictions": ["06037"]})
        assert r.status_code == 201, r.text
        self.tf = r.json()

    def add(self, org, status="active", discipline="victim_services", **kw):
        r = self.c.post(f"/v1/task-forces/{self.tf['id']}/members",
                        json={"organization_id": org, "discipline": discipline,
                              "status": status, **kw})
        assert r.status_code == 201, r.text
        return r.json()

    def set_member(self, member, **body):
        url = f"/v1/task-forces/{self.tf['id']}/members/{member['id']}"
        cur = self.c.get(url)
        r = self.c.patch(url, json=body, headers={"If-Match": cur.headers["etag"]})
        assert r.status_code == 200, r.text
        return r.json()


def patch_with_etag(c, url, body):
    cur = c.get(url)
    assert cur.status_code == 200, cur.text
    return c.patch(url, json=body, headers={"If-Match": cur.headers["etag"]})


@pytest.fixture
def default_tf(client, tokens):
    items = client(tokens["admin"]).get("/v1/task-forces").json()["items"]
    return next(t for t in items if t["is_default"])


# ------------------------------------------------------------ membership

def test_the_default_task_force_enrols_new_organizations_with_a_default_agreement(
        db, client, tokens, default_tf):
    org = org_row(db)
    mine = Client(mint(["provider"], org=org))
    tfs = mine.get("/v1/task-forces").json()["items"]
    assert default_tf["id"] in [t["id"] for t in tfs]
    assert all(t["enrol_new_orgs"] for t in tfs)
    members = mine.get(f"/v1/task-forces/{default_tf['id']}/members?status=active").json()["items"]
    me = next(m for m in members if m["organization_id"] == org)
    assert me["status"] == "active" and me["joined_at"]
    agreements = mine.get(f"/v1/agreements?org_id={org}&task_force_id={default_tf['id']}")
    agreements = agreements.json()["items"]
    assert len(agreements) == 1 and agreements[0]["current"]
    assert set(agreements[0]["categories"]) == CATEGORIES
    # A coordinator token of a member without the coordinator flag does
    # not coordinate the default task force (which has no lead).
    with db.cursor() as cur:
        cur.execute("UPDATE task_force_members SET coordinator = false "
                    "WHERE org_id = %s", (org,))
    plain = Client(mint(["coordinator"], org=org))
    r = patch_with_etag(plain, f"/v1/task-forces/{default_tf['id']}", {"name": "Mine"})
    assert r.status_code == 403
    assert plain.post(f"/v1/task-forces/{default_tf['id']}/members", json={
        "organization_id": org, "discipline": "ngo"}).status_code == 403
    # An organization outside the task forces has no membership at all.
    outsider = org_row(db, member=False)
    assert Client(mint(["provider"], org=outsider)).get("/v1/task-forces").json()["items"] == []


def test_a_task_force_is_visible_to_its_members_only_and_coordinated_by_its_lead(db, client):
    co = Coord(db)
    tf = co.tf
    assert tf["lead_org_id"] == co.org and tf["member_count"] == 1
    member = org_row(db, member=False)
    stranger = org_row(db, member=False)
    m = co.add(member, status="invited", duties="Shelter beds", duty_tags=["shelter"],
               contacts=[{"name": "Jo Liaison", "email": "jo@example.org"}])
    assert m["status"] == "invited" and m["joined_at"] is None
    # A stranger (even a coordinator elsewhere) sees nothing: 404, not 403.
    sc = Client(mint(["coordinator"], org=stranger))
    assert sc.get(f"/v1/task-forces/{tf['id']}").status_code == 404
    assert sc.get(f"/v1/task-forces/{tf['id']}/members").status_code == 404
    assert sc.post(f"/v1/task-forces/{tf['id']}/members",
                   json={"organization_id": stranger, "discipline": "ngo"}).status_code == 404
    # The invited member sees it, cannot make itself coordinator, accepts.
    mc = Client(mint(["provider"], org=member))
    assert mc.get(f"/v1/task-forces/{tf['id']}").status_code == 200
    url = f"/v1/task-forces/{tf['id']}/members/{m['id']}"
    r = patch_with_etag(mc, url, {"coordinator": True})
    assert r.status_code == 403
    r = patch_with_etag(mc, url, {"status": "suspended"})
    assert r.status_code == 403
    r = patch_with_etag(mc, url, {"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["joined_at"]
    # A member's coordinator token does not coordinate without the flag.
    mco = Client(mint(["coordinator"], org=member))
    r = patch_with_etag(mco, f"/v1/task-forces/{tf['id']}", {"name": "Renamed"})
    assert r.status_code == 403
    co.set_member(m, coordinator=True)
    r = patch_with_etag(mco, f"/v1/task-forces/{tf['id']}", {"name": "Renamed"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    # Suspension and leaving stamp their dates; left stays left.
    m = co.set_member(m, status="suspended")
    assert m["suspended_at"]
    m = patch_with_etag(mc, url, {"status": "left"}).json()
    assert m["status"] == "left" and m["left_at"]
    assert patch_with_etag(co.c, url, {"status": "active"}).status_code == 409
    # Only an invitation never accepted is deleted.
    assert co.c.delete(url).status_code == 409
    other = co.add(org_row(db, member=False), status="invited")
    assert co.c.delete(f"/v1/task-forces/{tf['id']}/members/{other['id']}").status_code == 204


def test_membership_input_is_validated_and_duplicates_conflict(db):
    co = Coord(db)
    base = f"/v1/task-forces/{co.tf['id']}/members"
    org = org_row(db, member=False)
    r = co.c.post(base, json={"organization_id": org, "discipline": "astrology",
                              "contacts": [{"email": "not-an-email"}], "status": "left"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"discipline", "contacts[0].name", "contacts[0].email"} <= fields
    co.add(org)
    assert co.c.post(base, json={"organization_id": org, "discipline": "ngo"}).status_code == 409


def test_only_admins_delete_task_forces_and_not_the_default(client, tokens, db, default_tf):
    co = Coord(db)
    admin = client(tokens["admin"])
    assert co.c.delete(f"/v1/task-forces/{co.tf['id']}").status_code == 403
    assert admin.delete(f"/v1/task-forces/{default_tf['id']}").status_code == 409
    assert admin.delete(f"/v1/task-forces/{co.tf['id']}").status_code == 204
    assert admin.get(f"/v1/task-forces/{co.tf['id']}").status_code == 404


# ------------------------------------------------------------ matching

def candidates(db, referral_id):
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT c.organization_id::text FROM referral_candidates c "
                    "JOIN referral_needs n ON n.id = c.referral_need_id "
                    "WHERE n.referral_id = %s", (referral_id,))
        return {row[0] for row in cur.fetchall()}


def referral_from(c, jur, **extra):
    body = {"client": {"age": 30, "languages": ["en"], "trafficking_type": "labor",
                       "location": {"jurisdiction": jur}},
            "needs": ["food"], "urgency": "urgent",
            "consent": referral_consent(["needs", "case_details"]), **extra}
    r = post_referral(c, body)
    assert r.status_code == 201, r.text
    return r.json()


def test_matching_offers_only_to_active_members_of_the_referrals_task_force(db, add_service):
    jur = new_jurisdiction()
    co = Coord(db)
    hotline_org = org_row(db, kind="other", member=False)
    inside, suspended, outsider = (org_row(db, member=False) for _ in range(3))
    co.add(hotline_org, discipline="other")
    co.add(inside)
    m = co.add(suspended)
    co.set_member(m, status="suspended")
    for org in (inside, suspended, outsider):
        add_service(org, ["food"], jur)
    hot = Client(mint(["hotline"], org=hotline_org))
    ref = referral_from(hot, jur)
    assert ref["task_force_id"] == co.tf["id"]
    wait_matched(db, ref["id"])
    assert candidates(db, ref["id"]) == {inside}
    assert {o[1] for o in offers_of(db, ref["id"])} <= {inside}

    # Widened to a second task force: its active members join the pool.
    other = Coord(db, name="Neighbouring task force")
    other.add(outsider)
    wide = referral_from(hot, jur, widen_to_task_force_ids=[other.tf["id"]])
    assert wide["widened_to_task_force_ids"] == [other.tf["id"]]
    wait_matched(db, wide["id"])
    assert candidates(db, wide["id"]) == {inside, outsider}

    # A widening to a member that is not active there does not count.
    third = Coord(db, name="Third task force")
    m = third.add(suspended)
    third.set_member(m, status="suspended")
    r3 = referral_from(hot, jur, widen_to_task_force_ids=[third.tf["id"]])
    wait_matched(db, r3["id"])
    assert candidates(db, r3["id"]) == {inside}


def test_a_directed_referral_names_only_members_of_its_task_force(db, add_service):
    jur = new_jurisdiction()
    co = Coord(db)
    hotline_org = org_row(db, kind="other", member=False)
    inside, outsider = (org_row(db, member=False) for _ in range(2))
    co.add(hotline_org, discipline="other")
    co.add(inside)
    s_in = add_service(inside, ["food"], jur)
    s_out = add_service(outsider, ["food"], jur)
    hot = Client(mint(["hotline"], org=hotline_org))
    body = {"client": {"age": 30, "languages": ["en"], "trafficking_type": "labor",
                       "location": {"jurisdiction": jur}},
            "needs": ["food"], "urgency": "urgent",
            "consent": referral_consent(["needs", "case_details"]),
            "directed_service_ids": [s_out], "fallback_to_matching": False}
    r = post_referral(hot, body)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("service-cannot-serve")
    assert "task force" in json.dumps(r.json()["errors"])
    # Widened to the outsider's task force, the same direction is admitted.
    other = Coord(db, name="Neighbouring task force")
    other.add(outsider)
    body["widen_to_task_force_ids"] = [other.tf["id"]]
    r = post_referral(hot, body)
    assert r.status_code == 201, r.text
    # And a member's service is always admitted.
    body.pop("widen_to_task_force_ids")
    body["directed_service_ids"] = [s_in]
    assert post_referral(hot, body).status_code == 201


def test_a_member_suspended_after_matching_gets_no_later_offer(db, add_service):
    jur = new_jurisdiction()
    co = Coord(db)
    hotline_org = org_row(db, kind="other", member=False)
    co.add(hotline_org, discipline="other")
    a, b = org_row(db, member=False), org_row(db, member=False)
    members = {a: co.add(a), b: co.add(b)}
    for org in (a, b):
        add_service(org, ["food"], jur)
    ref = referral_from(Client(mint(["hotline"], org=hotline_org)), jur)
    wait_matched(db, ref["id"])
    assert candidates(db, ref["id"]) == {a, b}
    [(offer, first, status)] = offers_of(db, ref["id"])
    second = b if first == a else a
    co.set_member(members[second], status="suspended")
    r = Client(mint(["provider"], org=first)).post(
        f"/v1/referrals/{ref['id']}/offers/{offer}/decline", json={"reason": "full"})
    assert r.status_code == 200, r.text
    assert {o[1] for o in offers_of(db, ref["id"])} == {first}
    with db.cursor() as cur:
        cur.execute("SELECT status FROM referral_needs WHERE referral_id = %s", (ref["id"],))
        assert cur.fetchone()[0] == "unmatched"


def test_a_referral_names_only_a_task_force_its_sender_belongs_to(db):
    co = Coord(db)
    hotline_org = org_row(db, kind="other")       # in the default task force only
    hot = Client(mint(["hotline"], org=hotline_org))
    r = post_referral(hot, {"client": {"age": 30, "location": {"jurisdiction": "06037"}},
                            "needs": ["food"], "urgency": "urgent",
                            "consent": referral_consent(["needs"]),
                            "task_force_id": co.tf["id"],
                            "widen_to_task_force_ids": [str(uuid.uuid4())]})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"task_force_id",
                                                         "widen_to_task_force_ids"}


def test_an_unmatched_reason_names_the_task_force(db, add_service):
    jur = new_jurisdiction()
    co = Coord(db)
    hotline_org = org_row(db, kind="other", member=False)
    co.add(hotline_org, discipline="other")
    add_service(org_row(db, member=False), ["food"], jur)     # not a member
    hot = Client(mint(["hotline"], org=hotline_org))
    ref = referral_from(hot, jur)
    wait_matched(db, ref["id"])
    need = hot.get(f"/v1/referrals/{ref['id']}").json()["needs"][0]
    assert "task force" in (need.get("unmatched_reason") or ""), need


# ------------------------------------------------------------ agreements x consent

def test_without_an_agreement_consent_alone_opens_nothing_personal(db, make_org):
    lead = Org(make_org, "victim_services", "case_manager")      # default member
    bare = org_row(db, member=False)                              # no agreement
    case = open_case(lead)
    record_consent(lead, case["id"], ["contact", "identity", "case_details"], org=bare)
    add_task(lead, case["id"], bare)
    r = Client(mint(["provider"], org=bare)).get(f"/v1/cases/{case['id']}")
    assert r.status_code == 200
    assert shown(r.json()) == set(), r.json()
    assert NAME not in r.text and PHONE not in r.text


def test_an_agreement_between_two_members_lets_only_its_categories_flow(db, make_org):
    lead = Org(make_org, "victim_services", "case_manager")
    partner = org_row(db, member=False)
    co = Coord(db)
    co.add(lead.org)
    co.add(partner, discipline="health")
    case = open_case(lead)
    record_consent(lead, case["id"], ["contact", "identity"], org=partner)
    add_task(lead, case["id"], partner)
    pc = Client(mint(["provider"], org=partner))
    assert shown(pc.get(f"/v1/cases/{case['id']}").json()) == set()
    r = co.c.post("/v1/agreements", json={
        "task_force_id": co.tf["id"], "kind": "data_sharing", "title": "Health referrals",
        "party_org_ids": [lead.org, partner], "effective_on": today(-30),
        "expires_on": today(365), "document_ref": "DSA-2026-07", "status": "active",
        "categories": ["contact"]})
    assert r.status_code == 201, r.text
    agreement = r.json()
    assert agreement["current"] and agreement["party_org_ids"] == [lead.org, partner]
    doc = pc.get(f"/v1/cases/{case['id']}").json()
    assert shown(doc) == {"contact"} and PHONE in json.dumps(doc)
    assert "identity" in doc["redacted"]
    # Another organization's case is not covered by that pair's agreement.
    other_lead = Org(make_org, "victim_services", "case_manager")
    other = open_case(other_lead)
    with db.cursor() as cur:      # no default agreement for the partner: none
        cur.execute("SELECT count(*) FROM agreements WHERE org_a = %s OR org_b = %s",
                    (partner, partner))
        assert cur.fetchone()[0] == 1
    record_consent(other_lead, other["id"], ["contact"], org=partner)
    add_task(other_lead, other["id"], partner)
    assert shown(pc.get(f"/v1/cases/{other['id']}").json()) == set()
    # The parties read the agreement; a stranger gets 404.
    assert pc.get(f"/v1/agreements/{agreement['id']}").status_code == 200
    stranger = Client(mint(["provider"], org=org_row(db, member=False)))
    assert stranger.get(f"/v1/agreements/{agreement['id']}").status_code == 404


def default_agreements(db, org):
    """The agreements an organization got when it was enrolled (one per
    task force that enrols new organizations), the default task force's
    first: only that one is the session coordinator's."""
    with db.cursor() as cur:
        cur.execute("SELECT a.id::text FROM agreements a JOIN task_forces t "
                    "ON t.id = a.task_force_id WHERE a.org_a = %s AND a.org_b IS NULL "
                    "ORDER BY t.is_default DESC, a.created_at", (org,))
        return [row[0] for row in cur.fetchall()]


@pytest.mark.parametrize("change", ["suspend", "expire", "terminate", "narrow"])
def test_an_agreement_that_stops_stops_the_flow_on_the_next_request(
        db, make_org, client, tokens, change):
    lead = Org(make_org, "victim_services", "case_manager")
    recipient = Org(make_org, "ngo", "provider")
    case = open_case(lead)
    record_consent(lead, case["id"], ["contact", "location"], org=recipient.org)
    add_task(lead, case["id"], recipient.org)
    url = f"/v1/cases/{case['id']}"
    assert shown(recipient.c.get(url).json()) == {"contact", "location"}
    coord = client(tokens["coordinator"])      # coordinates the default task force
    body = {"suspend": {"status": "suspended"},
            "expire": {"effective_on": today(-10), "expires_on": today(-1)},
            "terminate": {"status": "terminated"},
            "narrow": {"categories": ["location", "needs", "case_details"]}}[change]
    urls = [f"/v1/agreements/{a}" for a in default_agreements(db, recipient.org)]
    for aurl in urls:
        r = patch_with_etag(client(tokens["admin"]) if aurl != urls[0] else coord, aurl, body)
        assert r.status_code == 200, r.text
        assert r.json()["current"] is (change == "narrow")
    aurl = urls[0]
    expect = {"location"} if change == "narrow" else set()
    doc = recipient.c.get(url).json()
    assert shown(doc) == expect and PHONE not in json.dumps(doc)
    # The lead itself is unaffected.
    assert shown(lead.c.get(url).json()) == CATEGORIES
    if change == "suspend":
        for u in urls:
            assert patch_with_etag(client(tokens["admin"]), u,
                                   {"status": "active"}).status_code == 200
        assert shown(recipient.c.get(url).json()) == {"contact", "location"}
    if change == "terminate":
        assert patch_with_etag(coord, aurl, {"status": "active"}).status_code == 409


def test_agreements_are_managed_by_the_task_forces_coordinators_only(db):
    co = Coord(db)
    member = org_row(db, member=False)
    co.add(member)
    outsider = org_row(db, member=False)
    body = {"task_force_id": co.tf["id"], "kind": "mou", "title": "MOU",
            "party_org_ids": [outsider], "effective_on": today(), "categories": []}
    r = co.c.post("/v1/agreements", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "party_org_ids"
    other = Coord(db)
    body["party_org_ids"] = [member]
    assert other.c.post("/v1/agreements", json=body).status_code == 422
    r = co.c.post("/v1/agreements", json=body)
    assert r.status_code == 201 and r.json()["status"] == "draft"
    assert r.json()["current"] is False
    assert other.c.get(r.headers["location"]).status_code == 404
    bad = dict(body, kind="handshake", effective_on="yesterday", categories=["dna"])
    r = co.c.post("/v1/agreements", json=bad)
    assert {e["field"] for e in r.json()["errors"]} >= {"kind", "effective_on", "categories"}


def test_an_expiring_agreement_notifies_the_task_force_coordinators(db):
    co = Coord(db)
    member = org_row(db, member=False)
    co.add(member, coordinator=False)
    r = co.c.post("/v1/agreements", json={
        "task_force_id": co.tf["id"], "kind": "data_sharing", "title": "Expiring",
        "party_org_ids": [member], "effective_on": today(-100), "expires_on": today(10),
        "status": "active", "categories": ["needs"]})
    assert r.status_code == 201
    aid = r.json()["id"]
    with db.cursor() as cur:
        cur.execute("SELECT worker.deadline_sweep(now(), '{}', 'test')")
        cur.execute("SELECT worker.deadline_sweep(now(), '{}', 'test')")
    items = co.c.get("/v1/notifications?type=agreement.expiring").json()["items"]
    mine = [n for n in items if n.get("link") == f"/v1/agreements/{aid}"]
    assert len(mine) == 1, items
    mc = Client(mint(["provider"], org=member))
    assert not [n for n in mc.get("/v1/notifications?type=agreement.expiring").json()["items"]
                if n.get("link") == f"/v1/agreements/{aid}"]


# ------------------------------------------------------------ meetings

def test_a_meeting_references_cases_by_id_and_its_action_items_become_tasks(
        db, make_org, client, tokens, default_tf):
    lead = Org(make_org, "victim_services", "case_manager")
    attendee = Org(make_org, "ngo", "provider")
    stranger = Org(make_org, "health", "provider")
    case = open_case(lead)
    coord = client(tokens["coordinator"])
    r = coord.post("/v1/meetings", json={
        "task_force_id": default_tf["id"], "kind": "case_review", "title": "Monthly review",
        "held_at": iso(-1), "attendee_org_ids": [lead.org, attendee.org],
        "agenda": [{"title": "Housing for the client", "case_id": case["id"]},
                   {"title": "Training plan", "notes": "Q3"}],
        "action_items": [
            {"title": "Book interpreter", "due_at": iso(5), "assigned_org_id": attendee.org,
             "case_id": case["id"]},
            {"title": "Circulate minutes", "due_at": iso(2), "assigned_org_id": lead.org}]})
    assert r.status_code == 201, r.text
    meeting = r.json()
    text = json.dumps(meeting)
    assert NAME not in text and PHONE not in text
    assert meeting["agenda"][0] == {"title": "Housing for the client", "case_id": case["id"]}
    assert len(meeting["action_items"]) == 2
    # The action item on the case is a task of the case; its assignee sees it.
    task = next(a for a in meeting["action_items"] if a["case_id"])
    tasks = attendee.c.get("/v1/tasks").json()["items"]
    assert task["task_id"] in {t["id"] for t in tasks}
    # Following the agenda's link applies the case's rules: the attendee
    # sees the case only through its task, nothing personal without consent.
    doc = attendee.c.get(f"/v1/cases/{case['id']}").json()
    assert shown(doc) <= {"case_details", "needs"} and NAME not in json.dumps(doc)
    assert stranger.c.get(f"/v1/cases/{case['id']}").status_code == 404
    # Attendees read the meeting, others get 404.
    assert attendee.c.get(f"/v1/meetings/{meeting['id']}").status_code == 200
    assert stranger.c.get(f"/v1/meetings/{meeting['id']}").status_code == 404
    listed = attendee.c.get(f"/v1/meetings?task_force_id={default_tf['id']}").json()["items"]
    assert meeting["id"] in {m["id"] for m in listed}
    assert meeting["id"] not in {m["id"] for m in
                                 stranger.c.get("/v1/meetings").json()["items"]}
    # The other item is a task of the meeting alone, listed for its assignee.
    other = next(a for a in meeting["action_items"] if not a["case_id"])
    assert other["task_id"] in {t["id"] for t in lead.c.get("/v1/tasks").json()["items"]}


def test_a_meeting_refuses_unknown_cases_and_non_member_assignees(db, client, tokens, default_tf):
    coord = client(tokens["coordinator"])
    outsider = org_row(db, member=False)
    r = coord.post("/v1/meetings", json={
        "task_force_id": default_tf["id"], "kind": "operational", "title": "Ops",
        "held_at": iso(), "action_items": [
            {"title": "x", "due_at": iso(1), "assigned_org_id": outsider,
             "case_id": str(uuid.uuid4())}]})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "action_items[0].assigned_org_id", "action_items[0].case_id"}
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM meetings WHERE title = 'Ops'")
        assert cur.fetchone()[0] == 0


def test_training_records(db):
    co = Coord(db)
    member = org_row(db, member=False)
    co.add(member)
    r = co.c.post("/v1/trainings", json={
        "task_force_id": co.tf["id"], "organization_id": member, "staff_count": 12,
        "topic": "Trauma-informed interviewing", "held_on": today(-3), "hours": 3.5})
    assert r.status_code == 201, r.text
    assert r.json()["hours"] == 3.5
    items = Client(mint(["provider"], org=member)).get(
        f"/v1/trainings?task_force_id={co.tf['id']}").json()["items"]
    assert [i["topic"] for i in items] == ["Trauma-informed interviewing"]
    stranger = Client(mint(["provider"], org=org_row(db, member=False)))
    assert stranger.get(f"/v1/trainings?task_force_id={co.tf['id']}").json()["items"] == []
    r = co.c.post("/v1/trainings", json={
        "task_force_id": co.tf["id"], "organization_id": member, "staff_count": 0,
        "topic": "", "held_on": "soon", "hours": -1})
    assert {e["field"] for e in r.json()["errors"]} == {"staff_count", "topic", "held_on", "hours"}


# ------------------------------------------------------------ public face

@pytest.fixture
def public_tf(db, make_org):
    """A task force with one public and one confidential service, a named
    contact, a suspended member and a case with personal data."""
    co = Coord(db, name="Public task force")
    open_org = org_row(db, member=False, name="Open Door Services")
    hidden = org_row(db, member=False, name="Suspended Partner")
    co.add(open_org, duty_tags=["shelter"],
           contacts=[{"name": "Pat Private", "email": "pat.private@example.org",
                      "phone": "+1-555-0199"}])
    m = co.add(hidden)
    co.set_member(m, status="suspended")
    with db.cursor() as cur:
        cur.execute("INSERT INTO services (organization_id, name, needs, languages, "
                    "age_min, genders, site_lat, site_lon, address, confidential) "
                    "VALUES (%s, 'Drop-in centre', '{food}', '{en,es}', 18, '{}', 34.1, "
                    "-118.3, '{\"street\": \"1 Open St\"}', false), "
                    "(%s, 'Safe house', '{housing_emergency}', '{en}', NULL, '{female}', "
                    "34.2, -118.4, '{\"street\": \"9 Hidden Lane\"}', true), "
                    "(%s, 'Suspended svc', '{food}', '{en}', NULL, '{}', NULL, NULL, NULL, "
                    "false)", (open_org, open_org, hidden))
    lead = Org(make_org, "victim_services", "case_manager")
    co.add(lead.org)
    open_case(lead)
    return co.tf


def test_the_public_profile_shows_members_and_public_services_only(anon, public_tf):
    r = anon.get(f"/public/v1/task-forces/{public_tf['id']}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=300"
    doc = r.json()
    names = {m["organization"]["name"] for m in doc["members"]}
    assert "Open Door Services" in names and "Suspended Partner" not in names
    services = [s for m in doc["members"] for s in m["services"]]
    assert [s["name"] for s in services] == ["Drop-in centre"]
    assert services[0]["populations"]["age_min"] == 18
    for secret in ("Safe house", "Hidden Lane", "Open St", "Pat Private",
                   "pat.private", "0199", NAME, PHONE, "34.1"):
        assert secret not in r.text, secret
    # Conditional GET, and the HSDS export of the same services.
    r2 = anon.get(f"/public/v1/task-forces/{public_tf['id']}",
                  headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304
    h = anon.get(f"/public/v1/task-forces/{public_tf['id']}/hsds")
    assert h.status_code == 200 and h.headers["cache-control"] == "public, max-age=300"
    assert [s["name"] for s in h.json()["contents"]] == ["Drop-in centre"]
    for secret in ("Safe house", "Hidden Lane", "Pat Private", NAME):
        assert secret not in h.text


def test_the_public_face_is_read_only_and_hides_what_does_not_exist(anon, public_tf, client,
                                                                    tokens):
    assert anon.get(f"/public/v1/task-forces/{uuid.uuid4()}").status_code == 404
    assert anon.get("/public/v1/task-forces/not-an-id").status_code == 404
    assert anon.post(f"/public/v1/task-forces/{public_tf['id']}", json={}).status_code == 405
    r = anon.get(f"/public/v1/task-forces/{public_tf['id']}?per_page=1")
    assert r.status_code == 400
    coord = Client(mint(["coordinator"], org=public_tf["lead_org_id"]))
    assert patch_with_etag(coord, f"/v1/task-forces/{public_tf['id']}",
                           {"status": "closed"}).status_code == 200
    assert anon.get(f"/public/v1/task-forces/{public_tf['id']}").status_code == 404


def test_the_public_face_is_off_unless_configured_and_rate_limited(public_tf):
    from test_ratelimit import api_instance
    path = f"/public/v1/task-forces/{public_tf['id']}"
    with api_instance("public-off", CONCORD_PUBLIC="0") as (base, _log):
        r = requests.get(base + path, timeout=10)
        assert r.status_code == 404 and r.headers["cache-control"] == "no-store"
    with api_instance("public-limited", CONCORD_PUBLIC="1",
                      CONCORD_RATE_LIMIT_ADDR="3") as (base, _log):
        answers = [requests.get(base + path, timeout=10) for _ in range(8)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited and limited[0].json()["rate_limit"] == "address"
        assert {r.status_code for r in answers} <= {200, 429}


# ------------------------------------------------------------ the visibility matrix

from test_cases import EXPECTED as CASE_MATRIX  # noqa: E402
from test_cases import matrix_case, world  # noqa: E402,F401

AGREEMENT_STATES = {
    # state: (the agreements' change, what is left of a consented set)
    "current": ("", lambda cats: cats),
    "narrowed": ("categories = '{identity}'", lambda cats: cats & {"identity"}),
    "suspended": ("status = 'suspended'", lambda cats: set()),
    "expired": ("effective_on = current_date - 30, expires_on = current_date - 1",
                lambda cats: set()),
    "terminated": ("status = 'terminated'", lambda cats: set()),
    "not yet effective": ("effective_on = current_date + 1", lambda cats: set()),
}


@pytest.mark.parametrize("agreement", list(AGREEMENT_STATES))
@pytest.mark.parametrize("consent", ["none", "active", "expired"])
def test_visibility_matrix_with_the_agreement_dimension(world, db, consent, agreement):  # noqa: F811
    """The case visibility matrix (test_cases) with the agreements of the
    consented clinic and police unit changed between two requests: what
    the consent opens is cut to what a current agreement allows, on the
    very next request; the lead, coordinators and admins are unaffected."""
    case = matrix_case(world, db, consent)
    governed = ("clinic", "police")
    change, keep = AGREEMENT_STATES[agreement]
    orgs = [world[w].org for w in governed]

    def want_of(who):
        without, with_ = CASE_MATRIX[who]
        if without is None:
            return None
        want = with_ if consent == "active" else without
        return keep(want) if who in governed else want

    def check(expect):
        for who in CASE_MATRIX:
            c = world[who] if who == "admin" else world[who].c
            r = c.get(f"/v1/cases/{case['id']}")
            want = expect(who)
            if want is None:
                assert r.status_code == 404, (who, r.status_code)
                continue
            assert r.status_code == 200, (who, r.text)
            assert shown(r.json()) == want, (who, consent, agreement, shown(r.json()))

    base = {who: (CASE_MATRIX[who][1] if consent == "active" else CASE_MATRIX[who][0])
            for who in CASE_MATRIX}
    check(base.get)
    with db.cursor() as cur:
        cur.execute("SELECT id, status, categories, effective_on, expires_on FROM agreements "
                    "WHERE org_a = ANY (%s::uuid[]) AND org_b IS NULL", (orgs,))
        saved = cur.fetchall()
        assert len(saved) >= 2
        if change:
            cur.execute(f"UPDATE agreements SET {change} "
                        "WHERE org_a = ANY (%s::uuid[]) AND org_b IS NULL", (orgs,))
    try:
        check(want_of)
    finally:
        with db.cursor() as cur:
            for row in saved:
                cur.execute("UPDATE agreements SET status = %s, categories = %s, "
                            "effective_on = %s, expires_on = %s WHERE id = %s",
                            (row[1], row[2], row[3], row[4], row[0]))
    check(base.get)
