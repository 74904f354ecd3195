"""Nothing is lost when the worker, Redis or PostgreSQL dies. Each test
really kills or stops something: the worker with SIGKILL in the middle of
a batch, Redis while referrals arrive, PostgreSQL under load. It also
runs several workers at once and checks no referral is matched twice."""
import concurrent.futures
import datetime
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import BASE, ROOT, mint

STATE = os.environ.get("CONCORD_TEST_STATE", "")
WORKER = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
STACKCTL = os.path.join(ROOT, "deploy", "stackctl.sh")

pytestmark = pytest.mark.skipif(
    not (STATE and WORKER and os.path.exists(os.path.join(STATE, "stack.env"))),
    reason="needs the private stack of `make test` (CONCORD_TEST_STATE)")

LAT, LON = 12.5, -35.0        # an empty stretch of the Atlantic
NEED = "victim_advocacy"


def stackctl(action):
    subprocess.run([STACKCTL, action], check=True, env=dict(os.environ, STATE=STATE),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def start_worker():
    return subprocess.Popen([WORKER], env=dict(os.environ, CONCORD_WORKER_HEARTBEAT=""),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
    p.wait(timeout=30)


@pytest.fixture(scope="module")
def sender(make_org):
    return mint(["hotline"], org=make_org(kind="other"))


@pytest.fixture(scope="module", autouse=True)
def service(db, make_org):
    """One provider at sea that takes every referral of this module."""
    org = make_org(kind="victim_services")
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO services (organization_id, name, needs, need_cover, languages, "
            "lang_match, area_lat, area_lon, area_radius_km, site_lat, site_lon, open_24_7) "
            "VALUES (%s, 'sea shelter', %s, directory.need_cover(%s), '{en}', '{en}', "
            "%s, %s, 100, %s, %s, true) RETURNING id",
            (org, [NEED], [NEED], LAT, LON, LAT, LON))
        return str(cur.fetchone()[0])


def body():
    return {"client": {"age": 30, "languages": ["en"], "location": {"lat": LAT, "lon": LON}},
            "needs": [NEED], "urgency": "urgent",
            "consent": {"categories": ["needs"], "form_reference": "F",
                        "informed": True, "written": True,
                        "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=1)).isoformat()}}


def post_many(token, n, threads=16):
    """POST n referrals with retries on 503 (same key); returns their ids."""
    s = requests.Session()

    def one(_):
        key = uuid.uuid4().hex
        payload = body()              # a retry must send the very same body
        for _attempt in range(100):
            try:
                r = s.post(BASE + "/v1/referrals", json=payload, timeout=10,
                           headers={"Authorization": "Bearer " + token,
                                    "Idempotency-Key": key})
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if r.status_code == 201:
                return r.json()["id"]
            assert r.status_code == 503, r.text
            assert r.headers.get("retry-after")
            time.sleep(0.2)
        raise AssertionError("referral never accepted")

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(one, range(n)))


def matched_count(db, ids):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM referrals WHERE id = ANY(%s::uuid[]) AND "
                    "status NOT IN ('received', 'matching')", (ids,))
        return cur.fetchone()[0]


def wait_all_matched(db, ids, timeout):
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        try:
            n = matched_count(db, ids)
        except Exception:
            db.reconnect()
            time.sleep(0.2)
            continue
        if n == len(ids):
            return
        time.sleep(0.2)
    raise AssertionError(f"{n} of {len(ids)} matched after {timeout}s")


def assert_matched_exactly_once(db, ids):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE match_runs <> 1), "
                    "count(*) FILTER (WHERE status <> 'offered') FROM referrals "
                    "WHERE id = ANY(%s::uuid[])", (ids,))
        twice, not_offered = cur.fetchone()
        cur.execute("SELECT count(*) FROM (SELECT referral_id FROM referral_offers WHERE "
                    "referral_id = ANY(%s::uuid[]) GROUP BY referral_id HAVING count(*) <> 1) x",
                    (ids,))
        bad_offers = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT referral_need_id FROM referral_candidates c "
                    "JOIN referral_needs n ON n.id = c.referral_need_id WHERE n.referral_id = "
                    "ANY(%s::uuid[]) GROUP BY 1, c.service_id HAVING count(*) > 1) x", (ids,))
        dup_candidates = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM jobs WHERE kind = 'referral.match' AND "
                    "payload->>'referral_id' = ANY(%s) AND (state <> 'done' OR attempts <> 1)",
                    ([str(i) for i in ids],))
        odd_jobs = cur.fetchone()[0]
    assert (twice, not_offered, bad_offers, dup_candidates, odd_jobs) == (0, 0, 0, 0, 0)


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(db, sender):
    w1 = start_worker()
    try:
        ids = post_many(sender, 1000)
        # Let the batch get going, then kill -9 in the middle of it.
        deadline = time.time() + 60
        while matched_count(db, ids) < 100 and time.time() < deadline:
            time.sleep(0.02)
        done_before = matched_count(db, ids)
        os.kill(w1.pid, signal.SIGKILL)
        w1.wait(timeout=10)
        assert done_before < 1000, "the batch finished before the kill; nothing was proved"
        w2 = start_worker()
        try:
            wait_all_matched(db, ids, 120)
        finally:
            stop(w2)
    finally:
        if w1.poll() is None:
            w1.kill()
    assert_matched_exactly_once(db, ids)


