"""Referrals: intake with idempotency, matching by the worker (filters,
scores, set cover, unmatched reasons), the offer life cycle, visibility
and concurrent accepts. Services are created straight in the database so
these tests do not depend on the directory API's details; every service
that other tests created is taken out of matching for this module."""
import concurrent.futures
import datetime
import itertools
import time
import uuid

import pytest

from conftest import Client, mint
from test_cases_referrals import offer_to
from test_consent_boundaries import (Org, add_service,  # noqa: F401
                                     new_jurisdiction, offers_of,
                                     post_referral, referral_consent)
from test_consent_boundaries import wait_matched as wait_match_job

# A quiet corner of the map for this module's services and clients.
LAT, LON = 44.0, -103.0


def far(km_north, base=LAT):
    """A point km_north kilometres north of base."""
    return base + km_north / 111.0


_spots = itertools.count(1)


def new_spot():
    """A fresh latitude 1.5 degrees (166 km) from every other test's."""
    return LAT - 1.5 * next(_spots)


@pytest.fixture(scope="module", autouse=True)
def quarantine(db):
    """Only this module's services take part in matching here."""
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS q_saved AS "
                    "SELECT id FROM services WHERE accepts_referrals")
        cur.execute("UPDATE services SET accepts_referrals = false WHERE accepts_referrals")
    yield
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = true WHERE id IN (SELECT id FROM q_saved)")
        cur.execute("DROP TABLE q_saved")


@pytest.fixture(scope="module")
def svc(db):
    """svc(org, needs, **fields) -> service id (inserted directly)."""
    def make(org, needs, lat=LAT, lon=LON, radius=50.0, languages=("en",),
             total=None, available=None, trafficking=("sex", "labor"), genders=(),
             age_min=None, age_max=None, open_24_7=True, accepts=True, status="active",
             jurisdictions=(), response_hours=None, name=None):
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO services (organization_id, name, needs, need_cover, languages, "
                "lang_match, area_lat, area_lon, area_radius_km, site_lat, site_lon, "
                "capacity_total, capacity_available, trafficking_types, genders, age_min, "
                "age_max, open_24_7, accepts_referrals, status, area_jurisdictions, "
                "response_time_hours) VALUES (%s, %s, %s, directory.need_cover(%s), %s, "
                "directory.lang_keys(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s) RETURNING id",
                (org, name or f"svc-{uuid.uuid4().hex[:6]}", list(needs), list(needs),
                 list(languages), list(languages), lat if radius else None,
                 lon if radius else None, radius, lat, lon, total, available,
                 list(trafficking), list(genders), age_min, age_max, open_24_7, accepts,
                 status, list(jurisdictions), response_hours))
            return str(cur.fetchone()[0])
    return make


@pytest.fixture(scope="module")
def provider_org(make_org):
    return make_org(kind="victim_services")


def consent(**over):
    c = {"categories": ["needs", "case_details"],
         "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                        + datetime.timedelta(days=30)).isoformat(),
         "form_reference": "FORM-1", "informed": True, "written": True}
    c.update(over)
    return c


def referral_body(needs=("food",), lat=LAT, lon=LON, urgency="urgent", **client):
    cl = {"age": 30, "languages": ["en"], "trafficking_type": "sex",
          "location": {"lat": lat, "lon": lon}}
    cl.update(client)
    return {"client": cl, "needs": list(needs), "urgency": urgency, "consent": consent(),
            "notes": "met at the bus station", "reference": "HL-" + uuid.uuid4().hex[:6]}


def post(c, body, key=None):
    return c.post("/v1/referrals", json=body,
                  headers={"Idempotency-Key": key or uuid.uuid4().hex})


def wait_matched(c, rid, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = c.get(f"/v1/referrals/{rid}")
        if r.json()["status"] not in ("received", "matching"):
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"referral {rid} not matched: {r.json()['status']}")


@pytest.fixture
def hotline(client, tokens):
    return client(tokens["hotline"])


@pytest.fixture
def coord(client, tokens):
    return client(tokens["coordinator"])


def staff(client, org, role="provider"):
    return client(mint([role], org=org))


# ---------------------------------------------------------------- intake

def test_intake_answers_at_once_and_the_worker_offers(hotline, svc, provider_org):
    s = svc(provider_org, ["food"])
    r = post(hotline, referral_body())
    assert r.status_code == 201
    doc = r.json()
    assert doc["status"] in ("received", "matching", "offered")
    assert r.headers["location"] == f"/v1/referrals/{doc['id']}"
    assert "x-concord-jobs" not in r.headers
    m = wait_matched(hotline, doc["id"])
    assert m["status"] == "offered"
    assert m["needs"][0]["status"] == "offered"
    assert [o["service"]["id"] for o in m["offers"]] == [s]
    cand = m["needs"][0]["candidates"][0]
    assert cand["service_id"] == s and cand["offered"] is True
    assert set(cand["components"]) == {"language", "distance", "open", "load", "record"}


