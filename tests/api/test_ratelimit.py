"""Rate limits: per token subject, per client address, on referral creation
per subject and on failed authentication per address, shared across API
replicas through Redis and failing open (per worker) while Redis hangs.

The suite's API runs with limits it never reaches (deploy/stack.sh test),
so these tests start two more API instances on the same database and
Redis, one worker each, with small limits and CONCORD_CLIENT_IP_HEADER
set, so that each test speaks from addresses of its own."""
import contextlib
import datetime
import json
import os
import random
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from conftest import ROOT, mint, validate_against_spec

STATE = os.environ.get("CONCORD_TEST_STATE", "")

pytestmark = pytest.mark.skipif(
    not (STATE and os.path.exists(os.path.join(STATE, "redis.pid"))),
    reason="needs the private stack of `make test` (CONCORD_TEST_STATE)")

SUB, ADDR, REFERRALS, AUTH_FAILURES = 10, 15, 3, 4
FAST = 0.25                 # seconds: a request that never waited on Redis
PUSH_SLACK = 4              # requests one push interval may let through
LIMITS = {"CONCORD_RATE_LIMIT_SUB": str(SUB), "CONCORD_RATE_LIMIT_ADDR": str(ADDR),
          "CONCORD_RATE_LIMIT_REFERRALS": str(REFERRALS),
          "CONCORD_RATE_LIMIT_AUTH_FAILURES": str(AUTH_FAILURES),
          "CONCORD_CLIENT_IP_HEADER": "X-Forwarded-For"}


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


@contextlib.contextmanager
def api_instance(name, **env):
    """Another API (one Kore worker) on the same PostgreSQL and Redis."""
    port = free_port()
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
               CONCORD_DB_POOL="4", **env)
    logpath = os.path.join(STATE, f"api-{name}.log")
    log = open(logpath, "w")
    p = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT,
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert p.poll() is None and time.time() < deadline, f"API {name} did not start"
            time.sleep(0.1)
        yield base, logpath
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


@pytest.fixture(scope="module")
def apis():
    """Two replicas with the same small limits: [(base, log path)] * 2."""
    with api_instance("rl-a", **LIMITS) as a, api_instance("rl-b", **LIMITS) as b:
        yield [a, b]


@pytest.fixture(scope="module")
def hotline_org(make_org):
    return make_org(kind="other")


def new_addr():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


