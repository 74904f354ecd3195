"""A graceful stop: on SIGTERM the API stops being ready (/readyz 503),
finishes the requests in flight (bounded by CONCORD_DRAIN_SECONDS), then
exits. Each test starts its own API (Kore with the module) on the stack's
database and sends the signal to Kore's parent process, as an
orchestrator does."""
import concurrent.futures
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import ROOT, STATE, mint


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def start_api(name, **env):
    port = free_port()
    e = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_DB_POOL="4",
             CONCORD_DEBUG_ROUTES="1", **env)
    log = open(os.path.join(STATE or "/tmp", f"api-{name}.log"), "w")
    p = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT, env=e,
                         stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert p.poll() is None and time.time() < deadline, f"API {name} did not start"
        time.sleep(0.1)
    return p, base, log


def slow(base, ms):
    t = time.monotonic()
    r = requests.get(f"{base}/v1/admin/debug/sleep?ms={ms}", timeout=30,
                     headers={"Authorization": "Bearer " + mint(["admin"])})
    return r, time.monotonic() - t


def stop(p, log):
    if p.poll() is None:
        p.kill()
        p.wait()
    log.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_the_request_in_flight_and_stops_being_ready(workers):
    p, base, log = start_api(f"drain-{workers}", CONCORD_WORKERS=workers,
                             CONCORD_DRAIN_SECONDS="20")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            fut = ex.submit(slow, base, 2500)
            time.sleep(0.5)
            t_sig = time.monotonic()
            p.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # Not ready any more, while the slow request is still running.
            r = requests.get(base + "/readyz", timeout=5)
            assert r.status_code == 503, r.text
            assert r.json()["type"] == "urn:concord:problem:not-ready"
            assert "shutting down" in r.json()["detail"]
            assert not fut.done()
            resp, took = fut.result()
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"slept_ms": 2500}
        # Then the process exits by itself, well before the drain bound.
        assert p.wait(timeout=10) == 0
        assert time.monotonic() - t_sig < 8
    finally:
        stop(p, log)


def test_an_idle_api_exits_at_once_on_sigterm():
    p, base, log = start_api("drain-idle", CONCORD_WORKERS="2", CONCORD_DRAIN_SECONDS="20")
    try:
        t = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        assert time.monotonic() - t < 3
    finally:
        stop(p, log)


def test_the_drain_is_bounded_by_drain_seconds():
    p, base, log = start_api("drain-bound", CONCORD_WORKERS="1", CONCORD_DRAIN_SECONDS="1")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
            fut = ex.submit(slow, base, 5000)
            time.sleep(0.5)
            t = time.monotonic()
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=10) == 0
            assert time.monotonic() - t < 3.5
            with pytest.raises(requests.RequestException):
                fut.result()
    finally:
        stop(p, log)
