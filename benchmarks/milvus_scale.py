"""The Milvus path at scale: ``python -m benchmarks milvus_scale --dev DIR --n 100000``.

One run, the same passages and questions for every store (FAISS folder, Milvus Lite file, the
Milvus 2.3.5 standalone server this benchmark starts, or ``--uri`` a running one):

* memory: RSS of a fresh process after loading the encoder (the model), after also loading the
  text-analysis models every question uses (all models), after opening the store, and after
  answering the questions (caches filled), and the growth over the model and over all models. FAISS holds
  every passage, its BM25 terms and the vectors in the process; Milvus holds none of them, so
  its growth should not depend on ``n`` (``--n 10000,100000`` shows it);
* ``Pipeline.ask()`` latency p50/p95 (hybrid retrieval + ``--answerer``: ``extractive`` by
  default, so that the memory columns are the store's and not a second model's; ``reader``, the
  product's default answerer, adds the reader's weights and activations), one question at a
  time, after a warm-up (the FAISS path builds its BM25 and sentence matrices on the first
  question: reported as ``first ask``);
* build time (adding and committing every passage with its sentence vector and BM25 terms).

The passages are :mod:`benchmarks.stores`' stand-ins (synthetic vectors near real dev-set
passage vectors, the real passages' texts and terms, 20 per document, ten outlets), one sentence
per passage whose vector is the passage's. The questions are real dev-set questions. Each store is
built in one fresh process and asked in another, so memory numbers do not mix; Milvus Lite runs
inside the asking process (its RSS counts), the server runs apart (its RSS is reported apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .common import add_dev_option, ints, machine_info, machine_line, percentile, report, rss_mb, store_names
from .stores import _documents, prepare

STORES = ("faiss", "milvus-lite", "milvus-server")


def _meta_args(meta: dict) -> dict:
    m = meta["model"]
    return dict(model=m["name"], fingerprint=m["fingerprint"], probe=m["probe"], dim=meta["dim"],
                chunking=meta["chunking"])


def _open(kind: str, work: Path, meta: dict, uri: str | None, create: bool) -> object:
    from embeddings.stores.faiss import FaissStore
    from embeddings.stores.milvus import MilvusStore

    if kind == "faiss":
        where = work / "faiss"
        return FaissStore.create(where, **_meta_args(meta)) if create else FaissStore.open(where)
    target = str(work / "lite.db") if kind == "milvus-lite" else uri
    name = f"bench_{meta['n']}"
    if create:
        return MilvusStore.open_or_create(target, collection=name, **_meta_args(meta))
    return MilvusStore.open(target, name)


def _build(kind: str, work: str, uri: str | None) -> dict:
    """Process 1: add every stand-in passage (vector, one sentence vector, BM25 terms) and commit."""
    work = Path(work)
    meta = json.loads((work / "meta.json").read_text())
    vecs = np.load(work / "vectors.npy", mmap_mode="r")
    t0 = time.perf_counter()
    store = _open(kind, work, meta, uri, create=True)
    for doc, chunks, rows, extras in _documents(work):
        v = np.asarray(vecs[rows])
        store.add(doc, chunks, v, extras, [v[i:i + 1].astype(np.float16) for i in range(len(rows))])
    store.commit()
    out = {"build_s": time.perf_counter() - t0}
    if hasattr(store, "close"):
        store.close()
    return out


def _warmups(n_questions: int) -> int:
    """Questions asked untimed before the timed ones (the first ask included): 3, fewer for a
    tiny set so that one is timed."""
    return min(3, n_questions - 1)


def _warm_text_models() -> None:
    """Load the text-analysis models every question uses whatever the store (language
    identification, underthesea's sentence splitter and word segmenter: +130-140 MB measured on
    top of the encoder), so that one column separates them from what the store and its caches add."""
    from underthesea import sent_tokenize, word_tokenize

    from qa.text.language import detect_language

    detect_language("Ai là người phát ngôn của Bộ Quốc phòng Nga?")
    sent_tokenize("Ông Kerry gặp ông Putin. Họ nói chuyện gần 10 tiếng.")
    word_tokenize("Ông Kerry gặp ông Putin ở Moskva")


def _kind_of_call(method: str, kwargs: dict) -> str:
    """A Milvus call's kind for ``--profile``: the method and the shape of its filter."""
    flt = kwargs.get("filter") or ""
    what = re.sub(r"\[[^\]]*\]", "[...]", re.sub(r'"(?:[^"\\]|\\.)*"', '"…"', flt))[:60] if flt else (
        "by id" if kwargs.get("ids") is not None else "")
    if kwargs.get("output_fields") == ["count(*)"]:
        what += " count(*)"
    return f"{method} {what}".strip()


