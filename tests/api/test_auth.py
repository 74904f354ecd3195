"""Strict JWT verification: every failure is a 401 problem with a Bearer
challenge, for tokens minted by an independent library (PyJWT)."""
import base64
import hashlib
import hmac
import json
import os
import time

import pytest

from conftest import AUDIENCE, ISSUER, SECRET, mint

STATE = os.environ.get("CONCORD_TEST_STATE", "")


def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "t", "exp": now + 600,
         "roles": ["admin"]}
    c.update(over)
    return c


def key_file(name):
    path = os.path.join(STATE, name)
    if not STATE or not os.path.exists(path):
        pytest.skip(f"{name} not found: run through `make test`")
    with open(path, "rb") as f:
        return f.read()


def assert_401(resp, fragment=None):
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["type"].startswith("urn:concord:problem:")
    if fragment:
        assert fragment in resp.json()["detail"]


def test_valid_hs256_token_is_accepted(client):
    r = client(mint(["admin"])).get("/v1/me")
    assert r.status_code == 200
    assert r.json()["roles"] == ["admin"]
    assert r.json()["org"] is None


def test_missing_authorization_header_is_401(anon):
    r = anon.get("/v1/me")
    assert_401(r)
    assert "invalid_token" not in r.headers["www-authenticate"]


def test_non_bearer_scheme_is_401(anon):
    assert_401(anon.get("/v1/me", headers={"Authorization": "Basic YTpi"}))


@pytest.mark.parametrize("garbage", ["abc", "a.b", "a.b.c", "....", "%%%.%%%.%%%",
                                     b64({"alg": "HS256"}) + ".!!!.sig", "x" * 9000])
def test_garbage_token_is_401(anon, garbage):
    r = anon.get("/v1/me", headers={"Authorization": "Bearer " + garbage})
    assert_401(r)
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_bad_signature_is_401(client):
    tok = mint(["admin"])
    head, body, sig = tok.split(".")
    sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert_401(client(f"{head}.{body}.{sig}").get("/v1/me"), "signature")


def test_wrong_hmac_key_is_401(client):
    assert_401(client(mint(["admin"], key="another-secret-of-at-least-32-bytes!!")).get("/v1/me"),
               "signature")


def test_alg_none_is_401(client):
    tok = b64({"alg": "none", "typ": "JWT", "kid": "hs256"}) + "." + b64(claims()) + "."
    assert_401(client(tok).get("/v1/me"), "unsigned")
    tok = b64({"alg": "NONE", "kid": "hs256"}) + "." + b64(claims()) + "."
    assert_401(client(tok).get("/v1/me"))


def test_rs256_public_key_used_as_hmac_secret_is_401(client):
    pub = key_file("rs1.pub")
    signing = b64({"alg": "HS256", "typ": "JWT", "kid": "rs1"}) + "." + b64(claims())
    sig = hmac.new(pub, signing.encode(), hashlib.sha256).digest()
    assert_401(client(signing + "." + b64(sig)).get("/v1/me"), "alg does not match")


def test_token_without_kid_is_401_when_several_keys_exist(client):
    signing = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims())
    sig = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    assert_401(client(signing + "." + b64(sig)).get("/v1/me"), "kid")


def test_unknown_kid_is_401(client):
    assert_401(client(mint(["admin"], headers={"kid": "nope"})).get("/v1/me"), "kid")


def test_rs256_token_is_accepted(client):
    tok = mint(["admin"], key=key_file("rs1.key"), alg="RS256", headers={"kid": "rs1"})
    assert client(tok).get("/v1/me").status_code == 200


def test_es256_token_is_accepted(client):
    tok = mint(["admin"], key=key_file("es1.key"), alg="ES256", headers={"kid": "es1"})
    assert client(tok).get("/v1/me").status_code == 200


def test_rs256_key_with_es256_alg_is_401(client):
    tok = mint(["admin"], key=key_file("es1.key"), alg="ES256", headers={"kid": "rs1"})
    assert_401(client(tok).get("/v1/me"), "alg does not match")


def test_rs256_token_signed_by_other_key_is_401(client):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    tok = mint(["admin"], key=pem, alg="RS256", headers={"kid": "rs1"})
    assert_401(client(tok).get("/v1/me"), "signature")


def test_expired_token_is_401(client):
    assert_401(client(mint(["admin"], exp_in=-3600)).get("/v1/me"), "expired")


def test_expiry_within_leeway_is_accepted(client):
    assert client(mint(["admin"], exp_in=-5)).get("/v1/me").status_code == 200


def test_not_yet_valid_token_is_401(client):
    tok = mint(["admin"], nbf=int(time.time()) + 3600)
    assert_401(client(tok).get("/v1/me"), "not valid yet")


def test_wrong_issuer_is_401(client):
    assert_401(client(mint(["admin"], iss="someone-else")).get("/v1/me"), "issuer")


def test_wrong_audience_is_401(client):
    assert_401(client(mint(["admin"], aud="other-api")).get("/v1/me"), "audience")


def test_audience_list_containing_ours_is_accepted(client):
    assert client(mint(["admin"], aud=["x", AUDIENCE])).get("/v1/me").status_code == 200


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub", "roles"])
def test_missing_claim_is_401(client, claim):
    c = claims()
    del c[claim]
    tok = b64({"alg": "HS256", "kid": "hs256"}) + "." + b64(c)
    sig = hmac.new(SECRET.encode(), tok.encode(), hashlib.sha256).digest()
    assert_401(client(tok + "." + b64(sig)).get("/v1/me"))


def test_missing_org_for_non_admin_is_401(client):
    assert_401(client(mint(["coordinator"])).get("/v1/me"), "org")


def test_admin_plus_other_role_needs_org(client):
    assert_401(client(mint(["admin", "coordinator"])).get("/v1/me"), "org")


def test_org_claim_must_be_an_id(client):
    assert_401(client(mint(["coordinator"], org="not-a-uuid")).get("/v1/me"), "org")


@pytest.mark.parametrize("roles", [["superuser"], [], ["admin", "root"], "admin", [1]])
def test_unknown_or_malformed_roles_are_401(client, roles):
    tok = b64({"alg": "HS256", "kid": "hs256"}) + "." + b64(claims(roles=roles))
    sig = hmac.new(SECRET.encode(), tok.encode(), hashlib.sha256).digest()
    assert_401(client(tok + "." + b64(sig)).get("/v1/me"), "role")


def test_org_claim_naming_unknown_org_is_403(client):
    r = client(mint(["coordinator"], org="00000000-0000-4000-8000-000000000000")).get("/v1/me")
    assert r.status_code == 403
    assert r.json()["type"] == "urn:concord:problem:unknown-organization"


def test_org_claim_naming_inactive_org_is_403(client, make_org):
    org = make_org(kind="ngo", status="inactive")
    assert client(mint(["provider"], org=org)).get("/v1/me").status_code == 403


def test_token_is_never_echoed(anon):
    tok = mint(["admin"], iss="someone-else")
    r = anon.get("/v1/me", headers={"Authorization": "Bearer " + tok})
    assert tok not in r.text and tok not in r.headers.get("www-authenticate", "")
