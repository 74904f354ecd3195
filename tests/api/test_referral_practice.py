"""Referrals as practitioners work them: a sender directs a referral to
services it names, coordinators offer unmatched needs by hand or match
them again, waiting needs are matched again when capacity frees up,
declines and outcomes are codes, a hotline referral without personal
data goes with verbal consent, and language decides without excluding
clients who speak none of the majority languages (interpretation).

Every test builds its own small directory (services inserted straight
into the database, in a corner of the map no other module uses); all
other services are taken out of matching while this module runs."""
import datetime
import itertools
import random
import time
import uuid

import pytest

from conftest import Client, mint

# A meridian of its own for each run (5 degrees apart: 278 km or more
# here), so needs left waiting by an earlier run on the same database
# never meet this run's services.
LON = 5.0 * random.randint(-35, 35)
_spots = itertools.count(1)


def spot():
    """A fresh latitude 1.3 degrees (144 km) from every other test's."""
    return 60.0 - 1.3 * next(_spots)


def north(lat, km):
    return lat + km / 111.0


@pytest.fixture(scope="module", autouse=True)
def quarantine(db):
    """Only this module's services take part in matching here; they
    leave matching again when the module ends."""
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS rp_saved AS "
                    "SELECT id FROM services WHERE accepts_referrals")
        cur.execute("UPDATE services SET accepts_referrals = false WHERE accepts_referrals")
    yield
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = false WHERE accepts_referrals")
        cur.execute("UPDATE services SET accepts_referrals = true WHERE id IN "
                    "(SELECT id FROM rp_saved)")
        cur.execute("DROP TABLE rp_saved")


@pytest.fixture(scope="module")
def svc(db):
    """svc(org, needs, lat, **fields) -> service id (inserted directly)."""
    def make(org, needs, lat, radius=50.0, languages=("en",), total=None,
             available=None, age_min=None, interpretation=False, name=None):
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO services (organization_id, name, needs, languages, area_lat, "
                "area_lon, area_radius_km, site_lat, site_lon, capacity_total, "
                "capacity_available, age_min, open_24_7, interpretation) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s) RETURNING id",
                (org, name or f"rp-{uuid.uuid4().hex[:6]}", list(needs), list(languages),
                 lat, LON, radius, lat, LON, total, available, age_min, interpretation))
            return str(cur.fetchone()[0])
    return make


def expires():
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(days=30)).isoformat()


def body(lat, needs=("food",), urgency="urgent", **extra):
    client = {"age": 30, "languages": ["en"], "trafficking_type": "labor",
              "location": {"lat": lat, "lon": LON}}
    client.update(extra.pop("client", {}))
    b = {"client": client, "needs": list(needs), "urgency": urgency,
         "consent": {"categories": ["needs", "case_details"], "expires_at": expires(),
                     "form_ref": "FORM-RP", "informed": True, "written": True},
         "reference": "RP-" + uuid.uuid4().hex[:8]}
    b.update(extra)
    return b


def post(c, b):
    return c.post("/v1/referrals", json=b, headers={"Idempotency-Key": uuid.uuid4().hex})


def until(c, rid, pred, timeout=15):
    """The referral once pred(doc) holds (the worker runs meanwhile)."""
    deadline = time.time() + timeout
    while True:
        doc = c.get(f"/v1/referrals/{rid}").json()
        if pred(doc):
            return doc
        if time.time() > deadline:
            raise AssertionError(f"referral {rid}: {doc['status']} {doc['needs']}")
        time.sleep(0.05)


def matched(doc):
    return doc["status"] not in ("received", "matching")


def need(doc, code):
    return next(n for n in doc["needs"] if n["code"] == code)


def staff(org, role="provider"):
    return Client(mint([role], org=org))


@pytest.fixture
def hotline(make_org):
    return Client(mint(["hotline"], org=make_org(kind="other")))


@pytest.fixture
def coord(client, tokens):
    return client(tokens["coordinator"])


def count_refs(db, reference):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE reference = %s", (reference,))
        return cur.fetchone()[0]


