"""Crash safety and integrity of the on-disk index.

A child process (the project's Python) adds documents and commits in a loop; the test kills it
with SIGKILL in the middle of its work, several times, then checks that the index loads and is
consistent (every document complete, every vector the right one), and that adding goes on.
Damaged files are detected with a :class:`CorruptIndexError` naming the file.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embeddings.stores import CorruptIndexError
from embeddings.stores.faiss import FaissStore
from embeddings.stores.integrity import MANIFEST

REPO = Path(__file__).resolve().parents[3]
DIM = 384
CHUNKS_PER_DOC = 3
DOCS_PER_COMMIT = 40

# The child: documents built from the bundled articles' paragraphs (a distinct title per
# document), three passages each, and for each passage a vector derived from (document id,
# passage number), so the parent can tell whether every stored vector belongs to its passage.
CHILD = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(REPO)!r})
    import numpy as np
    from corpus import load_bundled
    from corpus.document import Chunk, Document
    from embeddings.stores.faiss import FaissStore

    path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    DIM, PER_DOC, PER_COMMIT = {DIM}, {CHUNKS_PER_DOC}, {DOCS_PER_COMMIT}

    def vector(doc_id, n):
        v = np.random.default_rng([int(doc_id, 16), n]).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    paragraphs = [p for d in load_bundled() for p in d.text.split("\\n\\n") if len(p) > 40]
    if FaissStore.exists(path):
        index = FaissStore.open(path)
    else:
        index = FaissStore.create(path, model="crash-test", fingerprint="0" * 16, probe=[0.0],
                                   dim=DIM, chunking={{"max_tokens": 100, "overlap_tokens": 0}})
    for i in range(first, last):
        parts = [paragraphs[(i * PER_DOC + k) % len(paragraphs)] for k in range(PER_DOC)]
        text = "\\n\\n".join(parts)
        doc = Document.create(f"Bài số {{i}}", text, path=f"doc-{{i}}.txt")
        chunks, start = [], 0
        for k, part in enumerate(parts):
            chunks.append(Chunk(doc.id, k, start, start + len(part), part, ((start, start + len(part)),), 50))
            start += len(part) + 2
        vecs = np.stack([vector(doc.id, k) for k in range(PER_DOC)])
        index.add(doc, chunks, vecs, [{{"n": k}} for k in range(PER_DOC)], [v[None, :] for v in vecs])
        if (i + 1) % PER_COMMIT == 0:
            print("commit", i + 1, flush=True)
            index.commit()
            print("committed", i + 1, flush=True)
    index.commit()
    print("done", flush=True)
""")


def expected_vector(doc_id: str, n: int) -> np.ndarray:
    v = np.random.default_rng([int(doc_id, 16), n]).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def check_consistent(path: Path) -> FaissStore:
    """Load the index and check that it is whole: what the manifest lists is what is stored."""
    index = FaissStore.open(path)
    listed = {d["id"]: d for d in index.manifest["documents"]}
    assert set(listed) == set(index.documents)
    per_doc: dict[str, list] = {}
    for p in index.passages.values():
        per_doc.setdefault(p.doc_id, []).append(p)
    assert set(per_doc) == set(index.documents)
    pids = sorted(index.passages)
    stored = index.vectors(pids)
    for row, pid in enumerate(pids):
        p = index.passages[pid]
        doc = index.documents[p.doc_id]
        assert p.text == doc.text[p.start:p.end]
        assert np.allclose(stored[row], expected_vector(doc.id, p.index), atol=1e-6)
        assert np.allclose(index.sentence_vectors[pid][0], expected_vector(doc.id, p.index), atol=1e-3)
    for doc_id, passages in per_doc.items():
        assert sorted(p.index for p in passages) == list(range(CHUNKS_PER_DOC)) == \
            list(range(listed[doc_id]["passages"]))
    return index


