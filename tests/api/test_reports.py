"""Reports: POST /v1/reports is built by the worker (report.build); every
kind's numbers match hand-computed expectations on a small data set of its
own (a jurisdiction code and organizations no other test uses, selected by
filters), small counts and their complements are suppressed, the same
result comes as CSV and SVG, roles are enforced and bad requests are 4xx
problems."""
import csv
import io
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

SVG = "{http://www.w3.org/2000/svg}"
PERIOD = "2025"


@pytest.fixture(scope="module")
def world(db, make_org, tokens):
    """The fixed data set: jurisdiction J (J01, J02 inside it), a sending
    organization A and a receiving organization B with one service."""
    j = "ZR" + uuid.uuid4().hex[:6].upper()
    a = make_org(kind="victim_services", jurisdictions=(j + "01",))
    b = make_org(kind="ngo", jurisdictions=(j + "01",))
    lea = make_org(kind="law_enforcement", jurisdictions=(j + "01",))
    cur = db.cursor()
    n = [0]

    def case(jur, tt, age_group, gender, nat, identified="2025-03-01",
             status="open", updated="2025-06-01", needs=()):
        n[0] += 1
        cur.execute(
            "INSERT INTO cases (case_number, lead_org, identified_on, identified_how, "
            "age_group, gender, nationality, trafficking_type, jurisdiction, status, "
            "closed_reason, created_by, updated_at) VALUES (%s, %s, %s, 'outreach', %s, "
            "%s, %s, %s, %s, %s, %s, 'test', %s) RETURNING id",
            (f"RPT-{j}-{n[0]:05d}", a, identified, age_group, gender, nat, tt, jur,
             status, "moved" if status == "closed" else None, updated))
        cid = cur.fetchone()[0]
        for code, st in needs:
            cur.execute("INSERT INTO case_needs (case_id, code, status, created_at) "
                        "VALUES (%s, %s, %s, '2025-03-02')", (cid, code, st))
        return cid

    # 50 clients served in 2025: J01 35, J02 15.
    for i in range(20):
        needs = [("housing", "met" if i < 12 else ("unmet" if i < 15 else "in_progress"))]
        if i < 11:
            needs.append(("food", "identified"))
        if i < 4:
            needs.append(("clothing", "met"))
        case(j + "01", "sex", "adult", "Female", "MX", needs=needs)
    for _ in range(12):
        case(j + "01", "labor", "adult", "male", "GT")
    for _ in range(3):
        case(j + "01", "sex", "minor", "F", "US", identified="2024-06-01")
    for _ in range(15):
        case(j + "02", "labor", "adult", "m", "gt")
    # Not served in 2025: closed before it, identified after it.
    case(j + "01", "sex", "adult", "female", "MX", identified="2024-01-01",
         status="closed", updated="2024-12-01")
    case(j + "01", "sex", "adult", "female", "MX", identified="2026-02-01")

    cur.execute(
        "INSERT INTO services (organization_id, name, needs, area_jurisdictions, "
        "capacity_total, capacity_available, languages) VALUES (%s, 'Report shelter', "
        "'{housing}', %s, 10, 4, '{en,es}') RETURNING id", (b, [j + "01"]))
    svc = cur.fetchone()[0]

    def referral(urgency, created, offers=(), status="offered", need_status="offered"):
        cur.execute(
            "INSERT INTO referrals (sender_org, sender_sub, urgency, jurisdiction, "
            "consent_categories, consent_expires_at, consent_form_reference, status, "
            "created_at, updated_at) VALUES (%s, 'test', %s, %s, '{needs}', "
            "'2027-01-01', 'F-1', %s, %s, %s) RETURNING id",
            (a, urgency, j + "01", status, created, created))
        rid = cur.fetchone()[0]
        cur.execute("INSERT INTO referral_needs (referral_id, position, need_code, status) "
                    "VALUES (%s, 0, 'housing', %s) RETURNING id", (rid, need_status))
        nid = cur.fetchone()[0]
        for k, (st, hours, reason) in enumerate(offers):
            cur.execute(
                "INSERT INTO referral_offers (referral_id, service_id, organization_id, "
                "need_ids, status, decline_reason, expires_at, responded_at, created_at) "
                "VALUES (%s, %s, %s, %s::uuid[], %s, %s, %s::timestamptz + interval '48 hours', "
                "%s::timestamptz + make_interval(hours => %s), %s)",
                (rid, svc if k == 0 else make_service(), b, [nid], st, reason, created,
                 created, hours, created))

    def make_service():
        cur.execute("INSERT INTO services (organization_id, name, needs, status) "
                    "VALUES (%s, 'Report extra', '{food}', 'inactive') RETURNING id", (b,))
        return cur.fetchone()[0]

    # 12 routine: each declined once (no capacity, 2 h), then accepted
    # (24 h; the last one 72 h). 2 urgent: unmatched.
    for i in range(12):
        referral("routine", f"2025-04-{i + 1:02d} 10:00Z",
                 offers=[("accepted", 72 if i == 11 else 24, None),
                         ("declined", 2, "Our shelter is full this week")],
                 status="in_progress", need_status="accepted")
    for i in range(2):
        referral("urgent", f"2025-05-{i + 1:02d} 10:00Z", status="unmatched",
                 need_status="unmatched")

    # Investigations opened in 2025: 12 open, 3 closed with a conviction.
    cur.execute("SELECT code FROM need_taxonomy WHERE grp = 'criminal_justice' "
                "ORDER BY code LIMIT 1")
    cj = cur.fetchone()[0]
    for i in range(15):
        closed = i >= 12
        cur.execute(
            "INSERT INTO investigations (title, lead_agency, jurisdictions, status, "
            "outcome, needs, created_by, created_at) VALUES ('Op', %s, %s, %s, %s, %s, "
            "'test', '2025-07-01')",
            (lea, [j + "01"], "closed" if closed else "open",
             "Conviction on all counts" if closed else None,
             '[{"code": "%s", "status": "%s"}]' % (cj, "met" if i < 11 else "identified")))
    return {"j": j, "a": a, "b": b, "lea": lea, "tokens": tokens}


