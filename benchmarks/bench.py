"""Speed and memory benchmark: ``python -m benchmarks.bench`` prints a table and writes JSON.

Subcommands (each prints a table and writes ``bench-results/<name>.json``; see BENCHMARKS.md):

* ``python -m benchmarks.bench scale --sizes 1000,10000,100000``: warm ``ask()`` latency (hybrid,
  extractive) over indexes of generated sizes (see :func:`synthetic_index`), per stage;
* ``python -m benchmarks.bench ingest``: indexing throughput against the encoder's own;
* ``python -m benchmarks.bench ann --n 1000000``: exact vs approximate passage search by size,
  recall@10, memory and build time (stand-in vectors, see :func:`standin_vectors`);
* ``python -m benchmarks.bench coldstart``: a fresh process to its first answer.

Without a subcommand it measures, in one run on this machine:

* index build time of the bundled corpus (chunk + embed + BM25 terms + commit);
* ``ask()`` warm latency (p50/p95) over the seed questions, per retrieval method, and the
  stages (query embedding, retrieval, answering);
* retrieval latency over a synthetic 10,000-passage index (the bundled passages repeated, with
  their BM25 terms and sentence spans, and random unit vectors for passages and sentences —
  retrieval cost depends on the number of passages, sentences and terms, not on their
  meaning), per method, excluding the query embedding;
* peak resident memory of the process.

Ratios to the dense-only peer are reported because these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from embeddings.encoder import PRECISIONS

SEED_QUESTIONS = [
    "Ông Kerry gặp ông Putin ở đâu?", "Where did Kerry and Lavrov meet in August 2016?",
    "Cuộc họp giữa Putin và Kerry ở Moscow kéo dài bao lâu?", "Who is the spokesman of the Russian Defence Ministry?",
    "Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?", "How many humanitarian workers have been killed in Syria?",
    "Các cuộc không kích ở Raqqa và Aleppo đã giết chết bao nhiêu người?", "Who did US Defense Secretary Ash Carter talk to by phone?",
]
METHODS = ("dense", "bm25", "rrf", "hybrid")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n_passages: int = 10_000, repeats: int = 3) -> dict:
    from corpus import load_bundled
    from embeddings.stores.faiss import VectorIndex
    from qa import Pipeline, QAConfig
    from qa.retrieval import Retriever

    results: dict = {"machine": {"cores": os.cpu_count(), "platform": platform.platform()},
                     "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    t0 = time.perf_counter()
    pipe = Pipeline(QAConfig(index_dir=tmp / "bundled"))
    results["model_load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = pipe.add_documents(load_bundled())
    results["index_build_s"] = time.perf_counter() - t0
    results["index_passages"] = report.passages

    # ask() warm latency per method
    results["ask"] = {}
    for m in METHODS:
        p = Pipeline(pipe.config.with_(retrieval=m), encoder=pipe.encoder, index=pipe.index)
        p.ask(SEED_QUESTIONS[0])  # warm-up
        lat, stages = [], {"embed_query": [], "retrieve": [], "answer": []}
        for _ in range(repeats):
            for q in SEED_QUESTIONS:
                a = p.ask(q)
                lat.append(a.timings["total"] * 1000)
                for k in stages:
                    stages[k].append(a.timings[k] * 1000)
        results["ask"][m] = {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95),
                             **{f"{k}_p50_ms": statistics.median(v) for k, v in stages.items()}}

    # retrieval over a synthetic 10k-passage index
    rng = np.random.default_rng(0)
    big = VectorIndex.create(None, model=pipe.encoder.name, fingerprint=pipe.encoder.fingerprint,
                             probe=pipe.encoder.probe_vector, dim=pipe.encoder.dim, chunking=pipe.index.manifest["chunking"])
    docs = list(pipe.index.documents.values())
    base = list(pipe.index.passages.values())
    from corpus.document import Chunk, Document

    i = 0
    while len(big) < n_passages:
        src = base[i % len(base)]
        doc = Document.create(f"{docs[0].title} #{i}", f"{src.text} [{i}]")
        offset = len(doc.text) - len(src.text) - len(f" [{i}]")  # 0: the text starts with src.text
        sents = tuple((a - src.start + offset, b - src.start + offset) for a, b in src.sentences)
        chunk = Chunk(doc.id, 0, 0, len(doc.text), doc.text, sents, src.n_tokens)
        v = rng.standard_normal((1 + len(sents), big.dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        big.add(doc, [chunk], v[:1], [{"terms": src.extra["terms"] + [f"doc{i}"]}], [v[1:]])
        i += 1
    queries = [pipe.query(q) for q in SEED_QUESTIONS]
    results["retrieval_10k"] = {"passages": len(big)}
    for m in METHODS:
        r = Retriever(big, method=m, candidates=pipe.config.candidates)
        r.refresh()
        r.run(queries[0], 5)
        lat = []
        for _ in range(repeats * 3):
            for q in queries:
                q.terms.clear()
                t = time.perf_counter()
                r.run(q, 5)
                lat.append((time.perf_counter() - t) * 1000)
        results["retrieval_10k"][m] = {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95)}
    embed = [pipe.encoder.encode_queries([q]) for q in SEED_QUESTIONS]  # noqa: F841 - warm
    lat = []
    for _ in range(repeats):
        for q in SEED_QUESTIONS:
            t = time.perf_counter()
            pipe.encoder.encode_queries([q])
            lat.append((time.perf_counter() - t) * 1000)
    results["query_embedding_p50_ms"] = _pct(lat, 50)
    results["peak_rss_mb"] = _peak_rss_mb()
    return results


def table(r: dict) -> str:
    dense = r["ask"]["dense"]["p50_ms"]
    lines = [f"machine: {r['machine']['cores']} cores; {r['date']}",
             f"model load {r['model_load_s']:.1f} s; bundled index build {r['index_build_s']:.1f} s "
             f"({r['index_passages']} passages); query embedding p50 {r['query_embedding_p50_ms']:.1f} ms; "
             f"peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| method | ask p50 ms | ask p95 ms | ×dense | retrieve p50 ms (bundled) | answer p50 ms "
             "| retrieval p50 ms @10k | retrieval p95 ms @10k |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in METHODS:
        a, b = r["ask"][m], r["retrieval_10k"][m]
        lines.append(f"| {m} | {a['p50_ms']:.0f} | {a['p95_ms']:.0f} | {a['p50_ms'] / dense:.2f} | "
                     f"{a['retrieve_p50_ms']:.1f} | {a['answer_p50_ms']:.0f} | {b['p50_ms']:.1f} | {b['p95_ms']:.1f} |")
    return "\n".join(lines)



# ============================================================================ scale, ingest, ann
def _rss_mb() -> float:
    """Current resident memory of this process (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return _peak_rss_mb()


def _machine() -> dict:
    return {"cores": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S")}


def real_sources(data: Path | None = None, encoder=None):
    """The real material the generated indexes are made of: the QA set, the pipeline over
    its contexts (the cached index of ``python -m evaluation.harness``) and the bundled-corpus index."""
    from corpus import load_bundled
    from qa import Pipeline, QAConfig

    from evaluation.harness import DEFAULT_DATA, build_pipeline, load_qa_set

    qa_set = load_qa_set(data or DEFAULT_DATA)
    dev, _ = build_pipeline(qa_set, encoder=encoder, progress=False)
    bundled = Pipeline(QAConfig(), encoder=dev.encoder)  # the default index in the cache dir
    bundled.add_documents(load_bundled())
    return qa_set, dev, bundled


def synthetic_index(sources: list, n: int, *, noise: float = 0.025, seed: int = 0):
    """An in-memory index of ``n`` passages made of the real passages of ``sources``.

    Copy 0 of every real passage is the passage itself (text, BM25 terms, sentence spans,
    passage and sentence vectors). Further copies (while ``n`` exceeds the real passages)
    are one-passage documents with the same text under a numbered title, one extra BM25 term
    (``copyN``), and their passage and sentence vectors perturbed by Gaussian noise of
    ``noise`` per dimension (renormalized: cosine ~0.9 to the original at 0.025), so that
    copies do not tie. Search cost depends on the number of passages, sentences and terms,
    which this reproduces; it does not reproduce a larger vocabulary.
    """
    from corpus.document import Chunk, Document
    from embeddings.stores.faiss import VectorIndex

    rng = np.random.default_rng(seed)
    first = sources[0]
    big = VectorIndex.create(None, model=first.model_name, fingerprint=first.manifest["model"]["fingerprint"],
                             probe=first.manifest["model"]["probe"], dim=first.dim,
                             chunking=first.manifest["chunking"])
    base = []
    for src in sources:
        pids = list(src.passages)
        vecs = src.vectors(pids)
        for pid, v in zip(pids, vecs):
            base.append((src, src.passages[pid], v, src.sentence_vectors.get(pid)))
    for i in range(n):
        src, p, v, sv = base[i % len(base)]
        copy = i // len(base)
        title = src.documents[p.doc_id].title
        doc = Document.create(f"{title} (#{copy})" if copy else title, p.text)
        if doc.id in big:  # two identical real passages: make the second distinct
            doc = Document.create(f"{title} (#{copy}.{i})", p.text)
        sents = tuple((a - p.start, b - p.start) for a, b in p.sentences)
        chunk = Chunk(doc.id, 0, 0, len(p.text), p.text, sents, p.n_tokens)
        terms = p.extra.get("terms", [])
        if copy:
            v = v + noise * rng.standard_normal(v.shape).astype(np.float32)
            v /= np.linalg.norm(v)
            if sv is not None:
                sv = sv.astype(np.float32) + noise * rng.standard_normal(sv.shape).astype(np.float32)
                sv /= np.linalg.norm(sv, axis=1, keepdims=True)
            terms = terms + [f"copy{copy}"]
        big.add(doc, [chunk], v[None, :], [{"terms": terms}], None if sv is None else [sv])
    return big


def _dev_questions(qa_set, n: int) -> list[tuple[str, tuple[str, ...]]]:
    """``n`` questions of the QA set, Vietnamese and English alternating, with gold answers."""
    out = []
    for q in qa_set.questions:
        for lang in ("vi", "en"):
            text = q.text(lang)
            if text and len(out) < n:
                out.append((text, q.answers))
    return out


def scale(sizes: list[int], n_questions: int = 40, data: Path | None = None, precision: str = "auto") -> dict:
    """Warm ``ask()`` latency (hybrid retrieval, extractive answers) per index size, the query
    embedded at ``precision``; also the query embedding alone at fp32 and at ``precision``."""
    import gc

    from qa import Pipeline, QAConfig

    import torch

    encoder = Pipeline(QAConfig(encoder_precision=precision), in_memory=True).encoder
    res: dict = {"machine": _machine(), "sizes": {}, "torch_threads": torch.get_num_threads(),
                 "precision": encoder.precision, "precision_setting": precision}
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    qa_set, dev, bundled = real_sources(data, encoder)
    res["sources_s"] = time.perf_counter() - t0
    res["real_passages"] = len(dev.index) + len(bundled.index)
    res["real_index_mb_per_passage"] = (_rss_mb() - rss0) / max(1, res["real_passages"])  # model included
    questions = _dev_questions(qa_set, n_questions)
    res["questions"] = len(questions)
    for n in sizes:
        gc.collect()
        rss = _rss_mb()
        t = time.perf_counter()
        big = synthetic_index([dev.index, bundled.index], n)
        gen_s = time.perf_counter() - t
        pipe = Pipeline(QAConfig(), encoder=dev.encoder, index=big)
        t = time.perf_counter()
        pipe.retriever.refresh()  # BM25 matrix and sentence matrix
        refresh_s = time.perf_counter() - t
        mb_per_passage = (_rss_mb() - rss) * 1024 / n
        for q, _ in questions[:2]:
            pipe.ask(q)
        lat, stages, found, contains = [], {"embed_query": [], "retrieve": [], "answer": []}, 0, 0
        for q, answers in questions:
            a = pipe.ask(q)
            lat.append(a.timings["total"] * 1000)
            for k in stages:
                stages[k].append(a.timings[k] * 1000)
            found += a.found
            contains += any(x in a.text for x in answers)
        # the query embedding alone, fp32 and the pipeline's precision interleaved (a paired peer)
        embed = {"fp32": [], encoder.precision: []}
        for q, _ in questions:
            for prec in embed:
                e = encoder.with_precision(prec)
                t = time.perf_counter()
                e.encode_queries([q])
                embed[prec].append((time.perf_counter() - t) * 1000)
        # where retrieval time goes: each channel alone on the same queries
        queries = [pipe.query(q) for q, _ in questions]
        r = pipe.retriever
        prof = {"dense": [], "bm25": [], "sentence": [], "run": []}
        calls = {"dense": r.dense.search, "bm25": r.lexical.search, "sentence": r.sentences.search, "run": r.run}
        for qq in queries:
            for name, fn in calls.items():
                qq.terms.clear()
                t = time.perf_counter()
                fn(qq, pipe.config.top_k if name == "run" else r.candidates)
                prof[name].append((time.perf_counter() - t) * 1000)
        res["sizes"][str(n)] = {
            "passages": len(big), "sentences": sum(len(v) for v in big.sentence_vectors.values()),
            "generate_s": gen_s, "refresh_s": refresh_s, "kb_per_passage": mb_per_passage,
            "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95),
            **{f"{k}_p50_ms": _pct(v, 50) for k, v in stages.items()},
            **{f"profile_{k}_p50_ms": _pct(v, 50) for k, v in prof.items()},
            **{f"encode_query_{k}_p50_ms": _pct(v, 50) for k, v in embed.items()},
            "answered": found / len(questions), "contains_gold": contains / len(questions),
        }
        del pipe, big, r, queries, calls
    res["peak_rss_mb"] = _peak_rss_mb()
    return res


def scale_table(r: dict) -> str:
    m = r["machine"]
    lines = [f"machine: {m['cores']} cores, load {m['load_avg'][0]:.1f}; {m['date']}; {r['real_passages']} real passages, "
             f"{r['questions']} questions (vi/en alternating); torch threads {r.get('torch_threads')}; "
             f"encoder precision {r.get('precision', 'fp32')}; peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| passages | sentences | ask p50 ms | ask p95 ms | embed q p50 | retrieve p50 | answer p50 "
             "| dense | bm25 | sentence ch. | KB/passage | answered | contains gold |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, x in r["sizes"].items():
        lines.append(f"| {x['passages']:,} | {x['sentences']:,} | {x['p50_ms']:.0f} | {x['p95_ms']:.0f} | "
                     f"{x['embed_query_p50_ms']:.0f} | {x['retrieve_p50_ms']:.1f} | {x['answer_p50_ms']:.1f} | "
                     f"{x['profile_dense_p50_ms']:.1f} | {x['profile_bm25_p50_ms']:.1f} | "
                     f"{x['profile_sentence_p50_ms']:.1f} | {x['kb_per_passage']:.1f} | {x['answered']:.2f} | "
                     f"{x['contains_gold']:.2f} |")
    p = r.get("precision", "fp32")
    if p != "fp32" and r["sizes"]:
        lines += ["", f"query embedding alone, p50 ms, fp32 / {p} (interleaved, same questions): " + "; ".join(
            f"{n}: {x['encode_query_fp32_p50_ms']:.1f} / {x[f'encode_query_{p}_p50_ms']:.1f}"
            for n, x in r["sizes"].items())]
    return "\n".join(lines)


def ingest(n_docs: int = 40, rounds: int = 1, data: Path | None = None, int8: bool = False,
           precision: str = "auto") -> dict:
    """Indexing throughput (``Pipeline.add_documents``) against the encoder's own on the same texts.

    The pipeline indexes at ``precision`` (the QAConfig default "auto": bf16 autocast where the
    CPU runs bfloat16 natively). Peers, all on the same documents in the same run:
    ``encode_passages`` of the passage texts alone at fp32 (the model's default precision: the
    issue's ceiling) and at the pipeline's precision, of the passage and sentence texts the
    index stores at the pipeline's precision (the ceiling of this design), and the previous
    indexing loop (one encode call per document for its passages and one for its sentences).
    """
    from corpus import load_bundled
    from qa import Pipeline, QAConfig

    from evaluation.harness import DEFAULT_DATA, load_qa_set

    docs = load_qa_set(data or DEFAULT_DATA).documents()[:n_docs] + load_bundled()
    config = QAConfig(encoder_precision=precision)
    base = Pipeline(config, in_memory=True)
    enc = base.encoder
    fp32 = enc.with_precision("fp32")
    chunked = [(d, base.chunk(d)) for d in docs]
    texts = [enc.passage_input(d.title, c.text) for d, cs in chunked for c in cs]
    per_doc = []
    for d, cs in chunked:
        spans = sorted({s for c in cs for s in c.sentences})
        per_doc.append(([enc.passage_input(d.title, c.text) for c in cs], [d.text[a:b] for a, b in spans]))
    sentences = [s for _, ss in per_doc for s in ss]
    fp32.encode_passages(texts[:enc.batch_size])  # warm-up
    enc.encode_passages(texts[:enc.batch_size])
    runs: dict[str, list[float]] = {"encode_passages_fp32": [], "encode_passages": [],
                                    "encode_passages_and_sentences": [], "add_documents": [],
                                    "per_document_calls": []}
    stages: list[dict[str, float]] = []
    for _ in range(rounds):
        t = time.perf_counter()
        v32 = fp32.encode_passages(texts)
        runs["encode_passages_fp32"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vp = enc.encode_passages(texts)
        runs["encode_passages"].append(time.perf_counter() - t)
        t = time.perf_counter()
        enc.encode_passages(texts + sentences)
        runs["encode_passages_and_sentences"].append(time.perf_counter() - t)
        pipe = Pipeline(config, encoder=enc, in_memory=True)
        report = pipe.add_documents(docs)
        runs["add_documents"].append(report.seconds)
        stages.append(report.timings)
        t = time.perf_counter()
        for ptexts, stexts in per_doc:
            enc.encode_passages(ptexts)
            enc.encode_passages(stexts)
        runs["per_document_calls"].append(time.perf_counter() - t)
    secs = {k: statistics.median(v) for k, v in runs.items()}
    # the stages of the round whose add_documents time is (closest to) the median
    stage = stages[min(range(rounds), key=lambda i: abs(runs["add_documents"][i] - secs["add_documents"]))]
    n = len(texts)
    cos = (vp * v32).sum(axis=1)
    extra = {"precision_cosine_to_fp32_mean": float(cos.mean()), "precision_cosine_to_fp32_min": float(cos.min()),
             "precision_encode_speedup": secs["encode_passages_fp32"] / secs["encode_passages"]}
    if int8:  # a faster encoder path, measured only: torch dynamic int8 quantization of the Linear layers
        import copy
        import dataclasses

        import torch

        qenc = dataclasses.replace(fp32, model=torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(enc.model), {torch.nn.Linear}, dtype=torch.qint8))
        qenc.encode_passages(texts[:enc.batch_size])
        t = time.perf_counter()
        qv = qenc.encode_passages(texts)
        secs["encode_passages_int8"] = time.perf_counter() - t
        cos = (qv * v32).sum(axis=1)
        extra.update({"int8_cosine_to_fp32_mean": float(cos.mean()), "int8_cosine_to_fp32_min": float(cos.min()),
                      "int8_speedup": secs["encode_passages_fp32"] / secs["encode_passages_int8"]})
    return {**extra, "machine": _machine(), "documents": len(docs), "passages": n, "sentences": len(sentences),
            "rounds": rounds, "batch_size": enc.batch_size, "precision": enc.precision,
            "precision_setting": precision, "seconds": secs,
            "passages_per_s": {k: n / v for k, v in secs.items()}, "add_documents_stages_s": stage,
            "ratio_vs_encode_passages_fp32": secs["encode_passages_fp32"] / secs["add_documents"],
            "ratio_vs_encode_passages": secs["encode_passages"] / secs["add_documents"],
            "ratio_vs_encode_passages_and_sentences": secs["encode_passages_and_sentences"] / secs["add_documents"],
            "ratio_per_document_vs_encode_passages_and_sentences":
                secs["encode_passages_and_sentences"] / secs["per_document_calls"]}


def ingest_table(r: dict) -> str:
    m = r["machine"]
    p = r.get("precision", "fp32")
    lines = [f"machine: {m['cores']} cores, load {m['load_avg'][0]:.1f}; {m['date']}; {r['documents']} documents, "
             f"{r['passages']} passages, {r['sentences']} sentences; batch size {r['batch_size']}; "
             f"indexing precision {p} (setting {r.get('precision_setting', 'auto')})", "",
             "| what | precision | seconds | passages/s |", "|---|---|---:|---:|"]
    for k, v in r["seconds"].items():
        prec = "fp32" if k.endswith("_fp32") else "int8" if k.endswith("_int8") else p
        lines.append(f"| {k} | {prec} | {v:.1f} | {r['passages_per_s'][k]:.2f} |")
    st = r["add_documents_stages_s"]
    lines += ["", "add_documents stages (s, median round): " + ", ".join(f"{k} {v:.1f}" for k, v in st.items()),
              f"ratio add_documents ({p}) / encode_passages fp32 (passages only, the model's default): "
              f"{r['ratio_vs_encode_passages_fp32']:.2f}",
              f"ratio add_documents ({p}) / encode_passages {p} (passages only): {r['ratio_vs_encode_passages']:.2f}",
              f"ratio add_documents ({p}) / encode_passages {p} (passages + sentences): "
              f"{r['ratio_vs_encode_passages_and_sentences']:.2f}",
              f"ratio previous per-document loop (encode only) / encode (passages + sentences): "
              f"{r['ratio_per_document_vs_encode_passages_and_sentences']:.2f}"]
    if p != "fp32":
        lines.append(f"{p} encode: {r['precision_encode_speedup']:.2f}x fp32; cosine to fp32 vectors "
                     f"mean {r['precision_cosine_to_fp32_mean']:.5f}, min {r['precision_cosine_to_fp32_min']:.5f}")
    if "int8_speedup" in r:
        lines.append(f"int8 dynamic quantization: encode {r['int8_speedup']:.2f}x fp32; cosine to fp32 vectors "
                     f"mean {r['int8_cosine_to_fp32_mean']:.4f}, min {r['int8_cosine_to_fp32_min']:.4f}")
    return "\n".join(lines)


def standin_vectors(seeds: np.ndarray, n: int, *, noise: float = 0.032, seed: int = 0,
                    block: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: real embeddings (``seeds``) plus Gaussian noise of ``noise`` per
    dimension, renormalized (cosine ~0.85 to their seed at 0.032 in 384 dimensions). A
    stand-in for embedding ``n`` passages, which the model cannot do here in useful time."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, seeds.shape[1]), dtype=np.float32)
    for s in range(0, n, block):
        e = min(n, s + block)
        x = seeds[rng.integers(0, len(seeds), e - s)] + noise * rng.standard_normal((e - s, seeds.shape[1]), dtype=np.float32)
        out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def ann_bench(n: int = 1_000_000, sizes: list[int] | None = None, n_queries: int = 200,
              data: Path | None = None, persist: bool = True) -> dict:
    """Exact vs IVF passage search per collection size, then a VectorIndex of ``n`` passages
    built, committed, reopened and queried (time and memory)."""
    import gc
    import shutil

    from corpus.document import Chunk, Document
    from embeddings.stores import ann
    from embeddings.stores.faiss import VectorIndex, _faiss

    faiss = _faiss()
    res: dict = {"machine": _machine(), "n": n, "sizes": {}}
    qa_set, dev, bundled = real_sources(data)
    seeds = []
    for src in (dev.index, bundled.index):
        seeds.append(src.vectors(list(src.passages)))
        seeds += [v.astype(np.float32) for v in src.sentence_vectors.values() if len(v)]
    seeds = np.concatenate(seeds)
    res["seed_vectors"] = len(seeds)
    qs = [q for q, _ in _dev_questions(qa_set, n_queries)]
    queries = dev.encoder.encode_queries(qs)
    res["queries"] = len(queries)
    meta = dict(model=dev.index.model_name, fingerprint=dev.index.manifest["model"]["fingerprint"],
                probe=dev.index.manifest["model"]["probe"], dim=dev.index.dim, chunking=dev.index.manifest["chunking"])
    del dev, bundled
    gc.collect()
    rss0 = _rss_mb()
    t = time.perf_counter()
    x = standin_vectors(seeds, n)
    res["standin_s"] = time.perf_counter() - t

    def timed_search(index, k=10):
        index.search(queries[:1], k)
        lat, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = index.search(q[None, :], k)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(ids[0])
        return lat, found

    def compare(m, flat, build):
        """Exact vs IVF at m vectors: latency, recall@10, an nprobe sweep."""
        lat_e, exact = timed_search(flat)
        t = time.perf_counter()
        ivf = build()
        build_s = time.perf_counter() - t
        lat_a, approx = timed_search(ivf)
        recall = float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, approx)]))
        p = ann.params_for(m)
        sweep = []
        for mult in ((0.5, 2, 4) if hasattr(ivf, "nlist") else ()):  # recall/latency around the chosen nprobe
            ivf.nprobe = max(1, min(p.nlist, round(p.nprobe * mult)))
            lat_s, got = timed_search(ivf)
            sweep.append({"nprobe": ivf.nprobe, "p50_ms": _pct(lat_s, 50),
                          "recall_at_10": float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, got)]))})
        res["sizes"][str(m)] = {"nlist": p.nlist, "nprobe": p.nprobe, "exact_p50_ms": _pct(lat_e, 50),
                                "exact_p95_ms": _pct(lat_e, 95), "ivf_p50_ms": _pct(lat_a, 50),
                                "ivf_p95_ms": _pct(lat_a, 95), "ivf_build_s": build_s, "recall_at_10": recall,
                                "flat_bytes_per_passage": faiss.serialize_index(flat).size / m if m <= 200_000 else 4 * x.shape[1],
                                "uses_ivf": ann.use_ann(m), "nprobe_sweep": sweep}
        if sweep:
            ivf.nprobe = p.nprobe

    for m in sorted(set(sizes or [])):
        if m < n:
            flat = faiss.IndexFlatIP(x.shape[1])
            flat.add(x[:m])
            compare(m, flat, lambda m=m: ann.build(x[:m], np.arange(m)))
            del flat
            gc.collect()

    # the product's index at n passages: VectorIndex (flat + IVF), commit, reopen, query
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-ann-"))
    try:
        rss1 = _rss_mb()
        t = time.perf_counter()
        idx = VectorIndex.create(tmp / "ix" if persist else None, **meta)
        per_doc = 1000
        for s in range(0, n, per_doc):
            e = min(n, s + per_doc)
            doc = Document.create(f"stand-in {s}", f"stand-in passages {s}-{e}")
            chunks = [Chunk(doc.id, i, 0, len(doc.text), doc.text, (), 1) for i in range(e - s)]
            idx.add(doc, chunks, x[s:e])
        add_s = time.perf_counter() - t
        rss_built = _rss_mb()
        t = time.perf_counter()
        compare(n, idx._index, idx.search_index)  # exact = the flat index, IVF built here
        ann_s = res["sizes"][str(n)]["ivf_build_s"]
        kind = type(idx.search_index()).__name__
        rss_built = _rss_mb()
        lat = []
        for q in queries:
            t = time.perf_counter()
            idx.search(q, 10)
            lat.append((time.perf_counter() - t) * 1000)
        out = {"passages": len(idx), "search_index": kind, "add_s": add_s, "ann_build_s": ann_s,
               "rss_mb_after_build": rss_built, "index_mb": rss_built - rss1,
               "bytes_per_passage": (rss_built - rss1) * 2**20 / n,
               "search_p50_ms": _pct(lat, 50), "search_p95_ms": _pct(lat, 95)}
        if persist:
            t = time.perf_counter()
            idx.commit()
            out["commit_s"] = time.perf_counter() - t
            out["disk_mb"] = sum(f.stat().st_size for f in (tmp / "ix").iterdir()) / 2**20
            del idx
            gc.collect()
            t = time.perf_counter()
            idx = VectorIndex.open(tmp / "ix")
            out["open_s"] = time.perf_counter() - t
            t = time.perf_counter()
            idx.search(queries[0], 10)
            out["first_search_after_open_ms"] = (time.perf_counter() - t) * 1000
        res["index"] = out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["rss_before_mb"] = rss0
    res["peak_rss_mb"] = _peak_rss_mb()
    return res


