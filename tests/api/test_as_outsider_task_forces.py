"""Task forces as an outside organization meets them: an agreement is the second key only
inside its own task force and only while the receiving organization is
an active member of it; meetings and their action items never reach a
case the recorder cannot see."""
import pytest

from conftest import Client, mint
from test_consent_boundaries import (PHONE, Org, add_service, add_task, open_case,  # noqa: F401
                                     record_consent, shown)
from test_task_forces import Coord, default_tf, org_row, patch_with_etag, today  # noqa: F401


def pair_agreement(co, a, b, categories):
    r = co.c.post("/v1/agreements", json={
        "task_force_id": co.tf["id"], "kind": "data_sharing", "title": "Pair",
        "party_org_ids": [a, b], "effective_on": today(-30), "expires_on": today(365),
        "status": "active", "categories": categories})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("how", ["left", "suspended"])
def test_an_organization_no_longer_active_in_the_task_force_gets_nothing_personal(
        db, make_org, how):
    lead = Org(make_org, "victim_services", "case_manager")
    partner = org_row(db, member=False)           # only in the task force below
    co = Coord(db)
    co.add(lead.org)
    membership = co.add(partner, discipline="health")
    pair_agreement(co, lead.org, partner, ["contact"])
    case = open_case(lead)
    record_consent(lead, case["id"], ["contact"], org=partner)
    add_task(lead, case["id"], partner)
    pc = Client(mint(["provider"], org=partner))
    url = f"/v1/cases/{case['id']}"
    assert shown(pc.get(url).json()) == {"contact"}
    if how == "left":             # the organization leaves on its own
        r = patch_with_etag(pc, f"/v1/task-forces/{co.tf['id']}/members/{membership['id']}",
                            {"status": "left"})
        assert r.status_code == 200, r.text
    else:
        co.set_member(membership, status="suspended")
    doc = pc.get(url).json()
    assert shown(doc) == set() and PHONE not in str(doc)


def test_a_task_force_wide_agreement_does_not_open_cases_of_organizations_outside_it(
        db, make_org):
    lead = Org(make_org, "victim_services", "case_manager")   # default task force only
    receiver = org_row(db, member=False)          # no default agreement
    co = Coord(db)                                # a task force the lead is not in
    co.add(receiver, discipline="ngo")
    r = co.c.post("/v1/agreements", json={
        "task_force_id": co.tf["id"], "kind": "data_sharing", "title": "Everything",
        "party_org_ids": [receiver], "effective_on": today(-1), "status": "active",
        "categories": ["contact", "identity", "location", "case_details", "needs"]})
    assert r.status_code == 201, r.text
    case = open_case(lead)
    record_consent(lead, case["id"], ["contact", "identity"], org=receiver)
    add_task(lead, case["id"], receiver)
    rc = Client(mint(["provider"], org=receiver))
    doc = rc.get(f"/v1/cases/{case['id']}").json()
    assert shown(doc) == set() and PHONE not in str(doc), doc
    # Once the lead is an active member of that task force, it flows.
    co.add(lead.org)
    assert shown(rc.get(f"/v1/cases/{case['id']}").json()) == {"contact", "identity"}


# ------------------------------------------------------------ the public face

from test_task_forces import public_tf  # noqa: E402,F401


def test_the_public_hsds_export_shows_no_site_and_no_contact(anon, db, public_tf):  # noqa: F811
    """The public export carries what the public profile does: no site of
    any service (coordinates, address, a circle drawn around it) and no
    organization contact that may name a person."""
    doc = anon.get(f"/public/v1/task-forces/{public_tf['id']}").json()
    open_org = next(m["organization"]["id"] for m in doc["members"]
                    if m["organization"]["name"] == "Open Door Services")
    with db.cursor() as cur:
        cur.execute("UPDATE organizations SET contact = %s WHERE id = %s",
                    ('{"email": "pat.private@example.org", "phone": "+1-555-0199"}',
                     open_org))
        cur.execute("UPDATE services SET address = %s, area_lat = 34.05, area_lon = -118.25, "
                    "area_radius_km = 5 WHERE organization_id = %s AND name = 'Drop-in centre'",
                    ('{"line1": "1 Open St", "city": "Los Angeles"}', open_org))
    h = anon.get(f"/public/v1/task-forces/{public_tf['id']}/hsds")
    assert h.status_code == 200, h.text
    [svc] = h.json()["contents"]
    assert svc["name"] == "Drop-in centre"
    assert not svc.get("service_at_locations") and "email" not in svc
    assert all(a["extent_type"] == "text" for a in svc.get("service_areas", []))
    for secret in ("34.1", "-118.3", "34.05", "-118.25", "Open St", "pat.private", "0199"):
        assert secret not in h.text, secret


