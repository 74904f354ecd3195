"""Service logs: one JSON line per request with the documented fields,
never the personal data or the token a request carried. Each test reads
the lines of its own requests (found by request id); conftest's
service_logs_are_clean checks the whole logs once every test ran."""
import json
import os
import uuid

import pytest

from conftest import LOG_REQUEST_FIELDS, STATE, Client, mint
from test_cases_kit import Party, case_body


def log_text(name):
    path = os.path.join(STATE, name)
    if not STATE or not os.path.exists(path):
        pytest.skip("service logs are files only under `make test` "
                    "(CONCORD_TEST_STATE)")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def request_lines(request_id):
    """The API's request lines for one request id."""
    return [l for l in (json.loads(t) for t in log_text("api.log").splitlines()
                        if t.startswith("{") and request_id in t)
            if l.get("msg") == "request" and l.get("request_id") == request_id]


def new_request_id():
    return "logs-" + uuid.uuid4().hex


def test_request_line_carries_the_documented_fields(make_org):
    org = make_org(kind="ngo")
    rid = new_request_id()
    r = Client(mint(["provider"], org=org)).get(
        "/v1/me", headers={"X-Request-Id": rid})
    assert r.status_code == 200, r.text
    [line] = request_lines(rid)
    assert LOG_REQUEST_FIELDS | {"org"} <= set(line), line
    assert (line["level"], line["component"], line["method"], line["route"],
            line["status"], line["org"]) == ("info", "api", "GET", "/v1/me",
                                             200, org)
    rid = new_request_id()
    assert Client().get("/livez", headers={"X-Request-Id": rid}).status_code == 200
    [line] = request_lines(rid)
    assert LOG_REQUEST_FIELDS <= set(line) and "org" not in line, line


def test_personal_data_of_a_new_case_is_not_logged(make_org):
    lead = Party(make_org, "victim_services", "case_manager")
    tag = uuid.uuid4().hex[:10]
    name, phone = f"Logcheck Person {tag}", f"+1-555-{tag}"
    address = f"{tag} Quiet Street"
    rid = new_request_id()
    body = case_body(identity={"legal_name": name}, contact={"phone": phone},
                     location={"address": address})
    r = lead.c.post("/v1/cases", headers={"X-Request-Id": rid}, json=body)
    assert r.status_code == 201, r.text
    [line] = request_lines(rid)
    assert line["status"] == 201 and line["org"] == lead.org, line
    for name_ in ("api.log", "worker.log"):
        text = log_text(name_)
        for value in (name, phone, address, lead.token):
            assert value not in text, f"{value!r} found in {name_}"


def test_a_rejected_token_is_not_logged(make_org):
    token = mint(["provider"], org=make_org(kind="ngo"), key="x" * 40)
    rid = new_request_id()
    r = Client(token).get("/v1/me", headers={"X-Request-Id": rid})
    assert r.status_code == 401, r.text
    [line] = request_lines(rid)
    assert line["status"] == 401 and "org" not in line, line
    text = log_text("api.log")
    assert token not in text and token.split(".")[2] not in text
