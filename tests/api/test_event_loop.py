"""Nothing on the request path blocks a Kore worker's event loop.

A paused Redis (SIGSTOP: its sockets stay open, nothing answers) must not
slow requests, although every committed referral sends a wake-up and
/readyz reports Redis: the API's Redis link is non-blocking and a signal
that cannot be sent is dropped (the worker's polling finds the job).

A saturated PostgreSQL pool queues requests first come, first served,
and a request that waited longer than CONCORD_DB_QUEUE_TIMEOUT_MS answers
503 with Retry-After. That test starts a second API with a pool of two."""
import concurrent.futures
import datetime
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import BASE, ROOT, mint

STATE = os.environ.get("CONCORD_TEST_STATE", "")

pytestmark = pytest.mark.skipif(
    not (STATE and os.path.exists(os.path.join(STATE, "redis.pid"))),
    reason="needs the private stack of `make test` (CONCORD_TEST_STATE)")

LAT, LON = -48.0, -125.0      # an empty stretch of the South Pacific
NEED = "victim_advocacy"
FAST = 0.1                    # seconds: a request that never waits on Redis


@pytest.fixture(scope="module")
def sender(make_org):
    return mint(["hotline"], org=make_org(kind="other"))


@pytest.fixture(scope="module", autouse=True)
def service(db, make_org):
    """One provider that takes every referral of this module."""
    org = make_org(kind="victim_services")
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO services (organization_id, name, needs, need_cover, languages, "
            "lang_match, area_lat, area_lon, area_radius_km, site_lat, site_lon, open_24_7) "
            "VALUES (%s, 'pacific shelter', %s, directory.need_cover(%s), '{en}', '{en}', "
            "%s, %s, 100, %s, %s, true) RETURNING id",
            (org, [NEED], [NEED], LAT, LON, LAT, LON))
        return str(cur.fetchone()[0])


def referral():
    return {"client": {"age": 30, "languages": ["en"], "location": {"lat": LAT, "lon": LON}},
            "needs": [NEED], "urgency": "urgent",
            "consent": {"categories": ["needs"], "form_reference": "F",
                        "informed": True, "written": True,
                        "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=1)).isoformat()}}


def timed(session, method, url, **kw):
    t = time.monotonic()
    r = session.request(method, url, timeout=10, **kw)
    return r, time.monotonic() - t


def redis_pid():
    with open(os.path.join(STATE, "redis.pid")) as f:
        return int(f.read().strip())


def processed(db, ids):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE id = ANY(%s::uuid[]) AND "
                    "status NOT IN ('received', 'matching')", (ids,))
        return cur.fetchone()[0]


def test_paused_redis_slows_no_request_and_referrals_are_matched_after(db, sender, tokens):
    s = requests.Session()
    auth = {"Authorization": "Bearer " + sender}
    me = {"Authorization": "Bearer " + tokens["admin"]}
    # Warm up: pooled connections and the Redis link exist before the pause.
    for _ in range(4):
        assert s.get(BASE + "/v1/me", headers=me, timeout=10).status_code == 200
    r = s.post(BASE + "/v1/referrals", json=referral(), timeout=10,
               headers=dict(auth, **{"Idempotency-Key": uuid.uuid4().hex}))
    assert r.status_code == 201, r.text

    pid = redis_pid()
    ids, slow, stop = [], [], threading.Event()

    def probe_readyz():
        # Orchestrators keep probing while Redis hangs; that must not
        # stall anyone else either.
        ps = requests.Session()
        while not stop.is_set():
            ps.get(BASE + "/readyz", timeout=10)
            time.sleep(0.05)

    os.kill(pid, signal.SIGSTOP)
    try:
        prober = threading.Thread(target=probe_readyz)
        prober.start()
        try:
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:
                r, d = timed(s, "POST", BASE + "/v1/referrals", json=referral(),
                             headers=dict(auth, **{"Idempotency-Key": uuid.uuid4().hex}))
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
                if d >= FAST:
                    slow.append(("POST", round(d, 3)))
                r, d = timed(s, "GET", BASE + "/v1/me", headers=me)
                assert r.status_code == 200, r.text
                if d >= FAST:
                    slow.append(("GET", round(d, 3)))
                time.sleep(0.05)
            # Redis is known to hang by now: readiness says so, quickly,
            # and stays 200 (the API serves; jobs wait in PostgreSQL).
            r, d = timed(s, "GET", BASE + "/readyz")
            assert r.status_code == 200 and r.json()["checks"]["redis"] == "unreachable"
            assert r.json()["status"] == "degraded"
            assert d < 1.0, d
        finally:
            stop.set()
            prober.join()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert not slow, f"{len(slow)} of {2 * len(ids)} requests took {FAST}s or more: {slow}"
    assert len(ids) >= 10

    # The worker finds every job by polling (or by the wake-ups after).
    deadline = time.time() + 15
    while processed(db, ids) < len(ids) and time.time() < deadline:
        time.sleep(0.2)
    assert processed(db, ids) == len(ids)
    # The link heals by itself: readiness is back within a few seconds.
    deadline = time.time() + 10
    while s.get(BASE + "/readyz", timeout=10).json().get("status") != "ready":
        assert time.time() < deadline, "Redis link did not come back"
        time.sleep(0.1)


# ------------------------------------------------ PostgreSQL pool overload

POOL_TIMEOUT_MS = 2000


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


@pytest.fixture(scope="module")
def small_api():
    """A second API on the same database: one worker, two connections."""
    port = free_port()
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
               CONCORD_DB_POOL="2", CONCORD_DB_QUEUE_TIMEOUT_MS=str(POOL_TIMEOUT_MS),
               CONCORD_DEBUG_ROUTES="1")
    log = open(os.path.join(STATE, "api-small.log"), "w")
    p = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT,
                         env=env, stdout=log, stderr=subprocess.STDOUT)
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
        yield base
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def sleep_req(base, token, ms, delay):
    """After delay seconds, GET the debug sleep route; returns
    (status, retry-after, sent at, answered at, problem type)."""
    time.sleep(delay)
    t = time.monotonic()
    r = requests.get(f"{base}/v1/admin/debug/sleep?ms={ms}",
                     headers={"Authorization": "Bearer " + token}, timeout=30)
    answered, ptype = time.monotonic(), None
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == r.status_code
        ptype = r.json()["type"]
    return r.status_code, r.headers.get("retry-after"), t, answered, ptype


