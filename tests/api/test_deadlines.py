"""Deadlines and notifications: the worker's clocks (offer reminders and
expiries, escalations to coordinators, task reminders and overdue tasks,
expiring consents, unanswered transfers) fire each step exactly once,
with several workers, a worker killed and restarted, and steps that came
due while nobody swept; notifications are read per organization over
GET /v1/notifications and never carry personal data.

Deadlines are set in the past in the database (never waited for); the
sweep's time parameter (worker.deadline_sweep(now, ...)) moves one clock
through its steps. The stack's worker sweeps every second in tests."""
import datetime
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import Client, etag, mint
from test_cases_kit import ADDRESS, NAME, PHONE, Party, grant, new_case

WORKER = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
LAT, LON = -62.0, 101.0        # the Southern Ocean: nobody else's services
NEED = "food"


def now_iso(hours=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.isoformat()


def sql(db, q, args=()):
    with db.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


def sweep(db, at_sql="now()"):
    """One sweep of every clock at the time at_sql (an SQL expression)."""
    return sql(db, f"SELECT worker.deadline_sweep({at_sql}, NULL, 'test')")[0][0]


def wait_for(fn, timeout=15):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.1)


def notes(db, object_id, kind=None):
    """Notifications about object_id (and of kind), oldest first."""
    return sql(db, "SELECT kind, organization_id::text, audience_role, payload, title "
                   "FROM notifications WHERE (object_id = %s OR payload->>'referral_id' = %s "
                   "OR payload->>'task_id' = %s OR payload->>'transfer_id' = %s) "
                   "AND (%s::text IS NULL OR kind = %s) ORDER BY id",
               (object_id, object_id, object_id, object_id, kind, kind))


# ------------------------------------------------------------------ offers

@pytest.fixture(scope="module", autouse=True)
def quarantine(db):
    """Only this module's services take part in matching here."""
    sql(db, "CREATE TEMP TABLE IF NOT EXISTS dl_saved AS "
            "SELECT id FROM services WHERE accepts_referrals")
    sql(db, "UPDATE services SET accepts_referrals = false WHERE accepts_referrals")
    yield
    sql(db, "UPDATE services SET accepts_referrals = true WHERE id IN (SELECT id FROM dl_saved)")
    sql(db, "DROP TABLE dl_saved")


def service(db, org, km=0.0, hours=None):
    return str(sql(db,
        "INSERT INTO services (organization_id, name, needs, need_cover, languages, "
        "lang_match, area_lat, area_lon, area_radius_km, site_lat, site_lon, open_24_7, "
        "response_time_hours) VALUES (%s, %s, %s, directory.need_cover(%s), '{en}', '{en}', "
        "%s, %s, 50, %s, %s, true, %s) RETURNING id",
        (org, "svc-" + uuid.uuid4().hex[:6], [NEED], [NEED], LAT, LON, LAT + km / 111.0,
         LON, hours))[0][0])


_spot = [0]


def referral(db, make_org, n_services=2, urgency="urgent", hours=None):
    """A referral offered to the first of n fresh services; returns a dict."""
    _spot[0] += 1
    lat = LAT - 0.9 * _spot[0]
    orgs = [make_org(kind="victim_services") for _ in range(n_services)]
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = false WHERE area_lat BETWEEN "
                    "%s AND %s", (LAT - 200, LAT + 1))
    svcs = []
    for i, org in enumerate(orgs):
        sid = service(db, org, km=i * 5.0, hours=hours)
        sql(db, "UPDATE services SET area_lat = %s, site_lat = %s + %s WHERE id = %s",
            (lat, lat, i * 0.05, sid))
        svcs.append(sid)
    sender_org = make_org(kind="other")
    hot = Client(mint(["hotline"], org=sender_org))
    body = {"client": {"age": 30, "languages": ["en"], "location": {"lat": lat, "lon": LON}},
            "needs": [NEED], "urgency": urgency,
            "consent": {"categories": ["needs", "case_details"], "form_reference": "F",
                        "informed": True, "written": True, "expires_at": now_iso(24 * 30)},
            "notes": "met at the bus station"}
    r = hot.post("/v1/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    doc = wait_for(lambda: (lambda d: d if d["status"] not in ("received", "matching")
                            else None)(hot.get(f"/v1/referrals/{rid}").json()))
    assert doc and doc["offers"], doc
    return {"id": rid, "doc": doc, "orgs": orgs, "svcs": svcs, "sender": sender_org,
            "hot": hot, "oid": doc["offers"][0]["id"]}