def build(client, token, body, expect=202):
    r = client(token).post("/v1/reports", json=body)
    assert r.status_code == expect, r.text
    if expect != 202:
        return r
    assert r.headers["location"] == "/v1/reports/" + r.json()["id"]
    assert r.json()["status"] in ("queued", "running", "done")
    return wait(client, token, r.headers["location"])


def wait(client, token, loc, timeout=60):
    deadline = time.time() + timeout
    while True:
        r = client(token).get(loc)
        assert r.status_code == 200, r.text
        doc = r.json()
        if doc["status"] in ("done", "failed") or time.time() > deadline:
            return doc
        assert doc["status"] in ("queued", "running")
        assert 0 <= doc["progress"] <= 100
        time.sleep(0.2)


def rows(doc, section=None, group=...):
    out = {}
    for row in doc["result"]["rows"]:
        if section is not None and row["section"] != section:
            continue
        if group is not ... and row["group"] != group:
            continue
        out[(row["section"], row["category"]) if section is None else row["category"]] = row
    return out


def val(row, i=0):
    c = row["cells"][i]
    return "S" if c["suppressed"] else c["value"]


def test_clients_counts_and_suppression(client, world):
    doc = build(client, world["tokens"]["analyst"], {
        "kind": "clients", "period": PERIOD, "filters": {"jurisdiction": [world["j"]]}})
    assert doc["status"] == "done" and doc["progress"] == 100
    res = doc["result"]
    assert res["threshold"] == 10 and res["period"] == {"from": "2025-01-01",
                                                        "to": "2025-12-31", "label": "2025"}
    assert val(rows(doc, "all")["all"]) == 50
    tt = {k: val(r) for k, r in rows(doc, "trafficking_type").items()}
    assert tt == {"sex": 23, "labor": 27, "both": 0, "unknown": 0}
    gender = {k: val(r) for k, r in rows(doc, "gender").items()}
    assert gender == {"female": 23, "male": 27, "non_binary": 0, "other": 0, "unknown": 0}
    # 3 continuing clients and 3 minors: hidden, with a complement each.
    status = {k: val(r) for k, r in rows(doc, "status").items()}
    assert status == {"new": "S", "continuing": "S"}
    # The complement is the smallest cell that protects: here a zero.
    age = {k: val(r) for k, r in rows(doc, "age_group").items()}
    assert age == {"adult": 47, "minor": "S", "unknown": "S"}
    nat = {k: val(r) for k, r in rows(doc, "nationality").items()}
    assert nat["US"] == "S" and sorted(nat) == ["GT", "MX", "US"]
    assert list(nat.values()).count("S") >= 2
    for r in res["rows"]:
        for c in r["cells"]:
            assert (c["value"] is None) == c["suppressed"]


