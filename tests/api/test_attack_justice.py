"""The criminal-justice side against an outsider: an agency listed on an
investigation that has not accepted (pending) reads the investigation to
decide, but not the cases linked to it: not the links either."""
from test_justice import cj, open_investigation, open_witness  # noqa: F401


def test_a_pending_agency_reads_no_case_link_of_the_investigation(cj):  # noqa: F811
    inv = open_investigation(cj)
    w = open_witness(cj, inv)
    url = f"/v1/investigations/{inv['id']}"
    pending = cj["pending"].c
    assert pending.get(url).status_code == 200          # it reads to decide
    assert pending.get(f"/v1/cases/{w['id']}").status_code == 404
    for path in (f"{url}/cases", f"{url}/cases/{w['id']}"):
        r = pending.get(path)
        assert r.status_code == 404, (path, r.text)
        assert w["case_number"] not in r.text and "witness" not in r.text
    assert w["id"] not in pending.get(f"{url}/cases").text
    # Accepted, it reads them; ending participation closes them again.
    assert pending.post(url + "/participation/accept").status_code == 200
    assert w["id"] in {c["case_id"] for c in pending.get(f"{url}/cases").json()["items"]}
    assert pending.get(f"{url}/cases/{w['id']}").status_code == 200
    assert pending.post(url + "/participation/end").status_code == 200
    assert pending.get(f"{url}/cases").status_code == 404
    assert pending.get(f"{url}/cases/{w['id']}").status_code == 404
    # Coordinators and the lead still read them.
    for who in ("coord", "police"):
        assert cj[who].c.get(f"{url}/cases/{w['id']}").status_code == 200
