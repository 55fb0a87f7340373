"""The indexer with several writers on one index folder (real processes), a commit that fails and
a cancellation: nothing is reported as added unless it is committed, and nothing committed by
another writer is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import Document, load_bundled
from embeddings.stores import IndexMismatchError
from embeddings.stores.faiss import FaissStore
from qa import Pipeline, QAConfig
from qa.indexing import IndexingCancelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def docs():
    return {d.path.rsplit("/", 1)[-1][:3]: d for d in load_bundled()}


@pytest.fixture()
def app_pipe(bundled_pipeline, encoder, tmp_path, docs):
    """An "app" pipeline over a copy of the bundled index without articles 003 and 004."""
    copy = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    pipe = Pipeline(QAConfig(index_dir=copy), encoder=encoder)
    pipe.remove(docs["003"].id)
    pipe.remove(docs["004"].id)
    return pipe


def test_the_cli_and_the_app_writing_one_index_keep_both(app_pipe, docs, tmp_path):
    """The app is open on a folder; ``python -m qa index`` (another process) adds an article to it;
    then the app adds one. The app's commit used to fail ("changed by another process"), its
    article was answered from memory only and gone after a restart. A second reader open on the
    folder meanwhile takes both in with ``sync`` (the Documents tab does it before listing)."""
    viewer = Pipeline(QAConfig(index_dir=app_pipe.index.path), encoder=app_pipe.encoder)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")  # one torch thread on a busy machine
    run = subprocess.run([sys.executable, "-m", "qa", "index", "--index", str(app_pipe.index.path),
                          docs["003"].path], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    on_disk = {d["id"] for d in FaissStore.open(app_pipe.index.path).manifest["documents"]}
    cli_ids = on_disk - set(app_pipe.index.documents)
    assert len(cli_ids) == 1  # the article the CLI added, which the app has not read yet

    report = app_pipe.add_documents([docs["004"]])
    assert report.added == [docs["004"].id]
    assert cli_ids <= set(app_pipe.index.documents)  # the app took the CLI's article in
    # after a restart both are there, the app's own and the CLI's
    reopened = Pipeline(QAConfig(index_dir=app_pipe.index.path), encoder=app_pipe.encoder)
    assert {docs["004"].id} | cli_ids <= set(reopened.index.documents)
    question = "Ngoại trưởng Kerry và Lavrov hội đàm ở đâu vào tháng 8?"  # article 003's
    a, b = reopened.ask(question), app_pipe.ask(question)
    assert a.found and a.citations[0].doc_id in cli_ids
    assert (a.text, [c.sentence for c in a.citations]) == (b.text, [c.sentence for c in b.citations])

    before = set(viewer.index.documents)
    merged = viewer.sync()
    assert set(merged.added) == cli_ids | {docs["004"].id} and not merged.removed
    assert set(viewer.index.documents) == before | set(merged.added)
    hits = viewer.retrieve(question)
    assert hits[0].doc_id in cli_ids  # searchable, not just listed


def test_a_failed_commit_reports_nothing_added_and_forgets_it(app_pipe, docs):
    """Another process replaced the index with one of another chunking: the app's commit cannot
    merge it. The error says so and the document is not kept in memory (a re-upload used to be
    called a "duplicate" of something the index on disk never got)."""
    path = app_pipe.index.path
    shutil.rmtree(path)
    other = Pipeline(QAConfig(index_dir=path, chunk_tokens=120, chunk_overlap_tokens=20), encoder=app_pipe.encoder)
    other.add_documents([docs["000"]])
    with pytest.raises(IndexMismatchError, match="another process"):
        app_pipe.add_documents([docs["004"]])
    assert docs["004"].id not in app_pipe.index
    assert docs["004"].id not in {p.doc_id for p in app_pipe.retrieve("Nga Syria", top_k=10)}
    assert docs["004"].id not in FaissStore.open(path).documents


def test_cancelling_keeps_the_index_as_it_was(app_pipe, docs):
    seen = []

    def stop() -> bool:
        return any(stage == "embedding" for stage, _, _ in seen)  # after the first slice was embedded

    # more texts than one encoder slice (EMBED_SLICE), so that there is a "between slices"
    copies = [Document.create(f"{d.title} ({i})", d.text) for i in range(3) for d in (docs["003"], docs["004"])]
    with pytest.raises(IndexingCancelled) as info:
        app_pipe.add_documents(copies,
                               on_progress=lambda stage, done, total: seen.append((stage, done, total)),
                               should_stop=stop)
    assert info.value.report.added == []
    assert ("embedding", seen[-1][1], seen[-1][2]) == seen[-1] and seen[-1][1] < seen[-1][2]
    assert not any(d.id in app_pipe.index for d in copies)
    reopened = FaissStore.open(app_pipe.index.path)
    assert set(reopened.documents) == set(app_pipe.index.documents)