def test_clients_by_jurisdiction_protects_rows_columns_and_totals(client, world):
    j = world["j"]
    doc = build(client, world["tokens"]["coordinator"], {
        "kind": "clients", "period": {"from": "2025-01-01", "to": "2025-12-31"},
        "group_by": "jurisdiction", "filters": {"jurisdiction": [j]}})
    assert doc["result"]["period"]["label"] == "2025-01-01/2025-12-31"
    assert val(rows(doc, "all", j + "02")["all"]) == 15
    assert val(rows(doc, "trafficking_type", j + "02")["labor"]) == 15
    assert val(rows(doc, "trafficking_type", j + "01")["labor"]) == 12
    # No hidden value follows by subtraction: within each section and
    # group the hidden cells are none or at least two (totals shown), and
    # across groups the same holds for every category.
    groups = {r["group"] for r in doc["result"]["rows"]}
    for sec in ("status", "trafficking_type", "age_group", "gender", "nationality"):
        for g in groups:
            hidden = [k for k, r in rows(doc, sec, g).items() if val(r) == "S"]
            total_hidden = val(rows(doc, "all", g)["all"]) == "S"
            assert len(hidden) != 1 or total_hidden, (sec, g, hidden)
        for k in rows(doc, sec, None):
            line = [val(rows(doc, sec, g)[k]) for g in groups]
            assert line.count("S") != 1, (sec, k, line)


def test_needs_per_code_with_met_rate(client, world):
    doc = build(client, world["tokens"]["admin"], {
        "kind": "needs", "period": "2025-H1", "filters": {"jurisdiction": [world["j"]]}})
    keys = [c["key"] for c in doc["result"]["columns"]]
    assert keys == ["identified", "awaiting", "referred", "in_progress", "met", "unmet",
                    "declined", "met_rate"]
    need = rows(doc, "need")
    h = [val(need["housing"], i) for i in range(8)]
    assert h == [20, 0, 0, "S", 12, "S", 0, 0.6]
    assert [val(need["food"], i) for i in range(8)] == [11, 11, 0, 0, 0, 0, 0, 0]
    # 4 clients: the count, its complement and the rate built on it hidden.
    c = [val(need["clothing"], i) for i in range(8)]
    assert c[0] == "S" and c[4] == "S" and c[7] == "S"
    assert [val(need["case_management"], i) for i in range(7)] == [0] * 7
    assert set(need) >= {"housing", "food", "clothing", "legal_representation"}