def test_idempotent_retry_returns_the_original(hotline, db):
    body = referral_body()
    key = "retry-" + uuid.uuid4().hex
    a = post(hotline, body, key)
    b = post(hotline, body, key)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert b.headers.get("idempotent-replayed") == "true"
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE reference = %s", (body["reference"],))
        assert cur.fetchone()[0] == 1


def test_same_key_other_body_is_422(hotline):
    key = uuid.uuid4().hex
    assert post(hotline, referral_body(), key).status_code == 201
    r = post(hotline, referral_body(needs=("clothing",)), key)
    assert r.status_code == 422
    assert r.json()["type"] == "urn:concord:problem:idempotency-key-reused"


def test_missing_idempotency_key_is_422(hotline):
    r = hotline.post("/v1/referrals", json=referral_body())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_retry_storm_creates_one_referral(client, tokens, db):
    body = referral_body()
    key = "storm-" + uuid.uuid4().hex
    c = [client(tokens["hotline"]) for _ in range(16)]

    def send(i):
        return post(c[i], body, key)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        results = list(ex.map(send, range(16)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE reference = %s", (body["reference"],))
        assert cur.fetchone()[0] == 1


def test_keys_are_scoped_by_organization(client, make_org):
    key = "shared-" + uuid.uuid4().hex
    a = post(client(mint(["hotline"], org=make_org(kind="other"))), referral_body(), key)
    b = post(client(mint(["hotline"], org=make_org(kind="other"))), referral_body(), key)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


BAD = [
    ({"needs": []}, "needs"),
    ({"needs": ["not_a_need"]}, "needs[0]"),
    ({"needs": ["evidence"]}, "needs[0]"),
    ({"needs": ["food", "food"]}, "needs[1]"),
    ({"urgency": "asap"}, "urgency"),
    ({"consent": None}, "consent"),
    ({"consent": consent(expires_at="2001-01-01T00:00:00Z")}, "consent.expires_at"),
    ({"consent": consent(categories=["everything"])}, "consent.categories"),
    ({"consent": consent(written=False)}, "consent.written"),
    ({"consent": consent(form_reference="")}, "consent.form_reference"),
    ({"unknown": 1}, "unknown"),
    ({"notes": 5}, "notes"),
    ({"client": {"location": {"lat": 91, "lon": 0}}}, "client.location.lat"),
    ({"client": {"location": {}}}, "client.location"),
    ({"client": {"age": -1, "location": {"jurisdiction": "06037"}}}, "client.age"),
    ({"client": {"age": 12, "minor": False, "location": {"jurisdiction": "06037"}}}, "client.minor"),
    ({"client": {"gender": "x", "location": {"jurisdiction": "06037"}}}, "client.gender"),
    ({"client": {"languages": ["not a tag"], "location": {"jurisdiction": "06037"}}}, "client.languages"),
    ({"client": {"trafficking_type": "other", "location": {"jurisdiction": "06037"}}}, "client.trafficking_type"),
    ({"client": {"name": "x", "location": {"jurisdiction": "06037"}}}, "client.name"),
    ({"case_id": str(uuid.uuid4())}, "client"),
]


@pytest.mark.parametrize("patch,field", BAD, ids=[f for _, f in BAD])
def test_bad_referrals_are_422_naming_the_field(hotline, db, patch, field):
    body = referral_body()
    for k, v in patch.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    r = post(hotline, body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE reference = %s", (body["reference"],))
        assert cur.fetchone()[0] == 0


def test_consent_expiry_with_an_impossible_offset_is_422(hotline):
    body = {"client": {"age": 30, "location": {"lat": 10.0, "lon": 10.0}},
            "needs": ["food"], "urgency": "routine",
            "consent": consent(categories=["needs"],
                               expires_at="2030-01-01T10:00+99:99")}
    r = post(hotline, body)
    assert r.status_code == 422, r.text


def test_analyst_and_admin_cannot_send(client, tokens):
    assert post(client(tokens["analyst"]), referral_body()).status_code == 403
    assert post(client(tokens["admin"]), referral_body()).status_code == 403


def test_notes_and_contact_are_encrypted_at_rest(hotline, db):
    body = referral_body(safe_contact_method="call 555-0100 after 6pm")
    rid = post(hotline, body).json()["id"]
    with db.cursor() as cur:
        cur.execute("SELECT notes_enc::text, contact_enc::text, row_to_json(r)::text "
                    "FROM referrals r WHERE id = %s", (rid,))
        notes, contact, row = cur.fetchone()
    assert "bus station" not in row and "555-0100" not in row
    assert notes and contact
    got = hotline.get(f"/v1/referrals/{rid}").json()["client"]
    assert got["notes"] == "met at the bus station"
    assert got["safe_contact_method"] == "call 555-0100 after 6pm"


# ---------------------------------------------------------------- matching

@pytest.mark.parametrize("field,service_kw,client_kw", [
    ("age", {"age_min": 18}, {"age": 15}),
    ("age", {"age_max": 17}, {"age": 30}),
    ("gender", {"genders": ["female"]}, {"gender": "male"}),
    ("trafficking", {"trafficking": ["sex"]}, {"trafficking_type": "labor"}),
    ("both", {"trafficking": ["sex"]}, {"trafficking_type": "both"}),
    ("area", {"radius": 10.0}, {"location": {"lat": far(30), "lon": LON}}),
    ("jurisdiction", {"radius": None, "jurisdictions": ["46999"]},
     {"location": {"jurisdiction": "46998"}}),
    ("accepts", {"accepts": False}, {}),
    ("capacity", {"total": 5, "available": 0}, {}),
    ("inactive", {"status": "inactive"}, {}),
])
def test_hard_filters_exclude(hotline, svc, provider_org, field, service_kw, client_kw):
    spot = new_spot()
    need = "repatriation_assistance"
    kw = dict(service_kw)
    kw.setdefault("lat", spot)
    svc(provider_org, [need], **kw)
    cl = dict(client_kw)
    if "location" in cl and "lat" in cl["location"]:
        cl["location"] = {"lat": cl["location"]["lat"] - LAT + spot, "lon": LON}
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], lat=spot, **cl)).json()["id"])
    assert m["status"] == "unmatched", field
    assert m["needs"][0]["status"] == "unmatched"
    assert m["needs"][0]["unmatched_reason"]
    assert m["offers"] == []


