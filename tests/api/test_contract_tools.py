"""The contract as front ends consume it: both linters pass it clean, every
operation is named after its route function, every problem type the code
can answer is listed, /v1/hsds answers with and without its slash, the
reference page at /docs renders in a real browser under its CSP, and a
client generated from the contract runs a whole flow against the API."""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import requests

from conftest import BASE, ROOT, SPEC

NODE_BIN = os.path.join(ROOT, "build", "node", "node_modules", ".bin")


def tool(name):
    path = os.path.join(NODE_BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} missing: `make node` installs it (make test does)")
    return path


def run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_spectral_finds_nothing():
    r = run([tool("spectral"), "lint", "-q", "-r", ".spectral.yaml",
             "--fail-severity=hint", "openapi/openapi.yaml"])
    assert r.returncode == 0 and "warning" not in r.stdout, r.stdout + r.stderr


def test_redocly_finds_nothing():
    r = run([tool("redocly"), "lint", "--config", "redocly.yaml",
             "--format=stylish", "openapi/openapi.yaml"])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "warning" not in out.lower() and "error" not in out.lower(), out


def _routes_c():
    src = open(os.path.join(ROOT, "api", "routes.c")).read()
    for m in re.finditer(r'\{\s*(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)",(.*?)\}', src, re.S):
        method, path, rest = m.groups()
        parts = [p.strip() for p in rest.split(",")]
        name = parts[-1].strip('"') if parts[-1] != "NULL" else re.sub(r"^api_", "", parts[-2])
        yield method.lower(), path.replace(":int}", "}"), name


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def test_every_operation_is_named_tagged_and_described():
    seen = set()
    tags = {t["name"] for t in SPEC["tags"]}
    for method, path, name in _routes_c():
        op = SPEC["paths"][path][method]
        # The trailing-slash alias of the HSDA root shares its function.
        want = camel(name) + ("Slash" if path == "/v1/hsds/" else "")
        assert op["operationId"] == want, (method, path)
        assert op["operationId"] not in seen
        seen.add(op["operationId"])
        assert op["tags"] and set(op["tags"]) <= tags, (method, path)
        assert op["summary"] and op["description"], (method, path)


def test_every_problem_type_the_code_answers_is_in_the_contract():
    """Slugs raised in SQL (lib.fail, lib.problem) and in C (api_problem*) are exactly
    the ProblemType enum; responses are validated against it as well."""
    found = set()
    for f in glob.glob(os.path.join(ROOT, "sql", "code", "*.sql")):
        text = open(f).read()
        found |= set(re.findall(r"lib\.fail\(\s*\d+,\s*'([a-z0-9-]+)'", text))
        # rpc.call answers some database errors itself (a unique value taken).
        found |= set(re.findall(r"lib\.problem\(\s*\d+,\s*'([a-z0-9-]+)'", text))
    for f in glob.glob(os.path.join(ROOT, "api", "*.c")):
        found |= set(re.findall(r'api_problem(?:_with)?\([a-z]+,\s*\d+,\s*"([a-z0-9-]+)"',
                                open(f).read()))
    pt = SPEC["components"]["schemas"]["ProblemType"]
    listed = {t.removeprefix("urn:concord:problem:") for t in pt["enum"]}
    assert found == listed, (sorted(found - listed), sorted(listed - found))
    assert set(pt["x-enumDescriptions"]) == set(pt["enum"])
    for t, text in pt["x-enumDescriptions"].items():
        assert re.match(r"^[45]\d\d: \S", text), t


def test_hsda_root_answers_with_and_without_the_slash(client, tokens):
    c = client(tokens["analyst"])
    a, b = c.get("/v1/hsds"), c.get("/v1/hsds/")
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json() and a.json()["version"] == "3.0"


def test_repeatable_query_parameters_take_both_forms(client, tokens):
    c = client(tokens["hotline"])
    a = c.get("/v1/services?need=housing&need=legal_representation&limit=100")
    b = c.get("/v1/services?need=housing,legal_representation&limit=100")
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert [s["id"] for s in a.json()["items"]] == [s["id"] for s in b.json()["items"]]
    op = SPEC["paths"]["/v1/services"]["get"]
    need = next(p for p in op["parameters"] if p.get("name") == "need")
    assert need["schema"]["type"] == "array" and need["explode"] is True


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def test_docs_is_public_and_self_contained(anon):
    r = anon.get("/docs")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "http" not in csp and "'unsafe-eval'" not in csp
    scripts = re.findall(r"<script([^>]*)>", r.text)
    assert scripts and all("src" not in a for a in scripts), scripts
    assert not re.search(r'<(link|img|iframe)[^>]+(src|href)="(https?:)?//', r.text)


