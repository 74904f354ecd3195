"""Signing keys rotate without a restart: a JWK Set from a file
(CONCORD_JWT_JWKS_FILE, re-read when it changes) or a URL
(CONCORD_JWT_JWKS_URL, fetched by a process of its own, never on the
event loop). Keys are found by kid and pinned to one algorithm by their
type (RSA: RS256, EC P-256: ES256); an unknown kid makes the API look
again at most once per CONCORD_JWT_JWKS_REFRESH_SECONDS. Each test starts
its own API on the stack's database."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import AUDIENCE, ISSUER, ROOT, STATE


def b64(n, size=None):
    raw = n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Key:
    def __init__(self, kid, kind="RSA"):
        self.kid, self.kind = kid, kind
        if kind == "RSA":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": b64(pub.n), "e": b64(pub.e)}
            self.alg = "RS256"
        else:
            self.priv = ec.generate_private_key(ec.SECP256R1())
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "crv": "P-256",
                        "x": b64(pub.x, 32), "y": b64(pub.y, 32)}
            self.alg = "ES256"

    def token(self, alg=None, key=None):
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "jwks-test", "iat": now,
                   "nbf": now, "exp": now + 600, "roles": ["admin"]}
        return jwt.encode(payload, key if key is not None else self.priv,
                          algorithm=alg or self.alg, headers={"kid": self.kid})


def hs256(header, payload, secret):
    """Sign by hand: PyJWT refuses a PEM key as an HMAC secret."""
    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")
    signing = enc(header) + b"." + enc(payload)
    sig = hmac.new(secret, signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


def jwks(*keys, extra=()):
    return {"keys": [k.jwk for k in keys] + list(extra)}


def write_atomic(path, doc):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


class Api:
    def __init__(self, name, tmp_path, **env):
        port = free_port()
        e = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{port}", CONCORD_WORKERS="1",
                 CONCORD_DB_POOL="2", **env)
        self.logpath = os.path.join(STATE or str(tmp_path), f"api-{name}.log")
        self.log = open(self.logpath, "w")
        self.p = subprocess.Popen(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT,
                                  env=e, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(self.base + "/livez", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert self.p.poll() is None and time.time() < deadline, open(self.logpath).read()
            time.sleep(0.1)

    def me(self, token):
        return requests.get(self.base + "/v1/me", timeout=10,
                            headers={"Authorization": "Bearer " + token})

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


@pytest.fixture
def api_with(tmp_path):
    started = []

    def start(name, **env):
        a = Api(name, tmp_path, **env)
        started.append(a)
        return a
    yield start
    for a in started:
        a.close()


def until(fn, seconds=5):
    deadline = time.time() + seconds
    while True:
        r = fn()
        if r or time.time() > deadline:
            return r
        time.sleep(0.2)


def test_keys_from_a_file_verify_by_kid_and_rotate_without_restart(api_with, tmp_path):
    r1, e1, r2 = Key("r1"), Key("e1", "EC"), Key("r2")
    path = str(tmp_path / "jwks.json")
    write_atomic(path, jwks(r1, e1))
    api = api_with("jwks-file", CONCORD_JWT_JWKS_FILE=path)
    assert api.me(r1.token()).status_code == 200
    # The same token sent again and again is remembered by the worker...
    kept = r1.token()
    for _ in range(4):
        assert api.me(kept).status_code == 200
    assert api.me(e1.token()).status_code == 200
    # A kid nobody announced yet is refused.
    r = api.me(r2.token())
    assert r.status_code == 401 and "kid is not a known key" in r.json()["detail"]
    # Rotate: r2 in, r1 out. The API sees the change without a restart.
    write_atomic(path, jwks(r2, e1))
    assert until(lambda: api.me(r2.token()).status_code == 200)
    assert until(lambda: api.me(r1.token()).status_code == 401)
    # ...and forgotten when its key leaves the set.
    for _ in range(4):
        assert api.me(kept).status_code == 401
    assert api.me(e1.token()).status_code == 200
    # A broken file keeps the keys held.
    with open(path, "w") as f:
        f.write("{not json")
    time.sleep(1.5)
    assert api.me(r2.token()).status_code == 200
    assert "jwks not loaded" in open(api.logpath).read()


def test_algorithms_are_pinned_by_the_key(api_with, tmp_path):
    r1, e1 = Key("r1"), Key("e1", "EC")
    other = Key("x1", "EC")
    # A key that says RS256 but is an EC key, and an RS512 key, are skipped.
    bad_alg = dict(other.jwk, alg="RS256")
    rs512 = dict(Key("r5").jwk, alg="RS512")
    path = str(tmp_path / "jwks.json")
    write_atomic(path, jwks(r1, e1, extra=[bad_alg, rs512]))
    api = api_with("jwks-alg", CONCORD_JWT_JWKS_FILE=path)
    assert api.me(r1.token()).status_code == 200
    # HS256 with the RSA key's public PEM as the secret: refused.
    pem = r1.priv.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = hs256({"alg": "HS256", "typ": "JWT", "kid": "r1"},
                   {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "roles": ["admin"],
                    "exp": int(time.time()) + 600}, pem)
    r = api.me(forged)
    assert r.status_code == 401
    # The EC key's kid with an RSA signature, and the skipped keys: refused.
    assert api.me(Key("e1").token()).status_code == 401
    assert api.me(other.token()).status_code == 401
    log = open(api.logpath).read()
    assert '"skipped":2' in log


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts its fetches."""

    def __init__(self, doc):
        self.doc, self.fetches = doc, 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/jwks.json"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def test_keys_from_a_url_rotate_and_unknown_kids_refresh_at_most_once(api_with):
    r1, r2, r3 = Key("r1"), Key("r2"), Key("r3")
    srv = JwksServer(jwks(r1))
    try:
        api = api_with("jwks-url", CONCORD_JWT_JWKS_URL=srv.url,
                       CONCORD_JWT_JWKS_REFRESH_SECONDS="30")
        assert srv.fetches == 1
        assert api.me(r1.token()).status_code == 200
        # Rotate at the source: the first unknown kid asks for a fetch.
        srv.doc = jwks(r1, r2)
        t = time.monotonic()
        assert api.me(r2.token()).status_code == 401
        assert until(lambda: api.me(r2.token()).status_code == 200)
        assert time.monotonic() - t < 5
        assert srv.fetches == 2
        # More unknown kids within the refresh window: no more fetches,
        # even when the source has the key.
        srv.doc = jwks(r1, r2, r3)
        for _ in range(10):
            assert api.me(r3.token()).status_code == 401
        time.sleep(2)
        assert srv.fetches == 2
        assert api.me(r3.token()).status_code == 401
    finally:
        srv.close()


def test_a_url_that_does_not_answer_at_start_is_an_outage(api_with):
    """The API starts (a fetch that fails is logged), serves the keys it
    has, and refuses the tokens it cannot check."""
    url = f"http://127.0.0.1:{free_port()}/jwks.json"
    api = api_with("jwks-down", CONCORD_JWT_JWKS_URL=url)
    assert api.me(Key("r1").token()).status_code == 401
    assert "jwks not fetched" in open(api.logpath).read()


def test_a_malformed_jwks_file_stops_the_api_at_start(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": 3}')
    env = dict(os.environ, CONCORD_LISTEN=f"127.0.0.1:{free_port()}",
               CONCORD_JWT_JWKS_FILE=str(path))
    r = subprocess.run(["kore", "-f", "-n", "-r", "-c", "api/kore.conf"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "configuration: the JWKS is not a JSON object with keys" in r.stdout + r.stderr