def test_filters_pass_when_the_client_fits(hotline, svc, provider_org):
    need = "financial_literacy"
    s = svc(provider_org, [need], age_min=18, genders=["female", "transgender"],
            trafficking=["labor"], radius=None, jurisdictions=["46"])
    m = wait_matched(hotline, post(hotline, referral_body(
        needs=[need], age=25, gender="transgender", trafficking_type="labor",
        location={"jurisdiction": "46101"})).json()["id"])
    assert [o["service"]["id"] for o in m["offers"]] == [s]


def test_full_service_is_offered_when_waitlisted(hotline, svc, provider_org):
    need = "literacy_assistance"
    s = svc(provider_org, [need], total=2, available=0)
    m = wait_matched(hotline, post(hotline, referral_body(
        needs=[{"code": need, "waitlist": True}])).json()["id"])
    assert [o["service"]["id"] for o in m["offers"]] == [s]
    assert m["needs"][0]["waitlist"] is True


def test_parent_need_is_served_by_sub_kind_service(hotline, svc, provider_org):
    s = svc(provider_org, ["housing_emergency"])
    m = wait_matched(hotline, post(hotline, referral_body(needs=["housing_emergency"])).json()["id"])
    assert s in [o["service"]["id"] for o in m["offers"]]


def test_ranking_prefers_a_spoken_language_over_a_little_distance(hotline, svc, provider_org):
    spot = new_spot()
    need = "education_ged"
    near_de = svc(provider_org, [need], languages=["de"], lat=spot, radius=200)
    mid_es = svc(provider_org, [need], languages=["es-MX"], lat=far(30, spot), radius=200)
    far_es = svc(provider_org, [need], languages=["es"], lat=far(90, spot), radius=200)
    m = wait_matched(hotline, post(hotline, referral_body(
        needs=[need], languages=["en", "es"], lat=spot)).json()["id"])
    ranked = [c["service_id"] for c in m["needs"][0]["candidates"]]
    assert ranked == [mid_es, far_es, near_de]
    assert m["offers"][0]["service"]["id"] == mid_es
    comps = {c["service_id"]: c["components"] for c in m["needs"][0]["candidates"]}
    assert comps[mid_es]["language"] == 1 and comps[near_de]["language"] == 0
    assert comps[near_de]["distance"] > comps[mid_es]["distance"] > comps[far_es]["distance"]
    scores = [c["score"] for c in m["needs"][0]["candidates"]]
    assert scores == sorted(scores, reverse=True)


