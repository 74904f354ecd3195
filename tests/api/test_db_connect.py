"""Opening a database connection never blocks a Kore worker's event loop.

A stopped PostgreSQL postmaster (SIGSTOP) accepts TCP connections in the
kernel and then answers nothing, so a new connection neither succeeds
nor fails. While it is stopped, /livez of the same worker keeps
answering at once, and a request that needs a new connection answers
503 unavailable with Retry-After within CONCORD_DB_CONNECT_TIMEOUT_MS.
Everything works again once the postmaster resumes. A request whose
client goes away leaves its connection behind for the next one.

Each test starts a second API with one worker and two connections, none
of them open before the test."""
import concurrent.futures
import contextlib
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, mint
from test_event_loop import free_port

STATE = os.environ.get("CONCORD_TEST_STATE", "")
CONNECT_MS = 600
POOL = 2
FAST = 0.1                    # seconds: /livez never waits on anything

pytestmark = pytest.mark.skipif(
    not (STATE and os.path.exists(os.path.join(STATE, "stack.env"))),
    reason="needs the private stack of `make test` (CONCORD_TEST_STATE)")


def postmaster_pid():
    env = {}
    with open(os.path.join(STATE, "stack.env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v
    with open(os.path.join(env["PGDATA"], "postmaster.pid")) as f:
        return int(f.readline().strip())


@contextlib.contextmanager
def second_api(**extra):
    """A second API on the same database, started with no connection
    open: one worker, POOL connections, CONNECT_MS, and extra variables."""
    port = free_port()
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
               CONCORD_DB_POOL=str(POOL), CONCORD_DB_CONNECT_TIMEOUT_MS=str(CONNECT_MS),
               CONCORD_DEBUG_ROUTES="1", **extra)
    log = open(os.path.join(STATE, "api-connect.log"), "w")
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


@pytest.fixture
def small_api():
    with second_api() as base:
        yield base


def db_request(base, token, timeout=10):
    """GET /v1/me (one database round trip); returns (response, seconds)."""
    t = time.monotonic()
    r = requests.get(base + "/v1/me", headers={"Authorization": "Bearer " + token},
                     timeout=timeout)
    return r, time.monotonic() - t


def test_a_stopped_postmaster_never_stalls_livez_and_new_connections_answer_503(
        small_api):
    admin = mint(["admin"])
    pid = postmaster_pid()
    livez, stop = [], threading.Event()

    def probe():
        s = requests.Session()
        while not stop.is_set():
            t = time.monotonic()
            r = s.get(small_api + "/livez", timeout=10)
            livez.append((r.status_code, time.monotonic() - t))
            time.sleep(0.02)

    os.kill(pid, signal.SIGSTOP)
    try:
        prober = threading.Thread(target=probe)
        prober.start()
        try:
            # A client that gives up while its connection is being
            # opened; the attempt goes on and ends at its own bound.
            with pytest.raises(requests.Timeout):
                db_request(small_api, admin, timeout=0.2)
            time.sleep(CONNECT_MS / 1000)
            with concurrent.futures.ThreadPoolExecutor(max_workers=POOL + 1) as ex:
                # As many as the pool opens at once, then one more that
                # waits for a free slot and opens its own after them.
                first = [ex.submit(db_request, small_api, admin) for _ in range(POOL)]
                time.sleep(0.1)
                late = ex.submit(db_request, small_api, admin)
                results = [f.result() for f in first]
                late_r, late_took = late.result()
            again, again_took = db_request(small_api, admin)
        finally:
            stop.set()
            prober.join()
    finally:
        os.kill(pid, signal.SIGCONT)

    bound = CONNECT_MS / 1000
    for r, took in results + [(again, again_took)]:
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:concord:problem:unavailable"
        assert r.headers.get("retry-after") == "1"
        assert bound - 0.1 <= took < bound + 0.8, took
    # Queued behind the first ones, it opens a connection after them.
    assert late_r.status_code == 503 and late_r.headers.get("retry-after") == "1"
    assert late_took < 2 * bound + 1.0, late_took
    assert len(livez) >= 20
    slow = [round(d, 3) for status, d in livez if status != 200 or d >= FAST]
    assert not slow, f"{len(slow)} of {len(livez)} /livez probes took {FAST}s or more: {slow}"

    # Resumed: the pool opens connections again without any manual step.
    deadline = time.time() + 10
    while True:
        r, _ = db_request(small_api, admin)
        if r.status_code == 200:
            break
        assert r.status_code == 503, r.text
        assert time.time() < deadline, "the API did not reconnect"
        time.sleep(0.1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        rs = list(ex.map(lambda _: db_request(small_api, admin)[0], range(8)))
    assert [r.status_code for r in rs] == [200] * 8


def sleep_all(base, admin, ms, n):
    """n requests at once to the debug sleep route; their statuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        rs = list(ex.map(lambda _: requests.get(
            f"{base}/v1/admin/debug/sleep?ms={ms}", headers=admin, timeout=10), range(n)))
    return [r.status_code for r in rs]


def sleeping(db):
    """Statements of the debug sleep route running now."""
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                    "AND usename = 'concord_api'")
        return cur.fetchone()[0]


def test_a_request_that_goes_away_has_its_statement_cancelled(small_api, db):
    admin = {"Authorization": "Bearer " + mint(["admin"])}
    assert sleep_all(small_api, admin, 300, POOL) == [200] * POOL
    # One connection runs a 4 s statement whose client gives up; the
    # other, idle, sends its cancel.
    with pytest.raises(requests.Timeout):
        requests.get(small_api + "/v1/admin/debug/sleep?ms=4000", headers=admin,
                     timeout=0.3)
    deadline = time.time() + 1.0
    while sleeping(db) > 0:
        assert time.time() < deadline, "the abandoned statement still runs"
        time.sleep(0.05)
    assert sleep_all(small_api, admin, 10, POOL) == [200] * POOL
    # Both connections run a 4 s statement whose clients give up: an
    # extra connection sends the cancels.
    with concurrent.futures.ThreadPoolExecutor(max_workers=POOL) as ex:
        futs = [ex.submit(requests.get, small_api + "/v1/admin/debug/sleep?ms=4000",
                          headers=admin, timeout=0.3) for _ in range(POOL)]
        for f in futs:
            with pytest.raises(requests.Timeout):
                f.result()
    # The statements are cancelled: the next request gets a connection
    # long before they would have ended.
    t = time.monotonic()
    r = requests.get(small_api + "/v1/admin/debug/sleep?ms=10", headers=admin, timeout=10)
    took = time.monotonic() - t
    assert r.status_code == 200, r.text
    assert took < 1.5, took
    # And the pool is whole: both connections serve at once.
    assert sleep_all(small_api, admin, 300, POOL) == [200] * POOL


def test_a_server_that_stops_answering_mid_statement_answers_503_within_the_reply_bound(db):
    """The statement's server process is stopped: not even its statement
    timeout fires. The API gives up on the connection 2 s after the
    statement limit (1 s here) and the pool serves on."""
    admin = {"Authorization": "Bearer " + mint(["admin"])}
    with second_api(CONCORD_DB_STATEMENT_TIMEOUT_MS="1000") as base, \
            concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
        assert sleep_all(base, admin, 10, POOL) == [200] * POOL
        t = time.monotonic()
        fut = ex.submit(requests.get, base + "/v1/admin/debug/sleep?ms=3000",
                        headers=admin, timeout=10)
        pid = None
        while pid is None and time.monotonic() - t < 0.8:
            with db.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                            "AND usename = 'concord_api'")
                row = cur.fetchone()
            pid = row[0] if row else None
        assert pid is not None, "the statement did not start"
        os.kill(pid, signal.SIGSTOP)
        try:
            r = fut.result()
            took = time.monotonic() - t
        finally:
            os.kill(pid, signal.SIGCONT)
        assert r.status_code == 503, r.text
        assert r.json()["type"] == "urn:concord:problem:unavailable"
        assert r.headers.get("retry-after") == "1"
        assert 2.9 <= took < 4.5, took
        assert sleep_all(base, admin, 10, POOL) == [200] * POOL
