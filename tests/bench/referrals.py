#!/usr/bin/env python3
"""Referral matching bench. Loads N services (default 10,000) spread over
a region, then posts referrals at RATE per second (default 50) for
DURATION seconds and reports:
  - match_ms: time inside the worker to load candidates, score, assign
    and write offers for one referral (jobs.result->>'match_ms');
  - post_to_offered_ms: referrals.matched_at - created_at (the commit of
    the POST to the commit of the offers), which includes queueing.
Needs a running stack: CONCORD_TEST_BASE_URL, CONCORD_ADMIN_DATABASE_URL,
CONCORD_JWT_HS256_SECRET in the environment (tests/bench/referrals.sh
starts a throwaway one)."""
import concurrent.futures
import datetime
import os
import random
import statistics
import sys
import threading
import time
import uuid

import jwt
import psycopg2
import requests

BASE = os.environ["CONCORD_TEST_BASE_URL"]
DB = os.environ["CONCORD_ADMIN_DATABASE_URL"]
N = int(os.environ.get("SERVICES", "10000"))
RATE = float(os.environ.get("RATE", "50"))
DURATION = float(os.environ.get("DURATION", "20"))
NEEDS = ["housing_emergency", "medical_care", "legal_representation_immigration",
         "mental_health_care", "food", "translation_interpretation", "case_management",
         "safety_planning", "transportation", "clothing"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    conn = psycopg2.connect(DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM services WHERE name LIKE 'bench-%'")
    if cur.fetchone()[0] < N:
        print(f"loading {N} services ...", flush=True)
        cur.execute("INSERT INTO organizations (name, kind) SELECT 'bench-org-' || g, "
                    "'victim_services' FROM generate_series(1, %s) g RETURNING id", (N // 5,))
        orgs = [r[0] for r in cur.fetchall()]
        cur.execute("""
            INSERT INTO services (organization_id, name, needs, need_cover, languages,
                lang_match, area_lat, area_lon, area_radius_km, site_lat, site_lon,
                capacity_total, capacity_available, open_24_7, trafficking_types)
            SELECT (%s::uuid[])[1 + (g %% %s)], 'bench-' || g, n, directory.need_cover(n),
                l, directory.lang_keys(l), lat, lon, 25 + (g %% 75), lat, lon,
                CASE WHEN g %% 3 = 0 THEN 10 END, CASE WHEN g %% 3 = 0 THEN 5 END,
                g %% 4 = 0, CASE WHEN g %% 5 = 0 THEN '{sex}'::text[] ELSE '{sex,labor}'::text[] END
            FROM generate_series(1, %s) g,
            LATERAL (SELECT 33 + random() * 9 AS lat, -118 - random() * 14 AS lon,
                ARRAY[(%s::text[])[1 + (g %% 10)], (%s::text[])[1 + ((g / 10) %% 10)]] AS n,
                CASE g %% 4 WHEN 0 THEN '{en,es}'::text[] WHEN 1 THEN '{en}'
                    WHEN 2 THEN '{es,zh}' ELSE '{en,vi}' END AS l) x
        """, (orgs, len(orgs), N, NEEDS, NEEDS))
        cur.execute("ANALYZE services")
    org = None
    cur.execute("INSERT INTO organizations (name, kind) VALUES ('bench hotline', 'other') "
                "RETURNING id")
    org = cur.fetchone()[0]
    now = int(time.time())
    tok = jwt.encode({"iss": os.environ.get("CONCORD_JWT_ISSUER", "concord"),
                      "aud": os.environ.get("CONCORD_JWT_AUDIENCE", "concord-api"),
                      "sub": "bench", "roles": ["hotline"], "org": str(org),
                      "iat": now, "exp": now + 3600},
                     os.environ["CONCORD_JWT_HS256_SECRET"], algorithm="HS256",
                     headers={"kid": os.environ.get("CONCORD_JWT_HS256_KID", "hs256")})
    exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()
    local = threading.local()
    ids, post_ms = [], []

    def one(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        rnd = random.Random(i)
        body = {"client": {"age": rnd.randint(16, 60), "languages": [rnd.choice(["en", "es", "zh"])],
                           "trafficking_type": rnd.choice(["sex", "labor"]),
                           "location": {"lat": 33 + rnd.random() * 9, "lon": -118 - rnd.random() * 14}},
                "needs": rnd.sample(NEEDS, rnd.randint(1, 3)),
                "urgency": rnd.choice(["emergency", "urgent", "routine"]),
                "consent": {"categories": ["needs"], "expires_at": exp, "form_reference": "B",
                            "informed": True, "written": True}}
        t = time.monotonic()
        r = local.s.post(BASE + "/v1/referrals", json=body, timeout=10,
                         headers={"Authorization": "Bearer " + tok,
                                  "Idempotency-Key": uuid.uuid4().hex})
        post_ms.append((time.monotonic() - t) * 1000)
        if r.status_code == 201:
            ids.append(r.json()["id"])
        else:
            print("POST", r.status_code, r.text[:200], file=sys.stderr)

    total = int(RATE * DURATION)
    print(f"posting {total} referrals at {RATE}/s against {N} services ...", flush=True)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as ex:
        futs = []
        for i in range(total):
            delay = start + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futs.append(ex.submit(one, i))
        for f in futs:
            f.result()
    deadline = time.time() + 60
    while time.time() < deadline:
        cur.execute("SELECT count(*) FROM referrals WHERE id = ANY(%s::uuid[]) AND "
                    "matched_at IS NULL", (ids,))
        if cur.fetchone()[0] == 0:
            break
        time.sleep(0.5)
    cur.execute("SELECT (j.result->>'match_ms')::float8, extract(epoch FROM r.matched_at - "
                "r.created_at) * 1000, (j.result->>'candidates')::int FROM referrals r JOIN jobs j "
                "ON j.kind = 'referral.match' AND j.payload->>'referral_id' = r.id::text "
                "WHERE r.id = ANY(%s::uuid[]) AND r.matched_at IS NOT NULL", (ids,))
    rows = cur.fetchall()
    match = [r[0] for r in rows]
    e2e = [r[1] for r in rows]
    cands = [r[2] for r in rows]
    print(f"referrals: {len(ids)} posted, {len(rows)} matched; candidates per referral "
          f"median {statistics.median(cands):.0f}")
    for name, xs in (("POST latency ms", post_ms), ("match_ms (in worker)", match),
                     ("post_to_offered_ms", e2e)):
        print(f"{name:22s} p50 {pct(xs, 50):7.2f}  p90 {pct(xs, 90):7.2f}  "
              f"p99 {pct(xs, 99):7.2f}  max {max(xs):7.2f}")


if __name__ == "__main__":
    main()