def test_docs_renders_the_operations_in_headless_chromium():
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium missing: `make deps` installs it")
    profile = tempfile.mkdtemp(prefix="concord-chromium-")
    try:
        r = subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
             "--dump-dom", BASE + "/docs"],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = r.stdout
    assert r.returncode == 0, r.stderr[-2000:]
    # Redoc rendered in the browser (the page ships an empty #redoc):
    # operations by summary, and their generated anchors.
    for op_id, summary in (("serviceSearch", "Directory search."),
                           ("referralCreate", "Send a referral"),
                           ("caseConsentCreate", "Record a consent")):
        assert f"operation/{op_id}" in dom, op_id
        assert summary in dom, summary
    # Nothing was refused by the CSP, nothing failed in the console.
    console = [l for l in r.stderr.splitlines()
               if "CONSOLE" in l or "Content Security Policy" in l]
    assert not console, console


@pytest.fixture
def only_this_service_matches(db):
    """Take every other service out of matching while the flow runs."""
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS ts_saved AS "
                    "SELECT id FROM services WHERE accepts_referrals")
        cur.execute("UPDATE services SET accepts_referrals = false WHERE accepts_referrals")
    yield
    with db.cursor() as cur:
        cur.execute("UPDATE services SET accepts_referrals = true WHERE id IN "
                    "(SELECT id FROM ts_saved)")
        cur.execute("DROP TABLE ts_saved")


def test_typed_client_runs_a_whole_flow(make_org, orgs, only_this_service_matches):
    """tests/client/flow.mts: types generated by openapi-typescript, calls
    by openapi-fetch, compiled by tsc --strict, run by node against the API:
    directory search, a case with a consent, a referral from a hotline, the
    offer accepted, the referral completed."""
    from conftest import mint
    work = os.path.join(ROOT, "build", "node", "client")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for f in ("flow.mts", "tsconfig.json"):
        shutil.copy(os.path.join(ROOT, "tests", "client", f), work)
    src = open(os.path.join(work, "flow.mts")).read()
    assert not re.search(r"\bas\s+[A-Za-z{(\[]", src.replace("import type", "")), \
        "the flow must type-check without assertions"
    # Run beside the client, away from redocly.yaml: openapi-typescript
    # would apply its rules without .redocly.lint-ignore.yaml (the linters
    # themselves are tested above).
    r = subprocess.run([tool("openapi-typescript"),
                        os.path.join(ROOT, "openapi", "openapi.yaml"), "-o",
                        os.path.join(work, "schema.d.ts")], cwd=work,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([tool("tsc"), "-p", work, "--strict"])
    assert r.returncode == 0, r.stdout + r.stderr
    provider_org = make_org(kind="ngo")
    env = dict(os.environ, CONCORD_BASE_URL=BASE, PROVIDER_ORG=provider_org,
               TOKEN_PROVIDER=mint(["provider"], org=provider_org),
               TOKEN_HOTLINE=mint(["hotline"], org=orgs["other"]),
               TOKEN_CASE_MANAGER=mint(["case_manager"], org=orgs["victim_services"]),
               LAT="-45.87", LON="170.50")
    r = run(["node", os.path.join(work, "flow.mjs")], timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"status":"completed"' in r.stdout, r.stdout


def test_info_names_a_contact_and_claims_no_licence_the_repository_lacks():
    info = SPEC["info"]
    assert info["contact"]["name"] and "@" in info["contact"]["email"]
    has_licence_file = any(os.path.exists(os.path.join(ROOT, n))
                           for n in ("LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING"))
    assert ("license" in info) == has_licence_file, info.get("license")


def test_metrics_is_in_the_contract_with_its_own_token():
    op = SPEC["paths"]["/metrics"]["get"]
    assert op["security"] == [{"metricsToken": []}]
    assert SPEC["components"]["securitySchemes"]["metricsToken"]["scheme"] == "bearer"
    assert {"200", "401", "404"} <= set(op["responses"])