def test_pool_waiters_are_served_first_come_first_served(small_api, tokens):
    admin = tokens["admin"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
        # Two holders take both connections for 800 ms; six more queue up
        # 60 ms apart, each sleeping 100 ms longer than the one before, so
        # first come, first served means they also finish in order (at
        # least 100 ms apart), every one within the wait bound.
        holders = [ex.submit(sleep_req, small_api, admin, 800, 0) for _ in range(2)]
        queued = [ex.submit(sleep_req, small_api, admin, 150 + 100 * i, 0.2 + 0.06 * i)
                  for i in range(6)]
        hres = [f.result() for f in holders]
        qres = [f.result() for f in queued]
    assert [h[0] for h in hres] == [200, 200]
    assert [q[0] for q in qres] == [200] * 6, qres
    done = [q[3] for q in qres]
    assert done == sorted(done), "queued requests were not served in arrival order"


def test_pool_wait_is_bounded_with_503_and_retry_after(small_api, tokens):
    admin = tokens["admin"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        holders = [ex.submit(sleep_req, small_api, admin, 3500, 0) for _ in range(2)]
        over = [ex.submit(sleep_req, small_api, admin, 10, 0.3 + 0.05 * i) for i in range(3)]
        ores = [f.result() for f in over]
        hres = [f.result() for f in holders]
    assert [h[0] for h in hres] == [200, 200]
    for status, retry, sent, answered, ptype in ores:
        assert status == 503 and retry == "1", (status, retry)
        assert ptype == "urn:concord:problem:overloaded"
        waited = answered - sent
        # Answered once the bound passed, well before a connection freed.
        assert POOL_TIMEOUT_MS / 1000 - 0.05 <= waited < POOL_TIMEOUT_MS / 1000 + 0.9, waited
    # Once the pool is free again requests are served at once.
    assert sleep_req(small_api, admin, 10, 0)[0] == 200


def test_pool_waits_and_timeouts_are_in_the_metrics(small_api, tokens):
    """The waits and 503s of the two tests above show in /metrics, and
    the pool's gauges while two requests hold both connections."""
    token = os.environ.get("CONCORD_METRICS_TOKEN", "")
    if not token:
        pytest.skip("CONCORD_METRICS_TOKEN is not set")
    auth = {"Authorization": "Bearer " + token}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        holders = [ex.submit(sleep_req, small_api, tokens["admin"], 2500, 0) for _ in range(2)]
        waiter = ex.submit(sleep_req, small_api, tokens["admin"], 10, 0.3)
        time.sleep(1.6)
        text = requests.get(small_api + "/metrics", headers=auth, timeout=10).text
        assert [h.result()[0] for h in holders] == [200, 200]
        waiter.result()
    assert '\nconcord_db_pool_connections{state="in_use"} 2\n' in text, text[-1500:]
    assert '\nconcord_db_pool_connections{state="max"} 2\n' in text
    assert "\nconcord_db_pool_waiting_requests 1\n" in text
    text = requests.get(small_api + "/metrics", headers=auth, timeout=10).text
    waits = int(re.search(r"\nconcord_db_pool_waits_total (\d+)\n", text).group(1))
    timeouts = int(re.search(r"\nconcord_db_pool_wait_timeouts_total (\d+)\n", text).group(1))
    assert waits >= 9 and timeouts >= 3, (waits, timeouts)
