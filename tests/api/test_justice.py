"""The criminal-justice side as practitioners work it: criminal-justice
needs of an investigation as tracked items (status and history) referred
to organizations whose services cover them; records of witnesses who are
not victims, with the same sealed categories, consents and audit as a
victim's case; agencies active on an investigation (the lead, accepted
participants, prosecution) see the linked cases' non-personal categories
and personal ones only under consents naming them, while pending,
declined or ended agencies see nothing (404); key dates as dated items
and court-date reminders for every agency on the investigation."""
import datetime
import hashlib
import uuid

import pytest

from conftest import Client, etag, mint
from test_cases_kit import NAME, Party, grant, iso, new_case

PERSONAL = {"identity", "contact", "location"}
CATEGORIES = PERSONAL | {"case_details", "needs"}
WITNESS_NAME = "Wren Witness-Example"


def shown(doc):
    return {k for k in CATEGORIES if k in doc}


@pytest.fixture
def cj(make_org):
    return {"police": Party(make_org, "law_enforcement", "investigator"),
            "state": Party(make_org, "law_enforcement", "investigator"),
            "pending": Party(make_org, "law_enforcement", "investigator"),
            "declined": Party(make_org, "law_enforcement", "investigator"),
            "da": Party(make_org, "prosecution", "prosecutor"),
            "other_police": Party(make_org, "law_enforcement", "investigator"),
            "shelter": Party(make_org, "victim_services", "case_manager"),
            "clinic": Party(make_org, "health", "provider"),
            "coord": Party(make_org, "government", "coordinator")}


def open_investigation(cj, **over):
    body = {"title": "Operation Tideline",
            "participating_agency_ids": [cj["state"].org, cj["pending"].org,
                                         cj["declined"].org],
            "prosecution_org_ids": [cj["da"].org], "jurisdictions": ["06037"],
            "needs": [{"code": "witness_support", "status": "identified"}],
            "key_dates": [{"kind": "court_date", "at": iso(20), "label": "Arraignment"},
                          {"kind": "arrest", "at": iso(-2)}]}
    body.update(over)
    r = cj["police"].c.post("/v1/investigations", json=body)
    assert r.status_code == 201, r.text
    inv = r.json()
    url = f"/v1/investigations/{inv['id']}"
    assert cj["state"].c.post(url + "/participation/accept").status_code == 200
    assert cj["declined"].c.post(url + "/participation/decline").status_code == 200
    return inv


def witness_body(**over):
    body = {"identified_on": "2026-04-02", "identified_by": {"how": "law_enforcement_encounter"},
            "jurisdiction": "06037",
            "demographics": {"age": 41, "gender": "male", "languages": ["en"]},
            "identity": {"legal_name": WITNESS_NAME},
            "contact": {"phone": "+1-213-555-0177"},
            "location": {"address": "3 Pier Road, Harbour Town"}}
    body.update(over)
    return body


def open_witness(cj, inv, who="police", **over):
    r = cj[who].c.post(f"/v1/investigations/{inv['id']}/witnesses", json=witness_body(**over))
    assert r.status_code == 201, r.text
    return r.json()


def need_tag(need_id, version):
    """The ETag of an investigation's need at a version (lib.etag)."""
    raw = f"investigation_need:{need_id}:{version}".encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def add_service(db, org, needs):
    with db.cursor() as cur:
        cur.execute("INSERT INTO services (organization_id, name, needs, languages, "
                    "open_24_7, accepts_referrals, status, area_jurisdictions) "
                    "VALUES (%s, %s, %s, '{en}', true, true, 'active', '{06037}') RETURNING id",
                    (org, "cj svc " + uuid.uuid4().hex[:6], list(needs)))
        return str(cur.fetchone()[0])


def notes(db, kind, org, object_id=None):
    with db.cursor() as cur:
        cur.execute("SELECT payload FROM notifications WHERE kind = %s AND organization_id = %s "
                    "AND (%s::uuid IS NULL OR object_id = %s::uuid) ORDER BY id",
                    (kind, org, object_id, object_id))
        return [row[0] for row in cur.fetchall()]


# ------------------------------------------------ criminal-justice needs