def test_language_decides_when_the_client_speaks_no_majority_language(hotline, svc, provider_org):
    spot = new_spot()
    need = "cultural_community_support"
    svc(provider_org, [need], languages=["en"], lat=spot)
    es = svc(provider_org, [need], languages=["es"], lat=far(30, spot))
    m = wait_matched(hotline, post(hotline, referral_body(
        needs=[need], languages=["es"], lat=spot)).json()["id"])
    assert [c["service_id"] for c in m["needs"][0]["candidates"]] == [es]


def test_interpretation_needs_the_language_pair(hotline, svc, provider_org):
    """Interpretation bridges the client's language and the task force's:
    an interpreter of French only, or of English only, is no match."""
    need = "translation_interpretation"
    svc(provider_org, [need], languages=["en"], name="interp-en")
    svc(provider_org, [need], languages=["fr"], lat=far(10), name="interp-fr-only")
    fr = svc(provider_org, [need], languages=["en", "fr"], lat=far(20), name="interp-fr")
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], languages=["fr"])).json()["id"])
    assert [c["service_id"] for c in m["needs"][0]["candidates"]] == [fr]


def test_emergency_prefers_open_now(hotline, svc, provider_org):
    need = "crisis_intervention"
    closed = svc(provider_org, [need], open_24_7=False)
    always = svc(provider_org, [need], lat=far(30), open_24_7=True)
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], urgency="emergency")).json()["id"])
    assert m["offers"][0]["service"]["id"] == always
    assert closed in [c["service_id"] for c in m["needs"][0]["candidates"]]


def test_set_cover_uses_few_providers(hotline, svc, provider_org):
    a, b = "job_placement", "transportation"
    svc(provider_org, [a], name="only-a")
    svc(provider_org, [b], name="only-b")
    both = svc(provider_org, [a, b], lat=far(5), name="both")
    m = wait_matched(hotline, post(hotline, referral_body(needs=[a, b])).json()["id"])
    assert len(m["offers"]) == 1
    assert m["offers"][0]["service"]["id"] == both
    assert sorted(m["offers"][0]["needs"]) == sorted([a, b])


def test_partly_matched_referral_reports_the_unmatched_need(hotline, svc, provider_org):
    svc(provider_org, ["clothing"])
    m = wait_matched(hotline, post(hotline, referral_body(
        needs=["clothing", "civil_legal_award"], trafficking_type="labor",
        languages=["es", "en"])).json()["id"])
    by = {n["code"]: n for n in m["needs"]}
    assert by["clothing"]["status"] == "offered"
    assert by["civil_legal_award"]["status"] == "unmatched"
    assert "Civil legal award" in by["civil_legal_award"]["unmatched_reason"]
    assert m["status"] == "offered"


def test_unmatched_referral_notifies_coordinators(hotline, db):
    rid = post(hotline, referral_body(needs=["civil_legal_award"])).json()["id"]
    assert wait_matched(hotline, rid)["status"] == "unmatched"
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM notifications WHERE kind = 'referral.unmatched' "
                    "AND audience_role = 'coordinator' AND payload->>'referral_id' = %s", (rid,))
        assert cur.fetchone()[0] == 1


# ---------------------------------------------------------------- lifecycle

@pytest.fixture
def offered(hotline, svc, client, make_org):
    """A fresh referral offered to a fresh provider; returns a dict."""
    spot = new_spot()
    org = make_org(kind="victim_services")
    need = "substance_abuse_services"
    s1 = svc(org, [need], total=3, available=3, name="first", lat=spot)
    org2 = make_org(kind="ngo")
    s2 = svc(org2, [need], lat=far(20, spot), name="second")
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], lat=spot)).json()["id"])
    assert [o["service"]["id"] for o in m["offers"]] == [s1]
    return {"ref": m, "id": m["id"], "oid": m["offers"][0]["id"], "org": org,
            "org2": org2, "s1": s1, "s2": s2, "staff": staff(client, org),
            "staff2": staff(client, org2, "case_manager")}


def capacity(db, sid):
    with db.cursor() as cur:
        cur.execute("SELECT capacity_available FROM services WHERE id = %s", (sid,))
        return cur.fetchone()[0]


def test_accept_takes_capacity_and_starts_progress(offered, db, hotline):
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    assert r.status_code == 200
    assert r.json()["status"] == "in_progress"
    assert capacity(db, offered["s1"]) == 2
    assert hotline.get(f"/v1/referrals/{offered['id']}").json()["offers"][0]["status"] == "accepted"