def same_window(seconds):
    """Sleep, if needed, so the next `seconds` fall within one minute window."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.3)


def call(base, method, path, token=None, addr=None, **kw):
    h = dict(kw.pop("headers", {}))
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if addr is not None:
        h["X-Forwarded-For"] = addr
    t = time.monotonic()
    r = requests.request(method, base + path, headers=h, timeout=10, **kw)
    r.elapsed_s = time.monotonic() - t
    validate_against_spec(r)
    return r


def ratelimit(r):
    """The RateLimit header as {limit, remaining, reset} integers."""
    v = r.headers.get("ratelimit")
    assert v, f"no RateLimit header on {r.status_code} {r.request.path_url}"
    d = dict(part.strip().split("=", 1) for part in v.split(","))
    return {k: int(x) for k, x in d.items()}


def assert_limited(r, which, limit):
    assert r.status_code == 429, (r.status_code, r.text)
    p = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert p["type"] == "urn:concord:problem:rate-limited"
    assert p["title"] == "Too Many Requests" and p["status"] == 429
    assert p["rate_limit"] == which, p
    assert str(limit) in p["detail"]
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 60
    assert r.headers["ratelimit-policy"] == f"{limit};w=60"
    rl = ratelimit(r)
    assert rl["limit"] == limit and rl["remaining"] == 0
    assert abs(rl["reset"] - retry) <= 1
    assert abs(retry - (60 - time.time() % 60)) <= 2


def referral():
    return {"client": {"age": 30, "languages": ["en"],
                       "location": {"lat": -48.0, "lon": -125.0}},
            "needs": ["victim_advocacy"], "urgency": "routine",
            "consent": {"categories": ["needs"], "form_reference": "F",
                        "informed": True, "written": True,
                        "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=1)).isoformat()}}


def post_referral(base, token, addr):
    return call(base, "POST", "/v1/referrals", token, addr, json=referral(),
                headers={"Idempotency-Key": uuid.uuid4().hex})


def test_ratelimit_per_subject_answers_429_with_retry_after_and_headers(apis):
    (base, _), _ = apis
    addr = new_addr()
    tok = mint(["admin"])
    other = mint(["admin"])
    same_window(10)
    remaining = []
    for _ in range(SUB):
        r = call(base, "GET", "/v1/me", tok, addr)
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-policy"] == f"{SUB};w=60"
        remaining.append(ratelimit(r)["remaining"])
    assert remaining == list(range(SUB - 1, -1, -1))
    assert_limited(call(base, "GET", "/v1/me", tok, addr), "subject", SUB)
    # Another subject, from the same address, is not affected; the
    # headers now show the address's limit, the one closest to its end.
    r = call(base, "GET", "/v1/me", other, addr)
    assert r.status_code == 200, r.text
    assert r.headers["ratelimit-policy"] == f"{ADDR};w=60"
    assert ratelimit(r)["remaining"] == ADDR - (SUB + 2)
    r = call(base, "GET", "/v1/me", other, new_addr())
    assert r.status_code == 200 and ratelimit(r)["remaining"] == SUB - 2
    # Health probes and the contract are exempt and carry no headers.
    for path in ("/livez", "/readyz", "/openapi.yaml"):
        r = requests.get(base + path, headers={"X-Forwarded-For": addr}, timeout=10)
        assert r.status_code == 200 and "ratelimit" not in r.headers


def test_ratelimit_per_client_address(apis):
    (base, _), _ = apis
    addr, other = new_addr(), new_addr()
    same_window(10)
    for i in range(ADDR):
        r = call(base, "GET", "/v1/me", mint(["admin"]), addr)
        assert r.status_code == 200, (i, r.text)
    assert_limited(call(base, "GET", "/v1/me", mint(["admin"]), addr), "address", ADDR)
    # Not even a token is looked at: an anonymous request is 429 too.
    assert_limited(call(base, "GET", "/v1/me", None, addr), "address", ADDR)
    assert call(base, "GET", "/v1/me", mint(["admin"]), other).status_code == 200
    # Only the header's first address counts (the ingress's own is last).
    assert call(base, "GET", "/v1/me", mint(["admin"]),
                f"{other}, {addr}").status_code == 200


def test_ratelimit_per_peer_address_without_the_header(apis):
    """Without X-Forwarded-For the socket's peer (127.0.0.1) is the key."""
    _, (base, _) = apis
    same_window(10)
    for i in range(ADDR):
        r = call(base, "GET", "/v1/me", mint(["admin"]))
        assert r.status_code == 200, (i, r.text)
    assert_limited(call(base, "GET", "/v1/me", mint(["admin"])), "address", ADDR)
    assert call(base, "GET", "/v1/me", mint(["admin"]), new_addr()).status_code == 200


def test_ratelimit_failed_authentication_blocks_the_address(apis):
    (base, _), _ = apis
    addr, other = new_addr(), new_addr()
    good = mint(["admin"])
    same_window(10)
    for i in range(AUTH_FAILURES):
        bad = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        r = call(base, "GET", "/v1/me", bad if i % 2 else None, addr)
        assert r.status_code == 401, r.text
        assert "ratelimit" in r.headers
    # Over the limit: even a good token is refused without being checked.
    r = call(base, "GET", "/v1/me", good, addr)
    assert_limited(r, "auth_failures", AUTH_FAILURES)
    assert "www-authenticate" not in r.headers
    assert_limited(call(base, "GET", "/v1/me", good, addr), "auth_failures", AUTH_FAILURES)
    # Another address is not affected.
    assert call(base, "GET", "/v1/me", good, other).status_code == 200