def test_criminal_justice_needs_are_tracked_items_with_status_and_history(cj):
    inv = open_investigation(cj)
    needs = f"/v1/investigations/{inv['id']}/needs"
    items = cj["da"].c.get(needs).json()["items"]
    assert [(n["code"], n["status"]) for n in items] == [("witness_support", "identified")]
    assert [h["status"] for h in items[0]["history"]] == ["identified"]

    r = cj["state"].c.post(needs, json={"code": "expert_witnesses"})
    assert r.status_code == 201, r.text
    ew = r.json()
    assert ew["status"] == "identified" and r.headers["location"].endswith(ew["id"])
    assert r.headers["etag"] == need_tag(ew["id"], 1)
    r = cj["state"].c.post(needs, json={"code": "expert_witnesses"})
    assert r.status_code == 409 and r.json()["type"].endswith("duplicate-need")
    r = cj["state"].c.post(needs, json={"code": "housing", "status": "done", "x": 1})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"code", "status", "x"}
    # Pending agencies read but do not record; others do not see it.
    assert cj["pending"].c.get(needs).status_code == 200
    r = cj["pending"].c.post(needs, json={"code": "evidence"})
    assert r.status_code == 403 and r.json()["type"].endswith("not-on-investigation")
    for who in ("declined", "other_police"):
        assert cj[who].c.get(needs).status_code == 404, who
        assert cj[who].c.post(needs, json={"code": "evidence"}).status_code == 404, who

    url = f"{needs}/{ew['id']}"
    assert cj["da"].c.patch(url, json={"status": "in_progress"}).status_code == 428
    r = cj["da"].c.patch(url, json={"status": "in_progress"}, headers={"If-Match": need_tag(ew["id"], 1)})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == need_tag(ew["id"], 2)
    r = cj["da"].c.patch(url, json={"status": "met"}, headers={"If-Match": need_tag(ew["id"], 1)})
    assert r.status_code == 412
    r = cj["da"].c.patch(url, json={"status": "met"}, headers={"If-Match": need_tag(ew["id"], 2)})
    assert [h["status"] for h in r.json()["history"]] == ["identified", "in_progress", "met"]
    assert r.json()["history"][-1]["changed_by_org_id"] == cj["da"].org
    doc = cj["police"].c.get(f"/v1/investigations/{inv['id']}").json()
    assert {(n["code"], n["status"]) for n in doc["needs"]} == {
        ("witness_support", "identified"), ("expert_witnesses", "met")}
    assert [n["code"] for n in cj["coord"].c.get(needs + "?status=met").json()["items"]] == \
        ["expert_witnesses"]
    assert cj["coord"].c.get(f"{needs}/{uuid.uuid4()}").status_code == 404
    # The investigation's `needs` sets them too: a need left out goes.
    inv_url = f"/v1/investigations/{inv['id']}"
    r = cj["police"].c.patch(inv_url, json={"needs": [{"code": "expert_witnesses", "status": "met"},
                                                      {"code": "evidence", "status": "identified"}]},
                             headers={"If-Match": cj["police"].c.get(inv_url).headers["etag"]})
    assert r.status_code == 200, r.text
    items = cj["police"].c.get(needs).json()["items"]
    assert [(n["code"], len(n["history"])) for n in items] == [("expert_witnesses", 3), ("evidence", 1)]