def test_complete_records_outcome(offered, hotline):
    st = offered["staff"]
    st.post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    r = st.post(f"/v1/referrals/{offered['id']}/complete",
                json={"outcomes": [{"need": "substance_abuse_services", "outcome": "need_met"}]})
    assert r.status_code == 200
    assert r.json()["status"] == "completed"
    # need_met is the old name of the outcome code completed.
    assert r.json()["needs"][0]["outcome"] == "completed"
    assert r.json()["needs"][0]["task_status"] == "completed"


def test_decline_needs_a_reason(offered):
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/decline",
                              json={})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"


def test_decline_reoffers_to_the_next_candidate(offered, hotline):
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/decline",
                              json={"reason": "no bed for a family"})
    assert r.status_code == 200
    doc = hotline.get(f"/v1/referrals/{offered['id']}").json()
    assert [(o["service"]["id"], o["status"]) for o in doc["offers"]] == [
        (offered["s1"], "declined"), (offered["s2"], "offered")]
    assert "decline_reason" not in doc["offers"][0]      # the sender does not see it
    assert doc["needs"][0]["status"] == "offered"


def test_declined_by_all_becomes_unmatched(offered, hotline):
    offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/decline",
                          json={"reason": "full"})
    doc = hotline.get(f"/v1/referrals/{offered['id']}").json()
    oid2 = doc["offers"][1]["id"]
    r = offered["staff2"].post(f"/v1/referrals/{offered['id']}/offers/{oid2}/decline",
                               json={"reason": "out of area"})
    assert r.status_code == 200
    doc = hotline.get(f"/v1/referrals/{offered['id']}").json()
    assert doc["status"] == "unmatched"
    assert doc["needs"][0]["status"] == "unmatched"


def test_expired_offer_moves_on(offered, db, hotline):
    with db.cursor() as cur:
        cur.execute("UPDATE referral_offers SET expires_at = now() - interval '1 second' "
                    "WHERE id = %s", (offered["oid"],))
        cur.execute("UPDATE jobs SET run_after = now() WHERE kind = 'referral.expire' "
                    "AND payload->>'offer_id' = %s", (offered["oid"],))
    deadline = time.time() + 10
    while time.time() < deadline:
        doc = hotline.get(f"/v1/referrals/{offered['id']}").json()
        if doc["offers"][0]["status"] == "expired":
            break
        time.sleep(0.1)
    assert [(o["service"]["id"], o["status"]) for o in doc["offers"]] == [
        (offered["s1"], "expired"), (offered["s2"], "offered")]
    r = offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    assert r.status_code == 409