# ---------------------------------------------------------------- directed

def test_a_directed_referral_goes_to_the_named_service_first(hotline, svc, make_org):
    """The sender names a farther service; it is offered first (via
    directed), and when it declines automatic matching takes over."""
    lat = spot()
    near = svc(make_org(kind="ngo"), ["food"], lat)
    far_org = make_org(kind="ngo")
    far = svc(far_org, ["food"], north(lat, 30))
    r = post(hotline, body(lat, directed_service_ids=[far]))
    assert r.status_code == 201, r.text
    doc = until(hotline, r.json()["id"], matched)
    assert [(o["service"]["id"], o["via"]) for o in doc["offers"]] == [(far, "directed")]
    assert doc["directed"] == {"service_ids": [far], "fallback_to_matching": True}
    assert [c["service_id"] for c in doc["needs"][0]["candidates"]] == [near, far]
    d = staff(far_org).post(f"/v1/referrals/{doc['id']}/offers/{doc['offers'][0]['id']}/decline",
                            json={"reason_code": "no_capacity"})
    assert d.status_code == 200, d.text
    doc = hotline.get(f"/v1/referrals/{doc['id']}").json()
    assert [(o["service"]["id"], o["status"], o["via"]) for o in doc["offers"]] == [
        (far, "declined", "directed"), (near, "offered", "matching")]


def test_directed_services_in_order_then_unmatched_without_fallback(hotline, svc, make_org, db):
    lat = spot()
    a_org, b_org = make_org(kind="ngo"), make_org(kind="ngo")
    a = svc(a_org, ["clothing"], lat)
    b = svc(b_org, ["clothing"], north(lat, 5))
    other = svc(make_org(kind="ngo"), ["clothing"], lat)
    r = post(hotline, body(lat, needs=["clothing"], directed_service_ids=[a, b],
                           fallback_to_matching=False))
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "offered"          # offered at once, no matching
    assert [o["service"]["id"] for o in doc["offers"]] == [a]
    rid = doc["id"]
    staff(a_org).post(f"/v1/referrals/{rid}/offers/{doc['offers'][0]['id']}/decline",
                      json={"reason_code": "outside_area"})
    doc = hotline.get(f"/v1/referrals/{rid}").json()
    assert [(o["service"]["id"], o["status"]) for o in doc["offers"]] == [
        (a, "declined"), (b, "offered")]
    staff(b_org).post(f"/v1/referrals/{rid}/offers/{doc['offers'][1]['id']}/decline",
                      json={"reason_code": "language"})
    doc = hotline.get(f"/v1/referrals/{rid}").json()
    assert doc["status"] == "unmatched"
    assert "every directed service declined" in doc["needs"][0]["unmatched_reason"]
    assert other not in [o["service"]["id"] for o in doc["offers"]]
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM jobs WHERE kind = 'referral.match' AND "
                    "payload->>'referral_id' = %s", (rid,))
        assert cur.fetchone()[0] == 0


REFUSALS = [
    ("age", {"age_min": 18}, {"client": {"age": 15}}, "does not serve clients aged 15"),
    ("capacity", {"total": 4, "available": 0}, {}, "has no capacity left"),
    ("need", {"needs": ["legal_representation_civil"]}, {}, "does not offer"),
    ("area", {"radius": 5.0, "lat_km": 40}, {}, "does not cover the client's location"),
    ("language", {}, {"client": {"languages": ["ti"]}},
     "does not speak ti and has no interpretation"),
]


