"""GET /metrics: Prometheus text for the whole API (every Kore worker adds
to counters in one shared map), behind CONCORD_METRICS_TOKEN; the worker's
metrics are a textfile (CONCORD_WORKER_METRICS_FILE). Both pass
`promtool check metrics`."""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from conftest import BASE, STATE

TOKEN = os.environ.get("CONCORD_METRICS_TOKEN", "")
needs_token = pytest.mark.skipif(not TOKEN, reason="CONCORD_METRICS_TOKEN is not set "
                                 "(deploy/stack.sh sets it for tests)")


def promtool_check(text):
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (make deps installs the prometheus package)")
        pytest.skip("promtool is not installed (Debian package prometheus; make deps)")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def scrape():
    r = requests.get(BASE + "/metrics", headers={"Authorization": "Bearer " + TOKEN},
                     timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


def value(text, name, **labels):
    """The sample's value, 0 when absent."""
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if got == labels:
            return float(m.group(3))
    return 0.0


@needs_token
def test_metrics_pass_promtool_and_name_every_family():
    text = scrape()
    promtool_check(text)
    for family in ("concord_http_requests_total", "concord_http_request_duration_seconds",
                   "concord_db_pool_connections", "concord_db_pool_waiting_requests",
                   "concord_db_pool_waits_total", "concord_db_pool_wait_timeouts_total",
                   "concord_redis_up", "concord_redis_errors_total",
                   "concord_ratelimit_decisions_total", "concord_api_workers"):
        assert f"# TYPE {family} " in text, family


@needs_token
def test_metrics_need_the_token():
    assert requests.get(BASE + "/metrics", timeout=10).status_code == 401
    r = requests.get(BASE + "/metrics", headers={"Authorization": "Bearer " + TOKEN + "x"},
                     timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    # A JWT is not the metrics token either.
    r = requests.get(BASE + "/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1]},
                     timeout=10)
    assert r.status_code == 401


@needs_token
def test_requests_are_counted_by_route_template_over_all_workers(client, tokens):
    """Each request on a new connection (Kore spreads them over its
    workers): the shared counters see every one, and the path's id never
    becomes a label."""
    before = scrape()
    route = "/v1/organizations/{id}"
    n = 24
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for i in ids:
        r = requests.get(f"{BASE}/v1/organizations/{i}", timeout=10,
                         headers={"Authorization": "Bearer " + tokens["admin"],
                                  "Connection": "close"})
        assert r.status_code == 404
    after = scrape()
    args = dict(route=route, method="GET", status="404")
    assert value(after, "concord_http_requests_total", **args) - \
        value(before, "concord_http_requests_total", **args) == n
    count = dict(route=route, method="GET")
    assert value(after, "concord_http_request_duration_seconds_count", **count) - \
        value(before, "concord_http_request_duration_seconds_count", **count) == n
    assert value(after, "concord_http_request_duration_seconds_bucket", le="+Inf", **count) == \
        value(after, "concord_http_request_duration_seconds_count", **count)
    for i in ids:
        assert i not in after
    # Every Kore worker writes into the same map: all of them are seen.
    assert value(after, "concord_api_workers") == int(os.environ.get("CONCORD_WORKERS", "2"))
    assert value(after, "concord_db_pool_connections", state="max") >= 1


@needs_token
def test_unknown_paths_share_one_label():
    before = scrape()
    odd = "/no-such-" + uuid.uuid4().hex
    assert requests.get(BASE + odd, timeout=10).status_code == 404
    after = scrape()
    assert odd not in after
    args = dict(route="unmatched", method="GET", status="404")
    assert value(after, "concord_http_requests_total", **args) > \
        value(before, "concord_http_requests_total", **args)


def worker_metrics_path():
    path = os.environ.get("CONCORD_WORKER_METRICS_FILE", "")
    if not path and STATE:
        path = os.path.join(STATE, "worker.prom")
    if not path or not os.path.exists(path):
        pytest.skip("the worker's metrics file is not written here "
                    "(CONCORD_WORKER_METRICS_FILE)")
    return path


def test_worker_writes_its_metrics_file():
    path = worker_metrics_path()
    deadline = time.time() + 15
    while True:
        text = open(path).read()
        ts = value(text, "concord_worker_metrics_written_timestamp_seconds")
        if time.time() - ts < 12 or time.time() > deadline:
            break
        time.sleep(1)
    assert time.time() - ts < 12, "the worker's metrics file is stale"
    promtool_check(text)
    for family in ("concord_worker_jobs_total", "concord_worker_job_duration_seconds",
                   "concord_worker_job_wait_seconds",
                   "concord_worker_deadline_events_total",
                   "concord_worker_webhook_deliveries_total", "concord_worker_queue_jobs",
                   "concord_worker_queue_oldest_ready_seconds"):
        assert f"# TYPE {family} " in text, family
    assert 'kind="referral.match"' in text
    # No other file is left beside it (written to a temporary, renamed).
    assert not [f for f in os.listdir(os.path.dirname(path))
                if f.startswith(os.path.basename(path) + ".") and f.endswith(".tmp")
                and time.time() - os.path.getmtime(os.path.join(os.path.dirname(path), f)) > 5]


def test_worker_counts_the_jobs_it_runs(db):
    path = worker_metrics_path()
    args = dict(kind="ping", outcome="done")
    before = value(open(path).read(), "concord_worker_jobs_total", **args)
    with db.cursor() as cur:
        cur.execute("INSERT INTO jobs (kind, payload) VALUES ('ping', '{}')")
    deadline = time.time() + 20
    while time.time() < deadline:
        text = open(path).read()
        if value(text, "concord_worker_jobs_total", **args) > before:
            break
        time.sleep(0.5)
    assert value(text, "concord_worker_jobs_total", **args) > before
    assert value(text, "concord_worker_job_duration_seconds_count", kind="ping") >= 1
    assert value(text, "concord_worker_job_wait_seconds_count", kind="ping") >= 1
