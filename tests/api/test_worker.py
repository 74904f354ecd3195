"""The worker runs jobs recorded in PostgreSQL; Redis only wakes it."""
import json
import os
import signal
import subprocess
import time

import pytest
import redis


def wait_done(db, job_id, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT state, result FROM jobs WHERE id = %s", (job_id,))
            state, result = cur.fetchone()
        if state in ("done", "dead"):
            return state, result
        time.sleep(0.05)
    return state, result


def test_ping_job_is_run_and_marked_done(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind, payload) VALUES ('ping', '{\"n\": 1}') RETURNING id")
        job_id = cur.fetchone()[0]
    url = os.environ.get("CONCORD_REDIS_URL")
    if url:
        redis.Redis.from_url(url).xadd("concord:jobs", {"id": str(job_id)})
    state, result = wait_done(db, job_id)
    assert state == "done"
    assert result["payload"] == {"n": 1}


def test_job_without_redis_signal_is_still_run(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind) VALUES ('ping') RETURNING id")
        job_id = cur.fetchone()[0]
    assert wait_done(db, job_id)[0] == "done"


def test_failing_job_is_retried_then_parked_dead(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind) VALUES ('no-such-kind') RETURNING id")
        job_id = cur.fetchone()[0]
    deadline = time.time() + 10
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT attempts, state, last_error FROM jobs WHERE id = %s", (job_id,))
            attempts, state, err = cur.fetchone()
        if attempts >= 1:
            break
        time.sleep(0.05)
    assert attempts == 1 and state == "pending"
    assert "no handler" in err
    # Force the remaining attempts to be due now; the last one parks it.
    with db.cursor() as cur:
        cur.execute("UPDATE jobs SET attempts = 4, run_after = now() WHERE id = %s", (job_id,))
    assert wait_done(db, job_id)[0] == "dead"


def test_worker_heartbeat_is_fresh():
    path = os.environ.get("CONCORD_WORKER_HEARTBEAT")
    if not path or not os.path.exists(path):
        pytest.skip("no heartbeat file configured")
    time.sleep(1.2)
    assert time.time() - os.path.getmtime(path) < 3


def test_failed_job_error_text_quotes_no_values(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind, payload) VALUES ('referral.match', "
                    "'{\"referral_id\": \"Rosa-Secret-Value\"}') RETURNING id")
        job_id = cur.fetchone()[0]
    deadline = time.time() + 10
    err = None
    while time.time() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT last_error FROM jobs WHERE id = %s", (job_id,))
            err = cur.fetchone()[0]
        if err:
            break
        time.sleep(0.05)
    assert err and "uuid" in err
    assert "Rosa-Secret-Value" not in err


def stack_worker_pid():
    """The pid of this stack's own worker (found by its heartbeat path,
    so another stack's worker on the same machine is never touched)."""
    hb = os.environ.get("CONCORD_WORKER_HEARTBEAT", "")
    if not hb:
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"concord-worker" in cmd and ("CONCORD_WORKER_HEARTBEAT=" + hb).encode() in env:
            return int(pid)
    return None


def test_a_stalled_worker_loses_its_job_to_a_healthy_one(db):
    """A worker stopped inside a job's transaction (SIGSTOP) loses the job
    within CONCORD_JOB_CLAIM_SECONDS: PostgreSQL ends its idle transaction,
    another worker claims and finishes the job, and the stalled worker's
    late commit cannot apply twice."""
    worker_bin = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
    main = stack_worker_pid()
    if not worker_bin or main is None:
        pytest.skip("needs the worker of `make test`")
    env = dict(os.environ, CONCORD_WORKER_HEARTBEAT="", CONCORD_JOB_CLAIM_SECONDS="2",
               CONCORD_DEBUG_ROUTES="1")
    os.kill(main, signal.SIGSTOP)
    a = b = None
    try:
        a = subprocess.Popen([worker_bin], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        with db.cursor() as cur:
            cur.execute("INSERT INTO jobs (kind, payload) VALUES ('debug.hold', "
                        "'{\"ms\": 1500}') RETURNING id")
            job_id = cur.fetchone()[0]
        # Wait until worker a holds the job (its backend sleeps in it).
        deadline = time.time() + 10
        held = False
        while time.time() < deadline and not held:
            with db.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query "
                            "LIKE 'SELECT pg_sleep%%' AND state = 'active'")
                held = cur.fetchone()[0] > 0
            time.sleep(0.02)
        assert held, "worker a never took the job"
        os.kill(a.pid, signal.SIGSTOP)
        t0 = time.time()
        b = subprocess.Popen([worker_bin], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        state, result = wait_done(db, job_id, timeout=20)
        took = time.time() - t0
        assert state == "done", state
        assert result["held_by"] == f"worker-{b.pid}"
        assert took < 10, took
        os.kill(a.pid, signal.SIGCONT)
        time.sleep(1.0)
        with db.cursor() as cur:
            cur.execute("SELECT result->>'held_by', attempts FROM jobs WHERE id = %s",
                        (job_id,))
            held_by, attempts = cur.fetchone()
        assert held_by == f"worker-{b.pid}" and attempts == 1
    finally:
        os.kill(main, signal.SIGCONT)
        for p in (a, b):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
                p.wait(timeout=30)
