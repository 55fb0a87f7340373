"""Indexing throughput against the encoder's own on the same texts: ``python -m benchmarks ingest --dev DIR``."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from embeddings.encoder import PRECISIONS

from .common import add_dev_option, machine_info, machine_line, report


def ingest(n_docs: int, rounds: int, data: Path, int8: bool = False,
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
    from evaluation.datasets import load_qa_set
    from qa import Pipeline, QAConfig

    docs = load_qa_set(data).documents()[:n_docs] + load_bundled()
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
    return {**extra, "machine": machine_info(), "documents": len(docs), "passages": n, "sentences": len(sentences),
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
    lines = [machine_line(m) + f"; {r['documents']} documents, "
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks ingest", description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40, help="QA-set contexts indexed (plus the bundled articles)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--int8", action="store_true", help="also time a dynamically int8-quantized encoder")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="encoder precision of the indexing pipeline (default: %(default)s)")

    add_dev_option(ap)
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "ingest.json", help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    r = ingest(args.docs, args.rounds, args.data, args.int8, args.precision)
    return report(r, ingest_table(r), args.out)