def test_referrals_by_urgency_with_times_to_acceptance(client, world):
    doc = build(client, world["tokens"]["analyst"], {
        "kind": "referrals", "period": "2025-Q2",
        "filters": {"jurisdiction": [world["j"]]}})
    cols = [c["key"] for c in doc["result"]["columns"]]
    allr = dict(zip(cols, [val(rows(doc, "all")["all"], i) for i in range(len(cols))]))
    assert allr["made"] == 14 and allr["accepted"] == 12 and allr["accepted_48h"] == 11
    assert allr["offered"] == 12 and allr["declined_capacity"] == 12
    assert allr["declined_other"] == 0 and allr["expired"] == 0
    assert allr["median_hours_to_accept"] == 24.0 and allr["p90_hours_to_accept"] == 24.0
    assert allr["share_accepted_48h"] == 0.917
    urg = rows(doc, "urgency")
    # 2 urgent referrals, unmatched: hidden, with the (zero) emergency row.
    assert val(urg["urgent"], cols.index("made")) == "S"
    assert val(urg["routine"], cols.index("made")) == 12
    assert val(urg["emergency"], cols.index("made")) == "S"
    assert val(urg["urgent"], cols.index("unmatched")) == "S"


def test_referrals_by_receiving_organization(client, world):
    doc = build(client, world["tokens"]["analyst"], {
        "kind": "referrals", "period": "2025", "group_by": "organization",
        "filters": {"jurisdiction": [world["j"]], "urgency": ["routine"]}})
    row = rows(doc, "all", world["b"])["all"]
    assert val(row, 0) == 12 and val(row, 2) == 12
    assert row["group_label"].startswith("Test ngo")


def test_criminal_justice_by_status_and_outcome(client, world):
    doc = build(client, world["tokens"]["coordinator"], {
        "kind": "criminal_justice", "period": "2025",
        "filters": {"jurisdiction": [world["j"]]}})
    allr = rows(doc, "all")["all"]
    assert [val(allr, i) for i in range(5)] == [15, 0, 0, 15, 11]
    st = rows(doc, "status")
    assert val(st["closed"]) == "S" and val(st["open"]) == 12
    assert [val(st[k]) for k in ("charges_filed", "prosecution")].count("S") == 1
    oc = rows(doc, "outcome")
    assert val(oc["conviction"]) == "S" and val(oc["not_closed"]) == 12
    assert [val(oc[k]) for k in ("plea", "acquittal", "dismissed", "other")].count("S") == 1


def test_partners_per_organization(client, world):
    doc = build(client, world["tokens"]["analyst"], {
        "kind": "partners", "period": "2025",
        "filters": {"organization": [world["a"], world["b"]]}})
    orgs = {r["category"]: [val(r, i) for i in range(7)] for r in doc["result"]["rows"]}
    assert orgs[world["a"]] == [14, 0, 0, 0, 0, 0, None]
    assert orgs[world["b"]] == [0, 24, 12, 12, 0, 24, 13.0]


def test_coverage_for_every_role_and_with_client_counts(client, world):
    j = world["j"] + "01"
    body = {"kind": "coverage", "period": "2025",
            "filters": {"jurisdiction": [j], "organization": [world["b"]]}}
    doc = build(client, world["tokens"]["case_manager"], body)
    need = rows(doc, "need")
    assert [val(need["housing"], i) for i in range(4)] == [1, 10, 4, 0]
    assert [val(need["food"], i) for i in range(4)] == [0, None, None, 1]
    assert len(doc["result"]["columns"]) == 4
    # The clients column is client data: analysts, coordinators, admins.
    r = client(world["tokens"]["case_manager"]).post(
        "/v1/reports", json=dict(body, include_clients=True))
    assert r.status_code == 403 and r.json()["type"].endswith("report-forbidden")
    doc = build(client, world["tokens"]["analyst"], dict(body, include_clients=True))
    need = rows(doc, "need")
    assert val(need["housing"], 4) == 20 and val(need["food"], 4) == 11
    assert val(need["clothing"], 4) == "S"
    doc = build(client, world["tokens"]["analyst"], dict(body, group_by="language"))
    langs = {r["group"] for r in doc["result"]["rows"]}
    assert langs == {j + " / en", j + " / es"}