def test_need_is_referred_to_an_organization_whose_service_covers_it(cj, db, make_org):
    inv = open_investigation(cj)
    expert = Party(make_org, "other", "provider")
    add_service(db, expert.org, ["expert_witnesses"])
    plain = Party(make_org, "other", "provider")
    add_service(db, plain.org, ["housing"])
    r = cj["police"].c.post(f"/v1/investigations/{inv['id']}/needs", json={"code": "expert_witnesses"})
    need = r.json()
    refs = f"/v1/investigations/{inv['id']}/needs/{need['id']}/referrals"

    r = cj["police"].c.post(refs, json={"organization_id": plain.org})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organization_id"
    r = cj["pending"].c.post(refs, json={"organization_id": expert.org})
    assert r.status_code == 403
    r = cj["police"].c.post(refs, json={"organization_id": expert.org})
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["status"] == "offered" and ref["code"] == "expert_witnesses"
    assert set(ref) >= {"organization_id", "service_id"} and "title" not in ref
    assert cj["police"].c.post(refs, json={"organization_id": expert.org}).status_code == 409
    got = cj["police"].c.get(f"/v1/investigations/{inv['id']}/needs/{need['id']}").json()
    assert got["status"] == "referred" and [x["id"] for x in got["referrals"]] == [ref["id"]]
    assert [n["need_referral_id"] for n in notes(db, "need_referral.offered", expert.org)] == [ref["id"]]

    # The organization referred to sees the referral, not the investigation.
    assert ref["id"] in {x["id"] for x in expert.c.get("/v1/need-referrals").json()["items"]}
    assert expert.c.get(f"/v1/need-referrals/{ref['id']}").status_code == 200
    assert expert.c.get(f"/v1/investigations/{inv['id']}").status_code == 403
    assert plain.c.get(f"/v1/need-referrals/{ref['id']}").status_code == 404
    assert ref["id"] not in {x["id"] for x in plain.c.get("/v1/need-referrals").json()["items"]}
    assert cj["other_police"].c.get(f"/v1/need-referrals/{ref['id']}").status_code == 404
    assert cj["da"].c.get(f"/v1/need-referrals/{ref['id']}").status_code == 200
    # Only the organization referred to answers, once.
    assert cj["police"].c.post(f"/v1/need-referrals/{ref['id']}/accept").status_code == 404
    r = expert.c.post(f"/v1/need-referrals/{ref['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    r = expert.c.post(f"/v1/need-referrals/{ref['id']}/decline")
    assert r.status_code == 409 and r.json()["type"].endswith("invalid-transition")
    got = cj["police"].c.get(f"/v1/investigations/{inv['id']}/needs/{need['id']}").json()
    assert got["status"] == "in_progress"
    assert [h["status"] for h in got["history"]] == ["identified", "referred", "in_progress"]
    assert [n["status"] for n in notes(db, "need_referral.answered", cj["police"].org)] == ["accepted"]
    # A referred need stays on the investigation.
    url = f"/v1/investigations/{inv['id']}"
    r = cj["police"].c.patch(url, json={"needs": []}, headers={"If-Match": cj["police"].c.get(url).headers["etag"]})
    assert r.status_code == 409, r.text


def test_declining_the_last_referral_returns_the_need_to_identified(cj, db, make_org):
    inv = open_investigation(cj)
    support = Party(make_org, "victim_services", "case_manager")
    add_service(db, support.org, ["witness_support"])
    need = cj["police"].c.get(f"/v1/investigations/{inv['id']}/needs").json()["items"][0]
    r = cj["coord"].c.post(f"/v1/investigations/{inv['id']}/needs/{need['id']}/referrals",
                           json={"organization_id": support.org, "service_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "service_id"
    r = cj["coord"].c.post(f"/v1/investigations/{inv['id']}/needs/{need['id']}/referrals",
                           json={"organization_id": support.org})
    assert r.status_code == 201, r.text
    r = support.c.post(f"/v1/need-referrals/{r.json()['id']}/decline")
    assert r.status_code == 200 and r.json()["status"] == "declined"
    got = cj["police"].c.get(f"/v1/investigations/{inv['id']}/needs/{need['id']}").json()
    assert [h["status"] for h in got["history"]] == ["identified", "referred", "identified"]
    # A need met otherwise withdraws the referrals still offered.
    other = Party(make_org, "ngo", "provider")
    add_service(db, other.org, ["witness_support"])
    r = cj["police"].c.post(f"/v1/investigations/{inv['id']}/needs/{need['id']}/referrals",
                            json={"organization_id": other.org})
    assert r.status_code == 201, r.text
    ref = r.json()
    r = cj["police"].c.patch(f"/v1/investigations/{inv['id']}/needs/{need['id']}",
                             json={"status": "met"}, headers={"If-Match": need_tag(need["id"], 4)})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["referrals"]] == ["declined", "withdrawn"]
    assert [n["status"] for n in notes(db, "need_referral.answered", other.org)] == ["withdrawn"]
    assert other.c.post(f"/v1/need-referrals/{ref['id']}/accept").status_code == 409


# ------------------------------------------------------------ witnesses

def test_witness_record_is_opened_on_the_investigation_with_sealed_categories(cj, db):
    inv = open_investigation(cj)
    r = cj["pending"].c.post(f"/v1/investigations/{inv['id']}/witnesses", json=witness_body())
    assert r.status_code == 403 and r.json()["type"].endswith("not-on-investigation")
    assert cj["other_police"].c.post(f"/v1/investigations/{inv['id']}/witnesses",
                                     json=witness_body()).status_code == 404
    r = cj["police"].c.post(f"/v1/investigations/{inv['id']}/witnesses",
                            json=witness_body(kind="victim", lead_org_id=cj["da"].org))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"kind", "lead_org_id"}

    w = open_witness(cj, inv)
    assert w["kind"] == "witness" and w["lead_org_id"] == cj["police"].org
    assert shown(w) == CATEGORIES and w["identity"]["legal_name"] == WITNESS_NAME
    with db.cursor() as cur:
        cur.execute("SELECT identity_enc::text FROM case_personal WHERE case_id = %s", (w["id"],))
        assert WITNESS_NAME.encode().hex() not in cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_log WHERE object_id = %s AND action = 'create' "
                    "AND object_type = 'case_personal'", (w["id"],))
        assert cur.fetchone()[0] == 1
    links = cj["da"].c.get(f"/v1/investigations/{inv['id']}/cases").json()["items"]
    assert [(x["case_id"], x["kind"], x["opened_on_investigation"], x["consent_id"])
            for x in links] == [(w["id"], "witness", True, None)]

    # Its lead keeps it like any case: changes, criminal-justice needs, consents.
    url = f"/v1/cases/{w['id']}"
    r = cj["police"].c.patch(url, json={"contact": {"email": "wren@example.org"}},
                             headers={"If-Match": etag(url, 1)})
    assert r.status_code == 200, r.text
    r = cj["police"].c.post(url + "/needs", json={"code": "witness_support"})
    assert r.status_code == 201, r.text
    assert cj["state"].c.post(url + "/needs", json={"code": "evidence"}).status_code == 403
    victim = new_case(cj["shelter"])
    r = cj["shelter"].c.post(f"/v1/cases/{victim['id']}/needs", json={"code": "witness_support"})
    assert r.status_code == 422
    # A service organization may hold a witness record too.
    r = cj["shelter"].c.post("/v1/cases", json=witness_body(kind="witness",
                             identified_by={"how": "outreach"}))
    assert r.status_code == 201 and r.json()["kind"] == "witness"
    kinds = {c["id"]: c["kind"] for c in cj["shelter"].c.get("/v1/cases?kind=witness&limit=100")
             .json()["items"]}
    assert kinds.get(r.json()["id"]) == "witness" and victim["id"] not in kinds
    # Reading it as another agency is audited with the categories shown.
    assert cj["state"].c.get(url).status_code == 200
    with db.cursor() as cur:
        cur.execute("SELECT fields FROM audit_log WHERE object_id = %s AND action = 'read' "
                    "AND actor_org = %s", (w["id"], cj["state"].org))
        assert cur.fetchall() == [(["case_details", "needs"],)]


