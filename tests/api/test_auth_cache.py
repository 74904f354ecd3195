"""A Kore worker remembers the bearer tokens it verified (by the exact
token bytes) and trusts a remembered one no longer than the token itself
is valid: a remembered token that expires is refused like any other, a
token differing in any byte is verified afresh, and two remembered
tokens never lend each other their identity.

Runs on a second API (one worker, so every request meets the same
memory) with no clock leeway."""
import time

import requests

from conftest import mint
from test_db_connect import pytestmark, second_api  # noqa: F401


def me(base, token):
    return requests.get(base + "/v1/me", headers={"Authorization": "Bearer " + token},
                        timeout=10)


def test_a_remembered_token_is_refused_once_it_expires(orgs):
    with second_api(CONCORD_JWT_LEEWAY="0") as base:
        exp = int(time.time()) + 2
        token = mint(["case_manager"], org=orgs["ngo"], exp=exp)
        for _ in range(3):
            r = me(base, token)
            assert r.status_code == 200, r.text
        while time.time() < exp + 1.1:
            time.sleep(0.1)
        r = me(base, token)
        assert r.status_code == 401, r.text
        assert r.json()["type"] == "urn:concord:problem:invalid-token"
        assert "expired" in r.json()["detail"]


def test_a_token_differing_in_one_byte_is_verified_afresh(orgs):
    with second_api() as base:
        token = mint(["case_manager"], org=orgs["ngo"])
        assert me(base, token).status_code == 200
        head, claims, sig = token.split(".")
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        for bad in (f"{head}.{claims}.{flipped}", f"{head}.{claims}.{sig}x",
                    token[:-1]):
            r = me(base, bad)
            assert r.status_code == 401, (bad, r.text)
        assert me(base, token).status_code == 200


def test_remembered_tokens_keep_their_own_identities(orgs):
    with second_api() as base:
        tokens = {k: mint(["case_manager"], org=orgs[k], sub=f"cache-{k}")
                  for k in ("ngo", "health")}
        for _ in range(3):
            for k, t in tokens.items():
                r = me(base, t)
                assert r.status_code == 200, r.text
                assert r.json()["org"]["id"] == str(orgs[k]), (k, r.json())
                assert r.json()["sub"] == f"cache-{k}"
