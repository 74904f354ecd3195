"""The worker runs jobs recorded in PostgreSQL; Redis only wakes it."""
import json
import os
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