def _child(path: Path, first: int, last: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(first), str(last)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


@pytest.mark.parametrize("seed", [0])
def test_kill_during_indexing_leaves_a_loadable_consistent_index(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "index"
    committed = 0
    total = 0
    mid_commit = []  # per kill: whether files of an unfinished generation were left behind
    for round_ in range(4):
        first, last = total, total + 100_000  # more than it can do: it is killed mid-way
        proc = _child(path, first, last)
        try:
            seen = 0
            for line in proc.stdout:
                kind, n = line.split()
                if kind == "committed":
                    committed = int(n)
                    seen += 1
                # kill during a commit (after "commit") or while adding (after "committed"),
                # after a random short delay, once this run has committed at least once
                if seen >= 1 + round_ % 2 and kind == ("commit" if round_ % 2 == 0 else "committed"):
                    try:
                        proc.wait(timeout=rng.uniform(0.0, 0.05))
                    except subprocess.TimeoutExpired:
                        pass
                    proc.kill()
                    break
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -9, proc.stderr.read()
        live = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["generation"]
        mid_commit.append(any(f"-{live + 1}." in p.name for p in path.iterdir()))
        index = check_consistent(path)
        # what it holds: at least the last commit it reported, never a part of a commit
        assert len(index.documents) >= committed and len(index.documents) % DOCS_PER_COMMIT == 0
        total = len(index.documents)
    assert total >= 4 * DOCS_PER_COMMIT
    assert any(mid_commit)  # the test did kill a commit half-way (not only between commits)
    # indexing goes on after the crashes: re-adding everything adds only what is missing
    proc = _child(path, 0, total + DOCS_PER_COMMIT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    index = check_consistent(path)
    assert len(index.documents) == total + DOCS_PER_COMMIT
    gen = index.manifest["generation"]
    # leftovers of the killed commits are gone; only the live generation's files remain
    assert sorted(p.name for p in path.iterdir()) == sorted(
        [MANIFEST, ".lock", *index.manifest["files"]]) and all(f"-{gen}." in f for f in index.manifest["files"])


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("small") / "index"
    proc = _child(path, 0, DOCS_PER_COMMIT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return path


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_manifest_records_sizes_and_checksums(small_index):
    manifest = json.loads((small_index / MANIFEST).read_text(encoding="utf-8"))
    gen = manifest["generation"]
    assert set(manifest["files"]) == {f"vectors-{gen}.faiss", f"passages-{gen}.jsonl",
                                      f"documents-{gen}.jsonl", f"sentences-{gen}.npy"}
    for name, rec in manifest["files"].items():
        assert rec["bytes"] == (small_index / name).stat().st_size and len(rec["sha256"]) == 64


@pytest.mark.parametrize("damage, file_kind, message", [
    ("truncate", "vectors", "truncated"),
    ("truncate", "passages", "truncated"),
    ("flip", "sentences", "checksum"),
    ("flip", "documents", "checksum"),
    ("delete", "vectors", "missing"),
])
def test_damaged_file_is_named(small_index, tmp_path, damage, file_kind, message):
    path = _copy(small_index, tmp_path / "index")
    (target,) = path.glob(f"{file_kind}-*")
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:])
    else:
        target.unlink()
    with pytest.raises(CorruptIndexError, match=rf"{target.name} .*{message}") as exc:
        FaissStore.open(path)
    assert exc.value.file == target.name
    assert "delete the folder" in str(exc.value) and str(path) in str(exc.value)
    if damage == "flip":  # sizes-only checking misses a same-size change; FAISS/JSON still load
        FaissStore.open(path, checksums=False)


@pytest.mark.parametrize("content", [b"", b'{"format_version": 1, "generation": ', b"\xff\xfe\x00garbage", b"[]"])
def test_truncated_manifest_is_reported(small_index, tmp_path, content):
    path = _copy(small_index, tmp_path / "index")
    (path / MANIFEST).write_bytes(content)
    with pytest.raises(CorruptIndexError, match=r"manifest\.json is truncated or not an index manifest"):
        FaissStore.open(path)


def test_damaged_index_without_checksums_is_still_a_clear_error(small_index, tmp_path):
    """An index written before checksums existed: a damaged file fails with the same error type."""
    path = _copy(small_index, tmp_path / "index")
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    del manifest["files"]
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    FaissStore.open(path)  # loads as before
    (vectors,) = path.glob("vectors-*")
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(CorruptIndexError, match="cannot be loaded"):
        FaissStore.open(path)


def test_cli_reports_a_corrupt_index(small_index, tmp_path, capsys, monkeypatch, encoder):
    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    path = _copy(small_index, tmp_path / "index")
    (path / MANIFEST).write_bytes(b'{"generation": 1')
    assert main(["list", "--index", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the index at") and "manifest.json" in err and "Traceback" not in err


@pytest.mark.slow
def test_kill_python_m_qa_index_then_reindex(tmp_path, encoder, dev_set):
    """End to end: ``python -m qa index`` (real encoder, commits every few passages) killed after
    its first commit; the index opens, every stored document is whole, and indexing the same
    file again adds exactly what is missing."""
    import os
    import time

    from qa import Pipeline, QAConfig

    feed = tmp_path / "feed.jsonl"
    with open(dev_set / "contexts.jsonl", encoding="utf-8") as src, open(feed, "w", encoding="utf-8") as out:
        for _, line in zip(range(40), src):
            row = json.loads(line)
            out.write(json.dumps({"title": f"{row['title']} ({row['context_id']})", "text": row["text"]},
                                 ensure_ascii=False) + "\n")
    index_dir = tmp_path / "index"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    code = ("import sys, qa.indexing; qa.indexing.COMMIT_EVERY = 8; from qa.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "index", "--index", str(index_dir), str(feed)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (index_dir / MANIFEST).is_file():
                break
            time.sleep(0.05)
        proc.kill()
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9, proc.stderr.read().decode()
    pipe = Pipeline(QAConfig(index_dir=index_dir), encoder=encoder)
    counts: dict[str, int] = {}
    for p in pipe.index.passages.values():
        counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
    kept = dict(pipe.index.documents)  # (a copy: adding below changes the index)
    assert 0 < len(kept) < 40
    for doc in kept.values():
        assert counts[doc.id] == len(pipe.chunk(doc))  # whole documents only
    from corpus import read_path

    docs = read_path(feed)
    report = pipe.add_documents(docs)
    assert len(report.skipped) == len(kept) and len(report.added) == 40 - len(kept)
    reopened = FaissStore.open(index_dir)
    assert len(reopened.documents) == 40 and len(reopened.passages) == len(pipe.index.passages)