def offers(db, rid):
    return sql(db, "SELECT id::text, status, organization_id::text FROM referral_offers "
                   "WHERE referral_id = %s ORDER BY created_at, id", (rid,))


def test_offer_window_follows_urgency_and_the_service_promise(db, make_org):
    r = referral(db, make_org, n_services=1, urgency="urgent")
    (win,), = sql(db, "SELECT extract(epoch FROM expires_at - created_at) / 3600 "
                      "FROM referral_offers WHERE id = %s", (r["oid"],))
    assert round(win) == 24
    r = referral(db, make_org, n_services=1, urgency="routine", hours=5)
    (win,), = sql(db, "SELECT extract(epoch FROM expires_at - created_at) / 3600 "
                      "FROM referral_offers WHERE id = %s", (r["oid"],))
    assert round(win) == 5


def test_offer_reminder_at_half_the_window_then_expiry_reoffers(db, make_org, client):
    r = referral(db, make_org)
    org1 = r["orgs"][0]
    # Two thirds of a three-hour window have passed: remind, once.
    sql(db, "UPDATE referral_offers SET created_at = now() - interval '2 hours', "
            "expires_at = now() + interval '1 hour' WHERE id = %s", (r["oid"],))
    got = wait_for(lambda: notes(db, r["id"], "referral.reminder"))
    assert [(n[1], n[3]["offer_id"], n[3]["status"]) for n in got] == [(org1, r["oid"], "offered")]
    mine = client(mint(["provider"], org=org1)).get("/v1/notifications?type=referral.reminder").json()
    assert [n["object"] for n in mine["items"]] == [{"type": "referral", "id": r["id"]}]
    assert mine["items"][0]["link"] == f"/v1/referrals/{r['id']}"
    # The window ends: expired once, the next candidate is offered.
    sql(db, "UPDATE referral_offers SET expires_at = now() - interval '1 second' WHERE id = %s",
        (r["oid"],))
    assert wait_for(lambda: len(offers(db, r["id"])) == 2)
    assert [o[1] for o in offers(db, r["id"])] == ["expired", "offered"]
    time.sleep(1.5)     # more sweeps: nothing fires twice
    assert len(notes(db, r["id"], "referral.reminder")) == 1
    exp = notes(db, r["id"], "referral.expired")
    assert sorted(n[1] for n in exp) == sorted([org1, r["sender"]])
    assert len(sql(db, "SELECT 1 FROM deadline_fired WHERE clock_key = %s",
                   (f"offer:{r['oid']}:expire",))) == 1


def test_the_expire_job_and_the_sweep_expire_an_offer_once(db, make_org):
    r = referral(db, make_org)
    sql(db, "UPDATE referral_offers SET expires_at = now() - interval '1 second' WHERE id = %s",
        (r["oid"],))
    by_job = [sql(db, "SELECT worker.offer_expire(%s)", (r["oid"],))[0][0]["expired"]]
    sweep(db)
    by_job.append(sql(db, "SELECT worker.offer_expire(%s)", (r["oid"],))[0][0]["expired"])
    assert by_job[1] == 0 and sum(by_job) <= 1
    assert [o[1] for o in offers(db, r["id"])] == ["expired", "offered"]
    assert len(notes(db, r["id"], "referral.expired")) == 2      # offered org + sender


def test_offer_reminder_is_superseded_when_the_window_already_ended(db, make_org):
    r = referral(db, make_org)
    sql(db, "UPDATE referral_offers SET created_at = now() - interval '30 hours', "
            "expires_at = now() - interval '6 hours' WHERE id = %s", (r["oid"],))
    assert wait_for(lambda: notes(db, r["id"], "referral.expired"))
    assert notes(db, r["id"], "referral.reminder") == []
    assert sql(db, "SELECT superseded FROM deadline_fired WHERE clock_key = %s",
               (f"offer:{r['oid']}:reminder",)) == [(True,)]


