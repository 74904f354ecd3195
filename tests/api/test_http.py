"""HTTP as clients expect it: CORS for the origins in CONCORD_CORS_ORIGINS
(the suite's stack allows https://app.example.org), every Location of a
201 answers GET, If-None-Match gives 304 on every resource with an ETag,
ETags are opaque and never shared between records, and every response
carries the security headers."""
import re

import pytest
import requests

from conftest import BASE, SECURITY_HEADERS, SPEC, Client, etag, mint
from test_cases_kit import Party, add_need, add_task, case_body, grant, iso, new_case
from test_directory import svc

ORIGIN = "https://app.example.org"
EVIL = "https://evil.example.net"
ZERO = "00000000-0000-4000-8000-000000000000"
TAG = re.compile(r'^"[0-9a-f]{32}"$')


@pytest.fixture(scope="module")
def p(make_org):
    return {"lead": Party(make_org, "victim_services", "case_manager"),
            "clinic": Party(make_org, "health", "provider"),
            "other": Party(make_org, "ngo", "case_manager"),
            "police": Party(make_org, "law_enforcement", "investigator"),
            "stranger": Party(make_org, "law_enforcement", "investigator"),
            "coord": Party(make_org, "government", "coordinator")}


def preflight(path, origin=ORIGIN, method="GET"):
    return requests.options(BASE + path, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, if-match"})


# ------------------------------------------------------------------ CORS

def test_preflight_for_an_allowed_origin_lists_the_routes_methods():
    r = preflight(f"/v1/cases/{ZERO}", method="PATCH")
    assert r.status_code == 204 and r.content == b""
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, HEAD, PATCH"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert allowed == {"authorization", "content-type", "if-match", "if-none-match",
                       "idempotency-key", "x-request-id"}
    assert int(r.headers["access-control-max-age"]) > 0
    assert "Origin" in r.headers["vary"]
    assert "x-request-id" in r.headers
    r = preflight("/v1/referrals", method="POST")
    assert r.headers["access-control-allow-methods"] == "GET, HEAD, POST"


def test_preflight_from_a_refused_origin_is_403_without_cors_headers():
    r = preflight("/v1/cases", origin=EVIL)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:concord:problem:cors-origin-refused"
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    # Origins match exactly: another scheme or port is another origin.
    assert preflight("/v1/cases", origin="http://app.example.org").status_code == 403
    assert preflight("/v1/cases", origin=ORIGIN + ":8443").status_code == 403


def test_preflight_on_an_unknown_path_is_404_and_plain_options_405():
    assert preflight("/v1/nowhere").status_code == 404
    r = requests.options(BASE + "/v1/cases", timeout=10)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