# ------------------------------------------------- the visibility matrix

def test_visibility_matrix_for_victims_witnesses_and_agencies(cj, make_org):
    inv = open_investigation(cj)
    shelter = cj["shelter"]
    victim = new_case(shelter)
    vid = victim["id"]
    assert shelter.c.post(f"/v1/cases/{vid}/needs", json={"code": "housing"}).status_code == 201
    k1 = grant(shelter, vid, ["case_details"], org=cj["police"].org)
    grant(shelter, vid, ["identity"], kind="prosecution")
    r = cj["police"].c.post(f"/v1/investigations/{inv['id']}/cases", json={"case_id": vid})
    assert r.status_code == 201, r.text
    w = open_witness(cj, inv)
    grant(cj["police"], w["id"], ["contact"], org=cj["da"].org)

    def matrix():
        out = {}
        for who, party in cj.items():
            row = []
            for cid in (vid, w["id"]):
                r = party.c.get(f"/v1/cases/{cid}")
                if r.status_code == 404:
                    row.append(None)
                else:
                    assert r.status_code == 200, (who, r.text)
                    doc = r.json()
                    assert set(doc["redacted"]) == CATEGORIES - shown(doc), who
                    row.append(sorted(shown(doc)))
            out[who] = row
        return out

    nonpersonal = ["case_details", "needs"]
    assert matrix() == {
        "police": [nonpersonal, sorted(CATEGORIES)],
        "state": [nonpersonal, nonpersonal],
        "pending": [None, None],
        "declined": [None, None],
        "da": [["case_details", "identity", "needs"], ["case_details", "contact", "needs"]],
        "other_police": [None, None],
        "shelter": [sorted(CATEGORIES), None],
        "clinic": [None, None],
        "coord": [nonpersonal, nonpersonal]}
    # Lists carry no personal data and follow the same rule.
    listed = {c["id"] for c in cj["state"].c.get("/v1/cases?limit=100").json()["items"]}
    assert {vid, w["id"]} <= listed
    assert not {vid, w["id"]} & {c["id"] for c in cj["pending"].c.get("/v1/cases?limit=100")
                                 .json()["items"]}
    needs = cj["state"].c.get(f"/v1/cases/{vid}/needs").json()
    assert [n["code"] for n in needs["items"]] == ["housing"] and needs["redacted"] == []
    # What an agency sees through the investigation it cannot pass on.
    r = cj["state"].c.post(f"/v1/cases/{vid}/consents", json={
        "categories": ["case_details"], "shared_with_org_id": cj["clinic"].org,
        "purpose": "x", "informed": True, "written": False, "expires_at": iso(5)})
    assert r.status_code == 403

    # Ending participation ends access on the next request.
    url = f"/v1/investigations/{inv['id']}"
    r = cj["state"].c.post(url + "/participation/end")
    assert r.status_code == 200, r.text
    assert {a["org_id"]: a["status"] for a in r.json()["agencies"]}[cj["state"].org] == "ended"
    assert cj["state"].c.get(f"/v1/cases/{vid}").status_code == 404
    assert cj["state"].c.get(f"/v1/cases/{w['id']}").status_code == 404
    assert cj["state"].c.get(url).status_code == 404
    # The lead takes the prosecution office off: the same.
    r = cj["police"].c.patch(url, json={"prosecution_org_ids": []},
                             headers={"If-Match": cj["police"].c.get(url).headers["etag"]})
    assert r.status_code == 200, r.text
    assert cj["da"].c.get(f"/v1/cases/{w['id']}").status_code == 404
    # A consent naming its kind does not by itself let it see the case.
    assert cj["da"].c.get(f"/v1/cases/{vid}").status_code == 404
    # Revoking the consent the link stood on ends what the link opened.
    assert shelter.c.post(f"/v1/cases/{vid}/consents/{k1['id']}/revoke").status_code == 200
    assert cj["police"].c.get(f"/v1/cases/{vid}").status_code == 404
    assert shown(cj["police"].c.get(f"/v1/cases/{w['id']}").json()) == CATEGORIES