def test_escalates_once_after_three_expiries(db, make_org):
    r = referral(db, make_org, n_services=4)
    for i in range(3):
        sql(db, "UPDATE referral_offers SET expires_at = now() - interval '1 second' "
                "WHERE referral_id = %s AND status = 'offered'", (r["id"],))
        assert wait_for(lambda: len([o for o in offers(db, r["id"]) if o[1] == "expired"]) == i + 1)
    esc = wait_for(lambda: notes(db, r["id"], "referral.escalated"))
    assert [(n[2], n[3]["reason"], n[3]["expired_offers"]) for n in esc] == [
        ("coordinator", "expiries", 3)]
    assert [o[1] for o in offers(db, r["id"])][-1] == "offered"    # still moving on
    time.sleep(1.5)
    assert len(notes(db, r["id"], "referral.escalated")) == 1


def test_escalates_when_candidates_run_out(db, make_org, tokens, client):
    r = referral(db, make_org, n_services=1)
    sql(db, "UPDATE referral_offers SET expires_at = now() - interval '1 second' WHERE id = %s",
        (r["oid"],))
    esc = wait_for(lambda: notes(db, r["id"], "referral.escalated"))
    assert [(n[2], n[3]["reason"]) for n in esc] == [("coordinator", "no_candidates")]
    coord = client(tokens["coordinator"])
    items = coord.get("/v1/notifications?type=referral.escalated&limit=100").json()["items"]
    assert r["id"] in [n["object"]["id"] for n in items]


def test_unaccepted_referral_escalates_once_after_48_hours(db, make_org):
    r = referral(db, make_org)
    sql(db, "UPDATE referrals SET created_at = now() - interval '49 hours' WHERE id = %s",
        (r["id"],))
    esc = wait_for(lambda: notes(db, r["id"], "referral.escalated"))
    assert [(n[3]["reason"], n[3]["step"]) for n in esc] == [("not_accepted_in_time", "unaccepted")]
    time.sleep(1.5)
    assert len(notes(db, r["id"], "referral.escalated")) == 1


def test_accepted_referral_does_not_escalate(db, make_org, client):
    r = referral(db, make_org)
    st = client(mint(["provider"], org=r["orgs"][0]))
    assert st.post(f"/v1/referrals/{r['id']}/offers/{r['oid']}/accept").status_code == 200
    assert [n[0] for n in notes(db, r["id"])].count("referral.accepted") == 1
    sql(db, "UPDATE referrals SET created_at = now() - interval '49 hours' WHERE id = %s",
        (r["id"],))
    sweep(db)
    assert notes(db, r["id"], "referral.escalated") == []


# ------------------------------------------------------------------- tasks

@pytest.fixture(scope="module")
def parties(make_org):
    return {"lead": Party(make_org, "victim_services", "case_manager"),
            "helper": Party(make_org, "ngo", "case_manager"),
            "coord": Party(make_org, "government", "coordinator")}


def task(parties, case_id, due_hours, title="Court date with Rosa Example-Plaintext"):
    r = parties["lead"].c.post(f"/v1/cases/{case_id}/tasks", json={
        "title": title, "kind": "court_date", "due_at": now_iso(due_hours),
        "assigned_org_id": parties["helper"].org})
    assert r.status_code == 201, r.text
    return r.json()


def test_task_steps_fire_in_order_each_once(db, parties):
    case = new_case(parties["lead"])
    t = task(parties, case["id"], due_hours=72)
    assert t["overdue"] is False
    sql(db, "UPDATE tasks SET created_at = now() - interval '10 days' WHERE id = %s", (t["id"],))
    seen = wait_for(lambda: notes(db, t["id"]))
    assert [(n[0], n[3]["step"], n[1]) for n in seen] == [
        ("task.due", "remind_7d", parties["helper"].org)]
    assert seen[0][4] == "Task due in 7 days"
    # The sweep's clock moved forward: each later step once, in order.
    for at, expect in [("now() + interval '2 days 1 hour'", "remind_1d"),
                       ("now() + interval '3 days 1 minute'", "due"),
                       ("now() + interval '4 days 1 minute'", "overdue")]:
        sweep(db, at)
        sweep(db, at)
        assert notes(db, t["id"])[-1][3]["step"] == expect
    assert [n[0] for n in notes(db, t["id"])] == ["task.due"] * 3 + ["task.overdue"]
    sweep(db, "now() + interval '9 days'")
    assert len(notes(db, t["id"])) == 4


