"""Coordinators act per task force at case level: a coordinator sees a
case (its case details and needs, nothing personal) only where the
case's lead organization, or the sender of a referral about it, is an
active member of a task force the coordinator coordinates. Admins stay
deployment-wide. Anything else is 404, never 403."""
from types import SimpleNamespace

from conftest import Client, mint
from test_consent_boundaries import CATEGORIES, open_case, shown
from test_task_forces import Coord, org_row


def lead_in(db, *coords, status="active"):
    """A victim-services organization outside the default task force,
    a member of the given task forces, with a case manager client."""
    org = org_row(db, member=False)
    for co in coords:
        m = co.add(org)
        if status != "active":
            co.set_member(m, status=status)
    return SimpleNamespace(org=org, c=Client(mint(["case_manager"], org=org)))


def test_a_coordinator_sees_only_cases_of_its_task_forces_members(db, client, tokens):
    x, y = Coord(db, name="Task force X"), Coord(db, name="Task force Y")
    lead = lead_in(db, y)
    case = open_case(lead)
    url = f"/v1/cases/{case['id']}"
    # Coordinator of X (and the default task force's): as if it did not exist.
    for c in (x.c, client(tokens["coordinator"])):
        assert c.get(url).status_code == 404
        assert c.get(f"{url}/consents").status_code == 404
        assert c.get(f"{url}/tasks").status_code == 404
        ids = [i["id"] for i in c.get(f"/v1/cases?lead_org_id={lead.org}").json()["items"]]
        assert case["id"] not in ids
    # Coordinator of Y: case details and needs, nothing personal.
    r = y.c.get(url)
    assert r.status_code == 200, r.text
    assert shown(r.json()) == {"case_details", "needs"}
    assert case["id"] in [i["id"] for i in y.c.get(
        f"/v1/cases?lead_org_id={lead.org}").json()["items"]]
    # Admins stay deployment-wide.
    assert client(tokens["admin"]).get(url).status_code == 200
    # The lead itself sees everything.
    assert shown(lead.c.get(url).json()) == CATEGORIES


def test_a_membership_that_is_not_active_does_not_count(db):
    x = Coord(db, name="Task force X")
    lead = lead_in(db, x, status="suspended")
    case = open_case(lead)
    assert x.c.get(f"/v1/cases/{case['id']}").status_code == 404


def test_a_referral_by_a_member_opens_the_case_to_the_senders_coordinators(db):
    x, y = Coord(db, name="Task force X"), Coord(db, name="Task force Y")
    lead = lead_in(db, y)
    sender = org_row(db, kind="ngo", member=False)
    x.add(sender, discipline="ngo")
    case = open_case(lead)
    url = f"/v1/cases/{case['id']}"
    assert x.c.get(url).status_code == 404
    with db.cursor() as cur:     # a referral about the case sent by an X member
        cur.execute("INSERT INTO referrals (sender_org, sender_sub, case_id, urgency, "
                    "consent_categories, consent_expires_at, consent_form_reference, task_force_id) "
                    "VALUES (%s, 'test', %s, 'routine', '{needs}', now() + interval '1 day', 'F-1', "
                    "%s)", (sender, case["id"], x.tf["id"]))
    r = x.c.get(url)
    assert r.status_code == 200, r.text
    assert shown(r.json()) == {"case_details", "needs"}


def test_a_coordinator_reads_only_referrals_of_its_task_forces(db):
    from test_task_forces import referral_from
    from test_consent_boundaries import new_jurisdiction
    x, y = Coord(db, name="Task force X"), Coord(db, name="Task force Y")
    hotline_org = org_row(db, kind="other", member=False)
    x.add(hotline_org, discipline="other")
    ref = referral_from(Client(mint(["hotline"], org=hotline_org)), new_jurisdiction())
    url = f"/v1/referrals/{ref['id']}"
    assert x.c.get(url).status_code == 200
    assert y.c.get(url).status_code == 404
    assert ref["id"] not in [i["id"] for i in y.c.get("/v1/referrals").json()["items"]]
    # Widened to Y: Y's coordinators read it too.
    r = x.c.post(f"{url}/widen", json={"task_force_ids": [y.tf["id"]]})
    assert r.status_code == 200, r.text
    assert y.c.get(url).status_code == 200
