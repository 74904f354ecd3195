"""Every pooled connection prepares the call statement once, as the last
step of opening, and sends each call as that prepared statement
(CONCORD_DB_PREPARE=0 sends it unnamed every time instead). A connection
that is lost and opened again prepares again: its first call and every
later one succeed.

Each test starts a second API with one worker and two connections."""
import concurrent.futures
import time

import pytest

from conftest import mint
from test_db_connect import POOL, db_request, pytestmark, second_api  # noqa: F401


def terminate_since(db, since):
    """End the API sessions opened since `since` (the second API's)."""
    with db.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = 'concord_api' AND backend_start >= to_timestamp(%s)",
                    (since,))
        return cur.fetchone()[0]


def until_200(base, token, within=10):
    deadline = time.time() + within
    while True:
        r, _ = db_request(base, token)
        if r.status_code == 200:
            return
        assert r.status_code == 503, r.text
        assert r.headers.get("retry-after") == "1"
        assert time.time() < deadline, "the API did not reconnect"
        time.sleep(0.1)


@pytest.mark.parametrize("prepare", ["1", "0"])
def test_a_reopened_connection_prepares_again_and_serves(db, prepare):
    admin = mint(["admin"])
    since = time.time() - 0.5
    with second_api(CONCORD_DB_PREPARE=prepare) as base:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            rs = list(ex.map(lambda _: db_request(base, admin)[0], range(8)))
        assert [r.status_code for r in rs] == [200] * 8
        me = rs[0].json()
        for _ in range(3):
            assert terminate_since(db, since) >= 1
            time.sleep(0.2)
            until_200(base, admin)
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
                rs = list(ex.map(lambda _: db_request(base, admin)[0], range(8)))
            assert [r.status_code for r in rs] == [200] * 8
            assert all(r.json() == me for r in rs)