def ann_table(r: dict) -> str:
    m = r["machine"]
    lines = [f"machine: {m['cores']} cores, load {m['load_avg'][0]:.1f}; {m['date']}; stand-in vectors from "
             f"{r['seed_vectors']:,} real passage/sentence vectors; {r['queries']} real dev questions; "
             f"peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| passages | nlist | nprobe | exact p50 ms | exact p95 ms | IVF p50 ms | IVF p95 ms | IVF build s "
             "| recall@10 vs exact | used |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for k, x in r["sizes"].items():
        lines.append(f"| {int(k):,} | {x['nlist']} | {x['nprobe']} | {x['exact_p50_ms']:.2f} | {x['exact_p95_ms']:.2f} | "
                     f"{x['ivf_p50_ms']:.2f} | {x['ivf_p95_ms']:.2f} | {x['ivf_build_s']:.1f} | {x['recall_at_10']:.3f} | "
                     f"{'IVF' if x['uses_ivf'] else 'exact'} |")
    lines += ["", "nprobe sweep (passages: nprobe p50 ms recall@10): " + "; ".join(
        f"{int(k):,}: " + ", ".join(f"{s['nprobe']} {s['p50_ms']:.2f} {s['recall_at_10']:.3f}" for s in x["nprobe_sweep"])
        for k, x in r["sizes"].items())]
    ix = r["index"]
    lines += ["", f"VectorIndex of {ix['passages']:,} passages ({ix['search_index']}): add {ix['add_s']:.0f} s, "
              f"IVF build {ix['ann_build_s']:.0f} s, +{ix['index_mb']:.0f} MB RSS ({ix['bytes_per_passage']:.0f} B/passage), "
              f"search p50 {ix['search_p50_ms']:.2f} ms / p95 {ix['search_p95_ms']:.2f} ms"
              + (f"; commit {ix['commit_s']:.0f} s ({ix['disk_mb']:.0f} MB on disk), open {ix['open_s']:.0f} s, "
                 f"first search {ix['first_search_after_open_ms']:.1f} ms" if "commit_s" in ix else "")]
    return "\n".join(lines)


COLDSTART_SCRIPT = """
import json, time
t0 = time.perf_counter()
from qa import ask
from qa.pipeline import default_pipeline
pipe = default_pipeline()
t1 = time.perf_counter()
a = ask({question!r})
t2 = time.perf_counter()
print(json.dumps({{"import_and_load_s": t1 - t0, "first_ask_s": t2 - t1, "found": a.found}}))
"""


def coldstart(runs: int = 3, question: str = SEED_QUESTIONS[0]) -> dict:
    """Seconds from a fresh Python process to its first answer from the default pipeline.

    Run 1 uses an empty cache (model conversion and index build included: a first install);
    the next runs find both cached (a normal app start).
    """
    import shutil
    import subprocess
    import sys

    cache = Path(tempfile.mkdtemp(prefix="qa-bench-cold-"))
    env = dict(os.environ, QA_CACHE_DIR=str(cache))
    script = COLDSTART_SCRIPT.format(question=question)
    out = []
    try:
        for i in range(runs):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                  cwd=Path(__file__).resolve().parents[1])
            wall = time.perf_counter() - t
            if proc.returncode:
                raise RuntimeError(f"cold-start run failed:\n{proc.stderr[-2000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            out.append({"run": i + 1, "cache": "empty" if i == 0 else "warm", "wall_s": wall, **row})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"machine": _machine(), "question": question, "runs": out}


def coldstart_table(r: dict) -> str:
    lines = ["| run | cache | process start to first answer s | import + model + index s | first ask s |",
             "|---:|---|---:|---:|---:|"]
    for x in r["runs"]:
        lines.append(f"| {x['run']} | {x['cache']} | {x['wall_s']:.1f} | {x['import_and_load_s']:.1f} | {x['first_ask_s']:.2f} |")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def sub_main(argv: list[str]) -> int:
    """``python -m benchmarks.bench {scale,ingest,ann,coldstart} ...``"""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench", description="scale / ingest / ann / coldstart benchmarks")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("scale", help="warm ask() latency per index size")
    sp.add_argument("--sizes", type=_ints, default=[1000, 10_000, 100_000])
    sp.add_argument("--questions", type=int, default=40)
    sp.add_argument("--torch-threads", type=int, default=None,
                    help="torch intra-op threads for the query embedding (default: torch's own)")
    sp.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="encoder precision of the query embedding (default: %(default)s)")
    sp = sub.add_parser("ingest", help="indexing throughput vs the encoder's")
    sp.add_argument("--docs", type=int, default=40, help="QA-set contexts indexed (plus the bundled articles)")
    sp.add_argument("--rounds", type=int, default=1)
    sp.add_argument("--int8", action="store_true", help="also time a dynamically int8-quantized encoder")
    sp.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="encoder precision of the indexing pipeline (default: %(default)s)")
    sp = sub.add_parser("ann", help="exact vs IVF search by size; an index of --n passages")
    sp.add_argument("--n", type=int, default=1_000_000)
    sp.add_argument("--sizes", type=_ints, default=[50_000, 100_000, 200_000, 500_000])
    sp.add_argument("--queries", type=int, default=200)
    sp.add_argument("--no-persist", action="store_true", help="skip commit and reopen")
    sp = sub.add_parser("coldstart", help="fresh process to first answer")
    sp.add_argument("--runs", type=int, default=3)
    for p in sub.choices.values():
        p.add_argument("--data", type=Path, default=None, help="QA set directory (default: the eval default)")
        p.add_argument("--out", type=Path, default=None, help="JSON output (default bench-results/<cmd>.json)")
    args = ap.parse_args(argv)
    if args.cmd == "scale":
        if args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
        r, tab = scale(args.sizes, args.questions, args.data, args.precision), scale_table
    elif args.cmd == "ingest":
        r, tab = ingest(args.docs, args.rounds, args.data, args.int8, args.precision), ingest_table
    elif args.cmd == "ann":
        r, tab = ann_bench(args.n, args.sizes, args.queries, args.data, persist=not args.no_persist), ann_table
    else:
        r, tab = coldstart(args.runs), coldstart_table
    return report(r, tab(r), args.out or Path("bench-results") / f"{args.cmd}.json")


def report(result: dict, table_text: str, out: Path) -> int:
    """Write a benchmark's numbers to ``out`` (JSON) and print its table; the exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(table_text)
    print(f"\nwritten to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=10_000, help="size of the synthetic index (%(default)s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("scale", "ingest", "ann", "coldstart"):
        return sub_main(argv)
    args = ap.parse_args(argv)
    r = run(args.passages, args.repeats)
    return report(r, table(r), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