# ------------------------------------------------------------ deployment-wide switches

def test_a_coordinator_cannot_enrol_every_new_organization_in_its_task_force(db):
    """enrol_new_orgs makes every organization created later an active,
    coordinating member with an agreement allowing every category: a
    deployment-wide switch, for admins only."""
    gov = org_row(db, kind="government", member=False)
    c = Client(mint(["coordinator"], org=gov))
    r = c.post("/v1/task-forces", json={"name": "Harvest", "enrol_new_orgs": True})
    assert r.status_code == 403, r.text
    assert c.post("/v1/task-forces", json={"name": "Plain", "enrol_new_orgs": False}
                  ).status_code == 201
    co = Coord(db, name="Quiet")
    r = patch_with_etag(co.c, f"/v1/task-forces/{co.tf['id']}", {"enrol_new_orgs": True})
    assert r.status_code == 403, r.text
    newcomer = org_row(db)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM task_force_members m JOIN task_forces t ON "
                    "t.id = m.task_force_id WHERE m.org_id = %s AND t.name IN "
                    "('Harvest', 'Quiet')", (newcomer,))
        assert cur.fetchone()[0] == 0
    admin = Client(mint(["admin"]))
    r = patch_with_etag(admin, f"/v1/task-forces/{co.tf['id']}", {"enrol_new_orgs": True})
    assert r.status_code == 200 and r.json()["enrol_new_orgs"] is True
    r = patch_with_etag(admin, f"/v1/task-forces/{co.tf['id']}", {"enrol_new_orgs": False})
    assert r.status_code == 200


def test_a_coordinator_cannot_close_or_stop_enrolment_of_the_default_task_force(
        client, tokens, default_tf):
    """Every organization coordinates the default task force; closing it
    would stop matching and every default agreement deployment-wide."""
    url = f"/v1/task-forces/{default_tf['id']}"
    coord = client(tokens["coordinator"])
    for body in ({"status": "closed"}, {"enrol_new_orgs": False}):
        r = patch_with_etag(coord, url, body)
        assert r.status_code == 403, (body, r.text)
    doc = coord.get(url).json()
    assert doc["status"] == "active" and doc["enrol_new_orgs"] is True
    # The rest stays the coordinators' to change.
    r = patch_with_etag(coord, url, {"description": doc["description"]})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------ meetings

def test_a_meeting_shows_an_attendee_no_case_it_cannot_see(db, make_org, client, tokens,
                                                           default_tf):
    import datetime
    lead = Org(make_org, "victim_services", "case_manager")
    helper = Org(make_org, "ngo", "provider")
    attendee = Org(make_org, "health", "provider")    # cannot see the case
    case = open_case(lead)
    coord = client(tokens["coordinator"])
    due = (datetime.datetime.now(datetime.timezone.utc)
           + datetime.timedelta(days=3)).isoformat()
    r = coord.post("/v1/meetings", json={
        "task_force_id": default_tf["id"], "kind": "case_review", "title": "Review",
        "held_at": due, "attendee_org_ids": [lead.org, helper.org, attendee.org],
        "agenda": [{"title": "Housing", "case_id": case["id"]}],
        "action_items": [{"title": "Interpreter", "due_at": due,
                          "assigned_org_id": helper.org, "case_id": case["id"]}]})
    assert r.status_code == 201, r.text
    url = f"/v1/meetings/{r.json()['id']}"
    assert attendee.c.get(f"/v1/cases/{case['id']}").status_code == 404
    for resp in (attendee.c.get(url),
                 attendee.c.get(f"/v1/meetings?task_force_id={default_tf['id']}")):
        assert resp.status_code == 200, resp.text
        assert case["id"] not in resp.text and case["case_number"] not in resp.text
    doc = attendee.c.get(url).json()
    assert doc["agenda"] == [{"title": "Housing"}]
    assert [a["title"] for a in doc["action_items"]] == ["Interpreter"]
    assert doc["action_items"][0]["case_id"] is None
    # Those who see the case still follow the link.
    for who in (lead, helper):
        d = who.c.get(url).json()
        assert d["agenda"][0]["case_id"] == case["id"]
        assert d["action_items"][0]["case_id"] == case["id"]


# ------------------------------------------------------------ offers after leaving

