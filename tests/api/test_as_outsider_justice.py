"""The criminal-justice side as an outside organization meets it: an agency listed on an
investigation that has not accepted (pending) reads the investigation to
decide, but not the cases linked to it: not the links either; and links
made at the same moment conflict as the contract says."""
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


def test_concurrent_links_of_one_case_give_one_link(cj):  # noqa: F811
    """The same case linked several times at once: one 201, the others
    409 already-linked as the contract says (never another type)."""
    import threading
    from test_consent_boundaries import open_case, record_consent
    inv = open_investigation(cj)
    url = f"/v1/investigations/{inv['id']}/cases"
    for _ in range(3):
        case = open_case(cj["shelter"])
        record_consent(cj["shelter"], case["id"], ["case_details"], org=cj["police"].org)
        answers = []

        def go():
            r = cj["police"].c.request("POST", url, json={"case_id": case["id"]},
                                       validate=False)
            answers.append((r.status_code, r.json().get("type")))
        threads = [threading.Thread(target=go) for _ in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(a[0] for a in answers) == [201] + [409] * 5, answers
        assert {a[1] for a in answers if a[0] == 409} == {"urn:concord:problem:already-linked"}