def test_actual_responses_echo_an_allowed_origin_only(tokens):
    c = Client(tokens["coordinator"])
    r = c.get("/v1/cases?limit=1", headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["vary"] == "Origin"
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"etag", "location", "x-request-id", "retry-after", "ratelimit",
                       "ratelimit-policy"}
    assert "access-control-allow-credentials" not in r.headers
    # Problems too: a browser app must read why it failed.
    r = Client(None).get("/v1/cases", headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    r = c.get("/v1/cases?limit=1", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-expose-headers" not in r.headers
    assert r.headers["vary"] == "Origin"


def test_cors_is_outside_the_route_table_and_documented(tokens):
    routes = Client(tokens["admin"]).get("/v1/admin/routes").json()["items"]
    assert "OPTIONS" not in {r["method"] for r in routes}
    assert "cors-origin-refused" in SPEC["x-cors-preflight"]["description"]


# -------------------------------------------------------- security headers

@pytest.mark.parametrize("method,path,auth", [
    ("GET", "/v1/me", True), ("GET", "/v1/cases", False), ("GET", "/livez", False),
    ("GET", "/openapi.yaml", False), ("GET", "/v1/nowhere", True),
    ("DELETE", "/v1/cases", True), ("GET", "/v1/taxonomy/needs", True)])
def test_every_response_carries_the_security_headers(tokens, method, path, auth):
    r = Client(tokens["admin"] if auth else None).request(method, path)
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (path, k, r.headers.get(k))


# ---------------------------------------------------------- Location → GET

def created(r):
    assert r.status_code == 201, r.text
    assert r.headers["location"].startswith("/v1/"), r.headers
    return r.headers["location"]


def test_every_location_of_a_201_answers_get(p, tokens, make_org):
    lead, coord = p["lead"], p["coord"]
    admin = Client(tokens["admin"])
    loc = created(admin.post("/v1/organizations", json={"name": "Loc Org", "kind": "ngo"}))
    assert admin.get(loc).status_code == 200
    home = make_org(kind="victim_services")
    prov = Client(mint(["provider"], org=home))
    loc = created(prov.post(f"/v1/organizations/{home}/services", json=svc()))
    assert prov.get(loc).status_code == 200

    case_loc = created(lead.c.post("/v1/cases", json=case_body()))
    cid = case_loc.rsplit("/", 1)[1]
    need = lead.c.post(f"/v1/cases/{cid}/needs", json={"code": "food"})
    task = lead.c.post(f"/v1/cases/{cid}/tasks", json={
        "title": "Call", "kind": "follow_up", "due_at": iso(3), "assigned_org_id": p["clinic"].org})
    consent = lead.c.post(f"/v1/cases/{cid}/consents", json={
        "categories": ["case_details"], "purpose": "coordination", "informed": True,
        "written": True, "form_ref": "F-1", "expires_at": iso(30),
        "shared_with_kind": "law_enforcement"})
    transfer = lead.c.post(f"/v1/cases/{cid}/transfer", json={"to_org_id": p["other"].org})
    for r in (need, task, consent, transfer):
        loc = created(r)
        g = lead.c.get(loc)
        assert g.status_code == 200, (loc, g.text)
        assert g.json()["id"] == r.json()["id"], loc
        if "etag" in r.headers:
            assert g.headers["etag"] == r.headers["etag"], loc
    assert created(transfer) == f"/v1/cases/{cid}/transfer"

    inv = p["police"].c.post("/v1/investigations", json={
        "title": "Op Location", "jurisdictions": ["06037"]})
    inv_loc = created(inv)
    assert p["police"].c.get(inv_loc).status_code == 200
    link = p["police"].c.post(inv_loc + "/cases", json={"case_id": cid})
    loc = created(link)
    assert loc == f"{inv_loc}/cases/{cid}"
    g = p["police"].c.get(loc)
    assert g.status_code == 200 and g.json() == link.json()
    assert coord.c.get(loc).status_code == 200
    # Same visibility as the list: an agency not on it gets 404.
    assert p["stranger"].c.get(loc).status_code == 404
    assert p["police"].c.get(f"{inv_loc}/cases/{ZERO}").status_code == 404


def test_every_documented_201_has_a_location_header():
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict) or "201" not in op.get("responses", {}):
                continue
            headers = op["responses"]["201"].get("headers", {})
            assert "Location" in headers, (method, path)


def test_single_task_and_consent_follow_the_list_privacy(p):
    lead, clinic, other = p["lead"], p["clinic"], p["other"]
    case = new_case(lead)
    mine = add_task(lead, case["id"], clinic.org)
    theirs = add_task(lead, case["id"], lead.org)
    base = f"/v1/cases/{case['id']}"
    assert clinic.c.get(f"{base}/tasks/{mine['id']}").status_code == 200
    assert clinic.c.get(f"{base}/tasks/{theirs['id']}").status_code == 404
    assert lead.c.get(f"{base}/tasks/{theirs['id']}").status_code == 200
    assert p["coord"].c.get(f"{base}/tasks/{theirs['id']}").status_code == 200
    assert other.c.get(f"{base}/tasks/{mine['id']}").status_code == 404
    assert lead.c.get(f"{base}/tasks/{ZERO}").status_code == 404

    named = grant(lead, case["id"], ["case_details"], org=clinic.org)
    police = grant(lead, case["id"], ["case_details"], kind="law_enforcement")
    assert clinic.c.get(f"{base}/consents/{named['id']}").status_code == 200
    assert clinic.c.get(f"{base}/consents/{police['id']}").status_code == 404
    assert lead.c.get(f"{base}/consents/{police['id']}").json()["state"] == "active"
    assert p["coord"].c.get(f"{base}/consents/{named['id']}").status_code == 200
    assert other.c.get(f"{base}/consents/{named['id']}").status_code == 404

    # A need is read by whoever reads the case's needs category.
    need = add_need(lead, case["id"], "food")
    assert lead.c.get(f"{base}/needs/{need['id']}").status_code == 200
    assert other.c.get(f"{base}/needs/{need['id']}").status_code == 404


def test_the_transfer_is_read_by_its_parties_only(p):
    lead, other, clinic = p["lead"], p["other"], p["clinic"]
    case = new_case(lead)
    url = f"/v1/cases/{case['id']}/transfer"
    assert lead.c.get(url).status_code == 404
    add_task(lead, case["id"], clinic.org)
    lead.c.post(url, json={"to_org_id": other.org})
    assert other.c.get(url).json()["status"] == "pending"
    # Sees the case through its task, but is no party to the transfer.
    assert clinic.c.get(f"/v1/cases/{case['id']}").status_code == 200
    assert clinic.c.get(url).status_code == 404
    assert other.c.post(url + "/decline").status_code == 200
    assert lead.c.get(url).json()["status"] == "declined"
    assert other.c.get(url).status_code == 404


# ----------------------------------------------------------- ETags and 304

def assert_conditional(c, url):
    """GET url, then the same with If-None-Match: 304, empty, same tag."""
    r = c.get(url)
    assert r.status_code == 200, (url, r.text)
    tag = r.headers["etag"]
    for inm in (tag, "W/" + tag, f'"nope", {tag}', "*"):
        n = c.get(url, headers={"If-None-Match": inm})
        assert n.status_code == 304, (url, inm, n.status_code)
        assert n.content == b"" and n.headers["etag"] == tag
        assert "content-length" not in n.headers
        assert n.headers["cache-control"] == "no-store"
    n = c.get(url, headers={"If-None-Match": '"' + "0" * 32 + '"'})
    assert n.status_code == 200 and n.json() == r.json()
    return tag


def test_every_resource_with_an_etag_answers_304(p, tokens, make_org):
    lead, police = p["lead"], p["police"]
    case = new_case(lead)
    base = f"/v1/cases/{case['id']}"
    need = add_need(lead, case["id"], "food")
    task = add_task(lead, case["id"], p["clinic"].org)
    inv = police.c.post("/v1/investigations", json={"title": "Op 304",
                                                    "jurisdictions": ["06037"]}).json()
    home = make_org(kind="victim_services")
    prov = Client(mint(["provider"], org=home))
    service = prov.post(f"/v1/organizations/{home}/services", json=svc()).json()
    for c, url in ((lead.c, base), (lead.c, f"{base}/needs/{need['id']}"),
                   (lead.c, f"{base}/tasks/{task['id']}"),
                   (police.c, f"/v1/investigations/{inv['id']}"),
                   (prov, f"/v1/services/{service['id']}"), (prov, f"/v1/organizations/{home}"),
                   (prov, "/v1/taxonomy/needs")):
        assert_conditional(c, url)
    # HEAD is conditional too.
    tag = lead.c.get(base).headers["etag"]
    h = lead.c.request("HEAD", base, headers={"If-None-Match": tag}, validate=False)
    assert h.status_code == 304 and h.content == b""


def test_a_change_gives_200_and_a_new_etag(p):
    lead = p["lead"]
    case = new_case(lead)
    url = f"/v1/cases/{case['id']}"
    old = assert_conditional(lead.c, url)
    r = lead.c.patch(url, json={"jurisdiction": "06059"}, headers={"If-Match": old})
    assert r.status_code == 200 and r.headers["etag"] != old
    g = lead.c.get(url, headers={"If-None-Match": old})
    assert g.status_code == 200 and g.headers["etag"] == r.headers["etag"]
    assert g.json()["jurisdiction"] == "06059"
    # If-Match: the same tag, weak, in a list, or *; a stale one is 412.
    new = r.headers["etag"]
    assert lead.c.patch(url, json={"jurisdiction": "06037"},
                        headers={"If-Match": old}).status_code == 412
    r = lead.c.patch(url, json={"jurisdiction": "06037"}, headers={"If-Match": "W/" + new})
    assert r.status_code == 200
    r = lead.c.patch(url, json={"jurisdiction": "06059"},
                     headers={"If-Match": f'{old}, {r.headers["etag"]}'})
    assert r.status_code == 200
    assert lead.c.patch(url, json={"jurisdiction": "06037"},
                        headers={"If-Match": "*"}).status_code == 200
    # A bare version, the old spelling, names nothing any more.
    assert lead.c.patch(url, json={"jurisdiction": "06059"},
                        headers={"If-Match": '"5"'}).status_code == 412


def test_etags_are_opaque_and_never_shared(p, tokens):
    lead = p["lead"]
    a, b = new_case(lead), new_case(lead)
    ra = lead.c.get(f"/v1/cases/{a['id']}")
    rb = lead.c.get(f"/v1/cases/{b['id']}")
    assert a["version"] == b["version"] == 1
    assert TAG.match(ra.headers["etag"]) and TAG.match(rb.headers["etag"])
    assert ra.headers["etag"] != rb.headers["etag"]
    need = add_need(lead, a["id"], "food")
    task = add_task(lead, a["id"], lead.org)
    tags = {ra.headers["etag"],
            lead.c.get(f"/v1/cases/{a['id']}/needs/{need['id']}").headers["etag"],
            lead.c.get(f"/v1/cases/{a['id']}/tasks/{task['id']}").headers["etag"]}
    assert len(tags) == 3 and '"1"' not in tags
    # The tag the API sent is the one lib.etag spells (the tests' helper).
    assert ra.headers["etag"] == etag(f"/v1/cases/{a['id']}", 1)
    # A tag of one record does not pass If-Match on another.
    r = lead.c.patch(f"/v1/cases/{b['id']}", json={"jurisdiction": "06059"},
                     headers={"If-Match": ra.headers["etag"]})
    assert r.status_code == 412
