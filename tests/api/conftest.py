"""Black-box fixtures for the API tests.

The stack (deploy/stack.sh test) starts PostgreSQL, Redis, the API and the
worker and exports where they are. Every response that goes through the
`api` client is checked against openapi/openapi.yaml: the route, the
status code and the body schema must all be in the contract. After the
last test, whatever the order or selection, the service logs are checked
(service_logs_are_clean): a dirty log fails the run.
"""
import hashlib
import json
import os
import re
import time
import uuid

import jsonschema
import jwt
import psycopg2
import psycopg2.extras
import pytest
import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.environ.get("CONCORD_TEST_BASE_URL", "http://127.0.0.1:8080")
SECRET = os.environ.get("CONCORD_JWT_HS256_SECRET", "")
KID = os.environ.get("CONCORD_JWT_HS256_KID", "hs256")
ISSUER = os.environ.get("CONCORD_JWT_ISSUER", "concord")
AUDIENCE = os.environ.get("CONCORD_JWT_AUDIENCE", "concord-api")
ADMIN_DB = os.environ.get("CONCORD_ADMIN_DATABASE_URL", "")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

STATE = os.environ.get("CONCORD_TEST_STATE", "")

ROLES = ["admin", "coordinator", "case_manager", "provider", "investigator",
         "prosecutor", "hotline", "analyst"]

with open(os.path.join(ROOT, "openapi", "openapi.yaml")) as f:
    SPEC = yaml.safe_load(f)


def _path_regex(template):
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


_PATHS = [(_path_regex(p), p) for p in SPEC["paths"]]


def spec_operation(method, path):
    """Return (template, operation) for a concrete path, or (None, None)."""
    path = path.split("?", 1)[0]
    for rx, tpl in _PATHS:
        if rx.match(path):
            return tpl, SPEC["paths"][tpl].get(method.lower())
    return None, None


def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"].lstrip("#/").split("/")
        node = SPEC
        for part in ref:
            node = node[part]
        obj = node
    return obj


def validate_against_spec(resp):
    """Assert the response is described by the contract."""
    method = resp.request.method
    path = resp.request.path_url
    tpl, op = spec_operation(method, path)
    ctype = resp.headers.get("content-type", "").split(";")[0]
    if tpl is None or op is None:
        # Unknown route or method: must be a problem document.
        assert resp.status_code in (404, 405), (method, path, resp.status_code)
        schema = SPEC["components"]["schemas"]["Problem"]
    else:
        responses = op.get("responses", {})
        r = responses.get(str(resp.status_code)) or responses.get("default")
        assert r is not None, f"{method} {tpl} answered {resp.status_code}, not in openapi.yaml"
        r = _resolve(r)
        content = r.get("content")
        if not content:
            return
        assert ctype in content, f"{method} {tpl} {resp.status_code}: {ctype} not in {list(content)}"
        schema = content[ctype].get("schema")
        if schema is None:
            return
    if resp.status_code == 304 or not resp.content:
        return
    if ctype in ("application/json", "application/problem+json"):
        wrapper = dict(schema)
        wrapper["components"] = SPEC["components"]
        jsonschema.validate(resp.json(), wrapper,
                            cls=jsonschema.Draft202012Validator)


_ETAG_KINDS = [(re.compile(r"^/v1/cases/[^/]+/needs/([^/?]+)"), "need"),
               (re.compile(r"^/v1/cases/[^/]+/tasks/([^/?]+)"), "task"),
               (re.compile(r"^/v1/cases/([^/?]+)$"), "case"),
               (re.compile(r"^/v1/organizations/([^/?]+)$"), "organization"),
               (re.compile(r"^/v1/services/([^/?]+)"), "service"),
               (re.compile(r"^/v1/investigations/([^/?]+)$"), "investigation")]


def etag(path, version):
    """The ETag of the record at path (e.g. /v1/cases/<id>/tasks/<tid>)
    at a given version, as lib.etag spells it: for tests that need a
    stale or a future tag. Anywhere else a test sends what it read."""
    for rx, kind in _ETAG_KINDS:
        m = rx.match(path)
        if m:
            raw = f"{kind}:{m.group(1)}:{version}".encode()
            return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    raise AssertionError(f"no ETag kind for {path}")


# What every response carries (api/respond.c): nothing personal is cached,
# sniffed, framed or leaked through Referer.
SECURITY_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer",
                    "content-security-policy": "default-src 'none'; frame-ancestors 'none'"}


