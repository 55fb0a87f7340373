"""A real Milvus standalone server (2.3.5, the binary of the ``milvus`` package) with plain
pymilvus 3.0.2, the project's client: what the Milvus store relies on works against a server,
not only against Milvus Lite. Nothing here uses the project's store (that is wired after the
repository layout changes; see docs/scale-out-notes.md).

Collections are shaped like the store's: INT64 ids (63-bit hashes), a float vector, filterable
VARCHAR copies of the document fields, a JSON payload, and an ARRAY of VARCHAR text parts.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")
# the Milvus server fixtures; one session server for all modules (tests/conftest_milvus.py)

from tests.milvus_server import wait_loaded  # noqa: E402

DIM = 16
N = 300
SOURCES = ("QĐND", "VnExpress", "Tuổi Trẻ")


def _schema(client, DataType):
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("doc_id", DataType.VARCHAR, max_length=512)
    s.add_field("source", DataType.VARCHAR, max_length=512)
    s.add_field("date", DataType.VARCHAR, max_length=64)
    s.add_field("data", DataType.JSON)
    return s


def _create(client, name, index_type="FLAT", params=None):
    from pymilvus import DataType

    ip = client.prepare_index_params()
    ip.add_index("vector", index_type=index_type, metric_type="IP", params=params or {})
    client.create_collection(name, schema=_schema(client, DataType), index_params=ip, consistency_level="Strong")


def _rows(seed=0):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((N, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [int(x) for x in rng.integers(1, 2**63 - 1, size=N, dtype=np.int64)]  # like passage_row_id
    rows = [{"id": ids[i], "vector": v[i].tolist(), "doc_id": f"doc-{i % 30}", "source": SOURCES[i % 3],
             "date": f"2016-0{1 + i % 9}-1{i % 10}" if i % 7 else "",
             "data": {"index": i, "text": f"đoạn văn số {i}", "terms": ["đoạn", "~doan", "văn_số"]}}
            for i in range(N)]
    return rows, v, np.asarray(ids, dtype=np.int64)


def test_server_identifies_itself(milvus_server, milvus_client):
    version = milvus_client.get_server_version()
    if hasattr(milvus_server, "pid"):
        assert version == "v2.3.5-lite"  # the embedded build names itself so
        assert milvus_client.get_server_version(detail=True)["deploy_mode"] == "STANDALONE"
        assert milvus_server.start_seconds and milvus_server.start_seconds[0] < 240


@pytest.mark.parametrize("index_type,params", [("FLAT", {}), ("HNSW", {"M": 16, "efConstruction": 200})])
def test_insert_and_filtered_search_match_exact_numpy(milvus_client, milvus_name, index_type, params):
    name = milvus_name(index_type.lower())
    _create(milvus_client, name, index_type, params)
    rows, v, ids = _rows()
    assert milvus_client.insert(name, rows)["insert_count"] == N
    q = v[:3] + 0.1
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    search = dict(data=q.tolist(), limit=10, output_fields=["doc_id", "source"],
                  search_params={"metric_type": "IP", "params": {"ef": 200}})
    # a filter with non-ASCII values, like the store's (source in [...] and a date range)
    expr = 'source in ["QĐND", "Tuổi Trẻ"] and date != "" and date >= "2016-03" and date < "2016-08"'
    allowed = np.array([r["source"] in ("QĐND", "Tuổi Trẻ") and r["date"] != "" and "2016-03" <= r["date"] < "2016-08"
                        for r in rows])
    for flt, mask in (("", np.ones(N, dtype=bool)), (expr, allowed)):
        hits = milvus_client.search(name, filter=flt, **search)
        for qi, row in enumerate(hits):
            sims = v @ q[qi]
            sims[~mask] = -np.inf
            want = ids[np.argsort(-sims)[:10]]
            got = np.array([h["id"] for h in row], dtype=np.int64)
            if index_type == "FLAT":  # exact: the same ids, in order, with the same cosines
                np.testing.assert_array_equal(got, want)
                np.testing.assert_allclose([h["distance"] for h in row], np.sort(sims)[::-1][:10], atol=1e-5)
            else:  # HNSW at ef=200 on 300 vectors: the top hit, and 9 of 10
                assert got[0] == want[0] and len(set(got) & set(want)) >= 9
            assert all(mask[np.flatnonzero(ids == h["id"])[0]] for h in row)


def test_upsert_delete_query_by_id_and_iterate(milvus_client, milvus_name):
    name = milvus_name("rows")
    _create(milvus_client, name)
    rows, _, ids = _rows(1)
    milvus_client.insert(name, rows)
    first = int(ids[0])
    # upsert replaces the row with the same id (re-running a crashed batch does not duplicate)
    milvus_client.upsert(name, [dict(rows[0], data={"text": "đã sửa"})])
    milvus_client.upsert(name, rows[1:50])
    got = milvus_client.query(name, ids=[first, int(ids[1])], output_fields=["id", "data", "doc_id"])
    assert {r["id"]: r["data"]["text"] for r in got} == {first: "đã sửa", int(ids[1]): "đoạn văn số 1"}
    count = lambda: milvus_client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]  # noqa: E731
    assert count() == N
    # delete by id, then by a filter on doc_id (how the store removes a document)
    assert milvus_client.delete(name, ids=[first])["delete_count"] == 1
    milvus_client.delete(name, filter='doc_id == "doc-7"')
    gone = {int(ids[0])} | {int(ids[i]) for i in range(N) if i % 30 == 7}
    assert count() == N - len(gone)
    assert milvus_client.query(name, ids=[first], output_fields=["id"]) == []
    milvus_client.flush(name)
    # every row through query_iterator (Milvus caps one query at 16,384 rows), in batches
    it = milvus_client.query_iterator(name, batch_size=64, output_fields=["id"])
    seen = []
    while batch := it.next():
        seen += [r["id"] for r in batch]
    it.close()
    assert sorted(seen) == sorted(set(ids.tolist()) - gone)


def test_document_text_parts_round_trip(milvus_client, milvus_name):
    """The store keeps a document's text as an ARRAY of VARCHAR pieces of 16,000 characters
    (48,000 UTF-8 bytes of Vietnamese, under the 65,535-byte limit) and a JSON payload."""
    from pymilvus import DataType

    name = milvus_name("docs")
    s = milvus_client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("data", DataType.JSON)
    s.add_field("text_parts", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4096, max_length=65535)
    ip = milvus_client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")
    milvus_client.create_collection(name, schema=s, index_params=ip, consistency_level="Strong")
    text = ("Bộ trưởng Ngoại giao Mỹ Giôn Ke-ri hội đàm với Tổng thống Nga. " * 700)[:40_000]
    parts = [text[i:i + 16_000] for i in range(0, len(text), 16_000)]
    assert max(len(p.encode()) for p in parts) < 65_535
    milvus_client.upsert(name, [{"id": "bài-1", "vector": [1.0, 0.0], "data": {"title": "Ông Kerry"},
                                 "text_parts": parts}])
    row = milvus_client.query(name, ids=["bài-1"], output_fields=["data", "text_parts"])[0]
    assert "".join(row["text_parts"]) == text and row["data"] == {"title": "Ông Kerry"}


@pytest.mark.parametrize("crash", [False, True], ids=["clean-stop", "kill-9"])
def test_restart_keeps_acknowledged_rows_and_old_client_works(milvus_server, milvus_client, milvus_name, crash):
    """Stop (or kill) and start the server inside a test: rows whose insert returned are still
    there (the write-ahead log; no flush needed), the URI stays the same, the client that was
    open before reconnects by itself, and the collection is loaded again by the server."""
    name = milvus_name("restart")
    _create(milvus_client, name)
    rows, v, ids = _rows(2)
    milvus_client.insert(name, rows[:200])
    uri = milvus_server.uri
    took = milvus_server.restart(crash=crash)
    assert milvus_server.uri == uri and took < 240
    wait_loaded(milvus_client, [name])
    assert milvus_client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 200
    hit = milvus_client.search(name, data=[v[5].tolist()], limit=1, search_params={"metric_type": "IP"})[0][0]
    assert hit["id"] == ids[5]
    milvus_client.insert(name, rows[200:])  # and writes go on
    assert milvus_client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == N


def test_unreachable_server_is_a_clear_error(milvus_server, milvus_client):
    """A stopped server: calls fail at once with code 2 ("Fail connecting to server"), not a
    hang. pymilvus 3 shares one connection per URI between clients, so constructing a new
    client on the dead server does not fail by itself: the first call does."""
    import time

    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    milvus_client.list_collections()
    milvus_server.stop()
    try:
        other = MilvusClient(milvus_server.uri, timeout=3)  # reuses the shared (dead) connection
        for client in (milvus_client, other):
            t0 = time.perf_counter()
            with pytest.raises(MilvusException, match="(?i)fail connecting") as err:
                client.list_collections(timeout=3)
            assert err.value.code == 2 and time.perf_counter() - t0 < 10
    finally:
        milvus_server.start()
    assert isinstance(milvus_client.list_collections(), list)  # and it reconnects afterwards