def test_ending_participation_rules(cj):
    inv = open_investigation(cj)
    url = f"/v1/investigations/{inv['id']}"
    r = cj["pending"].c.post(url + "/participation/end")
    assert r.status_code == 409 and r.json()["type"].endswith("invalid-transition")
    r = cj["police"].c.post(url + "/participation/end")
    assert r.status_code == 409
    assert cj["declined"].c.post(url + "/participation/end").status_code == 404
    assert cj["other_police"].c.post(url + "/participation/end").status_code == 404
    assert cj["da"].c.post(url + "/participation/end").status_code == 200
    assert cj["state"].c.post(url + "/participation/end").status_code == 200
    assert cj["state"].c.post(url + "/participation/end").status_code == 404
    assert inv["id"] not in {i["id"] for i in cj["state"].c.get("/v1/investigations?limit=100")
                             .json()["items"]}
    # Listed again, it is pending: it reads the investigation, not its cases.
    w = open_witness(cj, inv)
    etag_now = cj["police"].c.get(url).headers["etag"]
    r = cj["police"].c.patch(url, json={"participating_agency_ids": [cj["state"].org]},
                             headers={"If-Match": etag_now})
    assert r.status_code == 200, r.text
    assert {a["org_id"]: a["status"] for a in r.json()["agencies"]}[cj["state"].org] == "pending"
    assert cj["state"].c.get(url).status_code == 200
    assert cj["state"].c.get(f"/v1/cases/{w['id']}").status_code == 404
    assert cj["state"].c.post(url + "/participation/accept").status_code == 200
    assert cj["state"].c.get(f"/v1/cases/{w['id']}").status_code == 200


# ------------------------------------------------------------ key dates