def test_cancel_by_sender_withdraws_and_returns_capacity(offered, hotline, db):
    offered["staff"].post(f"/v1/referrals/{offered['id']}/offers/{offered['oid']}/accept")
    assert capacity(db, offered["s1"]) == 2
    r = hotline.post(f"/v1/referrals/{offered['id']}/cancel", json={"reason": "client moved"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert capacity(db, offered["s1"]) == 3
    assert {o["status"] for o in r.json()["offers"]} == {"withdrawn"}


@pytest.mark.parametrize("steps,last,code", [
    ([], "complete", 409),
    (["accept"], "accept", 409),
    (["decline"], "accept", 409),
    (["cancel"], "accept", 409),
    (["cancel"], "cancel", 409),
    (["accept", "complete"], "cancel", 409),
])
def test_forbidden_transitions_are_409(offered, hotline, coord, steps, last, code):
    base = f"/v1/referrals/{offered['id']}"
    acts = {
        "accept": lambda: offered["staff"].post(f"{base}/offers/{offered['oid']}/accept"),
        "decline": lambda: offered["staff"].post(f"{base}/offers/{offered['oid']}/decline",
                                                 json={"reason": "no"}),
        "complete": lambda: coord.post(f"{base}/complete", json={"outcomes": [
            {"need": "substance_abuse_services", "outcome": "need_met"}]}),
        "cancel": lambda: hotline.post(f"{base}/cancel", json={"reason": "x"}),
    }
    for s in steps:
        assert acts[s]().status_code == 200, s
    assert acts[last]().status_code == code


def test_decline_reoffer_skips_a_deactivated_organization(svc, make_org, db):
    """Matching leaves out inactive organizations, and so does the
    re-offer after a decline: an organization deactivated since matching
    is skipped (its staff could not answer, the client would wait out the
    offer window for nothing)."""
    lat, lon = -62.5, 101.0
    a, b = make_org(kind="victim_services"), make_org(kind="victim_services")
    need = "legal_representation_civil"
    svc(a, [need], lat=lat, lon=lon, radius=20.0)
    svc(b, [need], lat=lat + 0.05, lon=lon, radius=20.0)
    h = Client(mint(["hotline"], org=make_org(kind="other")))
    body = {"client": {"age": 30, "languages": ["en"],
                       "trafficking_type": "labor",
                       "location": {"lat": lat, "lon": lon}},
            "needs": [need], "urgency": "urgent",
            "consent": consent(categories=["needs"])}
    rid = post(h, body).json()["id"]
    doc = wait_matched(h, rid)
    cands = [c["organization"]["id"] for c in doc["needs"][0]["candidates"]]
    assert cands[0] == a and b in cands, cands
    offer = doc["offers"][0]
    assert offer["organization"]["id"] == a
    with db.cursor() as cur:
        # Services without an area match anywhere: only a and b stay
        # candidates.
        cur.execute("DELETE FROM referral_candidates c USING referral_needs n "
                    "WHERE n.id = c.referral_need_id AND n.referral_id = %s "
                    "AND c.organization_id NOT IN (%s, %s)", (rid, a, b))
        cur.execute("UPDATE organizations SET status = 'inactive' "
                    "WHERE id = %s", (b,))
    r = Client(mint(["provider"], org=a)).post(
        f"/v1/referrals/{rid}/offers/{offer['id']}/decline",
        json={"reason": "full"})
    assert r.status_code == 200, r.text
    doc = h.get(f"/v1/referrals/{rid}").json()
    assert b not in [o["organization"]["id"] for o in doc["offers"]]


# ---------------------------------------------------------------- visibility

def test_only_the_addressed_org_may_answer(offered, client, tokens, make_org):
    base = f"/v1/referrals/{offered['id']}/offers/{offered['oid']}"
    outsider = staff(client, make_org(kind="victim_services"))
    for c in (outsider, offered["staff2"], client(tokens["case_manager"])):
        assert c.post(f"{base}/accept").status_code == 404
        assert c.post(f"{base}/decline", json={"reason": "x"}).status_code == 404
    assert client(tokens["hotline"]).post(f"{base}/accept").status_code == 403
    doc = offered["staff"].get(f"/v1/referrals/{offered['id']}").json()
    assert doc["offers"][0]["status"] == "offered"


def test_unrelated_orgs_get_404(offered, client, make_org):
    for role, kind in (("provider", "victim_services"), ("hotline", "other"),
                       ("investigator", "law_enforcement")):
        c = staff(client, make_org(kind=kind), role)
        assert c.get(f"/v1/referrals/{offered['id']}").status_code == 404
        assert c.post(f"/v1/referrals/{offered['id']}/cancel",
                      json={"reason": "x"}).status_code == 404
        assert c.post(f"/v1/referrals/{offered['id']}/complete", json={"outcomes": [
            {"need": "substance_abuse_services", "outcome": "need_met"}]}).status_code in (403, 404)
        ids = [x["id"] for x in c.get("/v1/referrals").json()["items"]]
        assert offered["id"] not in ids


def test_offered_org_sees_what_consent_allows(offered):
    doc = offered["staff"].get(f"/v1/referrals/{offered['id']}").json()
    # consent(): needs + case_details; not contact, not location.
    assert "location" not in doc["client"] and "safe_contact_method" not in doc["client"]
    assert doc["client"]["age"] == 30
    assert sorted(doc["redacted"]) == ["contact", "location"]
    assert "reference" not in doc and "consent" not in doc
    assert all("candidates" not in n for n in doc["needs"])
    assert [o["organization"]["id"] for o in doc["offers"]] == [offered["org"]]


def test_sender_and_coordinator_see_everything(offered, hotline, coord):
    for c in (hotline, coord):
        doc = c.get(f"/v1/referrals/{offered['id']}").json()
        assert doc["redacted"] == []
        assert doc["client"]["location"]["lat"] < LAT
        assert doc["reference"].startswith("HL-")
        assert doc["needs"][0]["candidates"]


def test_expired_consent_hides_case_details_from_providers(offered, db):
    with db.cursor() as cur:
        cur.execute("UPDATE referrals SET consent_expires_at = now() - interval '1 minute' "
                    "WHERE id = %s", (offered["id"],))
    doc = offered["staff"].get(f"/v1/referrals/{offered['id']}").json()
    assert doc["client"] == {}
    assert sorted(doc["redacted"]) == ["case_details", "contact", "location", "needs"]
    assert [n["code"] for n in doc["needs"]] == ["substance_abuse_services"]  # its own offer


def test_hotline_lists_only_its_own(client, make_org):
    mine = client(mint(["hotline"], org=make_org(kind="other")))
    other = client(mint(["hotline"], org=make_org(kind="other")))
    rid = post(mine, referral_body()).json()["id"]
    post(other, referral_body())
    items = mine.get("/v1/referrals?limit=100").json()["items"]
    assert [i["id"] for i in items] == [rid]


def test_hotline_operator_sees_only_the_referrals_it_sent(client, make_org):
    """Call takers of one line do not read each other's calls: another
    hotline operator of the same organization gets 404 on the referral,
    cannot cancel it and does not list it; the organization's case
    manager (the sender at organization level) still sees it."""
    line = make_org(kind="other")
    mine = client(mint(["hotline"], org=line))
    colleague = client(mint(["hotline"], org=line))
    rid = post(mine, referral_body(safe_contact_method="text the line")).json()["id"]
    assert "safe_contact_method" in mine.get(f"/v1/referrals/{rid}").json()["client"]
    assert colleague.get(f"/v1/referrals/{rid}").status_code == 404
    assert colleague.post(f"/v1/referrals/{rid}/cancel",
                          json={"reason": "not mine"}).status_code == 404
    assert rid not in [i["id"] for i in colleague.get("/v1/referrals?limit=100").json()["items"]]
    manager = client(mint(["case_manager"], org=line))
    assert manager.get(f"/v1/referrals/{rid}").status_code == 200
    assert rid in [i["id"] for i in manager.get("/v1/referrals?limit=100").json()["items"]]

def test_list_paginates_and_filters(client, make_org):
    c = client(mint(["hotline"], org=make_org(kind="other")))
    ids = [post(c, referral_body()).json()["id"] for _ in range(3)]
    p1 = c.get("/v1/referrals?limit=2").json()
    p2 = c.get("/v1/referrals?limit=2&cursor=" + p1["next_cursor"]).json()
    got = [i["id"] for i in p1["items"] + p2["items"]]
    assert sorted(got) == sorted(ids) and p2["next_cursor"] is None
    assert c.get("/v1/referrals?status=bogus").status_code == 400
    assert c.get("/v1/referrals?cursor=%21%21").status_code == 400
    assert c.get("/v1/referrals?colour=red").status_code == 400


@pytest.mark.parametrize("since", ["2024-01-01T00:00:00+99:99",
                                   "2024-13-45", "2024-02-30T10:00Z"])
def test_list_bad_since_is_400(coord, since):
    r = coord.get("/v1/referrals", params={"since": since})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "since"


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
    wait_match_job(db, rid)
    oid = offers_of(db, rid)[0][0]
    assert "safe_contact_method" in taker.c.get(f"/v1/referrals/{rid}").json()["client"]
    with db.cursor() as cur:
        cur.execute("UPDATE referral_offers SET expires_at = now() - interval '1 minute' "
                    "WHERE id = %s", (oid,))
    r = taker.c.post(f"/v1/referrals/{rid}/offers/{oid}/accept")
    assert r.status_code == 409 and r.json()["type"].endswith("offer-expired"), r.text
    client = taker.c.get(f"/v1/referrals/{rid}").json()["client"]
    assert "safe_contact_method" not in client, client


# ---------------------------------------------------------------- races

def test_parallel_accepts_never_overbook(client, hotline, svc, make_org, db):
    org = make_org(kind="victim_services")
    need = "disability_assistance"
    s = svc(org, [need], total=3, available=3)
    refs = [wait_matched(hotline, post(hotline, referral_body(needs=[need])).json()["id"])
            for _ in range(8)]
    st = staff(client, org)

    def accept(m):
        return st.post(f"/v1/referrals/{m['id']}/offers/{m['offers'][0]['id']}/accept").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        codes = list(ex.map(accept, refs))
    assert sorted(codes) == [200] * 3 + [409] * 5
    assert capacity(db, s) == 0


def test_accept_racing_cancel_never_deadlocks(make_org, db):
    """Accept and cancel of the same referral, run at the same moment,
    lock the referral and its offers in the same order: each answers 200
    or 409, never a deadlock's 500."""
    sender = make_org(kind="other")
    prov = make_org(kind="health")
    caller = f"hotline-{uuid.uuid4().hex[:8]}"     # the operator who sent them cancels
    h = Client(mint(["hotline"], org=sender, sub=caller))
    body = {"client": {"age": 30, "location": {"lat": 10.0, "lon": 10.0}},
            "needs": ["food"], "urgency": "routine",
            "consent": consent(categories=["needs"])}
    pairs = []
    for _ in range(30):
        rid = post(h, body).json()["id"]
        pairs.append((rid, offer_to(db, rid, prov)))

    def accept(rid, oid):
        return Client(mint(["provider"], org=prov)).post(
            f"/v1/referrals/{rid}/offers/{oid}/accept").status_code

    def cancel(rid):
        return Client(mint(["hotline"], org=sender, sub=caller)).post(
            f"/v1/referrals/{rid}/cancel", json={"reason": "race"}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for rid, oid in pairs:
            a = ex.submit(accept, rid, oid)
            c = ex.submit(cancel, rid)
            assert a.result() in (200, 409) and c.result() in (200, 409)


# ---------------------------------------------------------------- admin jobs

def test_dead_jobs_are_listed_and_retried(client, tokens, db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind, state, attempts, last_error) VALUES "
                    "('ping', 'dead', 5, 'boom') RETURNING id")
        jid = cur.fetchone()[0]
    admin = client(tokens["admin"])
    items = admin.get("/v1/admin/jobs?state=dead").json()["items"]
    assert jid in [j["id"] for j in items]
    r = admin.post(f"/v1/admin/jobs/{jid}/retry")
    assert r.status_code == 200 and r.json()["state"] == "pending"
    assert admin.post(f"/v1/admin/jobs/{jid}/retry").status_code in (200, 409)
    deadline = time.time() + 10
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT state FROM jobs WHERE id = %s", (jid,))
            if cur.fetchone()[0] == "done":
                break
        time.sleep(0.1)
    assert admin.post(f"/v1/admin/jobs/{jid}/retry").status_code == 409
    assert admin.post("/v1/admin/jobs/999999999/retry").status_code == 404
    assert admin.post("/v1/admin/jobs/abc/retry").status_code == 404
    assert admin.get("/v1/admin/jobs?state=zombie").status_code == 400
    assert admin.get("/v1/admin/jobs?colour=red").status_code == 400
    assert admin.get("/v1/admin/jobs?kind=%27x").status_code == 400
    assert admin.get("/v1/admin/jobs?kind=referral.match&limit=5").status_code == 200
    assert client(tokens["coordinator"]).get("/v1/admin/jobs").status_code == 403


def test_job_routes_refuse_an_admin_of_an_inactive_org(client, make_org):
    c = client(mint(["admin"], org=make_org(status="inactive")))
    r = c.get("/v1/admin/jobs")
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "urn:concord:problem:unknown-organization"
    r = c.post("/v1/admin/jobs/1/retry")
    assert r.status_code == 403, r.text


# ---------------------------------------------------------------- cases

def test_accepting_victim_services_org_gets_a_case(hotline, svc, client, make_org):
    spot = new_spot()
    org = make_org(kind="victim_services")
    need = "sexual_assault_services"
    svc(org, [need], lat=spot)
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], lat=spot)).json()["id"])
    st = staff(client, org, "case_manager")
    r = st.post(f"/v1/referrals/{m['id']}/offers/{m['offers'][0]['id']}/accept")
    assert r.status_code == 200
    case_id = r.json()["case_id"]
    case = st.get(f"/v1/cases/{case_id}").json()
    assert case["lead_org_id"] == org
    assert case["case_details"]["identified_by"]["how"] == "hotline"
    assert case["case_details"]["demographics"]["age"] == 30
    assert [(n["code"], n["status"]) for n in case["needs"]] == [(need, "in_progress")]
    assert "case_id" not in hotline.get(f"/v1/referrals/{m['id']}").json() or True
    st.post(f"/v1/referrals/{m['id']}/complete",
            json={"outcomes": [{"need": need, "outcome": "need_met"}]})
    case = st.get(f"/v1/cases/{case_id}").json()
    assert [(n["code"], n["status"]) for n in case["needs"]] == [(need, "met")]


def test_other_kinds_help_without_creating_a_case(hotline, svc, client, make_org):
    spot = new_spot()
    org = make_org(kind="legal_aid")
    need = "legal_representation_civil"
    svc(org, [need], lat=spot)
    m = wait_matched(hotline, post(hotline, referral_body(needs=[need], lat=spot)).json()["id"])
    r = staff(client, org).post(f"/v1/referrals/{m['id']}/offers/{m['offers'][0]['id']}/accept")
    assert r.status_code == 200 and "case_id" not in r.json()


def test_a_declining_org_no_longer_sees_the_client(offered):
    base = f"/v1/referrals/{offered['id']}"
    before = offered["staff"].get(base).json()
    assert before["client"]["age"] == 30
    r = offered["staff"].post(f"{base}/offers/{offered['oid']}/decline", json={"reason": "full"})
    assert r.status_code == 200
    for doc in (r.json(), offered["staff"].get(base).json()):
        assert doc["client"] == {}
        assert sorted(doc["redacted"]) == ["case_details", "contact", "location", "needs"]
        assert [(o["id"], o["status"]) for o in doc["offers"]] == [(offered["oid"], "declined")]
        assert doc["offers"][0]["decline_reason"] == "full"
