"""Widening after matching: a coordinator of a referral's task force
widens it to other task forces (POST /v1/referrals/{id}/widen), and its
unmatched needs go back to matching, now among the active members of
those task forces too. Anyone else is refused, bad input is 422 and
changes nothing, a finished referral is 409."""
import uuid

from conftest import Client, mint
from test_consent_boundaries import add_service, new_jurisdiction, offers_of, wait_matched  # noqa: F401
from test_task_forces import Coord, org_row, referral_from


def unmatched_referral(db, add_service):
    jur = new_jurisdiction()
    x, y = Coord(db, name="Task force X"), Coord(db, name="Task force Y")
    hotline_org, provider = org_row(db, kind="other", member=False), org_row(db, member=False)
    x.add(hotline_org, discipline="other")
    y.add(provider)
    add_service(provider, ["food"], jur)
    ref = referral_from(Client(mint(["hotline"], org=hotline_org)), jur)
    assert ref["task_force_id"] == x.tf["id"]
    wait_matched(db, ref["id"])
    with db.cursor() as cur:
        cur.execute("SELECT status FROM referral_needs WHERE referral_id = %s", (ref["id"],))
        assert [row[0] for row in cur.fetchall()] == ["unmatched"]
    return ref, x, y, provider


def test_widening_rematches_the_unmatched_needs(db, add_service):
    ref, x, y, provider = unmatched_referral(db, add_service)
    url = f"/v1/referrals/{ref['id']}/widen"
    r = x.c.post(url, json={"task_force_ids": [y.tf["id"]]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["widened_to_task_force_ids"] == [y.tf["id"]]
    assert doc["task_force_id"] == x.tf["id"]
    assert [n["status"] for n in doc["needs"]] == ["pending"]
    wait_matched(db, ref["id"])
    assert [o[1] for o in offers_of(db, ref["id"])] == [provider]
    # Widening again to the same task force changes nothing and re-runs
    # nothing: no need is unmatched any more.
    r = x.c.post(url, json={"task_force_ids": [y.tf["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["widened_to_task_force_ids"] == [y.tf["id"]]
    assert "x-concord-jobs" not in {k.lower() for k in r.headers}


def test_only_the_referrals_coordinators_widen_and_bad_input_changes_nothing(
        db, add_service, client, tokens):
    ref, x, y, provider = unmatched_referral(db, add_service)
    url = f"/v1/referrals/{ref['id']}/widen"
    body = {"task_force_ids": [y.tf["id"]]}
    # A coordinator of another task force does not see the referral: 404;
    # other roles: 403 by route.
    assert y.c.post(url, json=body).status_code == 404
    assert Client(mint(["provider"], org=provider)).post(url, json=body).status_code == 403
    for bad in ({}, {"task_force_ids": []}, {"task_force_ids": "x"},
                {"task_force_ids": [str(uuid.uuid4())]}, {"task_force_ids": [y.tf["id"]],
                                                          "extra": 1}):
        r = x.c.post(url, json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert x.c.post("/v1/referrals/" + str(uuid.uuid4()) + "/widen",
                    json=body).status_code == 404
    with db.cursor() as cur:
        cur.execute("SELECT cardinality(widened_to) FROM referrals WHERE id = %s",
                    (ref["id"],))
        assert cur.fetchone()[0] == 0
    # Admins widen anywhere; a cancelled referral is 409.
    assert client(tokens["admin"]).post(url, json=body).status_code == 200
    # Y's coordinators now read it, but only X's widen it.
    assert y.c.get(f"/v1/referrals/{ref['id']}").status_code == 200
    assert y.c.post(url, json=body).status_code == 403
    with db.cursor() as cur:
        cur.execute("UPDATE referrals SET status = 'cancelled' WHERE id = %s", (ref["id"],))
    assert x.c.post(url, json=body).status_code == 409
