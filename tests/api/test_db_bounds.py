"""Every database wait of the API has a bound: a lock held elsewhere (a
migration, an admin transaction) or a statement running too long answers
503 busy with Retry-After within the bound, changes nothing, and leaves
unrelated routes fast."""
import concurrent.futures
import datetime
import os
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import ADMIN_DB, BASE, mint
from test_event_loop import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def referral_body():
    return {"client": {"age": 30, "languages": ["en"],
                       "location": {"lat": -47.0, "lon": -126.0}},
            "needs": ["victim_advocacy"], "urgency": "urgent",
            "consent": {"categories": ["needs"], "form_reference": "F", "informed": True,
                        "written": True,
                        "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=1)).isoformat()}}


def test_a_locked_table_answers_busy_within_the_bound_and_other_routes_stay_fast(
        make_org, db):
    hotline = mint(["hotline"], org=make_org(kind="other"))
    lock = psycopg2.connect(ADMIN_DB)
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE referrals IN ACCESS EXCLUSIVE MODE")

        def post(_):
            t0 = time.monotonic()
            r = requests.post(BASE + "/v1/referrals", json=referral_body(), timeout=30,
                              headers={"Authorization": "Bearer " + hotline,
                                       "Idempotency-Key": uuid.uuid4().hex})
            return r, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            posts = [ex.submit(post, i) for i in range(8)]
            time.sleep(0.3)
            t0 = time.monotonic()
            me = requests.get(BASE + "/v1/me", timeout=30,
                              headers={"Authorization": "Bearer " + hotline})
            me_took = time.monotonic() - t0
            results = [f.result() for f in posts]
        assert me.status_code == 200 and me_took < 1.0, me_took
        for r, took in results:
            assert r.status_code == 503, r.text
            assert r.json()["type"] == "urn:concord:problem:busy"
            assert r.headers.get("retry-after") == "1"
            assert took < 5.0, took
    finally:
        lock.rollback()
        lock.close()
    r = requests.post(BASE + "/v1/referrals", json=referral_body(), timeout=30,
                      headers={"Authorization": "Bearer " + hotline,
                               "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text


def test_a_statement_over_the_time_limit_answers_busy():
    """A second API whose statement limit is 300 ms: a 1 s statement is
    cut off and answered 503 busy."""
    import subprocess
    port = free_port()
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
               CONCORD_DB_POOL="2", CONCORD_DB_STATEMENT_TIMEOUT_MS="300",
               CONCORD_DEBUG_ROUTES="1")
    p = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(base + "/livez", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert p.poll() is None and time.time() < deadline, "second API did not start"
            time.sleep(0.1)
        admin = {"Authorization": "Bearer " + mint(["admin"])}
        t0 = time.monotonic()
        r = requests.get(base + "/v1/admin/debug/sleep?ms=1000", headers=admin, timeout=10)
        assert r.status_code == 503 and r.json()["type"] == "urn:concord:problem:busy", r.text
        assert time.monotonic() - t0 < 0.9
        assert requests.get(base + "/v1/admin/debug/sleep?ms=10", headers=admin,
                            timeout=10).status_code == 200
    finally:
        p.terminate()
        p.wait(timeout=15)