@pytest.mark.parametrize("how", ["left", "suspended"])
def test_an_organization_no_longer_active_in_the_task_force_cannot_accept_its_offer(
        db, add_service, how):
    from test_consent_boundaries import new_jurisdiction, offers_of, wait_matched
    from test_task_forces import referral_from
    jur = new_jurisdiction()
    co = Coord(db)
    hotline_org = org_row(db, kind="other", member=False)
    co.add(hotline_org, discipline="other")
    taker = org_row(db, member=False)
    membership = co.add(taker)
    add_service(taker, ["food"], jur)
    ref = referral_from(Client(mint(["hotline"], org=hotline_org)), jur)
    wait_matched(db, ref["id"])
    [(offer, org, status)] = offers_of(db, ref["id"])
    assert org == taker and status == "offered"
    tc = Client(mint(["provider"], org=taker))
    if how == "left":
        r = patch_with_etag(tc, f"/v1/task-forces/{co.tf['id']}/members/{membership['id']}",
                            {"status": "left"})
        assert r.status_code == 200, r.text
    else:
        co.set_member(membership, status="suspended")
    r = tc.post(f"/v1/referrals/{ref['id']}/offers/{offer}/accept")
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("invalid-transition")
    with db.cursor() as cur:
        cur.execute("SELECT status FROM referral_offers WHERE id = %s", (offer,))
        assert cur.fetchone()[0] == "offered"
        cur.execute("SELECT count(*) FROM consents WHERE referral_id = %s AND "
                    "shared_with_org = %s", (ref["id"], taker))
        assert cur.fetchone()[0] == 0


# ------------------------------------------------------------ named contacts

@pytest.mark.parametrize("how", ["invited", "suspended", "left"])
def test_named_contacts_of_members_are_for_active_members_only(db, how):
    """Members' named staff contacts are personal data: an organization
    only invited, suspended or gone still reads the task force and its
    members, but no other member's contacts (its own stay its own)."""
    co = Coord(db)
    staff = co.add(org_row(db, member=False),
                   contacts=[{"name": "Pat Private", "email": "pat.private@example.org",
                              "phone": "+1-555-0199"}])
    other = org_row(db, member=False)
    mine = co.add(other, status="invited" if how == "invited" else "active",
                  contacts=[{"name": "Own Liaison", "email": "own@example.org"}])
    oc = Client(mint(["provider"], org=other))
    base = f"/v1/task-forces/{co.tf['id']}/members"
    assert "Pat Private" in oc.get(base).text or how == "invited"
    if how == "suspended":
        co.set_member(mine, status="suspended")
    elif how == "left":
        assert patch_with_etag(oc, f"{base}/{mine['id']}", {"status": "left"}).status_code == 200
    for path in (base, f"{base}/{staff['id']}"):
        r = oc.get(path)
        assert r.status_code == 200, r.text
        for secret in ("Pat Private", "pat.private", "0199"):
            assert secret not in r.text, (path, secret)
    assert oc.get(f"{base}/{mine['id']}").json()["contacts"][0]["name"] == "Own Liaison"
    # Coordinators and active members still read them.
    assert "Pat Private" in co.c.get(base).text


def test_the_public_profile_names_no_inactive_lead(anon, db):
    """The public face shows active organizations only: a lead made
    inactive is not named (its members are filtered the same way)."""
    co = Coord(db, name="Lead goes quiet")
    with db.cursor() as cur:
        cur.execute("SELECT name FROM organizations WHERE id = %s", (co.org,))
        name = cur.fetchone()[0]
        cur.execute("UPDATE organizations SET status = 'inactive' WHERE id = %s", (co.org,))
    r = anon.get(f"/public/v1/task-forces/{co.tf['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["lead_organization"] is None
    assert name not in r.text and co.org not in r.text


def test_concurrent_additions_of_one_organization_give_one_membership(db):
    """The same organization added several times at once: one 201, the
    others 409 already-member as the contract says (never another type)."""
    import threading
    co = Coord(db)
    for _ in range(3):
        target = org_row(db, member=False)
        answers = []

        def go():
            r = co.c.request("POST", f"/v1/task-forces/{co.tf['id']}/members",
                             json={"organization_id": target, "discipline": "ngo"},
                             validate=False)
            answers.append((r.status_code, r.json().get("type")))
        threads = [threading.Thread(target=go) for _ in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(a[0] for a in answers) == [201] + [409] * 5, answers
        assert {a[1] for a in answers if a[0] == 409} == {"urn:concord:problem:already-member"}
