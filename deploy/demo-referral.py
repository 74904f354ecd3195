#!/usr/bin/env python3
"""Show a referral flowing end to end on the demo task force: the demo
hotline posts one (a fixed Idempotency-Key, so a second `make run` replays
it), the worker matches it, and this prints where it stands and how to
answer an offer; then the reminders the worker's deadline clocks sent the
demo case manager's organization, a signed webhook delivery and one small
coverage report. Env: BASE, HOTLINE_TOKEN, NOTIFY_TOKEN."""
import datetime
import json
import os
import sys
import time
import urllib.request

BASE = os.environ["BASE"]
TOKEN = os.environ["HOTLINE_TOKEN"]


def call(method, path, body=None, key=None, token=None):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + (token or TOKEN))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90))
body = {
    "client": {"age": 27, "gender": "female", "languages": ["es", "en"],
               "trafficking_type": "labor",
               "location": {"lat": 34.05, "lon": -118.25, "jurisdiction": "06037"},
               "safe_contact_method": "text only, after 8pm"},
    "needs": ["housing_emergency", "legal_representation_immigration", "case_management"],
    "urgency": "urgent",
    "consent": {"categories": ["needs", "case_details", "contact"],
                "expires_at": expires.strftime("%Y-%m-%dT00:00:00Z"),
                "form_reference": "HOTLINE-CONSENT-0001", "informed": True, "written": True,
                "purpose": "referral to shelter, legal aid and case management"},
    "notes": "Caller found through outreach; wants Spanish-speaking staff.",
    "reference": "HL-DEMO-0001",
}
try:
    ref = call("POST", "/v1/referrals", body, key="demo-referral-" + expires.strftime("%Y-%m"))
    for _ in range(50):
        ref = call("GET", "/v1/referrals/" + ref["id"])
        if ref["status"] not in ("received", "matching"):
            break
        time.sleep(0.1)
except Exception as e:  # the demo must never stop the service
    print(f"  (demo referral not shown: {e})")
    sys.exit(0)
print(f"Demo referral {ref['id']} from the hotline: {ref['status']}")
for n in ref["needs"]:
    best = n.get("candidates", [{}])[0] if n.get("candidates") else {}
    print(f"  need {n['code']:34s} {n['status']:10s} "
          f"{('best: ' + best['organization']['name'] + ' score ' + str(best['score'])) if best else n.get('unmatched_reason', '')}")
for o in ref["offers"]:
    print(f"  offer {o['id']} to {o['organization']['name']} ({', '.join(o['needs'])}): {o['status']}")
# The demo provider token belongs to Bridges, the case manager's to Safe Harbor.
tokens = {"10000000-0000-4000-8000-000000000005": "provider",
          "10000000-0000-4000-8000-000000000004": "case_manager"}
for o in ref["offers"]:
    role = tokens.get(o["organization"]["id"])
    if role and o["status"] == "offered":
        print(f"  accept the {o['organization']['name']} offer with the demo {role} token:")
        print(f"    curl -s -X POST -d '' -H \"Authorization: Bearer $TOKEN\" "
              f"{BASE}/v1/referrals/{ref['id']}/offers/{o['id']}/accept")
        break

# The deadline clocks: the worker's first sweep reminded Safe Harbor of a task.
if os.environ.get("NOTIFY_TOKEN"):
    seen = []
    for _ in range(30):
        try:
            seen = call("GET", "/v1/notifications?type=task.due,task.overdue&limit=3",
                        token=os.environ["NOTIFY_TOKEN"])["items"]
        except Exception:
            seen = []
        if seen:
            break
        time.sleep(0.1)
    for n in seen:
        print(f"  reminder to Safe Harbor: {n['title']} -> {n['link']} ({n['type']}, {n['data'].get('step')})")

# A webhook: Safe Harbor registers a receiver this script runs on
# 127.0.0.1 (make run allows loopback http targets), sends a referral of
# its own and the worker posts the signed referral.received event to it.
if os.environ.get("NOTIFY_TOKEN"):
    import base64
    import hashlib
    import hmac
    import http.server
    import threading

    got = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((dict(self.headers), self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cm = os.environ["NOTIFY_TOKEN"]
    try:
        for h in call("GET", "/v1/webhooks", token=cm)["items"]:
            if h["url"].startswith("http://127.0.0.1:"):
                urllib.request.urlopen(urllib.request.Request(
                    BASE + "/v1/webhooks/" + h["id"], method="DELETE",
                    headers={"Authorization": "Bearer " + cm}), timeout=10)
        hook = call("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{srv.server_port}/hook",
                                              "events": ["referral.received"]}, token=cm)
        call("POST", "/v1/referrals", {"client": {"age": 40, "location": {"jurisdiction": "06037"}},
                                       "needs": ["food"], "urgency": "routine",
                                       "consent": {"categories": ["needs"],
                                                   "expires_at": expires.strftime("%Y-%m-%dT00:00:00Z"),
                                                   "form_reference": "DEMO-WEBHOOK", "informed": True,
                                                   "written": True}},
             key="demo-webhook-" + str(time.time()), token=cm)
        for _ in range(50):
            if got:
                break
            time.sleep(0.1)
        if got:
            hdr, raw = got[0]
            key = base64.b64decode(hook["secret"][6:])
            mac = base64.b64encode(hmac.new(key, f"{hdr['webhook-id']}.{hdr['webhook-timestamp']}.".encode()
                                            + raw, hashlib.sha256).digest()).decode()
            ok = mac in [s.split(",", 1)[1] for s in hdr["webhook-signature"].split(" ")]
            print(f"  webhook to Safe Harbor's receiver: {json.loads(raw)['type']} "
                  f"(webhook-id {hdr['webhook-id']}, signature {'verified' if ok else 'WRONG'})")
        else:
            print("  (no webhook delivery within 5 s)")
    except Exception as e:  # the demo must never stop the service
        print(f"  (webhook demo not shown: {e})")
    srv.shutdown()

# A report: the hotline may ask for service coverage (no client counts);
# the worker builds it in the background.
try:
    rep = call("POST", "/v1/reports", {"kind": "coverage", "period": str(datetime.date.today().year),
                                       "filters": {"jurisdiction": ["06037"]}})
    for _ in range(50):
        rep = call("GET", "/v1/reports/" + rep["id"])
        if rep["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    rows = len(rep.get("result", {}).get("rows", []))
    print(f"  report {rep['kind']} {rep['period']['label']}: {rep['status']}, {rows} rows"
          + (f" ({rep['reason']})" if rep.get("reason") else ""))
except Exception as e:  # the demo must never stop the service
    print(f"  (demo report not shown: {e})")