class Client:
    """requests with a base URL, a token and contract checking."""

    sent = 0        # requests answered through Client, for the log check

    def __init__(self, token=None):
        self.s = requests.Session()
        self.token = token

    def request(self, method, path, token=..., validate=True, headers=None, **kw):
        h = dict(headers or {})
        tok = self.token if token is ... else token
        if tok is not None and "Authorization" not in h:
            h["Authorization"] = "Bearer " + tok
        kw.setdefault("timeout", 30)
        resp = self.s.request(method, BASE + path, headers=h, **kw)
        Client.sent += 1
        assert "x-request-id" in resp.headers, "every response carries X-Request-Id"
        for k, v in SECURITY_HEADERS.items():
            if k == "content-security-policy" and path.split("?")[0] == "/docs":
                continue    # the reference page sends its own policy
            if (k == "cache-control" and path.startswith("/public/")
                    and resp.status_code in (200, 304)):
                # The public face holds nothing personal: cacheable.
                assert resp.headers.get(k) == "public, max-age=300", resp.headers.get(k)
                continue
            assert resp.headers.get(k) == v, f"every response carries {k}: {v}"
        if resp.status_code == 201:
            assert "location" in resp.headers, f"201 without Location: {method} {path}"
        if resp.status_code >= 400:
            assert resp.headers.get("content-type", "").startswith("application/problem+json"), resp.text
            body = resp.json()
            for k in ("type", "title", "status", "detail", "instance"):
                assert k in body, (k, body)
            assert body["status"] == resp.status_code
        if validate:
            validate_against_spec(resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def mint(roles, org=None, sub=..., key=None, alg="HS256", headers=None,
         exp_in=3600, **claims):
    """Mint a token with PyJWT (an independent implementation). A claim
    passed as None is left out. Tokens live an hour: a whole run on a
    loaded machine outlasts ten minutes."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE,
               "sub": f"test-{uuid.uuid4().hex[:8]}" if sub is ... else sub,
               "iat": now, "nbf": now, "exp": now + exp_in,
               "roles": roles if isinstance(roles, list) else [roles]}
    if org is not None:
        payload["org"] = str(org)
    payload.update(claims)
    for k in [k for k, v in payload.items() if v is None]:
        del payload[k]
    hdr = {"kid": KID}
    hdr.update(headers or {})
    return jwt.encode(payload, key if key is not None else SECRET, algorithm=alg, headers=hdr)


class AdminDB:
    """The admin connection, able to reconnect after PostgreSQL restarts."""

    def __init__(self):
        self.conn = None
        self.reconnect()

    def reconnect(self):
        if self.conn is not None and not self.conn.closed:
            self.conn.close()
        self.conn = psycopg2.connect(ADMIN_DB)
        self.conn.autocommit = True

    def cursor(self, *a, **kw):
        if self.conn.closed:
            self.reconnect()
        return self.conn.cursor(*a, **kw)

    def close(self):
        self.conn.close()


@pytest.fixture(scope="session")
def db():
    if not ADMIN_DB:
        pytest.skip("CONCORD_ADMIN_DATABASE_URL not set (run through make test)")
    conn = AdminDB()
    yield conn
    conn.close()


def _org(db, kind="victim_services", status="active", name=None, jurisdictions=("06037",)):
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO organizations (name, kind, status, jurisdictions) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (name or f"Test {kind} {uuid.uuid4().hex[:6]}", kind, status, list(jurisdictions)))
        return str(cur.fetchone()[0])


@pytest.fixture(scope="session")
def make_org(db):
    """make_org(kind=..., status=...) -> new organization id (direct insert)."""
    return lambda **kw: _org(db, **kw)


@pytest.fixture(scope="session")
def orgs(db):
    """One active organization per kind, shared by every test."""
    kinds = ["law_enforcement", "prosecution", "victim_services", "ngo", "health",
             "legal_aid", "government", "faith_based", "other"]
    return {k: _org(db, kind=k) for k in kinds}


@pytest.fixture(scope="session")
def tokens(orgs):
    """A token per role; org-bound roles belong to a fitting organization.
    They live for the whole session: two hours, so that a run slowed down by
    a loaded machine does not see them expire half-way."""
    home = {"coordinator": "government", "case_manager": "victim_services",
            "provider": "victim_services", "investigator": "law_enforcement",
            "prosecutor": "prosecution", "hotline": "other", "analyst": "other"}
    t = {"admin": mint(["admin"], exp_in=7200)}
    for role, kind in home.items():
        t[role] = mint([role], org=orgs[kind], exp_in=7200)
    return t


@pytest.fixture
def anon():
    return Client(token=None)


@pytest.fixture
def client():
    """client(token) -> Client bound to that token."""
    return lambda tok=None: Client(token=tok)


# ------------------------------------------------------------ service logs

# The fields README's Logs paragraph promises on every request line (org
# only when the caller is authenticated).
LOG_REQUEST_FIELDS = {"ts", "level", "component", "msg", "request_id",
                      "method", "route", "status", "duration_ms"}


def log_secrets():
    """Values the suite sends as personal data or tokens ("eyJ" starts
    every JWT): none may reach a log."""
    from test_cases_kit import ADDRESS, NAME, PHONE
    return [NAME, PHONE, ADDRESS, "rosa@example.org", "2009-05-04",
            "met at the bus station", "555-0100", "after 6pm", "eyJ"]


def log_problems():
    """What is wrong with the API's and the worker's logs, as messages
    (empty when clean). Log files exist only under `make test`."""
    problems = []
    for name in ("api.log", "worker.log"):
        path = os.path.join(STATE, name)
        if not STATE or not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for s in log_secrets():
            if s in text:
                problems.append(f"{name} holds {s!r}")
        if name != "api.log":
            continue
        lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
        reqs = [l for l in lines if l.get("msg") == "request"]
        # Every answer a Client got was logged before it was sent.
        if len(reqs) < Client.sent:
            problems.append(f"api.log has {len(reqs)} request lines for "
                            f"{Client.sent} requests answered")
        for l in reqs:
            missing = LOG_REQUEST_FIELDS - set(l)
            if missing:
                problems.append(f"api.log request line lacks {sorted(missing)}: {l}")
                break
    return problems


@pytest.fixture(scope="session", autouse=True)
def service_logs_are_clean():
    """Set up before every other fixture, so torn down after every test
    and fixture ran: a problem in the logs errors the run (non-zero exit
    from `make test`), whichever tests were selected and in what order."""
    yield
    problems = log_problems()
    assert not problems, "service logs: " + "; ".join(problems)