def test_key_dates_are_dated_items_for_every_agency_on_the_investigation(cj):
    inv = open_investigation(cj)
    other = cj["other_police"].c.post("/v1/investigations", json={
        "title": "Elsewhere", "key_dates": [{"kind": "court_date", "at": iso(21)}]}).json()
    dates = f"/v1/investigations/{inv['id']}/dates"
    for who in ("police", "state", "pending", "da", "coord"):
        items = cj[who].c.get(dates).json()["items"]
        assert [(d["kind"], d["past"]) for d in items] == [("arrest", True), ("court_date", False)], who
    for who in ("declined", "other_police"):
        assert cj[who].c.get(dates).status_code == 404, who
    items = cj["da"].c.get(dates + "?kind=court_date").json()["items"]
    assert [d["label"] for d in items] == ["Arraignment"]

    mine = cj["da"].c.get("/v1/investigation-dates").json()
    assert [(d["investigation_id"], d["kind"]) for d in mine["items"]] == [(inv["id"], "court_date")]
    window = {"from": iso(-3), "to": iso(30)}
    items = cj["state"].c.get("/v1/investigation-dates", params=window).json()["items"]
    assert [d["kind"] for d in items] == ["arrest", "court_date"]
    assert other["id"] in {d["investigation_id"] for d in cj["coord"].c.get(
        "/v1/investigation-dates", params=window).json()["items"]}
    assert cj["pending"].c.get("/v1/investigation-dates", params=window).json()["items"] != []
    assert cj["declined"].c.get("/v1/investigation-dates", params=window).json()["items"] == []
    r = cj["da"].c.get("/v1/investigation-dates", params={"from": iso(0), "to": iso(400)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "to"
    assert cj["da"].c.get(dates + "?kind=hearing").status_code == 400


def test_court_dates_remind_every_agency_on_the_investigation(cj, db):
    inv = open_investigation(cj)
    at = datetime.datetime.fromisoformat(
        [d for d in inv["key_dates"] if d["kind"] == "court_date"][0]["at"])

    def sweep(delta):
        with db.cursor() as cur:
            cur.execute("SELECT worker.deadline_sweep(%s, NULL, 'test')",
                        (at - delta,))
            return cur.fetchone()[0]

    def steps(who):
        return [n["step"] for n in notes(db, "court_date.due", cj[who].org, inv["id"])]

    assert sweep(datetime.timedelta(days=7, hours=1))["errors"] == {}
    assert steps("state") == []
    sweep(datetime.timedelta(days=6, hours=23))
    assert steps("state") == ["remind_7d"] and steps("da") == ["remind_7d"]
    sweep(datetime.timedelta(days=6))
    assert steps("state") == ["remind_7d"]
    # Ended and pending agencies are not told; the lead has its court-date task.
    assert cj["da"].c.post(f"/v1/investigations/{inv['id']}/participation/end").status_code == 200
    r = sweep(-datetime.timedelta(hours=1))
    assert r["errors"] == {} and r["clocks"]["court_dates"] >= 1
    assert steps("state") == ["remind_7d", "due"]
    assert steps("da") == ["remind_7d"]
    assert steps("pending") == [] and steps("declined") == [] and steps("police") == []
    note = notes(db, "court_date.due", cj["state"].org, inv["id"])[-1]
    assert note["investigation_id"] == inv["id"]
    with db.cursor() as cur:
        cur.execute("SELECT title, link FROM notifications WHERE kind = 'court_date.due' "
                    "AND organization_id = %s ORDER BY id", (cj["state"].org,))
        assert cur.fetchall() == [("Court date in 7 days", f"/v1/investigations/{inv['id']}/dates"),
                                  ("Court date now", f"/v1/investigations/{inv['id']}/dates")]
    # A moved date is reminded anew.
    url = f"/v1/investigations/{inv['id']}"
    new_at = at + datetime.timedelta(days=10)
    r = cj["police"].c.patch(url, json={"key_dates": [{"kind": "court_date", "at": new_at.isoformat()}]},
                             headers={"If-Match": cj["police"].c.get(url).headers["etag"]})
    assert r.status_code == 200, r.text
    with db.cursor() as cur:
        cur.execute("SELECT worker.deadline_sweep(%s, NULL, 'test')",
                    (new_at - datetime.timedelta(hours=20),))
    assert steps("state") == ["remind_7d", "due", "remind_1d"]
