"""PATCH /v1/meetings/{id}: a coordinator of the meeting's task force (or
an admin) changes a meeting with If-Match and the same validation as
POST; new action items become tasks like those of a new meeting. A bad
body changes nothing; attendees who do not coordinate get 403, others
404."""
import datetime
import uuid

from conftest import Client, mint
from test_task_forces import Coord, org_row


def iso(days=0.0):
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(days=days)).isoformat()


def meeting(db):
    co = Coord(db)
    member = org_row(db, member=False)
    co.add(member)
    r = co.c.post("/v1/meetings", json={
        "task_force_id": co.tf["id"], "kind": "operational", "title": "Ops sync",
        "held_at": iso(-1), "attendee_org_ids": [member],
        "agenda": [{"title": "Shelter beds"}]})
    assert r.status_code == 201, r.text
    return co, member, r.json(), r.headers["etag"]


def test_a_coordinator_changes_a_meeting_with_if_match(db):
    co, member, m, etag = meeting(db)
    url = f"/v1/meetings/{m['id']}"
    r = co.c.patch(url, json={"title": "Ops sync (minutes)", "kind": "case_review",
                              "agenda": [{"title": "Beds", "notes": "two free"}],
                              "action_items": [{"title": "Send minutes", "due_at": iso(2),
                                                "assigned_org_id": member}]},
                   headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["title"] == "Ops sync (minutes)" and doc["kind"] == "case_review"
    assert doc["agenda"] == [{"title": "Beds", "notes": "two free"}]
    assert doc["held_at"] == m["held_at"] and doc["attendee_org_ids"] == [member]
    assert doc["version"] == m["version"] + 1 and r.headers["etag"] != etag
    assert [a["title"] for a in doc["action_items"]] == ["Send minutes"]
    tasks = Client(mint(["provider"], org=member)).get("/v1/tasks").json()["items"]
    assert doc["action_items"][0]["task_id"] in {t["id"] for t in tasks}
    assert co.c.get(url).json() == doc
    # The old ETag is stale now; no If-Match at all is 428.
    assert co.c.patch(url, json={"title": "x"}, headers={"If-Match": etag}).status_code == 412
    assert co.c.patch(url, json={"title": "x"}).status_code == 428


def test_a_bad_patch_changes_nothing_and_others_are_refused(db):
    co, member, m, etag = meeting(db)
    url = f"/v1/meetings/{m['id']}"
    outsider = org_row(db, member=False)
    for bad, field in (({"kind": "party"}, "kind"), ({"title": ""}, "title"),
                       ({"held_at": "yesterday"}, "held_at"), ({"color": "red"}, "color"),
                       ({"version": 9}, "version"),
                       ({"task_force_id": str(uuid.uuid4())}, "task_force_id"),
                       ({"attendee_org_ids": "all"}, "attendee_org_ids"),
                       ({"action_items": [{"title": "x", "due_at": iso(1),
                                           "assigned_org_id": outsider}]},
                        "action_items[0].assigned_org_id")):
        r = co.c.patch(url, json=bad, headers={"If-Match": etag})
        assert r.status_code == 422, (bad, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (bad, r.text)
    assert co.c.get(url).json() == m
    # An attendee that does not coordinate: 403; a stranger: 404.
    assert Client(mint(["coordinator"], org=member)).patch(
        url, json={"title": "x"}, headers={"If-Match": etag}).status_code == 403
    assert Client(mint(["coordinator"], org=outsider)).patch(
        url, json={"title": "x"}, headers={"If-Match": etag}).status_code == 404
    assert co.c.patch(f"/v1/meetings/{uuid.uuid4()}", json={"title": "x"},
                      headers={"If-Match": etag}).status_code == 404