def test_ratelimit_referral_creation_per_hotline_subject(apis, hotline_org):
    (base, _), _ = apis
    hotline = mint(["hotline"], org=hotline_org)
    other = mint(["hotline"], org=hotline_org)
    addr = new_addr()
    same_window(15)
    for _ in range(REFERRALS):
        r = post_referral(base, hotline, addr)
        assert r.status_code == 201, r.text
    r = post_referral(base, hotline, addr)
    assert_limited(r, "referrals", REFERRALS)
    # Reading stays open to that subject; another hotline may still send.
    r = call(base, "GET", "/v1/referrals", hotline, addr)
    assert r.status_code == 200, r.text
    assert post_referral(base, other, addr).status_code == 201


def test_ratelimit_is_shared_by_replicas_through_redis(apis):
    (a, _), (b, _) = apis
    tok = mint(["admin"])
    same_window(15)
    answers = {a: [], b: []}
    for i in range(4 * SUB):
        base = (a, b)[i % 2]
        r = call(base, "GET", "/v1/me", tok, new_addr())
        assert r.status_code in (200, 429), r.text
        answers[base].append(r.status_code)
        # Paced near the push interval, so each replica hears of the
        # other's counts between two of its own requests.
        time.sleep(0.12)
    ok = sum(s == 200 for v in answers.values() for s in v)
    # Each replica alone would admit SUB (2 * SUB in all); together they
    # admit SUB, give or take what a late push (a loaded machine) lets
    # through: far fewer than 2 * SUB.
    assert SUB <= ok <= SUB + PUSH_SLACK + 2 < 2 * SUB, answers
    assert 429 in answers[a] and 429 in answers[b], answers


def redis_pid():
    with open(os.path.join(STATE, "redis.pid")) as f:
        return int(f.read().strip())


def test_ratelimit_fails_open_per_worker_while_redis_is_paused(apis):
    (base, logpath), _ = apis
    warm = mint(["admin"])
    addr = new_addr()
    assert call(base, "GET", "/v1/me", warm, addr).status_code == 200
    same_window(20)
    pid = redis_pid()
    slow = []
    os.kill(pid, signal.SIGSTOP)
    try:
        # Redis hangs but the link does not know yet: no request waits.
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            r = call(base, "GET", "/v1/me", mint(["admin"]), new_addr())
            assert r.status_code == 200, r.text
            if r.elapsed_s >= FAST:
                slow.append(round(r.elapsed_s, 3))
            time.sleep(0.05)
        # Once the link is known to be down, the worker counts alone.
        deadline = time.time() + 10
        while requests.get(base + "/readyz", timeout=10).json()["checks"]["redis"] != \
                "unreachable":
            assert time.time() < deadline, "the link never went down"
            time.sleep(0.1)
        tok = mint(["admin"])
        for _ in range(SUB):
            r = call(base, "GET", "/v1/me", tok, addr)
            assert r.status_code == 200, r.text
            if r.elapsed_s >= FAST:
                slow.append(round(r.elapsed_s, 3))
        r = call(base, "GET", "/v1/me", tok, addr)
        assert_limited(r, "subject", SUB)
        assert r.elapsed_s < FAST, r.elapsed_s
    finally:
        os.kill(pid, signal.SIGCONT)
    assert not slow, f"requests took {FAST}s or more: {slow}"
    # The fail-open decisions were counted and logged (at most one line
    # every few seconds).
    deadline = time.time() + 3
    while True:
        with open(logpath, encoding="utf-8", errors="replace") as f:
            lines = [json.loads(l) for l in f if l.startswith("{")]
        counts = [l["local_only_total"] for l in lines
                  if l.get("msg") == "rate limits enforced per worker only"]
        if counts:
            break
        assert time.time() < deadline, "no fail-open log line"
        time.sleep(0.2)
    assert max(counts) >= 1
    # The link heals; the shared limits work again.
    deadline = time.time() + 10
    while requests.get(base + "/readyz", timeout=10).json()["status"] != "ready":
        assert time.time() < deadline, "Redis link did not come back"
        time.sleep(0.1)
