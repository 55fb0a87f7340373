"""``python -m qa`` end to end, as subprocesses.

Each subprocess loads torch and the model (~10 s), so the commands run once, in two stages
(the commands of a stage run in parallel), and the tests check their recorded results; the
cases that need no model of their own call the CLI's ``main`` in-process (end of the file).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
QUESTION = "Ông Kerry gặp ông Putin ở đâu?"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ)  # QA_CACHE_DIR: the test session's cache (model already converted)
    env["PYTHONIOENCODING"] = "utf-8"
    # several run at once on few cores: one torch thread each (see the one_torch_thread fixture)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    return subprocess.Popen([sys.executable, "-m", "qa", *args], cwd=REPO, env=env, text=True,
                            encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(procs: dict[str, subprocess.Popen]) -> dict[str, subprocess.CompletedProcess]:
    out = {}
    try:
        for name, p in procs.items():
            stdout, stderr = p.communicate(timeout=300)
            out[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


@pytest.fixture(scope="module")
def dirs(bundled_pipeline, tmp_path_factory) -> SimpleNamespace:
    base = tmp_path_factory.mktemp("cli")
    # `remove` works on a copy of the session's bundled index (same model and chunking, built by
    # the library), so it can run beside `index` instead of after it
    copy = base / "index-copy"
    shutil.copytree(bundled_pipeline.index.path, copy)
    return SimpleNamespace(base=base, index=base / "index", copy=copy)


@pytest.fixture(scope="module")
def runs(dirs, bundled_docs) -> dict[str, subprocess.CompletedProcess]:
    base, index, copy = dirs.base, dirs.index, dirs.copy
    # stage 1: build an index; remove from the copy; ask an index that does not exist
    r = _wait({
        "index": _start("index", "--index", str(index), "corpus/articles"),
        "remove": _start("remove", "--index", str(copy), bundled_docs["003"].id),
        "ask_missing": _start("ask", "--index", str(base / "no-such-index"), QUESTION),
    })
    assert r["index"].returncode == 0, r["index"].stderr
    # stage 2: what reads the new index, and the copy after the removal
    r |= _wait({
        "list": _start("list", "--index", str(index)),
        "ask": _start("ask", "--index", str(index), QUESTION),
        "ask_json": _start("ask", "--index", str(index), "--json", QUESTION),
        "list_after_remove": _start("list", "--index", str(copy)),
    })
    return r


def test_index_and_list(runs, bundled_docs):
    out = runs["index"].stdout
    assert "added 5 document(s)" in out and "0 already indexed" in out
    listing = runs["list"]
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    assert lines[-1].startswith("5 document(s)")
    for d in bundled_docs.values():
        assert sum(line.startswith(d.id) for line in lines) == 1, d.id
    assert any(d.title[:40] in listing.stdout for d in bundled_docs.values())




def test_ask_prints_a_cited_answer(runs):
    r = runs["ask"]
    assert r.returncode == 0, r.stderr
    text, _, sources = r.stdout.partition("\nNguồn:\n")
    assert sources, r.stdout
    assert "[1]" in text and ("Moskva" in text or "Moscow" in text)
    assert sources.lstrip().startswith("[1] Nga - Mỹ xích lại gần nhau sau họp bàn ở Moskva")
    assert "“" in sources  # the quoted source sentence
    assert "Loading weights" not in r.stderr  # no model-loading progress bar on every ask


def test_ask_json(runs, bundled_docs):
    r = runs["ask_json"]
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["question"] == QUESTION and d["language"] == "vi" and d["found"] is True
    assert "passages" not in d  # only with --passages
    cites = d["citations"]
    assert cites and [c["n"] for c in cites] == list(range(1, len(cites) + 1))
    assert all(f"[{c['n']}]" in d["text"] for c in cites)
    first = cites[0]
    doc = bundled_docs["000"]
    assert first["doc_id"] == doc.id
    assert doc.text[first["start"]:first["end"]] == first["sentence"]
    assert set(d["timings"]) >= {"retrieve", "total"}


def test_ask_without_index_fails_clearly(runs, dirs):
    r = runs["ask_missing"]
    assert r.returncode != 0
    assert "error: no index at" in r.stderr and "no-such-index" in r.stderr
    assert "python -m qa index" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (dirs.base / "no-such-index").exists()  # asking never creates an index


def test_remove_then_list(runs, dirs, bundled_docs, bundled_pipeline):
    r = runs["remove"]
    assert r.returncode == 0, r.stderr
    gone = bundled_docs["003"].id
    n = next(int(line.split()[1]) for line in runs["list"].stdout.splitlines() if line.startswith(gone))
    assert f"removed {gone} ({n} passages)" in r.stdout
    listing = runs["list_after_remove"]
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    total = int(runs["list"].stdout.strip().splitlines()[-1].split()[2])
    assert lines[-1].startswith(f"4 document(s), {total - n} passage(s)")
    assert not any(line.startswith(gone) for line in lines)
    assert sum(line.startswith(d.id) for d in bundled_docs.values() for line in lines) == 4
    # removed from disk too; the session's index it was copied from is untouched
    from embeddings.stores.faiss import FaissStore

    assert gone not in FaissStore.open(dirs.copy).documents
    assert gone in FaissStore.open(bundled_pipeline.index.path).documents


# --------------------------------------------------------------------------- in-process
# The same ``main`` that ``python -m qa`` exits with, called in this process with the session's
# encoder: these cases need no model of their own, and each subprocess costs ~7 s of CPU.


@pytest.fixture
def main(monkeypatch, encoder):
    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    return main


def test_reindex_adds_nothing(runs, dirs, main, capsys):
    before = sorted(p.name for p in dirs.index.iterdir())
    assert main(["index", "--index", str(dirs.index), str(REPO / "corpus" / "articles")]) == 0
    out = capsys.readouterr().out
    assert "added 0 document(s), 0 passage(s); 5 already indexed; 5 document(s)" in out
    assert sorted(p.name for p in dirs.index.iterdir()) == before  # no new generation written


def test_index_of_missing_path_is_exit_2(dirs, main, capsys):
    assert main(["index", "--index", str(dirs.base / "other"), str(dirs.base / "no-such-folder")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no-such-folder" in err
    assert not (dirs.base / "other").exists()  # nothing was written


def test_remove_unknown_id_is_an_error(runs, dirs, main, capsys):
    assert main(["remove", "--index", str(dirs.copy), "ffffffffffffffff"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "ffffffffffffffff" in err


def test_chat_follow_up_streams_and_survives_a_bad_question(runs, dirs, main, capsys, monkeypatch):
    import io

    lines = ["Ông Kerry gặp ai ở Moskva?", "", "Còn ông Lavrov nói gì?", "Как дела?", "exit",
             "Câu này không được hỏi vì chat đã kết thúc?"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["chat", "--index", str(dirs.index)]) == 0
    captured = capsys.readouterr()
    turns = [t for t in captured.out.split("\n\n") if t.strip()]
    assert len(turns) == 2, captured.out  # the empty line is skipped, nothing after "exit" is asked
    first, follow_up = turns
    for turn in turns:
        answer, _, sources = turn.partition("\nNguồn:\n")
        assert "[1]" in answer and sources.lstrip().startswith("[1] ")
    assert "Putin" in first.partition("\nNguồn:")[0]
    assert "Lavrov" in follow_up.partition("\nNguồn:")[0] or "La-vrốp" in follow_up.partition("\nNguồn:")[0]
    assert captured.err.count("error:") == 1  # the Cyrillic question, and the chat went on
    assert "Traceback" not in captured.err


def test_chat_with_a_bad_date_fails_before_loading(dirs, main, capsys):
    with pytest.raises(SystemExit) as exit_:  # an argparse error (usage + message), before any model loads
        main(["chat", "--index", str(dirs.index), "--date-from", "hôm qua"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--date-from" in err and "hôm qua" in err


def test_generator_flags_select_the_generative_answerer(runs, dirs, main, capsys):
    # nothing listens on the discard port: the generative answerer is configured, fails to
    # connect, and falls back to the extractive answer (it says so)
    assert main(["ask", "--index", str(dirs.index), "--json", "--generator-url", "http://127.0.0.1:9/v1",
                 "--generator-model", "any", QUESTION]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["answerer"] == "extractive (fallback)" and d["found"] and d["citations"]