def test_coverage_by_state_merges_the_county_cells(client, world, db, make_org):
    # A second provider serving J01 and J02 for housing and food: by
    # county it counts in both cells; by state J01 and J02 are one cell
    # where each service counts once.
    j = world["j"]
    c = make_org(kind="ngo", jurisdictions=(j + "02",))
    cur = db.cursor()
    cur.execute(
        "INSERT INTO services (organization_id, name, needs, area_jurisdictions, "
        "capacity_total, capacity_available) VALUES (%s, 'Report state svc', "
        "'{housing,food}', %s, 5, 5)", (c, [j + "01", j + "02"]))
    tok = world["tokens"]["analyst"]
    body = {"kind": "coverage", "period": "2025", "include_clients": True,
            "filters": {"jurisdiction": [j + "01", j + "02"],
                        "organization": [world["b"], c]}}
    county = build(client, tok, body)
    assert county["grain"] == "county" and county["status"] == "done"
    assert {r["group"] for r in county["result"]["rows"]} == {j + "01", j + "02"}
    h01 = rows(county, "need", j + "01")["housing"]
    assert [val(h01, i) for i in range(5)] == [2, 15, 9, 0, 20]
    doc = build(client, tok, dict(body, grain="state"))
    assert doc["status"] == "done" and doc["grain"] == "state"
    res = doc["result"]["rows"]
    assert {r["group"] for r in res} == {j[:2]}
    assert len(res) == len(county["result"]["rows"]) // 2
    need = rows(doc, "need")
    # Housing: the shelter (10/4) and the new service (5/5), not twice.
    assert [val(need["housing"], i) for i in range(5)] == [2, 15, 9, 0, 20]
    assert [val(need["food"], i) for i in range(5)] == [1, 5, 5, 0, 11]
    assert [val(need["clothing"], i) for i in range(5)] == [0, None, None, 1, "S"]
    # Other kinds take no grain; only county and state.
    for bad in ({"kind": "clients", "period": "2025", "grain": "state"},
                dict(body, grain="city"), dict(body, grain=1)):
        r = client(tok).post("/v1/reports", json=bad)
        assert r.status_code == 422 and any(
            e["field"] == "grain" for e in r.json()["errors"]), r.text
    r = client(tok).post("/v1/reports", json={"kind": "needs", "period": "2025"})
    assert r.status_code == 202 and r.json()["grain"] is None


