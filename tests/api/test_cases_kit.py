"""Helpers shared by the case, audit and investigation tests (no tests
here). Cases are created through the API by a lead organization's case
manager; time-dependent consent states are set directly in the database
(the API only accepts consents that expire in the future)."""
import datetime
import uuid

from conftest import Client, mint

CATEGORIES = ["case_details", "contact", "identity", "location", "needs"]
PERSONAL = {"identity", "contact", "location"}
NAME = "Rosa Example-Plaintext"
PHONE = "+1-213-555-0199"
ADDRESS = "12 Hidden Lane, Safe City"


def iso(delta_days=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=delta_days)
    return t.isoformat()


def case_body(**over):
    body = {
        "identified_on": "2026-03-01",
        "identified_by": {"how": "hotline"},
        "jurisdiction": "06037",
        "demographics": {"age": 17, "gender": "female", "nationality": "MX",
                         "languages": ["es", "en"], "trafficking_type": "labor"},
        "identity": {"legal_name": NAME, "aliases": ["Ro"], "date_of_birth": "2009-05-04"},
        "contact": {"phone": PHONE, "email": "rosa@example.org"},
        "location": {"address": ADDRESS},
    }
    body.update(over)
    return body


class Party:
    """An organization with a token for one role."""

    def __init__(self, make_org, kind, role):
        self.org = make_org(kind=kind)
        self.kind = kind
        self.role = role
        self.token = mint([role], org=self.org)
        self.c = Client(self.token)


def new_case(lead, **over):
    r = lead.c.post("/v1/cases", json=case_body(**over))
    assert r.status_code == 201, r.text
    return r.json()


def add_need(lead, case_id, code="housing_emergency"):
    r = lead.c.post(f"/v1/cases/{case_id}/needs", json={"code": code})
    assert r.status_code == 201, r.text
    return r.json()


def add_task(actor, case_id, org, kind="follow_up", title="Check in"):
    r = actor.c.post(f"/v1/cases/{case_id}/tasks",
                     json={"title": title, "kind": kind, "due_at": iso(3),
                           "assigned_org_id": org})
    assert r.status_code == 201, r.text
    return r.json()


def grant(lead, case_id, categories, org=None, kind=None, days=30, **extra):
    body = {"categories": categories, "purpose": "service coordination",
            "informed": True, "written": True, "form_ref": "FORM-" + uuid.uuid4().hex[:6],
            "expires_at": iso(days)}
    if org:
        body["shared_with_org_id"] = org
    if kind:
        body["shared_with_kind"] = kind
    body.update(extra)
    r = lead.c.post(f"/v1/cases/{case_id}/consents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def expire(db, consent_id):
    with db.cursor() as cur:
        cur.execute("UPDATE consents SET granted_at = now() - interval '2 days', "
                    "expires_at = now() - interval '1 second' WHERE id = %s", (consent_id,))


def shown(doc):
    """The categories present in a case document."""
    return {k for k in CATEGORIES if k in doc}
