"""Runs last (by name): nothing the suite sent as personal data or as a
token may appear in the API's or the worker's logs."""
import json
import os

import pytest

from test_cases_kit import ADDRESS, NAME, PHONE

STATE = os.environ.get("CONCORD_TEST_STATE", "")
SECRETS = [NAME, PHONE, ADDRESS, "rosa@example.org", "2009-05-04",
           "met at the bus station", "555-0100", "after 6pm", "eyJ"]


def logs():
    found = []
    for name in ("api.log", "worker.log"):
        path = os.path.join(STATE, name)
        if os.path.exists(path):
            found.append((name, open(path, encoding="utf-8", errors="replace").read()))
    if not found:
        pytest.skip("service logs are files only under `make test` (CONCORD_TEST_STATE)")
    return found


def test_logs_hold_no_personal_data_or_tokens():
    for name, text in logs():
        for s in SECRETS:
            assert s not in text, f"{s!r} found in {name}"


def test_request_log_lines_are_json_with_the_documented_fields():
    for name, text in logs():
        if name != "api.log":
            continue
        lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
        reqs = [l for l in lines if l.get("msg") == "request"]
        assert len(reqs) > 100
        for l in reqs:
            assert {"ts", "level", "msg", "request_id", "method", "route", "status",
                    "duration_ms"} <= set(l), l
