"""Ingestion on Ray (qa/indexing_ray.py) into the real Milvus server, with a local Ray of 2 CPUs:
two workers write one collection; a worker killed mid-batch (its passages written, its document
rows not yet) has its batch retried, and nothing is half-visible meanwhile; re-adding is a no-op.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")
# the Milvus server fixtures; one session server for all modules (tests/conftest_milvus.py)
ray = pytest.importorskip("ray", reason="ingestion on Ray needs ray (pip install ray==2.60.0)")


N_DOCS = 12


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def docs(dev_set):
    """Twelve short dev contexts as documents (ids from their content, as the readers make them)."""
    from corpus.document import Document
    from corpus.normalize import normalize_text

    rows = [json.loads(line) for line in open(dev_set / "contexts.jsonl", encoding="utf-8")]
    rows = sorted(rows, key=lambda r: len(r["text"]))[:N_DOCS]  # short ones: a fast test
    return [Document.create(normalize_text(r["title"]), normalize_text(r["text"]), source="MLQA") for r in rows]


def _collection_state(uri, name):
    from pymilvus import MilvusClient

    c = MilvusClient(uri)
    count = lambda coll: c.query(coll, filter="", output_fields=["count(*)"],  # noqa: E731
                                 consistency_level="Strong")[0]["count(*)"]
    docs = {r["id"] for r in c.query(name + "_documents", filter='id != ""', output_fields=["id"], limit=16384,
                                     consistency_level="Strong")}
    per_doc: dict[str, int] = {}
    for r in c.query(name, filter="id >= 0 or id < 0", output_fields=["doc_id"], limit=16384,
                     consistency_level="Strong"):
        per_doc[r["doc_id"]] = per_doc.get(r["doc_id"], 0) + 1
    return {"passages": count(name), "sentences": count(name + "_sentences"), "documents": docs, "per_doc": per_doc}


def test_two_workers_kill_one_mid_batch_then_readd(milvus_server, milvus_name, local_ray, docs, tmp_path, e5_model_dir):
    from embeddings.stores.milvus import MilvusStore, passage_row_id
    from qa.indexing_ray import ingest, start_workers

    name = milvus_name("ray")
    paused = tmp_path / "paused"

    def fault(stage, batch_id, _marker=str(paused)):
        # first attempt of batch 0: stop right before its document rows (passages are written)
        if stage == "documents" and batch_id == 0 and not os.path.exists(_marker):
            with open(_marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(300)

    actors = start_workers(milvus_server.uri, name, 2, fault=fault, max_retries=2)
    pids = set(ray.get([a.pid.remote() for a in actors]))
    assert len(pids) == 2
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(report=ingest(docs, uri=milvus_server.uri, collection=name,
                                                                    batch_docs=3, actors=actors)))
    t.start()
    deadline = time.time() + 600
    while not paused.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert paused.exists(), "batch 0 never reached its document rows"
    time.sleep(0.5)
    victim = int(paused.read_text())
    assert victim in pids
    batch0 = [d.id for d in docs[:3]]

    # meanwhile: batch 0's passages are in Milvus, its document rows are not, and a reader
    # (the store's own open) does not see them
    mid = _collection_state(milvus_server.uri, name)
    assert all(mid["per_doc"].get(d, 0) > 0 for d in batch0)
    assert not set(batch0) & mid["documents"]
    reader = MilvusStore.open(milvus_server.uri, name)
    try:
        assert not set(batch0) & set(reader.documents)
        assert not any(p.doc_id in batch0 for p in reader.passages.values())
    finally:
        reader.close()

    os.kill(victim, signal.SIGKILL)  # the worker process dies mid-batch
    t.join(900)
    assert not t.is_alive()
    report = result["report"]
    assert sorted(report.added) == sorted(d.id for d in docs) and report.skipped == []
    new_pids = set(ray.get([a.pid.remote() for a in actors]))
    assert victim not in new_pids and len(new_pids) == 2  # Ray restarted the killed worker

    # afterwards: every document complete exactly once, the retried batch's rows not duplicated
    end = _collection_state(milvus_server.uri, name)
    assert end["documents"] == {d.id for d in docs}
    assert end["passages"] == report.passages == sum(end["per_doc"].values())
    store = MilvusStore.open(milvus_server.uri, name)
    try:
        assert set(store.documents) == {d.id for d in docs} and len(store) == report.passages
        for d in docs:
            ids = sorted(p.index for p in store.passages.values() if p.doc_id == d.id)
            assert ids == list(range(len(ids))) and ids  # chunks 0..n-1, each once
            assert all(passage_row_id(d.id, i) in store.passages for i in ids)
            assert all(len(store.sentence_vectors[passage_row_id(d.id, i)]) > 0 for i in ids)
    finally:
        store.close()

    # re-adding is a no-op
    again = ingest(docs, uri=milvus_server.uri, collection=name, actors=actors)
    assert again.added == [] and sorted(again.skipped) == sorted(d.id for d in docs) and again.passages == 0
    assert _collection_state(milvus_server.uri, name)["passages"] == report.passages
    for a in actors:
        ray.kill(a)


def test_worker_refuses_a_collection_of_another_model(milvus_server, milvus_name, local_ray, e5_model_dir):
    """A collection made with another model: the worker fails on start, with the store's error."""
    from embeddings.stores import IndexMismatchError
    from qa.indexing_ray import IngestWorker, ensure_collection

    name = milvus_name("other")
    ensure_collection(milvus_server.uri, name, model="other-model", fingerprint="x", probe=[1.0] + [0.0] * 383,
                      dim=384, chunking={"max_tokens": 200, "overlap_tokens": 40})
    with pytest.raises(IndexMismatchError, match="other-model"):
        IngestWorker(milvus_server.uri, name)


def test_cli_refuses_ray_ingestion_without_a_milvus_server(tmp_path, capsys):
    """--workers needs a server every worker reaches: a FAISS folder or a Lite file is refused
    before Ray or the model start."""
    from qa.cli import main

    article = tmp_path / "a.txt"
    article.write_text("Hà Nội là thủ đô của Việt Nam. " * 5, encoding="utf-8")
    for store in ([], ["--store", str(tmp_path / "x.db")]):
        with pytest.raises(SystemExit, match="--workers/--ray write into a Milvus server"):
            main(["index", *store, "--workers", "2", str(article)])
