"""Configuration fails fast: a setting that cannot be used stops the API
(Kore with its module) and the worker at start, with one line naming the
variable (never its value) and a non-zero exit. An unreachable database is
an outage, not a configuration error: both keep running and retry."""
import os
import socket
import subprocess
import time

import pytest

from conftest import ROOT

WORKER = os.environ.get("CONCORD_TEST_WORKER_BIN") or os.path.join(ROOT, "bin", "concord-worker")

BAD = [
    ("CONCORD_DATABASE_URL", "host=127.0.0.1 port", "CONCORD_DATABASE_URL"),
    ("CONCORD_DATABASE_URL", "postgresql://u:s3cretpw@[::1/x", "CONCORD_DATABASE_URL"),
    ("CONCORD_WORKER_DATABASE_URL", "nonsense here", "CONCORD_WORKER_DATABASE_URL"),
    ("CONCORD_REDIS_URL", "http://127.0.0.1:6379", "CONCORD_REDIS_URL"),
    ("CONCORD_REDIS_URL", "redis://:s3cretpw@127.0.0.1:99999/0", "CONCORD_REDIS_URL"),
    ("CONCORD_LOG_LEVEL", "loud", "CONCORD_LOG_LEVEL"),
    ("CONCORD_JWT_PUBLIC_KEYS", "k1=/nonexistent/k1.pem", "CONCORD_JWT_PUBLIC_KEYS"),
    ("CONCORD_JWT_PUBLIC_KEYS", "just-a-path.pem", "CONCORD_JWT_PUBLIC_KEYS"),
    ("CONCORD_DB_POOL", "16x", "CONCORD_DB_POOL"),
    ("CONCORD_WORKERS", "0", "CONCORD_WORKERS"),
    ("CONCORD_JOB_MAX_ATTEMPTS", "-1", "CONCORD_JOB_MAX_ATTEMPTS"),
    ("CONCORD_DRAIN_SECONDS", "forever", "CONCORD_DRAIN_SECONDS"),
    ("CONCORD_METRICS_TOKEN", "short", "CONCORD_METRICS_TOKEN"),
    ("CONCORD_JWT_JWKS_FILE", "/nonexistent/jwks.json", "CONCORD_JWT_JWKS_FILE"),
]


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def env_with(**kw):
    e = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{free_port()}", CONCORD_WORKERS="1",
             CONCORD_WORKER_HEARTBEAT="", CONCORD_WORKER_METRICS_FILE="")
    e.update(kw)
    return e


def run(argv, env, cwd=ROOT):
    t = time.monotonic()
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=30)
    return r, time.monotonic() - t


def check_refused(r, took, var, value):
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert took < 10, took
    lines = [l for l in out.splitlines() if var in l]
    assert len(lines) == 1, out
    assert "s3cretpw" not in out


@pytest.mark.parametrize("var,value,named", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_worker_refuses_a_bad_setting_at_start(var, value, named):
    if not os.path.exists(WORKER):
        pytest.skip("no worker binary (make build)")
    r, took = run([WORKER, "--once"], env_with(**{var: value}))
    check_refused(r, took, named, value)
    assert "concord-worker: " + named in r.stderr


@pytest.mark.parametrize("var,value,named", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_api_refuses_a_bad_setting_at_start(var, value, named):
    r, took = run(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], env_with(**{var: value}))
    check_refused(r, took, named, value)
    assert "configuration: " + named in r.stdout + r.stderr


def test_an_unreachable_database_is_an_outage_not_a_bad_setting():
    """Both processes start and keep running; the API answers /livez and
    says it is not ready."""
    import requests
    url = "postgresql://nobody@127.0.0.1:%d/concord" % free_port()
    env = env_with(CONCORD_DATABASE_URL=url, CONCORD_WORKER_DATABASE_URL=url)
    api = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([WORKER], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = "http://" + env["CONCORD_LISTEN"]
    try:
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(base + "/livez", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert api.poll() is None and time.time() < deadline, "the API did not start"
            time.sleep(0.1)
        assert requests.get(base + "/readyz", timeout=10).status_code == 503
        time.sleep(1)
        assert worker.poll() is None and api.poll() is None
    finally:
        for p in (api, worker):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