@contextlib.contextmanager
def _profiled(calls: dict) -> Iterator[None]:
    """Count and time every Milvus call (by :func:`_kind_of_call`) into ``calls``."""
    from embeddings.stores.milvus_client import RetryingClient

    orig = RetryingClient.call

    def call(self: RetryingClient, method: str, *args: object, **kwargs: object) -> object:
        t = time.perf_counter()
        try:
            return orig(self, method, *args, **kwargs)
        finally:
            c = calls.setdefault(_kind_of_call(method, kwargs), [0, 0.0])
            c[0] += 1
            c[1] += time.perf_counter() - t

    RetryingClient.call = call
    try:
        yield
    finally:
        RetryingClient.call = orig


def _ask(kind: str, work: str, uri: str | None, questions: list[str], threads: int,
         answerer: str = "extractive", profile: bool = False) -> dict:
    """Process 2 (a restarted app): the model, then the store, then questions."""
    import torch

    torch.set_num_threads(threads)
    from embeddings.encoder import load_encoder
    from qa.config import QAConfig
    from qa.pipeline import Pipeline

    work = Path(work)
    meta = json.loads((work / "meta.json").read_text())
    out: dict = {"rss_python_mb": rss_mb()}
    config = QAConfig(answerer=answerer)
    encoder = load_encoder(config.embedding_model)
    encoder.encode_queries(["khởi động"])
    out["rss_model_mb"] = rss_mb()
    _warm_text_models()
    out["rss_models_mb"] = rss_mb()
    t = time.perf_counter()
    store = _open(kind, work, meta, uri, create=False)
    out["open_s"] = time.perf_counter() - t
    out["rss_open_mb"] = rss_mb()
    pipe = Pipeline(config, encoder=encoder, index=store)
    t = time.perf_counter()
    pipe.ask(questions[0])
    out["first_ask_s"] = time.perf_counter() - t
    warm = _warmups(len(questions))
    for q in questions[1:warm]:
        pipe.ask(q)
    lat = []
    found = 0
    calls: dict = {}
    with _profiled(calls) if profile else contextlib.nullcontext():
        for q in questions[warm:]:
            t = time.perf_counter()
            a = pipe.ask(q)
            lat.append(time.perf_counter() - t)
            found += bool(a.found)
    if profile:
        out["milvus_calls"] = {k: {"calls": c, "s": t} for k, (c, t) in sorted(calls.items(), key=lambda x: -x[1][1])}
    out.update(ask_p50_ms=1000 * percentile(lat, 50), ask_p95_ms=1000 * percentile(lat, 95), asked=len(lat),
               found=found, rss_end_mb=rss_mb())
    out["growth_open_mb"] = out["rss_open_mb"] - out["rss_models_mb"]  # the store alone
    out["growth_end_mb"] = out["rss_end_mb"] - out["rss_model_mb"]
    out["growth_end_models_mb"] = out["rss_end_mb"] - out["rss_models_mb"]
    if hasattr(store, "close"):
        store.close()
    return out