def test_csv_has_a_header_and_marks_suppressed_cells(client, world):
    tok = world["tokens"]["analyst"]
    doc = build(client, tok, {"kind": "clients", "period": PERIOD,
                              "filters": {"jurisdiction": [world["j"]]}})
    r = client(tok).get("/v1/reports/" + doc["id"], headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "\r\n" in r.text
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["Section", "Category", "Group", "Clients"]
    body = {(t[0], t[1]): t[3] for t in table[1:]}
    assert body[("All clients", "All")] == "50"
    assert body[("Adult or minor", "Minor")] == "<11"
    assert body[("Trafficking type", "Sex and labor trafficking")] == "0"
    assert len(table) == 1 + len(doc["result"]["rows"])


def test_svg_is_an_accessible_bar_chart_with_hatched_suppressed_bars(client, world):
    tok = world["tokens"]["coordinator"]
    doc = build(client, tok, {"kind": "clients", "period": PERIOD,
                              "filters": {"jurisdiction": [world["j"]]}})
    r = client(tok).get("/v1/reports/" + doc["id"],
                        headers={"Accept": "image/svg+xml, application/json;q=0.5"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(r.content)
    assert root.tag == SVG + "svg" and root.get("role") == "img"
    assert "Clients served" in root.find(SVG + "title").text
    assert root.find(f".//{SVG}pattern[@id='hatch']") is not None
    bars = root.findall(f".//{SVG}g[@class='bar']")
    assert len(bars) == len(doc["result"]["rows"])
    titles = [b.find(SVG + "title").text for b in bars]
    assert "All clients: All: 50" in titles
    assert "Adult or minor: Minor: suppressed" in titles
    hatched = [b for b in bars if b.find(SVG + "rect").get("fill") == "url(#hatch)"]
    assert len(hatched) == sum(1 for row in doc["result"]["rows"]
                               if row["cells"][0]["suppressed"])
    labels = {t.get("class"): t.text for t in root.iter(SVG + "text") if t.get("class")}
    assert labels == {"x-axis-label": "Clients", "y-axis-label": "Category"}
    assert b"<script" not in r.content and b"@import" not in r.content


def test_unsupported_accept_is_406_and_csv_waits_for_done(client, world, db):
    tok = world["tokens"]["analyst"]
    r = client(tok).get("/v1/reports/" + str(uuid.uuid4()), headers={"Accept": "text/html"})
    assert r.status_code == 406
    with db.cursor() as cur:
        cur.execute("INSERT INTO reports (kind, period_from, period_to, period_label, "
                    "client_data, requested_by) VALUES ('clients', '2025-01-01', "
                    "'2025-12-31', '2025', true, 'test') RETURNING id")
        rid = cur.fetchone()[0]
    r = client(tok).get(f"/v1/reports/{rid}", headers={"Accept": "text/csv"})
    assert r.status_code == 409 and r.json()["type"].endswith("report-not-ready")
    doc = client(tok).get(f"/v1/reports/{rid}").json()
    assert doc["status"] == "queued" and doc["progress"] == 0 and "result" not in doc
    with db.cursor() as cur:
        cur.execute("UPDATE reports SET status = 'failed', reason = 'The report took "
                    "longer than 60 s and was stopped.' WHERE id = %s", (rid,))
    doc = client(tok).get(f"/v1/reports/{rid}").json()
    assert doc["status"] == "failed" and "60 s" in doc["reason"]


def test_ready_notification_and_job(client, world, db):
    doc = build(client, world["tokens"]["analyst"], {"kind": "partners", "period": "2025-Q1"})
    with db.cursor() as cur:
        cur.execute("SELECT kind, link FROM notifications WHERE payload->>'report_id' = %s",
                    (doc["id"],))
        kind, link = cur.fetchone()
        cur.execute("SELECT state, result FROM jobs WHERE kind = 'report.build' AND "
                    "payload->>'report_id' = %s", (doc["id"],))
        state, result = cur.fetchone()
    assert kind == "report.ready" and link == "/v1/reports/" + doc["id"]
    assert state == "done" and "build_ms" in result


@pytest.mark.parametrize("role", ["case_manager", "provider", "investigator",
                                  "prosecutor", "hotline"])
def test_other_roles_get_403_for_client_reports(client, world, role):
    r = client(world["tokens"][role]).post("/v1/reports", json={"kind": "clients",
                                                                 "period": "2025"})
    assert r.status_code == 403


def test_lists_page_newest_first_and_hide_client_reports_from_other_roles(client, world):
    tok = world["tokens"]["analyst"]
    ids = [client(tok).post("/v1/reports", json={"kind": "partners", "period": "2025-Q4"})
           .json()["id"] for _ in range(3)]
    page = client(tok).get("/v1/reports?limit=2&kind=partners").json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    assert "result" not in page["items"][0]
    nxt = client(tok).get("/v1/reports?limit=2&kind=partners&cursor=" +
                          page["next_cursor"]).json()
    assert nxt["items"][0]["id"] == ids[0]
    cm = world["tokens"]["case_manager"]
    seen = client(cm).get("/v1/reports?limit=100").json()["items"]
    assert all(i["kind"] == "coverage" and not i["include_clients"] for i in seen)
    assert client(cm).get("/v1/reports/" + ids[0]).status_code == 404
    assert client(tok).get("/v1/reports?status=nope").status_code == 400
    assert client(tok).get("/v1/reports?cursor=abc").status_code == 400


@pytest.mark.parametrize("body,field", [
    ({"period": "2025"}, "kind"),
    ({"kind": "census", "period": "2025"}, "kind"),
    ({"kind": "clients"}, "period"),
    ({"kind": "clients", "period": "2025-Q5"}, "period"),
    ({"kind": "clients", "period": "1999"}, "period"),
    ({"kind": "clients", "period": {"from": "2025-05-01", "to": "2025-04-01"}}, "period"),
    ({"kind": "clients", "period": {"from": "2025-02-30", "to": "2025-04-01"}}, "period"),
    ({"kind": "clients", "period": "2025", "group_by": "urgency"}, "group_by"),
    ({"kind": "partners", "period": "2025", "group_by": "gender"}, "group_by"),
    ({"kind": "clients", "period": "2025", "filters": {"urgency": ["routine"]}},
     "filters.urgency"),
    ({"kind": "clients", "period": "2025", "filters": {"gender": ["x"]}}, "filters.gender[0]"),
    ({"kind": "clients", "period": "2025", "filters": {"organization": ["nope"]}},
     "filters.organization[0]"),
    ({"kind": "clients", "period": "2025", "filters": {"jurisdiction": []}},
     "filters.jurisdiction"),
    ({"kind": "clients", "period": "2025", "filters": []}, "filters"),
    ({"kind": "clients", "period": "2025", "include_clients": True}, "include_clients"),
    ({"kind": "clients", "period": "2025", "extra": 1}, "extra"),
])
def test_bad_requests_are_422_naming_the_field(client, world, body, field):
    r = client(world["tokens"]["analyst"]).post("/v1/reports", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_unknown_report_is_404(client, world):
    r = client(world["tokens"]["analyst"]).get(f"/v1/reports/{uuid.uuid4()}")
    assert r.status_code == 404


def test_a_report_over_the_statement_timeout_is_failed_with_a_reason(client, world, db):
    """A report whose query runs into CONCORD_REPORT_TIMEOUT_S ends failed
    with a reason (not running, not retried): a second worker with a 1 s
    timeout builds it while the stack's worker is stopped, and an admin
    transaction holds the table the kind reads (ACCESS EXCLUSIVE), so the
    query waits deterministically until the timeout cancels it."""
    import os
    import signal
    import subprocess

    import psycopg2

    from test_worker import stack_worker_pid

    worker_bin = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
    main = stack_worker_pid()
    if not worker_bin or main is None or not os.environ.get("CONCORD_ADMIN_DATABASE_URL"):
        pytest.skip("needs the worker of `make test`")
    tok = world["tokens"]["analyst"]
    lock = psycopg2.connect(os.environ["CONCORD_ADMIN_DATABASE_URL"])
    os.kill(main, signal.SIGSTOP)
    w = None
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE investigations IN ACCESS EXCLUSIVE MODE")
        w = subprocess.Popen([worker_bin], env=dict(
            os.environ, CONCORD_WORKER_HEARTBEAT="", CONCORD_REPORT_TIMEOUT_S="1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = client(tok).post("/v1/reports", json={
            "kind": "criminal_justice", "period": PERIOD,
            "filters": {"jurisdiction": [world["j"]]}})
        assert r.status_code == 202, r.text
        doc = wait(client, tok, r.headers["location"], timeout=30)
    finally:
        lock.rollback()
        lock.close()
        os.kill(main, signal.SIGCONT)
        if w is not None:
            w.terminate()
            w.wait(timeout=30)
    assert doc["status"] == "failed", doc
    assert "longer than 1 s" in doc["reason"] and "result" not in doc
    assert doc["finished_at"] is not None
    with db.cursor() as cur:
        cur.execute("SELECT status FROM reports WHERE id = %s", (doc["id"],))
        assert cur.fetchone()[0] == "failed"
        cur.execute("SELECT state, result->>'failed' FROM jobs WHERE kind = "
                    "'report.build' AND payload->>'report_id' = %s", (doc["id"],))
        state, failed = cur.fetchone()
    assert state == "done" and failed == "57014"


def test_a_report_over_the_suppression_budget_is_failed_with_a_reason(client, world, db):
    """Suppression runs within CONCORD_REPORT_SUPPRESS_SECONDS of CPU: a
    second worker with a budget of 0 s (while the stack's worker is
    stopped) stops the suppression of a table with small cells and fails
    the report with a reason, once."""
    import os
    import signal
    import subprocess

    from test_worker import stack_worker_pid

    worker_bin = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
    main = stack_worker_pid()
    if not worker_bin or main is None:
        pytest.skip("needs the worker of `make test`")
    tok = world["tokens"]["analyst"]
    os.kill(main, signal.SIGSTOP)
    w = None
    try:
        w = subprocess.Popen([worker_bin], env=dict(
            os.environ, CONCORD_WORKER_HEARTBEAT="", CONCORD_REPORT_SUPPRESS_SECONDS="0"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = client(tok).post("/v1/reports", json={
            "kind": "clients", "period": PERIOD, "group_by": "jurisdiction",
            "filters": {"jurisdiction": [world["j"]]}})
        assert r.status_code == 202, r.text
        doc = wait(client, tok, r.headers["location"], timeout=30)
    finally:
        os.kill(main, signal.SIGCONT)
        if w is not None:
            w.terminate()
            w.wait(timeout=30)
    assert doc["status"] == "failed", doc
    assert "Suppressing small counts took longer than 0 s" in doc["reason"]
    assert "result" not in doc and doc["finished_at"] is not None
    with db.cursor() as cur:
        cur.execute("SELECT state, result->>'failed' FROM jobs WHERE kind = "
                    "'report.build' AND payload->>'report_id' = %s", (doc["id"],))
        assert cur.fetchone() == ("done", "suppression")
    # The stack's own worker (default budget) builds the same report.
    doc = build(client, tok, {
        "kind": "clients", "period": PERIOD, "group_by": "jurisdiction",
        "filters": {"jurisdiction": [world["j"]]}})
    assert doc["status"] == "done"


def test_referral_need_facts_match_the_offers_after_every_flow(client, world, db):
    """The referrals report reads report_referral_need_facts, kept by
    triggers on referrals, referral_needs and referral_offers: after the
    referral flows of the tests so far (offers made, accepted, declined,
    expired, withdrawn, needs completed), every row equals a fresh
    computation from the tables and every referral need has one."""
    build(client, world["tokens"]["analyst"], {"kind": "referrals", "period": PERIOD})
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referral_offers")
        assert cur.fetchone()[0] > 0
        cur.execute("BEGIN")
        try:
            cur.execute("CREATE TEMP TABLE kept ON COMMIT DROP AS "
                        "SELECT * FROM report_referral_need_facts")
            cur.execute("SELECT store.report_need_facts_refresh("
                        "array_agg(DISTINCT referral_id)) FROM referral_needs")
            cur.execute("SELECT (SELECT count(*) FROM (SELECT * FROM kept EXCEPT "
                        "SELECT * FROM report_referral_need_facts) a), "
                        "(SELECT count(*) FROM (SELECT * FROM report_referral_need_facts "
                        "EXCEPT SELECT * FROM kept) b), "
                        "(SELECT count(*) FROM referral_needs n WHERE NOT EXISTS ("
                        "SELECT 1 FROM kept k WHERE k.need_id = n.id)), "
                        "(SELECT count(*) FROM kept WHERE offers > 0)")
            stale, missing, absent, with_offers = cur.fetchone()
        finally:
            cur.execute("ROLLBACK")
    assert (stale, missing, absent) == (0, 0, 0)
    assert with_offers > 0