def test_the_sweep_time_decides_what_is_due(db, parties):
    case = new_case(parties["lead"])
    t = task(parties, case["id"], due_hours=2)
    sweep(db, "now() + interval '1 hour'")
    assert notes(db, t["id"]) == []
    sweep(db, "now() + interval '2 hours 1 minute'")
    assert [n[3]["step"] for n in notes(db, t["id"])] == ["due"]


def test_overdue_task_gets_only_the_overdue_notice_and_shows_overdue(db, parties):
    case = new_case(parties["lead"])
    t = task(parties, case["id"], due_hours=-72)
    got = wait_for(lambda: notes(db, t["id"]))
    assert [(n[0], n[3]["step"]) for n in got] == [("task.overdue", "overdue")]
    assert sql(db, "SELECT step, superseded FROM deadline_fired WHERE object_id = %s "
                   "ORDER BY due_at", (t["id"],)) == [("due", True), ("overdue", False)]
    items = parties["lead"].c.get(f"/v1/cases/{case['id']}/tasks").json()["items"]
    assert [x["overdue"] for x in items if x["id"] == t["id"]] == [True]


def test_done_task_is_not_reminded_and_a_moved_task_is_reminded_anew(db, parties):
    case = new_case(parties["lead"])
    t = task(parties, case["id"], due_hours=-30)
    assert wait_for(lambda: notes(db, t["id"]))
    url = f"/v1/cases/{case['id']}/tasks/{t['id']}"
    r = parties["lead"].c.patch(url, json={"due_at": now_iso(-1)}, headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200
    got = wait_for(lambda: len(notes(db, t["id"])) == 2 and notes(db, t["id"]))
    assert [n[3]["step"] for n in got] == ["overdue", "due"]
    r = parties["lead"].c.patch(url, json={"status": "done"}, headers={"If-Match": etag(url, 2)})
    assert r.status_code == 200 and r.json()["overdue"] is False
    sweep(db, "now() + interval '3 days'")
    assert len(notes(db, t["id"])) == 2


# ---------------------------------------------------- consents, transfers

def test_consent_expiring_in_14_days_tells_the_lead_once(db, parties):
    case = new_case(parties["lead"])
    k = grant(parties["lead"], case["id"], ["needs"], org=parties["helper"].org, days=10)
    far = grant(parties["lead"], case["id"], ["needs"], org=parties["helper"].org, days=40)
    got = wait_for(lambda: sql(db, "SELECT organization_id::text, payload FROM notifications "
                                   "WHERE object_id = %s", (k["id"],)))
    assert [(g[0], g[1]["consent_id"], g[1]["expired"]) for g in got] == [
        (parties["lead"].org, k["id"], False)]
    time.sleep(1.2)
    assert len(sql(db, "SELECT 1 FROM notifications WHERE object_id = %s", (k["id"],))) == 1
    assert sql(db, "SELECT 1 FROM notifications WHERE object_id = %s", (far["id"],)) == []
    items = parties["lead"].c.get("/v1/notifications?type=consent.expiring").json()["items"]
    assert items[0]["link"] == f"/v1/cases/{case['id']}/consents"


def test_revoked_consent_is_not_announced(db, parties):
    case = new_case(parties["lead"])
    k = grant(parties["lead"], case["id"], ["needs"], org=parties["helper"].org, days=40)
    parties["lead"].c.post(f"/v1/cases/{case['id']}/consents/{k['id']}/revoke")
    sql(db, "UPDATE consents SET expires_at = now() + interval '3 days' WHERE id = %s", (k["id"],))
    sweep(db)
    assert sql(db, "SELECT 1 FROM notifications WHERE object_id = %s", (k["id"],)) == []


def test_pending_transfer_reminds_receiver_then_coordinators(db, parties):
    case = new_case(parties["lead"])
    r = parties["lead"].c.post(f"/v1/cases/{case['id']}/transfer",
                               json={"to_org_id": parties["helper"].org,
                                     "reason": "moved to Safe City with Rosa"})
    assert r.status_code == 201
    tid = r.json()["id"]
    sql(db, "UPDATE case_transfers SET requested_at = now() - interval '49 hours' WHERE id = %s",
        (tid,))
    got = wait_for(lambda: notes(db, tid))
    assert [(n[1], n[2], n[3]["step"]) for n in got] == [(parties["helper"].org, None, "receiver")]
    sql(db, "UPDATE case_transfers SET requested_at = now() - interval '97 hours' WHERE id = %s",
        (tid,))
    got = wait_for(lambda: len(notes(db, tid)) == 2 and notes(db, tid))
    assert [(n[2], n[3]["step"]) for n in got][1] == ("coordinator", "coordinators")
    time.sleep(1.2)
    assert len(notes(db, tid)) == 2


def test_answered_transfer_is_not_reminded(db, parties):
    case = new_case(parties["lead"])
    r = parties["lead"].c.post(f"/v1/cases/{case['id']}/transfer",
                               json={"to_org_id": parties["helper"].org})
    tid = r.json()["id"]
    assert parties["helper"].c.post(f"/v1/cases/{case['id']}/transfer/decline").status_code == 200
    sql(db, "UPDATE case_transfers SET requested_at = now() - interval '200 hours' WHERE id = %s",
        (tid,))
    sweep(db)
    assert notes(db, tid) == []


# -------------------------------------------------------- notifications API

def test_notifications_are_listed_read_and_filtered(db, parties, client):
    case = new_case(parties["lead"])
    for _ in range(3):
        task(parties, case["id"], due_hours=-50, title="Follow up")
    helper = parties["helper"].c
    assert wait_for(lambda: len(helper.get("/v1/notifications?unread=true&type=task.overdue&"
                                           "limit=100").json()["items"]) >= 3)
    page = helper.get("/v1/notifications?limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    ids = [n["id"] for n in page["items"]]
    nxt = helper.get(f"/v1/notifications?limit=2&cursor={page['next_cursor']}").json()
    assert not set(ids) & {n["id"] for n in nxt["items"]}
    assert ids == sorted(ids, reverse=True)
    r = helper.post(f"/v1/notifications/{ids[0]}/read")
    assert r.status_code == 200 and r.json()["read"] is True and r.json()["read_at"]
    assert helper.post(f"/v1/notifications/{ids[0]}/read").json()["read_at"] == r.json()["read_at"]
    unread = helper.get("/v1/notifications?unread=true&limit=100").json()["items"]
    assert ids[0] not in [n["id"] for n in unread]
    assert helper.get("/v1/notifications?unread=false").json()["items"][0]["id"] == ids[0]
    r = helper.post("/v1/notifications/read-all")
    assert r.status_code == 200 and r.json()["marked"] >= 2
    assert helper.get("/v1/notifications?unread=true").json()["items"] == []
    assert helper.post("/v1/notifications/read-all").json() == {"marked": 0}


def test_someone_elses_notification_is_404(db, parties):
    case = new_case(parties["lead"])
    task(parties, case["id"], due_hours=-50)
    items = wait_for(lambda: parties["helper"].c.get("/v1/notifications").json()["items"])
    nid = items[0]["id"]
    r = parties["lead"].c.post(f"/v1/notifications/{nid}/read")
    assert r.status_code == 404
    assert parties["lead"].c.post("/v1/notifications/999999999/read").status_code == 404
    assert nid not in [n["id"] for n in parties["lead"].c.get(
        "/v1/notifications?limit=100").json()["items"]]


@pytest.mark.parametrize("qs,field", [
    ("unread=yes", "unread"), ("type=task.later", "type"), ("limit=0", "limit"),
    ("cursor=abc", "cursor"), ("colour=red", "colour"), ("unread=true&unread=false", "unread")])
def test_bad_notification_queries_are_400(parties, qs, field):
    r = parties["helper"].c.get(f"/v1/notifications?{qs}")
    assert r.status_code == 400
    assert r.json()["type"] == "urn:concord:problem:bad-query"
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_notifications_need_an_organization(client, tokens):
    r = client(tokens["admin"]).get("/v1/notifications")
    assert r.status_code == 403
    assert client(None).get("/v1/notifications").status_code == 401


def test_no_notification_carries_personal_data(db, parties, make_org):
    """Markers posted as personal data, notes, titles and reasons reach no
    notification: titles are fixed, data holds ids and states."""
    case = new_case(parties["lead"])
    task(parties, case["id"], due_hours=-50, title=f"Meet {NAME} at {ADDRESS}")
    grant(parties["lead"], case["id"], ["identity"], org=parties["helper"].org, days=5,
          purpose=f"call {PHONE}")
    r = parties["lead"].c.post(f"/v1/cases/{case['id']}/transfer",
                               json={"to_org_id": parties["helper"].org, "reason": NAME})
    sql(db, "UPDATE case_transfers SET requested_at = now() - interval '100 hours' "
            "WHERE id = %s", (r.json()["id"],))
    ref = referral(db, make_org)
    sql(db, "UPDATE referral_offers SET expires_at = now() - interval '1 second' WHERE id = %s",
        (ref["oid"],))
    assert wait_for(lambda: len(notes(db, r.json()["id"])) == 2)
    assert wait_for(lambda: notes(db, ref["id"], "referral.expired"))
    rows = sql(db, "SELECT title || ' ' || coalesce(link, '') || ' ' || payload::text "
                   "FROM notifications")
    text = "\n".join(x[0] for x in rows)
    for marker in (NAME, PHONE, ADDRESS, "Rosa", "Safe City", "bus station", "call "):
        assert marker not in text, marker
    docs = parties["helper"].c.get("/v1/notifications?limit=100").json()["items"]
    assert not any(NAME in str(d) or ADDRESS in str(d) for d in docs)


# ------------------------------------------------------------ exactly once

def start_worker(**env):
    e = dict(os.environ, CONCORD_WORKER_HEARTBEAT="", CONCORD_DEADLINE_SWEEP_SECONDS="1")
    e.update(env)
    return subprocess.Popen([WORKER], env=e, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
    p.wait(timeout=30)


@pytest.mark.skipif(not WORKER, reason="needs CONCORD_TEST_WORKER_BIN (make test)")
def test_each_step_fires_once_across_workers_and_a_restart(db, parties, make_org):
    """Three workers (the stack's and two more) sweep while steps come due
    over several seconds; one is killed with SIGKILL mid-way and started
    again. Every clock fires each of its steps exactly once."""
    case = new_case(parties["lead"])
    helper = parties["helper"].org
    # Tasks: some overdue already, others coming due over the next seconds.
    tids = [str(x[0]) for x in sql(db,
        "INSERT INTO tasks (case_id, title, kind, due_at, assigned_org, created_by) "
        "SELECT %s, 'x', 'follow_up', now() + make_interval(secs => g %% 6) - "
        "CASE WHEN g %% 3 = 0 THEN interval '2 days' ELSE interval '0' END, %s, 'test' "
        "FROM generate_series(1, 60) g RETURNING id", (case["id"], helper))]
    # Transfers of fresh cases waiting 100 hours: receiver and coordinators.
    xfers = []
    for _ in range(5):
        c = new_case(parties["lead"])
        xfers.append(parties["lead"].c.post(f"/v1/cases/{c['id']}/transfer",
                                            json={"to_org_id": helper}).json()["id"])
    sql(db, "UPDATE case_transfers SET requested_at = now() - interval '100 hours' "
            "WHERE id = ANY(%s::uuid[])", (xfers,))
    # Consents expiring within the notice.
    kids = [grant(parties["lead"], case["id"], ["needs"], org=helper, days=3)["id"]
            for _ in range(5)]
    w = [start_worker(), start_worker()]
    try:
        time.sleep(1.0)
        stop(w[0], signal.SIGKILL)
        time.sleep(2.0)
        w[0] = start_worker()           # restarted: catch-up sweep at start
        time.sleep(5.0)                 # past the last due time, several sweeps
    finally:
        for p in w:
            stop(p)

    def counts(ids, kinds):
        rows = sql(db, "SELECT coalesce(payload->>'task_id', payload->>'transfer_id', "
                       "payload->>'consent_id'), payload->>'step', count(*) FROM notifications "
                       "WHERE kind = ANY(%s) AND coalesce(payload->>'task_id', "
                       "payload->>'transfer_id', payload->>'consent_id') = ANY(%s) "
                       "GROUP BY 1, 2", (kinds, ids))
        return rows

    tc = counts(tids, ["task.due", "task.overdue"])
    assert sorted(r[0] for r in tc) == sorted(tids)          # every task told once ...
    assert {r[2] for r in tc} == {1}                          # ... and only once
    assert {r[1] for r in tc} == {"due", "overdue"}
    xc = counts(xfers, ["transfer.pending"])
    assert len(xc) == 10 and {r[2] for r in xc} == {1}
    kc = counts(kids, ["consent.expiring"])
    assert len(kc) == 5 and {r[2] for r in kc} == {1}
    fired = sql(db, "SELECT count(DISTINCT fired_by) FROM deadline_fired WHERE object_id = "
                    "ANY(%s::uuid[]) AND NOT superseded", (tids,))[0][0]
    assert fired >= 1


def stack_workers():
    """Pids of the stack's own worker (this build's binary, started in
    the repository), not those a test started."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.realpath(WORKER)
    pids = []
    for d in os.listdir("/proc"):
        try:
            if (d.isdigit() and os.readlink(f"/proc/{d}/exe") == exe
                    and os.readlink(f"/proc/{d}/cwd") == root):
                pids.append(int(d))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not WORKER, reason="needs CONCORD_TEST_WORKER_BIN (make test)")
def test_a_worker_catches_up_at_start_on_what_came_due_while_none_ran(db, parties):
    """With the stack's worker stopped, a step comes due and nothing
    fires; a worker started then (--once) sweeps at start and fires it."""
    pids = stack_workers()
    if not pids:
        pytest.skip("the stack's worker is not found")
    case = new_case(parties["lead"])
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        time.sleep(0.5)
        tid = str(sql(db, "INSERT INTO tasks (case_id, title, kind, due_at, assigned_org, "
                          "created_by) VALUES (%s, 'x', 'other', now() - interval '1 hour', "
                          "%s, 'test') RETURNING id", (case["id"], parties["helper"].org))[0][0])
        time.sleep(1.5)
        assert notes(db, tid) == []                  # nobody sweeping
        p = subprocess.run([WORKER, "--once"], env=dict(os.environ, CONCORD_WORKER_HEARTBEAT=""),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        assert p.returncode == 0
        assert [n[3]["step"] for n in notes(db, tid)] == ["due"]
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)


# ---------------------------------------------------- tasks, changes feeds

def test_tasks_lists_my_organizations_tasks_across_cases(db, make_org):
    lead = Party(make_org, "victim_services", "case_manager")
    mine = Party(make_org, "legal_aid", "provider")
    other = Party(make_org, "ngo", "case_manager")
    c1, c2 = new_case(lead), new_case(lead)
    made = []
    for case, hours, org in [(c1, -5, mine.org), (c2, 30, mine.org), (c1, 60, mine.org),
                             (c2, 10, other.org)]:
        made.append(lead.c.post(f"/v1/cases/{case['id']}/tasks", json={
            "title": "Follow up", "kind": "follow_up", "due_at": now_iso(hours),
            "assigned_org_id": org}).json())
    items = mine.c.get("/v1/tasks").json()["items"]
    assert [t["id"] for t in items] == [made[0]["id"], made[1]["id"], made[2]["id"]]
    assert [t["overdue"] for t in items] == [True, False, False]
    assert [t["id"] for t in mine.c.get("/v1/tasks?overdue=true").json()["items"]] == [made[0]["id"]]
    assert [t["id"] for t in mine.c.get("/v1/tasks?overdue=false").json()["items"]] == [
        made[1]["id"], made[2]["id"]]
    due = mine.c.get("/v1/tasks", params={"due_before": now_iso(40)}).json()["items"]
    assert [t["id"] for t in due] == [made[0]["id"], made[1]["id"]]
    p1 = mine.c.get("/v1/tasks?limit=2").json()
    p2 = mine.c.get(f"/v1/tasks?limit=2&cursor={p1['next_cursor']}").json()
    assert [t["id"] for t in p1["items"] + p2["items"]] == [t["id"] for t in items]
    assert p2["next_cursor"] is None
    mine.c.patch(f"/v1/cases/{c1['id']}/tasks/{made[0]['id']}", json={"status": "done"},
                 headers={"If-Match": etag(f"/v1/cases/{c1['id']}/tasks/{made[0]['id']}", 1)})
    assert [t["id"] for t in mine.c.get("/v1/tasks?status=done").json()["items"]] == [made[0]["id"]]
    assert len(mine.c.get("/v1/tasks?status=open,done").json()["items"]) == 3
    assert [t["id"] for t in other.c.get("/v1/tasks").json()["items"]] == [made[3]["id"]]


@pytest.mark.parametrize("qs,field", [
    ("status=later", "status"), ("due_before=tomorrow", "due_before"), ("overdue=1", "overdue"),
    ("updated_since=yesterday", "updated_since"), ("limit=500", "limit"), ("sort=due", "sort"),
    ("cursor=eyJrIjoiY2FzZXMifQ", "cursor")])
def test_bad_task_queries_are_400(parties, qs, field):
    r = parties["helper"].c.get(f"/v1/tasks?{qs}")
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_tasks_need_a_case_role_and_an_organization(client, tokens):
    assert client(tokens["hotline"]).get("/v1/tasks").status_code == 403
    assert client(tokens["analyst"]).get("/v1/tasks").status_code == 403
    assert client(tokens["admin"]).get("/v1/tasks").status_code == 403


def feed(c, path, since):
    """Every item of a changes feed from since, following cursors."""
    out, url = [], f"{path}?updated_since={since}&limit=2"
    while url:
        page = c.get(url.replace("+", "%2B")).json()
        out += page["items"]
        url = page["next_cursor"] and f"{path}?updated_since={since}&limit=2&cursor={page['next_cursor']}"
    return out


def test_changes_feeds_return_what_changed_in_order_of_change(db, make_org):
    lead = Party(make_org, "victim_services", "case_manager")
    helper = Party(make_org, "ngo", "case_manager")
    since = sql(db, "SELECT now()::text")[0][0].replace(" ", "T")
    time.sleep(0.05)
    cases = [new_case(lead) for _ in range(3)]
    tasks = [lead.c.post(f"/v1/cases/{c['id']}/tasks", json={
        "title": "t", "kind": "other", "due_at": now_iso(5), "assigned_org_id": helper.org}).json()
        for c in cases]
    time.sleep(0.05)
    # Change the first case and task again: they move to the end.
    lead.c.patch(f"/v1/cases/{cases[0]['id']}", json={"jurisdiction": "06001"},
                 headers={"If-Match": etag(f"/v1/cases/{cases[0]['id']}", 1)})
    helper.c.patch(f"/v1/cases/{cases[0]['id']}/tasks/{tasks[0]['id']}",
                   json={"status": "in_progress"}, headers={"If-Match": etag(f"/v1/cases/{cases[0]['id']}/tasks/{tasks[0]['id']}", 1)})
    got = [c["id"] for c in feed(lead.c, "/v1/cases", since)]
    assert got == [cases[1]["id"], cases[2]["id"], cases[0]["id"]]
    ts = [t["id"] for t in feed(helper.c, "/v1/tasks", since)]
    assert ts == [tasks[1]["id"], tasks[2]["id"], tasks[0]["id"]]
    stamps = [t["updated_at"] for t in feed(helper.c, "/v1/tasks", since)]
    assert stamps == sorted(stamps)
    later = feed(helper.c, "/v1/tasks", stamps[-1])
    assert [t["id"] for t in later] == [tasks[0]["id"]]


def test_referral_changes_feed(db, make_org):
    since = sql(db, "SELECT now()::text")[0][0].replace(" ", "T")
    r1 = referral(db, make_org)
    r2 = referral(db, make_org)
    st = Client(mint(["provider"], org=r1["orgs"][0]))
    st.post(f"/v1/referrals/{r1['id']}/offers/{r1['oid']}/accept")
    coord = Client(mint(["coordinator"], org=make_org(kind="government")))
    got = [r["id"] for r in feed(coord, "/v1/referrals", since)]
    assert got.index(r2["id"]) < got.index(r1["id"])
    mine = [r["id"] for r in feed(r1["hot"], "/v1/referrals", since)]
    assert mine == [r1["id"]]
    r = coord.get("/v1/referrals?updated_since=now")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "updated_since"
    r = coord.get(f"/v1/referrals?updated_since={since.replace('+', '%2B')}&since=2020-01-01")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "since"