def test_referrals_posted_while_redis_is_down_are_matched_after(db, sender, anon):
    stackctl("redis-stop")
    try:
        # Ready means "can serve": Redis down is degraded, not out.
        r = anon.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "degraded"
        assert r.json()["checks"]["redis"] == "unreachable"
        if os.environ.get("CONCORD_METRICS_TOKEN"):
            time.sleep(1.2)
            m = requests.get(BASE + "/metrics", timeout=10, headers={
                "Authorization": "Bearer " + os.environ["CONCORD_METRICS_TOKEN"]}).text
            assert "\nconcord_redis_up 0\n" in m
        t0 = time.time()
        ids = post_many(sender, 200)
        assert time.time() - t0 < 60
    finally:
        stackctl("redis-start")
    wait_all_matched(db, ids, 30)
    deadline = time.time() + 10
    while anon.get("/readyz").json()["status"] != "ready" and time.time() < deadline:
        time.sleep(0.3)
    r = anon.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    assert_matched_exactly_once(db, ids)


def test_parallel_workers_never_match_a_referral_twice(db, sender):
    workers = [start_worker() for _ in range(3)]
    try:
        ids = post_many(sender, 400)
        wait_all_matched(db, ids, 120)
    finally:
        for w in workers:
            stop(w)
    assert_matched_exactly_once(db, ids)


def test_postgres_restart_under_load_is_survived(db, sender):
    admin = mint(["admin"])
    seen = {"ok": 0, "503": 0, "other": []}
    stop_at = {"t": None}
    posted = []

    def load():
        s = requests.Session()
        while stop_at["t"] is None or time.time() < stop_at["t"]:
            try:
                r = s.get(BASE + "/v1/me", headers={"Authorization": "Bearer " + admin},
                          timeout=10)
            except requests.RequestException:
                seen["other"].append("connection")
                continue
            if r.status_code == 200:
                seen["ok"] += 1
            elif r.status_code == 503:
                assert r.headers.get("retry-after") == "1"
                assert r.headers["content-type"].startswith("application/problem+json")
                seen["503"] += 1
            else:
                seen["other"].append(r.status_code)
            time.sleep(0.005)

    def referrals():
        while stop_at["t"] is None or time.time() < stop_at["t"]:
            posted.extend(post_many(sender, 5, threads=5))

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        futs = [ex.submit(load) for _ in range(4)] + [ex.submit(referrals)]
        time.sleep(1.0)
        stackctl("pg-stop")
        time.sleep(2.0)
        stackctl("pg-start")
        db.reconnect()
        stop_at["t"] = time.time() + 5.0
        for f in futs:
            f.result()
    assert seen["503"] > 0, seen
    assert seen["other"] == [], seen["other"][:5]
    # The API is healthy again without any manual step.
    r = requests.get(BASE + "/v1/me", headers={"Authorization": "Bearer " + admin}, timeout=10)
    assert r.status_code == 200
    # Every referral the API accepted gets matched: the worker reconnected.
    wait_all_matched(db, posted, 60)
    assert_matched_exactly_once(db, posted)


def test_worker_once_drains_ready_jobs_and_exits(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind, payload, run_after) VALUES "
                    "('ping', '{\"once\": true}', now()) RETURNING id")
        job_id = cur.fetchone()[0]
    p = subprocess.run([WORKER, "--once"], env=dict(os.environ, CONCORD_WORKER_HEARTBEAT=""),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0
    with db.cursor() as cur:
        cur.execute("SELECT state FROM jobs WHERE id = %s", (job_id,))
        assert cur.fetchone()[0] == "done"


def test_worker_stops_cleanly_on_sigterm():
    w = start_worker()
    time.sleep(1.0)
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=15) == 0


def test_worker_rejects_unknown_arguments():
    p = subprocess.run([WORKER, "--bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert p.returncode == 2 and b"usage" in p.stderr