def _server_rss_mb(pid: int) -> float:
    """RSS of the server process and its children (MiB)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total / 2**20


def run(sizes: list[int], n_queries: int, stores: list[str], data: Path, uri: str | None, threads: int,
        answerer: str = "extractive", profile: bool = False) -> dict:
    from evaluation.datasets import load_qa_set

    qa = load_qa_set(data)
    questions = [q.text("vi") for q in qa.questions if q.text("vi")][:n_queries + 3]
    server = None
    results = {"machine": machine_info(), "questions": len(questions) - _warmups(len(questions)), "threads": threads,
               "answerer": answerer, "rows": []}
    if "milvus-server" in stores and uri is None:
        from tests.milvus_server import MilvusServer

        server = MilvusServer(tempfile.mkdtemp(prefix="qa-bench-milvus-server-"))
        results["server_start_s"] = server.start()
        uri = server.uri
    ctx = mp.get_context("spawn")
    try:
        for n in sizes:
            work = Path(tempfile.mkdtemp(prefix="qa-bench-milvus-"))
            try:
                meta = prepare(n, 10, work, data, progress=False)
                for kind in stores:
                    row = {"store": kind, "n": n}
                    with ctx.Pool(1) as pool:
                        row.update(pool.apply(_build, (kind, str(work), uri)))
                    with ctx.Pool(1) as pool:
                        row.update(pool.apply(_ask, (kind, str(work), uri, questions, threads, answerer, profile)))
                    if kind == "milvus-server" and server is not None:
                        row["server_rss_mb"] = _server_rss_mb(server.pid)
                    results["rows"].append(row)
                    print("  " + json.dumps({k: v for k, v in row.items() if k != "milvus_calls"}), flush=True)
                results.setdefault("data", {})[n] = {k: v for k, v in meta.items() if k != "model"}
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
    return results


def format_table(results: dict) -> str:
    cols = [("store", "store", "{}"), ("passages", "n", "{:,}"), ("build s", "build_s", "{:.0f}"),
            ("open s", "open_s", "{:.2f}"), ("first ask s", "first_ask_s", "{:.2f}"),
            ("ask p50 ms", "ask_p50_ms", "{:.0f}"), ("ask p95 ms", "ask_p95_ms", "{:.0f}"),
            ("RSS model MB", "rss_model_mb", "{:.0f}"), ("+ open MB", "growth_open_mb", "{:.0f}"),
            ("+ after asks MB", "growth_end_mb", "{:.0f}"), ("RSS all models MB", "rss_models_mb", "{:.0f}"),
            ("+ after asks over all models MB", "growth_end_models_mb", "{:.0f}"),
            ("server RSS MB", "server_rss_mb", "{:.0f}")]
    lines = [machine_line(results["machine"]) + f"; {results['questions']} questions, "
             f"{results['threads']} torch thread(s), answerer {results['answerer']}", "",
             "| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in results["rows"]:
        lines.append("| " + " | ".join(fmt.format(row[k]) if k in row else "" for _, k, fmt in cols) + " |")
    for row in results["rows"]:
        if row.get("milvus_calls"):
            lines += ["", f"Milvus calls during the timed questions, {row['store']}, {row['n']:,} passages:", "",
                      "| call | calls | s | ms each |", "|---|---:|---:|---:|"]
            lines += [f"| `{k}` | {c['calls']} | {c['s']:.2f} | {1000 * c['s'] / c['calls']:.1f} |"
                      for k, c in list(row["milvus_calls"].items())[:8]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks milvus_scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=ints, default=[100_000], help="stand-in passages, comma list (default 100000)")
    ap.add_argument("--queries", type=int, default=40, help="dev-set questions timed per store (default 40)")
    ap.add_argument("--stores", default=",".join(STORES), help=f"comma list of {', '.join(STORES)}")
    ap.add_argument("--uri", help="a running Milvus server for milvus-server (default: start a 2.3.5 one)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the asking process (default 1)")
    ap.add_argument("--answerer", default="extractive", choices=("extractive", "reader"),
                    help="answerer of the timed asks (default extractive: memory columns are the store's)")
    ap.add_argument("--profile", action="store_true",
                    help="count and time the Milvus calls of the timed questions (table per Milvus row)")
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench-milvus-scale.json"))
    add_dev_option(ap)
    args = ap.parse_args(argv)
    stores = store_names(args.stores, STORES)
    results = run(args.n, args.queries, stores, args.data, args.uri, args.threads, args.answerer, args.profile)
    return report(results, format_table(results), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
