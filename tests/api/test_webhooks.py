"""Outbound webhooks: registration per organization (secret shown once,
other organizations get 404), the address rule at registration (a second
API with private targets and http off) and at delivery (a second worker
with private targets off, the stack's own worker paused), signed
deliveries checked by an independent Standard Webhooks verifier (Python
hmac), retries after a failing receiver, a slow receiver not delaying
another, redirects not followed, secret rotation (both signatures valid
during the grace period), dead-lettering after 24 h (times set in the
database, never waited for) and payloads free of personal data.

Receivers are real HTTP servers on 127.0.0.1 in threads of this process;
the stack runs with CONCORD_WEBHOOK_ALLOW_HTTP=1 and
CONCORD_WEBHOOK_ALLOW_PRIVATE=1 so they can be reached."""
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import ROOT, STATE, Client, mint
from test_worker import stack_worker_pid

WORKER = os.environ.get("CONCORD_TEST_WORKER_BIN", "")
EVENTS = ["task.due", "task.overdue", "referral.received"]


def sql(db, q, args=()):
    with db.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(fn, timeout=15.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


class Receiver:
    """An HTTP receiver on 127.0.0.1. behaviour(n) -> (status, delay_s,
    extra headers) for the n-th request (0-based); every request is kept
    as (headers, body, time received)."""

    def __init__(self, behaviour=lambda n: (200, 0, {})):
        self.behaviour = behaviour
        self.got = []
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                n = len(rcv.got)
                rcv.got.append(({k.lower(): v for k, v in self.headers.items()}, body,
                                time.monotonic()))
                status, delay, extra = rcv.behaviour(n)
                time.sleep(delay)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(behaviour=lambda n: (200, 0, {})):
        r = Receiver(behaviour)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def verify(secret, headers, body):
    """Standard Webhooks verification, written independently of the
    worker: HMAC-SHA256 over "id.timestamp.body" with the base64 key
    after whsec_; any v1 signature of the header may match."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    sigs = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")
            if s.startswith("v1,")]
    return any(hmac.compare_digest(want, s) for s in sigs)


def org_client(make_org, role="case_manager", kind="victim_services"):
    org = make_org(kind=kind)
    return org, Client(mint([role], org=org))


def register(c, url, events=EVENTS):
    r = c.post("/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return r.json()


def notify(db, org, kind="task.due"):
    """A notification for org through lib.notify (as the clocks do)."""
    task = str(uuid.uuid4())
    return sql(db, "SELECT lib.notify(%s, NULL, %s, 'task', %s, '/v1/tasks', "
                   "jsonb_build_object('task_id', %s::text, 'step', 'due'))",
               (org, kind, task, task))[0][0]


def deliveries(c, hook_id, **q):
    r = c.get(f"/v1/webhooks/{hook_id}/deliveries", params=q)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# ------------------------------------------------------------ registration

def test_registration_shows_the_secret_once(make_org, receivers):
    org, c = org_client(make_org)
    hook = register(c, receivers().url)
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"][6:])) == 24
    assert hook["organization_id"] == org and hook["events"] == sorted(EVENTS)
    got = c.get(f"/v1/webhooks/{hook['id']}")
    assert got.status_code == 200 and "secret" not in got.json()
    listed = c.get("/v1/webhooks").json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert all("secret" not in h for h in listed)


def test_the_secret_is_sealed_at_rest(make_org, receivers, db):
    org, c = org_client(make_org)
    hook = register(c, receivers().url)
    raw = sql(db, "SELECT secret FROM webhooks WHERE id = %s", (hook["id"],))[0][0]
    assert hook["secret"].encode() not in bytes(raw)


def test_other_organizations_get_404_and_other_roles_403(make_org, receivers, tokens):
    org, c = org_client(make_org)
    hook = register(c, receivers().url)
    _, other = org_client(make_org, role="coordinator", kind="government")
    admin_other = Client(mint(["admin"], org=make_org(kind="other")))
    for who in (other, admin_other):
        for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/rotate"),
                             ("GET", "/deliveries")):
            r = who.request(method, f"/v1/webhooks/{hook['id']}{path}")
            assert r.status_code == 404, (method, path, r.status_code)
        assert who.get("/v1/webhooks").json()["items"] == []
    for role in ("investigator", "prosecutor", "hotline", "analyst"):
        assert Client(tokens[role]).get("/v1/webhooks").status_code == 403
    # An admin without an organization has no webhooks to manage.
    assert Client(tokens["admin"]).get("/v1/webhooks").status_code == 403
    # The owner's provider sees it; deleting it makes it gone.
    prov = Client(mint(["provider"], org=org))
    assert prov.get(f"/v1/webhooks/{hook['id']}").status_code == 200
    assert prov.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert c.get(f"/v1/webhooks/{hook['id']}").status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"events": ["task.due"]}, "url"),
    ({"url": 5, "events": ["task.due"]}, "url"),
    ({"url": "ftp://example.org/", "events": ["task.due"]}, "url"),
    ({"url": "https://u:p@example.org/", "events": ["task.due"]}, "url"),
    ({"url": "https://example.org/#f", "events": ["task.due"]}, "url"),
    ({"url": "https://example.org/"}, "events"),
    ({"url": "https://example.org/", "events": []}, "events"),
    ({"url": "https://example.org/", "events": ["case.opened"]}, "events[0]"),
    ({"url": "https://example.org/", "events": "task.due"}, "events"),
    ({"url": "https://example.org/", "events": ["task.due"], "secret": "whsec_x"}, "secret"),
    ({"url": "https://example.org/", "events": ["task.due"], "color": 1}, "color"),
])
def test_bad_bodies_are_422_naming_the_field(make_org, body, field):
    _, c = org_client(make_org)
    r = c.post("/v1/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


@pytest.fixture(scope="module")
def strict_api():
    """A second API on the same database with private targets and plain
    http refused, as in production."""
    port = free_port()
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
               CONCORD_DB_POOL="2", CONCORD_WEBHOOK_ALLOW_PRIVATE="0",
               CONCORD_WEBHOOK_ALLOW_HTTP="0")
    log = open(os.path.join(STATE or "/tmp", "api-strict.log"), "w")
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


@pytest.mark.parametrize("url,reason", [
    ("https://127.0.0.1/", "loopback"), ("https://127.9.9.9:8443/x", "loopback"),
    ("https://[::1]/", "loopback"), ("https://localhost/", "loopback"),
    ("https://hooks.localhost/", "loopback"), ("https://2130706433/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://10.1.2.3/", "private"), ("https://172.16.0.1/", "private"),
    ("https://172.31.255.1/", "private"), ("https://192.168.0.10/", "private"),
    ("https://100.64.0.1/", "CGNAT"), ("https://[fd00::1]/", "unique-local"),
    ("https://0.0.0.0/", "unspecified"), ("https://[::]/", "unspecified"),
    ("https://224.0.0.1/", "multicast"), ("https://[ff02::1]/", "multicast"),
    ("http://hooks.example.org/", "https"),
])
def test_private_targets_are_refused_at_registration(strict_api, make_org, url, reason):
    org = make_org(kind="victim_services")
    r = requests.post(strict_api + "/v1/webhooks", json={"url": url, "events": ["task.due"]},
                      headers={"Authorization": "Bearer " + mint(["coordinator"], org=org)},
                      timeout=10)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errs = r.json()["errors"]
    assert errs[0]["field"] == "url" and reason in errs[0]["reason"], errs


def test_a_public_target_is_accepted_by_the_strict_api(strict_api, make_org):
    org = make_org(kind="victim_services")
    r = requests.post(strict_api + "/v1/webhooks",
                      json={"url": "https://hooks.example.org:8443/in?x=1", "events": ["task.due"]},
                      headers={"Authorization": "Bearer " + mint(["provider"], org=org)},
                      timeout=10)
    assert r.status_code == 201, r.text


# ------------------------------------------------------------ delivery

def test_a_notification_is_delivered_signed(make_org, receivers, db):
    org, c = org_client(make_org)
    rcv = receivers()
    hook = register(c, rcv.url)
    nid = notify(db, org)
    notify(db, org, kind="consent.expiring")      # not subscribed
    assert wait_for(lambda: rcv.got), "nothing delivered"
    headers, body, _ = rcv.got[0]
    assert verify(hook["secret"], headers, body)
    assert not verify("whsec_" + base64.b64encode(b"x" * 24).decode(), headers, body)
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["type"] == "task.due"
    assert doc["data"]["notification_id"] == nid
    assert doc["data"]["organization_id"] == org
    assert doc["data"]["object"]["type"] == "task" and doc["data"]["step"] == "due"
    d = wait_for(lambda: [x for x in deliveries(c, hook["id"]) if x["state"] == "delivered"])
    assert d and d[0]["id"] == headers["webhook-id"]
    assert d[0]["last_status"] == 200 and d[0]["attempts"] == 1
    assert d[0]["last_latency_ms"] is not None and d[0]["next_attempt_at"] is None
    assert d[0]["history"][0]["status"] == 200
    time.sleep(0.5)
    assert len(rcv.got) == 1, "an unsubscribed type was delivered"


def test_a_failing_receiver_is_retried_until_it_recovers(make_org, receivers, db):
    org, c = org_client(make_org)
    rcv = receivers(lambda n: (500, 0, {}) if n == 0 else (200, 0, {}))
    hook = register(c, rcv.url)
    notify(db, org)
    first = wait_for(lambda: [x for x in deliveries(c, hook["id"]) if x["last_status"] == 500])
    assert first, deliveries(c, hook["id"])
    d = first[0]
    assert d["state"] == "pending" and d["last_error"] == "HTTP 500"
    nxt = datetime.datetime.fromisoformat(d["next_attempt_at"])
    # Backoff with jitter: the first retry comes 5 to 10 s later.
    gap = (nxt - datetime.datetime.fromisoformat(d["last_attempt_at"])).total_seconds()
    assert 4 <= gap <= 11, gap
    sql(db, "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = %s", (d["id"],))
    done = wait_for(lambda: [x for x in deliveries(c, hook["id"], state="delivered")])
    assert done, deliveries(c, hook["id"])
    assert [h["status"] for h in done[0]["history"]] == [500, 200]
    assert done[0]["attempts"] == 2
    assert len(rcv.got) == 2 and rcv.got[0][0]["webhook-id"] == rcv.got[1][0]["webhook-id"]
    assert all(verify(hook["secret"], h, b) for h, b, _ in rcv.got)


def test_a_slow_receiver_does_not_delay_another(make_org, receivers, db):
    slow_org, slow_c = org_client(make_org)
    fast_org, fast_c = org_client(make_org)
    slow = receivers(lambda n: (200, 6, {}))
    fast = receivers()
    register(slow_c, slow.url)
    register(fast_c, fast.url)
    for _ in range(3):
        notify(db, slow_org)
    assert wait_for(lambda: slow.got, timeout=10), "the slow receiver got nothing"
    t0 = time.monotonic()
    notify(db, fast_org)
    assert wait_for(lambda: fast.got, timeout=4), "the fast receiver waited"
    assert fast.got[0][2] - t0 < 2.5
    # At most two attempts run at once against one webhook.
    time.sleep(0.5)
    assert len(slow.got) <= 2


def test_redirects_are_not_followed(make_org, receivers, db):
    org, c = org_client(make_org)
    target = receivers()
    rcv = receivers(lambda n: (302, 0, {"Location": target.url}))
    hook = register(c, rcv.url)
    notify(db, org)
    d = wait_for(lambda: [x for x in deliveries(c, hook["id"]) if x["last_status"] == 302])
    assert d and d[0]["state"] == "pending"
    assert d[0]["last_error"] == "redirect not followed"
    time.sleep(0.5)
    assert target.got == []


@pytest.mark.skipif(not WORKER, reason="needs CONCORD_TEST_WORKER_BIN (make test)")
def test_a_name_resolving_to_loopback_is_refused_at_delivery(make_org, receivers, db):
    """The stack's API admits loopback targets; a worker with private
    targets off resolves the name (this machine's own name when it
    resolves to loopback, so the resolver is what finds it out), refuses
    it and never connects."""
    main = stack_worker_pid()
    if main is None:
        pytest.skip("needs the worker of `make test`")
    org, c = org_client(make_org)
    rcv = receivers()
    name = socket.gethostname()
    try:
        if not socket.gethostbyname(name).startswith("127."):
            name = "localhost"
    except OSError:
        name = "localhost"
    hook = register(c, f"http://{name}:{rcv.port}/hook")
    env = dict(os.environ, CONCORD_WORKER_HEARTBEAT="", CONCORD_WEBHOOK_ALLOW_PRIVATE="0")
    os.kill(main, signal.SIGSTOP)
    strict = None
    try:
        strict = subprocess.Popen([WORKER], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        notify(db, org)
        d = wait_for(lambda: [x for x in deliveries(c, hook["id"]) if x["attempts"] >= 1
                              and x["last_error"]], timeout=20)
        assert d, deliveries(c, hook["id"])
        assert d[0]["last_error"].startswith("refused"), d[0]
        assert d[0]["last_status"] is None and d[0]["state"] == "pending"
        assert rcv.got == []
        assert c.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    finally:
        if strict is not None:
            strict.terminate()
            strict.wait(timeout=15)
        os.kill(main, signal.SIGCONT)


# ------------------------------------------------------------ rotation, dead letters

def test_rotation_signs_with_both_secrets_during_the_grace_period(make_org, receivers, db):
    org, c = org_client(make_org)
    rcv = receivers()
    hook = register(c, rcv.url)
    r = c.post(f"/v1/webhooks/{hook['id']}/rotate", data="")
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != hook["secret"] and r.json()["previous_secret_expires_at"]
    until = datetime.datetime.fromisoformat(r.json()["previous_secret_expires_at"])
    left = (until - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 86000 < left <= 86400
    assert "secret" not in c.get(f"/v1/webhooks/{hook['id']}").json()
    notify(db, org)
    assert wait_for(lambda: rcv.got)
    h, b, _ = rcv.got[0]
    assert len(h["webhook-signature"].split(" ")) == 2
    assert verify(hook["secret"], h, b) and verify(new, h, b)
    # Once the grace period is over only the new secret signs.
    sql(db, "UPDATE webhooks SET previous_secret_until = now() - interval '1 s' "
            "WHERE id = %s", (hook["id"],))
    notify(db, org)
    assert wait_for(lambda: len(rcv.got) == 2)
    h, b, _ = rcv.got[1]
    assert len(h["webhook-signature"].split(" ")) == 1
    assert verify(new, h, b) and not verify(hook["secret"], h, b)


def test_a_delivery_failing_for_24_hours_is_dead_lettered_and_can_be_retried(
        make_org, receivers, db):
    org, c = org_client(make_org)
    mode = {"status": 503}
    rcv = receivers(lambda n: (mode["status"], 0, {}))
    hook = register(c, rcv.url)
    notify(db, org)
    d = wait_for(lambda: [x for x in deliveries(c, hook["id"]) if x["last_status"] == 503])
    assert d
    did = d[0]["id"]
    # Simulate a day of failed attempts: the window began 24 h ago.
    sql(db, "UPDATE webhook_deliveries SET window_start = now() - interval '24 hours 1 minute', "
            "attempts = attempts + 29, next_attempt_at = now() WHERE id = %s", (did,))
    sql(db, "UPDATE webhook_attempts SET n = n + 29 WHERE delivery_id = %s", (did,))
    dead = wait_for(lambda: deliveries(c, hook["id"], state="dead"))
    assert dead and dead[0]["id"] == did, deliveries(c, hook["id"])
    assert dead[0]["dead_at"] and dead[0]["next_attempt_at"] is None
    n = len(rcv.got)
    time.sleep(0.6)
    assert len(rcv.got) == n, "a dead delivery was attempted"
    mode["status"] = 200
    r = c.post(f"/v1/webhooks/{hook['id']}/deliveries/{did}/retry", data="")
    assert r.status_code == 200 and r.json()["state"] == "pending", r.text
    done = wait_for(lambda: deliveries(c, hook["id"], state="delivered"))
    assert done and done[0]["id"] == did
    assert c.post(f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/retry",
                  data="").status_code == 404


def test_the_deliveries_list_pages_and_filters(make_org, receivers, db):
    org, c = org_client(make_org)
    rcv = receivers()
    hook = register(c, rcv.url)
    for _ in range(3):
        notify(db, org)
    assert wait_for(lambda: len(deliveries(c, hook["id"], state="delivered")) == 3)
    p1 = c.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=2").json()
    assert len(p1["items"]) == 2 and p1["next_cursor"]
    p2 = c.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=2&cursor={p1['next_cursor']}").json()
    assert len(p2["items"]) == 1 and p2["next_cursor"] is None
    ids = [x["id"] for x in p1["items"] + p2["items"]]
    assert len(set(ids)) == 3
    assert c.get(f"/v1/webhooks/{hook['id']}/deliveries?state=lost").status_code == 400
    assert c.get(f"/v1/webhooks/{hook['id']}/deliveries?cursor=abc").status_code == 400


# ------------------------------------------------------------ personal data

MARKS = ["Webhook-Marker-Name-7731", "+1-555-0177-7731", "marker-notes-7731",
         "marker-contact-7731"]


def test_payloads_carry_no_personal_data(make_org, receivers):
    org, c = org_client(make_org)
    rcv = receivers()
    register(c, rcv.url, events=["referral.received"])
    expires = (datetime.datetime.now(datetime.timezone.utc)
               + datetime.timedelta(days=30)).isoformat()
    body = {"client": {"age": 30, "languages": ["en"], "location": {"lat": -60.5, "lon": 100.0},
                       "safe_contact_method": MARKS[3] + " " + MARKS[1]},
            "needs": ["food"], "urgency": "routine",
            "consent": {"categories": ["needs", "case_details", "contact"],
                        "form_reference": "F-7731", "informed": True, "written": True,
                        "expires_at": expires},
            "notes": MARKS[2] + " " + MARKS[0], "reference": "REF-7731"}
    r = c.post("/v1/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    assert wait_for(lambda: rcv.got), "referral.received was not delivered"
    h, raw, _ = rcv.got[0]
    doc = json.loads(raw)
    assert doc["type"] == "referral.received"
    assert doc["data"]["referral_id"] == r.json()["id"] and doc["data"]["status"] == "received"
    text = raw.decode() + json.dumps(h)
    for m in MARKS + ["REF-7731", "F-7731", "-60.5"]:
        assert m not in text, m
