#!/usr/bin/env python3
"""soak.py: a steady mixed load against a running stack for DURATION
seconds (default 600): case reads, directory searches, referral intake
from a hotline and providers accepting their offers, at a fixed rate.
Every 10 s it samples the resident memory (RSS) of every Kore process, the
worker and the PostgreSQL backends, then prints the error count, the
latency of each kind and the RSS at start, middle and end per process.
Exits 1 on any error (a 5xx, a dropped connection, or an unexpected 4xx).

Start the stack first (`make run`, or with private ports), then:
  CONCORD_LISTEN=127.0.0.1:8080 CONCORD_STATE_DIR=.run tests/bench/soak.py
The rate limits of `make run` (1200 a minute per subject) bound what one
token may send: the script spreads requests over several subjects.
Env: DURATION (600), RATE (requests a second, 40), BASE."""
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.environ.get("BASE", "http://" + os.environ.get("CONCORD_LISTEN", "127.0.0.1:8080"))
STATE = os.environ.get("CONCORD_STATE_DIR", os.path.join(ROOT, ".run"))
DURATION = int(os.environ.get("DURATION", "600"))
RATE = float(os.environ.get("RATE", "40"))
LEAD = "10000000-0000-4000-8000-000000000004"       # demo: Safe Harbor
HOTLINE_ORG = "10000000-0000-4000-8000-00000000000b"
CASE = "30000000-0000-4000-8000-000000000001"


def token(role, org, sub):
    env = dict(os.environ)
    env.setdefault("CONCORD_JWT_HS256_SECRET", open(os.path.join(STATE, "jwt_secret")).read().strip())
    return subprocess.check_output([os.path.join(ROOT, "bin", "concord-admin"), "token", "--role", role,
                                    "--org", org, "--sub", sub, "--ttl", str(DURATION + 600)],
                                   env=env, text=True).strip()


def call(method, path, tok, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + tok)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, None, time.monotonic() - t0


def rss_of(pattern):
    """RSS of this stack's processes matching pattern (their working
    folder is this checkout or its state folder; other stacks on the
    machine are left out)."""
    out = {}
    roots = (os.path.realpath(ROOT), os.path.realpath(STATE))
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            status = open(f"/proc/{pid}/status").read()
            cwd = os.path.realpath(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if pattern in cmd and cwd.startswith(roots):
            kb = int([l for l in status.split("\n") if l.startswith("VmRSS")][0].split()[1])
            out[f"{cmd.split()[0].split('/')[-1]}:{pid}"] = kb
    return out


def main():
    readers = [token("case_manager", LEAD, f"soak-reader-{i}") for i in range(4)]
    # Referral intake is limited per subject (60 a minute by default):
    # spread it over enough hotline operators to stay under the limit.
    hotlines = [token("hotline", HOTLINE_ORG, f"soak-hotline-{i}") for i in range(24)]
    providers = {}
    lat = {"read": [], "search": [], "intake": [], "accept": []}
    errors = []
    offered = []
    turn = itertools.count()
    lock = threading.Lock()
    stop = time.monotonic() + DURATION

    def do(kind):
        if kind == "read":
            s, _, t = call("GET", f"/v1/cases/{CASE}", random.choice(readers))
            ok = s == 200
        elif kind == "search":
            s, _, t = call("GET", "/v1/services?need=housing_emergency&near=34.05,-118.24"
                           "&language=es", random.choice(readers))
            ok = s == 200
        elif kind == "intake":
            body = {"client": {"age": 30, "languages": ["es"],
                               "location": {"lat": 34.05, "lon": -118.24, "jurisdiction": "06037"}},
                    "needs": ["case_management"], "urgency": "urgent",
                    "consent": {"categories": ["needs"], "form_reference": "F", "informed": True,
                                "written": True, "expires_at": "2099-01-01T00:00:00Z"}}
            s, doc, t = call("POST", "/v1/referrals", hotlines[next(turn) % len(hotlines)], body,
                             {"Idempotency-Key": uuid.uuid4().hex})
            ok = s == 201
            if ok:
                with lock:
                    offered.append(doc["id"])
        else:
            with lock:
                rid = offered.pop(0) if len(offered) > 20 else None
            if rid is None:
                return
            s, doc, t = call("GET", f"/v1/referrals/{rid}", random.choice(hotlines))
            ok = s in (200, 404)
            for o in (doc or {}).get("offers", []):
                org = o["organization"]["id"]
                if org not in providers:
                    providers[org] = token("provider", org, "soak-provider")
                s, _, t = call("POST", f"/v1/referrals/{rid}/offers/{o['id']}/accept",
                               providers[org])
                ok = s in (200, 409)
                break
        with lock:
            lat[kind].append(t)
            if not ok:
                errors.append((kind, s))

    samples = []

    def sampler():
        while time.monotonic() < stop:
            snap = {}
            for pat in ("kore", "concord-worker", "postgres"):
                snap.update(rss_of(pat))
            samples.append((time.monotonic(), snap))
            time.sleep(10)

    threading.Thread(target=sampler, daemon=True).start()
    kinds = ["read"] * 5 + ["search"] * 3 + ["intake"] * 2 + ["accept"] * 2
    pool = []
    next_at = time.monotonic()
    while time.monotonic() < stop:
        th = threading.Thread(target=do, args=(random.choice(kinds),))
        th.start()
        pool.append(th)
        pool = [p for p in pool if p.is_alive()]
        next_at += 1.0 / RATE
        time.sleep(max(0, next_at - time.monotonic()))
    for p in pool:
        p.join(60)

    print(f"soak: {DURATION} s at {RATE}/s, errors: {len(errors)}", errors[:10])
    for k, v in lat.items():
        if v:
            v.sort()
            print(f"  {k:7s} n={len(v):6d} p50={statistics.median(v) * 1000:7.1f} ms "
                  f"p99={v[int(len(v) * 0.99) - 1] * 1000:7.1f} ms")
    if len(samples) >= 3:
        first, mid, last = samples[0][1], samples[len(samples) // 2][1], samples[-1][1]
        print("  RSS (kB) start / middle / end per process:")
        for name in sorted(first):
            if name in last:
                print(f"    {name:32s} {first[name]:8d} {mid.get(name, 0):8d} {last[name]:8d}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