@pytest.mark.parametrize("what,svc_kw,body_kw,reason", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_directed_service_that_cannot_serve_the_client_is_refused(
        hotline, svc, make_org, db, what, svc_kw, body_kw, reason):
    lat = spot()
    kw = dict(svc_kw)
    needs = kw.pop("needs", ["food"])
    slat = north(lat, kw.pop("lat_km", 0))
    s = svc(make_org(kind="ngo"), needs, slat, **kw)
    b = body(lat, directed_service_ids=[s], **body_kw)
    r = post(hotline, b)
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["type"] == "urn:concord:problem:service-cannot-serve"
    assert p["errors"][0]["field"] == "directed_service_ids[0]"
    assert reason in p["errors"][0]["reason"], p
    assert count_refs(db, b["reference"]) == 0


def test_own_and_unknown_directed_services_are_refused(svc, make_org, db):
    lat = spot()
    line = make_org(kind="ngo")
    own = svc(line, ["food"], lat)
    h = Client(mint(["hotline"], org=line))
    r = post(h, body(lat, directed_service_ids=[own, str(uuid.uuid4())]))
    assert r.status_code == 422, r.text
    errs = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert "sending organization" in errs["directed_service_ids[0]"]
    assert errs["directed_service_ids[1]"] == "is not a service in the directory"


def test_without_fallback_every_need_needs_a_directed_service(hotline, svc, make_org):
    lat = spot()
    s = svc(make_org(kind="ngo"), ["food"], lat)
    r = post(hotline, body(lat, needs=["food", "clothing"], directed_service_ids=[s],
                           fallback_to_matching=False))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["needs[1]"]
    # With fallback the other need goes to matching.
    r = post(hotline, body(lat, needs=["food", "clothing"], directed_service_ids=[s]))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("extra,field", [
    ({"directed_service_ids": []}, "directed_service_ids"),
    ({"directed_service_ids": ["not-a-uuid"]}, "directed_service_ids"),
    ({"directed_service_ids": ["5f0c0c5e-0000-4000-8000-000000000001"] * 2},
     "directed_service_ids"),
    ({"fallback_to_matching": False}, "fallback_to_matching"),
    ({"directed_service_ids": ["5f0c0c5e-0000-4000-8000-000000000001"],
      "fallback_to_matching": "no"}, "fallback_to_matching"),
])
def test_bad_directions_are_422(hotline, extra, field):
    r = post(hotline, body(spot(), **extra))
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


# ---------------------------------------------------------------- coordinators

def unmatched_referral(hotline, svc, make_org, lat, need_code="food"):
    """A referral whose only fitting service is full: unmatched."""
    org = make_org(kind="ngo")
    full = svc(org, [need_code], lat, total=2, available=0)
    doc = until(hotline, post(hotline, body(lat, needs=[need_code])).json()["id"], matched)
    assert doc["status"] == "unmatched", doc
    return doc, full, org


def test_a_coordinator_offers_an_unmatched_need_by_hand(hotline, coord, svc, make_org, client,
                                                        tokens):
    lat = spot()
    doc, full, _ = unmatched_referral(hotline, svc, make_org, lat)
    rid = doc["id"]
    r = coord.post(f"/v1/referrals/{rid}/offer", json={"service_id": full})
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:concord:problem:service-cannot-serve"
    assert "food: has no capacity left" in r.json()["errors"][0]["reason"]
    young = svc(make_org(kind="ngo"), ["food"], lat, age_min=40)
    r = coord.post(f"/v1/referrals/{rid}/offer", json={"service_id": young})
    assert r.status_code == 422 and "aged 30" in r.json()["errors"][0]["reason"], r.text
    new_org = make_org(kind="ngo")
    fresh = svc(new_org, ["food"], north(lat, 10))
    for c in (hotline, client(tokens["provider"]), staff(new_org)):
        assert c.post(f"/v1/referrals/{rid}/offer", json={"service_id": fresh}).status_code == 403
    r = coord.post(f"/v1/referrals/{rid}/offer", json={"service_id": fresh, "needs": ["food"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "offered" and need(doc, "food")["status"] == "offered"
    assert [(o["service"]["id"], o["via"]) for o in doc["offers"]] == [(fresh, "coordinator")]
    a = staff(new_org).post(f"/v1/referrals/{rid}/offers/{doc['offers'][0]['id']}/accept")
    assert a.status_code == 200 and a.json()["status"] == "in_progress"


def test_a_coordinator_redirects_an_unanswered_offer(hotline, coord, svc, make_org):
    lat = spot()
    a = svc(make_org(kind="ngo"), ["food"], lat)
    b_org = make_org(kind="ngo")
    b = svc(b_org, ["food"], north(lat, 20))
    doc = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    assert [o["service"]["id"] for o in doc["offers"]] == [a]
    r = coord.post(f"/v1/referrals/{doc['id']}/offer", json={"service_id": b})
    assert r.status_code == 409, r.text          # food is offered, not unmatched: name it
    r = coord.post(f"/v1/referrals/{doc['id']}/offer", json={"service_id": a, "needs": ["food"]})
    assert r.status_code == 422, r.text          # a holds the open offer
    r = coord.post(f"/v1/referrals/{doc['id']}/offer", json={"service_id": b, "needs": ["food"]})
    assert r.status_code == 200, r.text
    assert [(o["service"]["id"], o["status"]) for o in r.json()["offers"]] == [
        (a, "withdrawn"), (b, "offered")]


def test_unmatched_is_not_final_a_coordinator_matches_again(hotline, coord, svc, make_org):
    lat = spot()
    doc, _, _ = unmatched_referral(hotline, svc, make_org, lat)
    r = coord.post(f"/v1/referrals/{doc['id']}/rematch", json={})
    assert r.status_code == 200, r.text          # nobody new: it waits again
    assert need(r.json(), "food")["status"] == "pending"
    doc = until(hotline, doc["id"], lambda d: need(d, "food")["status"] == "unmatched")
    assert doc["status"] == "unmatched"
    added = svc(make_org(kind="ngo"), ["food"], north(lat, 10))
    r = coord.post(f"/v1/referrals/{doc['id']}/rematch", json={})
    assert r.status_code == 200, r.text
    doc = until(hotline, doc["id"], lambda d: need(d, "food")["status"] != "pending")
    assert need(doc, "food")["status"] == "offered"
    assert doc["status"] == "offered"
    assert [o["service"]["id"] for o in doc["offers"]] == [added]
    assert hotline.post(f"/v1/referrals/{doc['id']}/rematch", json={}).status_code == 403
    r = coord.post(f"/v1/referrals/{doc['id']}/rematch", json={"needs": ["clothing"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "needs[0]"


def set_capacity(c, sid, available, total=None):
    b = {"available": available}
    if total is not None:
        b["total"] = total
    r = c.put(f"/v1/services/{sid}/capacity", json=b)
    assert r.status_code == 200, r.text


def test_freed_capacity_rematches_waiting_needs_most_urgent_then_oldest_first(
        hotline, svc, make_org):
    lat = spot()
    org = make_org(kind="ngo")
    s = svc(org, ["food"], lat, total=3, available=0)
    ids = {}
    for name, urgency in (("routine_old", "routine"), ("routine_new", "routine"),
                          ("emergency", "emergency")):
        ids[name] = until(hotline, post(hotline, body(lat, urgency=urgency)).json()["id"],
                          matched)["id"]
    for rid in ids.values():
        assert hotline.get(f"/v1/referrals/{rid}").json()["status"] == "unmatched"
    owner = staff(org)
    set_capacity(owner, s, 1)
    doc = until(hotline, ids["emergency"], lambda d: need(d, "food")["status"] == "offered")
    assert [o["service"]["id"] for o in doc["offers"]] == [s]
    set_capacity(owner, s, 0)
    set_capacity(owner, s, 1)
    until(hotline, ids["routine_old"], lambda d: need(d, "food")["status"] == "offered")
    time.sleep(1.5)
    assert hotline.get(f"/v1/referrals/{ids['routine_new']}").json()["status"] == "unmatched"


def test_a_cancelled_referral_frees_capacity_for_a_waiting_need(hotline, svc, make_org):
    lat = spot()
    org = make_org(kind="ngo")
    s = svc(org, ["food"], lat, total=1, available=1)
    first = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    a = staff(org).post(f"/v1/referrals/{first['id']}/offers/{first['offers'][0]['id']}/accept")
    assert a.status_code == 200, a.text
    waiting = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    assert waiting["status"] == "unmatched"
    c = hotline.post(f"/v1/referrals/{first['id']}/cancel", json={"reason": "client moved"})
    assert c.status_code == 200, c.text
    doc = until(hotline, waiting["id"], lambda d: need(d, "food")["status"] == "offered")
    assert [o["service"]["id"] for o in doc["offers"]] == [s]


def test_a_completed_referral_gives_its_capacity_back(hotline, svc, make_org, db):
    lat = spot()
    org = make_org(kind="ngo")
    s = svc(org, ["food"], lat, total=1, available=1)
    doc = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    st = staff(org)
    st.post(f"/v1/referrals/{doc['id']}/offers/{doc['offers'][0]['id']}/accept")
    waiting = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    assert waiting["status"] == "unmatched"
    r = st.post(f"/v1/referrals/{doc['id']}/complete",
                json={"outcomes": [{"need": "food", "outcome": "completed"}]})
    assert r.status_code == 200, r.text
    until(hotline, waiting["id"], lambda d: need(d, "food")["status"] == "offered")


# ---------------------------------------------------------------- codes

@pytest.fixture
def offered(hotline, svc, make_org):
    lat = spot()
    org = make_org(kind="victim_services")
    s = svc(org, ["food"], lat, total=2, available=2)
    doc = until(hotline, post(hotline, body(lat)).json()["id"], matched)
    return {"id": doc["id"], "oid": doc["offers"][0]["id"], "staff": staff(org), "s": s}


@pytest.mark.parametrize("decline,code", [
    ({"reason_code": "not_eligible"}, "not_eligible"),
    ({"reason_code": "other", "reason": "the client asked for a female advocate"}, "other"),
    ({"reason": "Sorry, we are full this week"}, "no_capacity"),   # text only, as before
    ({"reason": "client could not be reached"}, "cannot_reach_client"),
    ({"reason": "something else"}, "other"),
])
def test_declines_carry_a_code(offered, coord, decline, code):
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/decline",
                              json=decline)
    assert r.status_code == 200, r.text
    assert r.json()["offers"][0]["decline_code"] == code
    assert coord.get(f"/v1/referrals/{offered['id']}").json()["offers"][0]["decline_code"] == code


@pytest.mark.parametrize("decline,field", [
    ({"reason_code": "other"}, "reason"),
    ({"reason_code": "busy"}, "reason_code"),
    ({}, "reason"),
    ({"reason_code": "language", "colour": "red"}, "colour"),
])
def test_bad_declines_are_422(offered, decline, field):
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/decline",
                              json=decline)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize("outcome,stored,task", [
    ({"outcome": "completed"}, "completed", "completed"),
    ({"outcome": "partially_completed"}, "partially_completed", "completed"),
    ({"outcome": "unable_to_contact"}, "unable_to_contact", "failed"),
    ({"outcome": "no_longer_needed"}, "no_longer_needed", "cancelled"),
    ({"outcome": "referred_elsewhere"}, "referred_elsewhere", "cancelled"),
    ({"outcome": "client_declined"}, "client_declined", "cancelled"),
    ({"outcome": "other", "note": "moved abroad"}, "other", "failed"),
    ({"outcome": "need_met"}, "completed", "completed"),            # old names
    ({"outcome": "need_not_met"}, "not_completed", "failed"),
])
def test_outcomes_are_closed_loop_codes(offered, outcome, stored, task):
    st = offered["staff"]
    st.post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    r = st.post(f"/v1/referrals/{offered['id']}/complete",
                json={"outcomes": [dict(need="food", **outcome)]})
    assert r.status_code == 200, r.text
    n = need(r.json(), "food")
    assert (n["outcome"], n["task_status"]) == (stored, task)
    assert n.get("outcome_note") == outcome.get("note")


@pytest.mark.parametrize("outcome,field", [
    ({"outcome": "other"}, "outcomes[0].note"),
    ({"outcome": "done"}, "outcomes[0].outcome"),
    ({"outcome": "completed", "extra": 1}, "outcomes[0]"),
])
def test_bad_outcomes_are_422(offered, outcome, field):
    st = offered["staff"]
    st.post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    r = st.post(f"/v1/referrals/{offered['id']}/complete",
                json={"outcomes": [dict(need="food", **outcome)]})
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_codes_are_countable_in_reports(db):
    """The referrals report counts declines by category and completions
    by outcome: codes map onto its fixed categories."""
    with db.cursor() as cur:
        cur.execute("SELECT report.decline_category(c, 'irrelevant text') FROM unnest("
                    "ARRAY['no_capacity', 'not_eligible', 'outside_area', 'language', "
                    "'cannot_reach_client', 'client_declined', 'other']) c")
        assert [r[0] for r in cur.fetchall()] == [
            "capacity", "eligibility", "eligibility", "language", "client_unreachable",
            "other", "other"]
        cur.execute("SELECT report.decline_category(NULL, 'no bed left, we are full')")
        assert cur.fetchone()[0] == "capacity"


# ---------------------------------------------------------------- consent

def verbal_body(lat, **client):
    c = {"minor": False, "languages": ["es"], "location": {"jurisdiction": "99001"}}
    c.update(client)
    return {"client": c, "needs": ["food"], "urgency": "urgent",
            "consent": {"categories": ["needs", "case_details", "location"],
                        "expires_at": expires(), "informed": True, "written": False,
                        "purpose": "hotline referral"},
            "reference": "RP-" + uuid.uuid4().hex[:8]}


def test_a_referral_without_personal_data_goes_with_verbal_consent(hotline, svc, make_org):
    r = post(hotline, verbal_body(spot()))
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["consent"]["written"] is False and doc["consent"]["informed"] is True
    assert "form_ref" not in doc["consent"]


@pytest.mark.parametrize("patch,what", [
    ({"client": {"age": 30}}, "client.age"),
    ({"client": {"safe_contact_method": "text only"}}, "client.safe_contact_method"),
    ({"client": {"location": {"lat": -30.0, "lon": LON}}}, "client.location.lat"),
    ({"client": {"gender": "female"}}, "client.gender"),
    ({"notes": "met at the station"}, "notes"),
])
def test_verbal_consent_is_refused_when_personal_data_is_shared(hotline, db, patch, what):
    b = verbal_body(spot())
    b["client"].update(patch.get("client", {}))
    if "notes" in patch:
        b["notes"] = patch["notes"]
    r = post(hotline, b)
    assert r.status_code == 422, r.text
    errs = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert what in errs["consent.written"], errs
    assert count_refs(db, b["reference"]) == 0


def test_verbal_consent_shares_no_contact(hotline):
    b = verbal_body(spot())
    b["consent"]["categories"] = ["needs", "contact"]
    r = post(hotline, b)
    assert r.status_code == 422
    assert "consent.categories" in [e["field"] for e in r.json()["errors"]]


def test_written_consent_names_its_form_as_form_ref(hotline):
    lat = spot()
    b = body(lat)
    del b["consent"]["form_ref"]
    r = post(hotline, b)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "consent.form_ref"
    b["consent"]["form_reference"] = "OLD-NAME-1"       # deprecated, still accepted
    r = post(hotline, b)
    assert r.status_code == 201, r.text
    assert r.json()["consent"]["form_ref"] == r.json()["consent"]["form_reference"] == "OLD-NAME-1"
    b = body(lat)
    b["consent"]["form_reference"] = "BOTH"
    r = post(hotline, b)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "consent.form_reference"


# ---------------------------------------------------------------- language

def access(doc, code):
    return [(c["service_id"], c["language_access"]) for c in need(doc, code)["candidates"]]


def test_a_client_without_a_majority_language_gets_housing_through_interpretation(
        hotline, svc, make_org):
    """A fixed directory: three emergency shelters near a client who
    speaks only Tigrinya. The one that speaks it ranks first even though
    it is the farthest; the one with interpreters follows; the one with
    neither is left out. Without the Tigrinya shelter the interpreted
    one is offered, not unmatched."""
    lat = spot()
    plain = svc(make_org(kind="ngo"), ["housing_emergency"], lat, name="en only")
    interp = svc(make_org(kind="ngo"), ["housing_emergency"], north(lat, 2),
                 interpretation=True, name="en + interpreters")
    native = svc(make_org(kind="ngo"), ["housing_emergency"], north(lat, 40), radius=80,
                 languages=("ti", "en"), name="ti")
    doc = until(hotline, post(hotline, body(lat, needs=["housing_emergency"],
                                            client={"languages": ["ti"]})).json()["id"], matched)
    assert access(doc, "housing_emergency") == [(native, "native"), (interp, "interpreter")]
    assert [o["service"]["id"] for o in doc["offers"]] == [native]
    assert plain not in [c["service_id"] for c in need(doc, "housing_emergency")["candidates"]]

    lat = spot()
    svc(make_org(kind="ngo"), ["housing_emergency"], lat, name="en only")
    interp = svc(make_org(kind="ngo"), ["housing_emergency"], north(lat, 2),
                 interpretation=True, name="en + interpreters")
    doc = until(hotline, post(hotline, body(lat, needs=["housing_emergency"],
                                            client={"languages": ["ti"]})).json()["id"], matched)
    assert doc["status"] == "offered", doc["needs"]
    assert [o["service"]["id"] for o in doc["offers"]] == [interp]
    assert access(doc, "housing_emergency") == [(interp, "interpreter")]


def test_interpretation_in_the_same_referral_opens_other_needs(hotline, svc, make_org):
    lat = spot()
    shelter = svc(make_org(kind="ngo"), ["housing_emergency"], lat, name="en only")
    doc = until(hotline, post(hotline, body(lat, needs=["housing_emergency"],
                                            client={"languages": ["ti"]})).json()["id"], matched)
    assert doc["status"] == "unmatched"            # nobody speaks it, nobody interprets
    interpreter = svc(make_org(kind="ngo"), ["translation_interpretation"], north(lat, 5),
                      languages=("ti", "en"), name="interpreters ti-en")
    svc(make_org(kind="ngo"), ["translation_interpretation"], lat, languages=("ti",),
        name="ti without en")
    doc = until(hotline, post(hotline, body(
        lat, needs=["housing_emergency", "translation_interpretation"],
        client={"languages": ["ti"]})).json()["id"], matched)
    assert access(doc, "translation_interpretation") == [(interpreter, "native")]
    assert access(doc, "housing_emergency") == [(shelter, "referral_interpretation")]
    assert sorted(o["service"]["id"] for o in doc["offers"]) == sorted([shelter, interpreter])


def test_an_organizations_own_interpretation_service_counts(hotline, svc, make_org):
    lat = spot()
    org = make_org(kind="ngo")
    shelter = svc(org, ["housing_emergency"], lat, name="en shelter")
    svc(org, ["translation_interpretation"], lat, languages=("en", "ti"), radius=1,
        name="in-house interpreters")
    doc = until(hotline, post(hotline, body(lat, needs=["housing_emergency"],
                                            client={"languages": ["ti"]})).json()["id"], matched)
    assert access(doc, "housing_emergency") == [(shelter, "interpreter")]


def test_interpretation_is_a_service_field(coord, make_org):
    org = make_org(kind="ngo")
    r = coord.post(f"/v1/organizations/{org}/services", json={
        "name": "Shelter with interpreters", "needs": ["housing_emergency"],
        "languages": ["en"], "interpretation": True,
        "service_area": {"jurisdictions": ["99002"]}, "accepts_referrals": False})
    assert r.status_code == 201, r.text
    assert r.json()["interpretation"] is True
    got = coord.get(r.headers["location"]).json()
    assert got["interpretation"] is True
    r = coord.post(f"/v1/organizations/{org}/services", json={
        "name": "x", "needs": ["food"], "interpretation": "yes"})
    assert r.status_code == 422
    assert "interpretation" in [e["field"] for e in r.json()["errors"]]
