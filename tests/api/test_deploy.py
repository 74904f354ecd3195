"""Deployment artefacts (deploy/Dockerfile, deploy/compose.yaml,
deploy/k8s/, the entry point and health checks) and `concord-admin token`.

There is no container engine here, so the image and the manifests are
checked statically: the Dockerfile's build steps must be Makefile targets
(make test runs the same commands), its runtime packages must cover every
shared library the built binaries need, compose.yaml is validated by
docker-compose, the Kubernetes manifests against the Kubernetes schemas
(npm package kubernetes-models, pinned in tests/deploy/k8s-validate). What
runs in the containers runs here for real: the postgres init script, the
entry point's migrate/api/worker against a throwaway cluster, the health
checks against the test stack.
"""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import jwt
import pytest
import requests
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
PGBIN = "/usr/lib/postgresql/15/bin"
COMPILERS = {"gcc", "g++", "cc", "clang", "make", "build-essential", "cpp", "binutils"}


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def documented_variables():
    """The CONCORD_* names of the README's configuration table."""
    names = set()
    for line in read("README.md").splitlines():
        if line.startswith("| `CONCORD_"):
            names |= set(re.findall(r"`(CONCORD_[A-Z0-9_]+)`", line.split("|")[1]))
    return names


# ---- Dockerfile ---------------------------------------------------------

def dockerfile_stages():
    """[(from_line, [(instruction, arguments)])], continuation lines joined."""
    text = re.sub(r"\\\n", " ", read("deploy", "Dockerfile"))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        elif stages:
            stages[-1][1].append((instr, " ".join(args.split())))
    return stages


def makefile_targets():
    return set(re.findall(r"^([a-z][a-z0-9-]*):", read("Makefile"), re.M))


