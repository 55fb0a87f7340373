"""Indexing in a background process (qa.background): questions are answered meanwhile from the
index as it was, a running upload can be cancelled, and a finished one is answered from at once.
Behaviour checks with generous bounds, not timing targets (those are in benchmarks/)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from corpus import load_bundled
from embeddings.stores.faiss import FaissStore
from qa import Pipeline, QAConfig
from qa.background import BackgroundIndexer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Answered by article 000 (in the index from the start).
OLD_QUESTION = "Ông Kerry gặp ông Putin ở đâu?"


@pytest.fixture()
def pipe(bundled_pipeline, encoder, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    p = Pipeline(QAConfig(index_dir=copy), encoder=encoder)
    p.remove(next(d for d in load_bundled() if "/004_" in d.path).id)
    return p


def _wait_for(predicate, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_ask_during_indexing_cancel_then_index(pipe, tmp_path):
    before = set(pipe.index.documents)
    old = pipe.ask(OLD_QUESTION)
    # a large upload: the bundled articles under 60 headlines each (real text, 300 articles)
    big = tmp_path / "large.jsonl"
    big.write_text("\n".join(json.dumps({"title": f"{d.title} ({i})", "text": d.text}, ensure_ascii=False)
                             for i in range(60) for d in load_bundled()), encoding="utf-8")
    jobs = BackgroundIndexer(pipe)
    try:
        job = jobs.submit([str(big)], max_passages=0, max_sentences=0)
        # (the worker runs at a lower priority: on a machine busy with other work it may take long)
        _wait_for(lambda: job.final or (job.state == "embedding" and job.done > 0), timeout=2400)
        assert not job.final, job.error
        # a question meanwhile is answered, from the index as it was
        a = pipe.ask(OLD_QUESTION)
        assert job.state == "embedding"  # (still indexing)
        assert a.found and (a.text, a.citations[0].doc_id) == (old.text, old.citations[0].doc_id)
        assert 0 < job.fraction < 1
        jobs.cancel(job.id)
        jobs.wait(job.id, timeout=120)
        assert job.state == "cancelled" and job.result.added == []
        assert set(pipe.index.documents) == before == set(FaissStore.open(pipe.index.path).documents)

        # the next upload goes through the same worker, and is answered from when it is done
        article = next(d for d in load_bundled() if "/004_" in d.path)
        small = tmp_path / "article.txt"
        small.write_text(article.title + "\n\n" + article.text, encoding="utf-8")
        job2 = jobs.submit([str(small)])
        jobs.wait(job2.id, timeout=2400)
        assert job2.state == "done", job2.error
        [new] = job2.result.added
        assert new in pipe.index.documents  # taken in before the job was reported done
        hits = pipe.retrieve("Nga đã hoàn toàn sẵn sàng để tiếp tục thảo luận Syria")
        assert hits[0].doc_id == new
    finally:
        jobs.close()
