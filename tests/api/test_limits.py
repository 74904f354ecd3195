"""Limits a client can reach are answered, never silently applied: a
request whose head reaches the header-field limit is refused with 431
instead of being processed without some of its headers, and thousands of
idle sockets do not slow real requests."""
import resource
import socket
import statistics
import time
from urllib.parse import urlparse

import requests

from conftest import BASE, mint


def test_too_many_header_fields_is_431_not_a_silent_drop(tokens):
    headers = {f"X-Extra-{i}": "x" for i in range(30)}
    headers["Authorization"] = "Bearer " + tokens["admin"]
    r = requests.get(BASE + "/v1/me", headers=headers, timeout=10)
    assert r.status_code == 431, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:concord:problem:header-fields-too-large"


def test_header_count_just_below_the_limit_is_served(tokens):
    # requests adds Host, User-Agent, Accept-Encoding, Accept, Connection.
    headers = {f"X-Extra-{i}": "x" for i in range(16)}
    headers["Authorization"] = "Bearer " + tokens["admin"]
    r = requests.get(BASE + "/v1/me", headers=headers, timeout=10)
    assert r.status_code == 200, r.text


def test_thousands_of_idle_sockets_leave_requests_fast(tokens):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2300
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    u = urlparse(BASE)
    idle = []
    try:
        for _ in range(2000):
            s = socket.create_connection((u.hostname, u.port), timeout=5)
            idle.append(s)
        time.sleep(0.5)
        hdr = {"Authorization": "Bearer " + mint(["admin"])}
        times = []
        for _ in range(40):
            t0 = time.monotonic()
            # A new connection each time, as new clients arrive.
            r = requests.get(BASE + "/v1/me", headers=hdr, timeout=15)
            times.append(time.monotonic() - t0)
            assert r.status_code == 200
        times.sort()
        assert times[-1] < 1.0, times
        assert statistics.median(times) < 0.1, times
    finally:
        for s in idle:
            s.close()