def make_variable(name):
    out = subprocess.run(["make", "-pq", "-C", ROOT, "deps-build"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        m = re.match(rf"^{name} :?= (.*)$", line)
        if m:
            return m.group(1).split()
    raise AssertionError(f"{name} not in the Makefile")


def apt_installed(runs):
    pkgs = set()
    for run in runs:
        for m in re.finditer(r"apt-get install ([^&;|]*)", run):
            pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def test_dockerfile_is_multi_stage_and_builds_with_the_makefile():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build stage and runtime stage"
    for base, _ in stages:
        assert base.split()[0] == "debian:12-slim", base
    build = stages[0][1]
    runs = [a for i, a in build if i == "RUN"]
    targets = makefile_targets()
    invoked = [t for r in runs for t in re.findall(r"\bmake ([a-z][a-z0-9 -]*)", r)
               for t in t.split() if not t.startswith("-")]
    assert "build" in invoked and "deps-build" in invoked, invoked
    for t in invoked:
        assert t in targets, f"Dockerfile runs `make {t}`, which the Makefile lacks"
    # The build stage gets every input of `make build`.
    copied = " ".join(a for i, a in build if i == "COPY")
    for src in ("Makefile", "api", "common", "worker", "sql", "deploy/deps.sh"):
        assert re.search(rf"(^|\s){re.escape(src)}(\s|$)", copied), src
    # The packages `make deps-build` installs are among those `make deps`
    # installs, so make test builds with (at least) the same set.
    assert set(make_variable("BUILD_PKGS")) <= set(make_variable("PKGS"))
    # Running it here is a no-op: every name is an installed package.
    subprocess.run(["make", "-s", "-C", ROOT, "deps-build"], check=True)


def test_dockerfile_runtime_stage_has_no_toolchain_and_runs_unprivileged():
    base, final = dockerfile_stages()[-1]
    runs = [a for i, a in final if i == "RUN"]
    pkgs = apt_installed(runs)
    assert not pkgs & COMPILERS, pkgs & COMPILERS
    assert not [p for p in pkgs if p.endswith("-dev")], pkgs
    assert "kore" not in pkgs, "Debian's kore package pulls libc6-dev and friends"
    assert not any(re.search(r"\bmake\b", r) for r in runs)
    users = [a for i, a in final if i == "USER"]
    assert users, "USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert [a for i, a in final if i == "HEALTHCHECK"], "HEALTHCHECK"
    env = " ".join(a for i, a in final if i == "ENV")
    listen = re.search(r"CONCORD_LISTEN=(\S+)", env).group(1)
    assert listen == "0.0.0.0:8080"
    assert [a for i, a in final if i == "EXPOSE"] == [listen.rsplit(":", 1)[1]]
    assert "entrypoint.sh" in " ".join(a for i, a in final if i == "ENTRYPOINT")
    copied = " ".join(a for i, a in final if i == "COPY")
    for artefact in ("/src/build/concord_api.so", "/src/bin/concord-worker",
                     "/src/bin/concord-admin", "/usr/bin/kore", "api/kore.conf",
                     "openapi", "sql", "deploy/entrypoint.sh", "deploy/healthcheck.sh"):
        assert artefact in copied, artefact
    # kore.conf loads the module from the folder the image copies it to.
    assert re.search(r"^load\s+\./build/concord_api\.so", read("api", "kore.conf"), re.M)


def needed_packages(binary):
    """Debian packages of the shared libraries a binary links directly."""
    dyn = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True,
                         check=True).stdout
    pkgs = {}
    for soname in re.findall(r"NEEDED\s+(\S+)", dyn):
        out = subprocess.run(["dpkg", "-S", soname], capture_output=True, text=True).stdout
        owners = {line.split(":")[0] for line in out.splitlines()
                  if os.path.basename(line.split(": ", 1)[1]) == soname}
        assert owners, f"{binary}: no package ships {soname}"
        pkgs[soname] = owners
    return pkgs


def test_dockerfile_runtime_packages_cover_every_linked_library():
    _, final = dockerfile_stages()[-1]
    pkgs = apt_installed([a for i, a in final if i == "RUN"]) | {"libc6"}
    for binary in ("build/concord_api.so", "bin/concord-worker", "bin/concord-admin",
                   "/usr/bin/kore"):
        for soname, owners in needed_packages(os.path.join(ROOT, binary)).items():
            assert owners & pkgs, f"{binary} needs {soname} from {owners}: add it to the image"


def test_dockerignore_keeps_state_and_builds_out_of_the_context():
    ignored = read(".dockerignore").split()
    for path in (".run", "build", "bin", ".git"):
        assert path in ignored or "/" + path in ignored, path


# ---- entry point and health checks --------------------------------------

def test_entrypoint_refuses_placeholders():
    env = dict(os.environ, CONCORD_APP_DIR=ROOT, CONCORD_DATA_KEY="CHANGE_ME_" + "x" * 30)
    r = subprocess.run([os.path.join(DEPLOY, "entrypoint.sh"), "true"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 64 and "CONCORD_DATA_KEY" in r.stderr
    env["CONCORD_DATA_KEY"] = "k" * 40
    r = subprocess.run([os.path.join(DEPLOY, "entrypoint.sh"), "true"], env=env)
    assert r.returncode == 0


def healthcheck(*args, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([os.path.join(DEPLOY, "healthcheck.sh"), *args], env=e,
                          capture_output=True, text=True, timeout=20)


def test_healthcheck_api_probes_livez():
    listen = os.environ.get("CONCORD_LISTEN")
    if not listen:
        pytest.skip("CONCORD_LISTEN not set (run through make test)")
    assert healthcheck("api", CONCORD_LISTEN=listen).returncode == 0
    port = listen.rsplit(":", 1)[1]
    assert healthcheck("api", CONCORD_LISTEN="0.0.0.0:" + port).returncode == 0
    assert healthcheck("api", CONCORD_LISTEN=f"127.0.0.1:{free_port()}").returncode != 0


def test_healthcheck_worker_reads_the_heartbeat(tmp_path):
    live = os.environ.get("CONCORD_WORKER_HEARTBEAT")
    if live and os.path.exists(live):
        # The test stack's worker writes it every loop.
        assert healthcheck("worker-live", CONCORD_WORKER_HEARTBEAT=live).returncode == 0
    hb = tmp_path / "hb"
    now = int(time.time())
    hb.write_text(f"{now}\nready\n")
    assert healthcheck("worker-live", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 0
    assert healthcheck("worker-ready", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 0
    hb.write_text(f"{now}\nnot-ready: audit sealing 75 s behind\n")
    assert healthcheck("worker-live", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 0
    r = healthcheck("worker-ready", CONCORD_WORKER_HEARTBEAT=str(hb))
    assert r.returncode == 1 and "not-ready" in r.stderr
    hb.write_text(f"{now - 300}\nready\n")
    assert healthcheck("worker-live", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 1
    assert healthcheck("worker-live", "600", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 0
    assert healthcheck("worker-live", CONCORD_WORKER_HEARTBEAT=str(tmp_path / "none")).returncode == 1
    assert healthcheck("bogus").returncode == 2


# ---- compose -------------------------------------------------------------

def compose(*args, env_file="deploy/compose.env.example", extra_env=None):
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (make deps installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONCORD_", "POSTGRES_"))}
    env.update(extra_env or {})
    return subprocess.run([exe, "-f", "deploy/compose.yaml", "--env-file", env_file, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_compose_file_is_valid_and_wired():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr
    r = compose("config")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    svc = cfg["services"]
    assert set(svc) == {"postgres", "redis", "migrate", "api", "worker"}
    assert svc["postgres"]["image"] == "postgres:15" and svc["redis"]["image"] == "redis:7"
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert svc["migrate"]["command"] == ["migrate"] and svc["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        s = svc[name]
        assert s["command"] == [name]
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        assert s["build"]["dockerfile"] == "deploy/Dockerfile"
    for name in ("postgres", "redis", "api", "worker"):
        assert svc[name]["healthcheck"]["test"], name
    assert "pgdata" in cfg["volumes"]
    assert any(v.get("target") == "/docker-entrypoint-initdb.d" if isinstance(v, dict)
               else v.endswith(":/docker-entrypoint-initdb.d:ro")
               for v in svc["postgres"]["volumes"])
    # Each process holds only its own secrets.
    api, worker, migrate = (svc[n]["environment"] for n in ("api", "worker", "migrate"))
    assert api["CONCORD_DATABASE_URL"].startswith("postgresql://concord_api:")
    assert worker["CONCORD_WORKER_DATABASE_URL"].startswith("postgresql://concord_worker:")
    assert migrate["CONCORD_ADMIN_DATABASE_URL"].startswith("postgresql://concord:")
    for secret in ("CONCORD_DATABASE_URL", "CONCORD_JWT_HS256_SECRET",
                   "CONCORD_ADMIN_DATABASE_URL"):
        assert secret not in worker, secret
    assert "CONCORD_ADMIN_DATABASE_URL" not in api
    documented = documented_variables()
    for s in svc.values():
        for name in s.get("environment") or {}:
            if name.startswith("CONCORD_") and not name.endswith("_DB_PASSWORD"):
                assert name in documented, f"{name} is not in the README's configuration table"


def test_compose_requires_every_secret(tmp_path):
    example = read("deploy", "compose.env.example")
    for name in ("POSTGRES_PASSWORD", "CONCORD_API_DB_PASSWORD", "CONCORD_DATA_KEY",
                 "CONCORD_JWT_HS256_SECRET", "CONCORD_REDIS_PASSWORD"):
        env_file = tmp_path / f"{name}.env"
        env_file.write_text(re.sub(rf"^{name}=.*$", "", example, flags=re.M))
        r = compose("config", "-q", env_file=str(env_file))
        assert r.returncode != 0 and name in r.stderr, (name, r.stderr)


def test_committed_examples_hold_placeholders_only():
    for line in read("deploy", "compose.env.example").splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            if re.search(r"PASSWORD|SECRET|KEY", name):
                assert value.startswith("CHANGE_ME"), name
    for doc in yaml.safe_load_all(read("deploy", "k8s", "secret.example.yaml")):
        for name, value in doc["stringData"].items():
            assert "CHANGE_ME" in value, name
    tracked = subprocess.run(["git", "-C", ROOT, "ls-files", "deploy"], capture_output=True,
                             text=True).stdout.split()
    assert "deploy/.env" not in tracked


# ---- Kubernetes ------------------------------------------------------------

def k8s_objects():
    objs = {}
    for f in sorted(os.listdir(K8S)):
        for doc in yaml.safe_load_all(read("deploy", "k8s", f)):
            if doc and doc.get("kind") != "Kustomization":
                objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


NODE_DIR = os.path.join(ROOT, "build", "k8s-validate")
VALIDATE_SRC = os.path.join(ROOT, "tests", "deploy", "k8s-validate")


def npm_install():
    """npm ci of the pinned packages into build/k8s-validate (git-ignored; apart
    from build/node, whose packages npm ci would remove), once per
    package-lock.json: a stamp holds the lock's hash."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed: the Kubernetes manifests were "
                    "not validated against the schemas (CI has them)")
    os.makedirs(NODE_DIR, exist_ok=True)
    for f in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copyfile(os.path.join(VALIDATE_SRC, f), os.path.join(NODE_DIR, f))
    with open(os.path.join(VALIDATE_SRC, "package-lock.json"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(NODE_DIR, "node_modules", ".concord-lock")
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(stamp, "w") as f:
        f.write(want)


def test_k8s_manifests_match_the_kubernetes_schemas():
    npm_install()
    r = subprocess.run(["node", "validate.mjs", K8S], cwd=NODE_DIR, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problems" in r.stdout


def test_k8s_validator_catches_mistakes(tmp_path):
    npm_install()
    dep = read("deploy", "k8s", "api-deployment.yaml")
    (tmp_path / "a.yaml").write_text(dep.replace("readinessProbe", "readynessProbe"))
    (tmp_path / "b.yaml").write_text(read("deploy", "k8s", "api-hpa.yaml")
                                     .replace("averageUtilization: 70", "averageUtilization: '70'"))
    r = subprocess.run(["node", "validate.mjs", str(tmp_path)], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert 'unknown field "readynessProbe"' in r.stdout
    assert "averageUtilization must be integer" in r.stdout


def container(obj):
    (c,) = obj["spec"]["template"]["spec"]["containers"]
    return c


def test_k8s_workloads_probe_and_run_unprivileged():
    objs = k8s_objects()
    api = objs[("Deployment", "concord-api")]
    worker = objs[("Deployment", "concord-worker")]
    job = objs[("Job", "concord-migrate")]
    assert api["spec"]["replicas"] >= 2
    c = container(api)
    assert c["args"] == ["api"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
    assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > pre_stop
    assert c["resources"]["requests"] and c["resources"]["limits"]
    port = c["ports"][0]["containerPort"]
    cm = objs[("ConfigMap", "concord-config")]["data"]
    assert cm["CONCORD_LISTEN"].endswith(f":{port}")
    w = container(worker)
    assert w["args"] == ["worker"]
    assert w["livenessProbe"]["exec"]["command"][:2] == ["/app/deploy/healthcheck.sh", "worker-live"]
    assert w["readinessProbe"]["exec"]["command"][:2] == ["/app/deploy/healthcheck.sh", "worker-ready"]
    assert cm["CONCORD_WORKER_HEARTBEAT"].startswith("/tmp/")
    assert container(job)["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for obj in (api, worker, job):
        spec = obj["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        sc = container(obj)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert spec["automountServiceAccountToken"] is False
        if obj is not job:
            assert any(m["mountPath"] == "/tmp" for m in container(obj)["volumeMounts"])
    hpa = objs[("HorizontalPodAutoscaler", "concord-api")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "concord-api"
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = objs[("PodDisruptionBudget", "concord-api")]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    svc = objs[("Service", "concord-api")]
    assert svc["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    # Each workload reads only its own Secret.
    refs = {obj["metadata"]["name"]: {e["secretRef"]["name"] for e in container(obj)["envFrom"]
                                      if "secretRef" in e} for obj in (api, worker, job)}
    assert refs == {"concord-api": {"concord-api"}, "concord-worker": {"concord-worker"},
                    "concord-migrate": {"concord-migrate"}}
    documented = documented_variables()
    names = set(cm)
    for (kind, _), obj in objs.items():
        if kind == "Secret":
            names |= set(obj["stringData"])
    assert names - documented == set(), "not in the README's configuration table"
    worker_secret = objs[("Secret", "concord-worker")]["stringData"]
    assert "CONCORD_JWT_HS256_SECRET" not in worker_secret
    assert "CONCORD_DATABASE_URL" not in worker_secret


# ---- the containers' commands, run here ------------------------------------

@pytest.fixture
def scratch():
    """A folder the postgres account can reach (pytest's own is closed to it)."""
    path = tempfile.mkdtemp(prefix="concord-deploy-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_postgres_init_migrate_api_and_worker_as_in_compose(scratch):
    """deploy/postgres-init on a fresh cluster, then the entry point's
    migrate (as the non-superuser owner), api and worker with the roles it
    made: what `docker compose up` runs, without the containers."""
    if not os.path.exists(os.path.join(PGBIN, "initdb")):
        pytest.skip("PostgreSQL 15 is not installed")
    tmp_path = scratch
    as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    data = tmp_path / "pg"
    data.mkdir()
    if as_pg:
        shutil.chown(tmp_path, "postgres")
        shutil.chown(data, "postgres")
    (tmp_path / "pw").write_text("superuser-secret\n")
    if as_pg:
        shutil.chown(tmp_path / "pw", "postgres")
    port, rport, aport = free_port(), free_port(), free_port()
    subprocess.run(as_pg + [f"{PGBIN}/initdb", "-D", str(data), "-U", "postgres",
                            "--auth=scram-sha-256", f"--pwfile={tmp_path}/pw", "-E", "UTF8",
                            "--locale=C.UTF-8"], check=True, capture_output=True)
    conf = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    subprocess.run(as_pg + [f"{PGBIN}/pg_ctl", "-D", str(data), "-o", conf, "-l",
                            str(data / "log"), "-w", "start"], check=True, capture_output=True)
    procs = []
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
        base.update(CONCORD_APP_DIR=ROOT, PGHOST="127.0.0.1", PGPORT=str(port))
        pw = {"CONCORD_OWNER_DB_PASSWORD": "owner" + "o" * 20,
              "CONCORD_API_DB_PASSWORD": "api" + "a" * 20,
              "CONCORD_WORKER_DB_PASSWORD": "worker" + "w" * 20}
        init = dict(base, POSTGRES_USER="postgres", PGPASSWORD="superuser-secret", **pw)
        r = subprocess.run([os.path.join(DEPLOY, "postgres-init", "10-concord-roles.sh")],
                           env=init, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        url = f"127.0.0.1:{port}/concord"
        owner = f"postgresql://concord:{pw['CONCORD_OWNER_DB_PASSWORD']}@{url}"
        r = subprocess.run([os.path.join(DEPLOY, "entrypoint.sh"), "migrate"],
                           env=dict(base, CONCORD_ADMIN_DATABASE_URL=owner),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "schema at version" in r.stdout
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL))
        redis_url = f"redis://127.0.0.1:{rport}/0"
        log = open(tmp_path / "api.log", "w")
        api_env = dict(base, CONCORD_LISTEN=f"127.0.0.1:{aport}", CONCORD_WORKERS="1",
                       CONCORD_DB_POOL="2", CONCORD_REDIS_URL=redis_url,
                       CONCORD_DATABASE_URL=f"postgresql://concord_api:"
                       f"{pw['CONCORD_API_DB_PASSWORD']}@{url}",
                       CONCORD_JWT_HS256_SECRET="s" * 40, CONCORD_DATA_KEY="k" * 40)
        procs.append(subprocess.Popen([os.path.join(DEPLOY, "entrypoint.sh"), "api"],
                                      env=api_env, stdout=log, stderr=subprocess.STDOUT))
        status = None
        for _ in range(100):
            try:
                status = requests.get(f"http://127.0.0.1:{aport}/readyz", timeout=2).status_code
                if status == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        assert status == 200, (tmp_path / "api.log").read_text()[-2000:]
        assert healthcheck("api", CONCORD_LISTEN=f"127.0.0.1:{aport}").returncode == 0
        hb = tmp_path / "heartbeat"
        r = subprocess.run([os.path.join(DEPLOY, "entrypoint.sh"), "worker", "--once"],
                           env=dict(base, CONCORD_REDIS_URL=redis_url,
                                    CONCORD_WORKER_HEARTBEAT=str(hb),
                                    CONCORD_WORKER_DATABASE_URL=f"postgresql://concord_worker:"
                                    f"{pw['CONCORD_WORKER_DB_PASSWORD']}@{url}"),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert healthcheck("worker-ready", CONCORD_WORKER_HEARTBEAT=str(hb)).returncode == 0
        # The API's role may not read the tables themselves.
        r = subprocess.run(["psql", "-X", "-tAc", "SELECT count(*) FROM organizations",
                            f"postgresql://concord_api:{pw['CONCORD_API_DB_PASSWORD']}@{url}"],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "permission denied" in r.stderr
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(as_pg + [f"{PGBIN}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)


# ---- concord-admin token ----------------------------------------------------

def admin_token(cwd, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    e.update(env)
    return subprocess.run([os.path.join(ROOT, "bin", "concord-admin"), "token", "--role",
                           "coordinator", "--org", "10000000-0000-4000-8000-00000000000c"],
                          cwd=cwd, env=e, capture_output=True, text=True)


def test_admin_token_finds_the_stack_secret(tmp_path):
    secret = "f" * 64
    state = tmp_path / "state"
    state.mkdir()
    (state / "jwt_secret").write_text(secret + "\n")
    r = admin_token(tmp_path, CONCORD_STATE_DIR=str(state))
    assert r.returncode == 0, r.stderr
    claims = jwt.decode(r.stdout.strip(), secret, algorithms=["HS256"], audience="concord-api")
    assert claims["roles"] == ["coordinator"]
    assert str(state / "jwt_secret") in r.stderr
    # Without CONCORD_STATE_DIR: ./.run/jwt_secret, as `make run` keeps it.
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "jwt_secret").write_text(secret)
    r = admin_token(tmp_path)
    assert r.returncode == 0, r.stderr
    jwt.decode(r.stdout.strip(), secret, algorithms=["HS256"], audience="concord-api")
    # The environment wins over the file.
    r = admin_token(tmp_path, CONCORD_JWT_HS256_SECRET="e" * 40)
    jwt.decode(r.stdout.strip(), "e" * 40, algorithms=["HS256"], audience="concord-api")
    assert r.stderr == ""
    # Nothing to sign with: says where it looked.
    empty = tmp_path / "empty"
    empty.mkdir()
    r = admin_token(empty)
    assert r.returncode == 1 and r.stdout == ""
    assert "CONCORD_JWT_HS256_SECRET is not set" in r.stderr and ".run/jwt_secret" in r.stderr
    (tmp_path / ".run" / "jwt_secret").write_text("short\n")
    r = admin_token(tmp_path)
    assert r.returncode == 1 and "32 bytes" in r.stderr


def test_deploy_guide_is_linked():
    assert "docs/deploy.md" in read("README.md")
    guide = read("docs", "deploy.md")
    for topic in ("SKIP LOCKED", "preStop", "431", "X-Forwarded-For", "/readyz", "sealer"):
        assert topic in guide, topic
