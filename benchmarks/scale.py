"""Warm ``ask()`` latency (hybrid, extractive) by index size: ``python -m benchmarks scale --dev DIR
--sizes 1000,10000,100000`` (indexes generated from real passages, see :mod:`benchmarks.sources`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from embeddings.encoder import PRECISIONS

from .common import (
    add_dev_option,
    ints,
    machine_info,
    machine_line,
    peak_rss_mb,
    percentile,
    report,
    rss_mb,
)
from .sources import dev_questions, real_sources, synthetic_index


def scale(sizes: list[int], n_questions: int, data: Path, precision: str = "auto") -> dict:
    """Warm ``ask()`` latency (hybrid retrieval, extractive answers) per index size, the query
    embedded at ``precision``; also the query embedding alone at fp32 and at ``precision``."""
    import gc

    import torch

    from qa import Pipeline, QAConfig

    encoder = Pipeline(QAConfig(encoder_precision=precision), in_memory=True).encoder
    res: dict = {"machine": machine_info(), "sizes": {}, "torch_threads": torch.get_num_threads(),
                 "precision": encoder.precision, "precision_setting": precision}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    qa_set, dev, bundled = real_sources(data, encoder)
    res["sources_s"] = time.perf_counter() - t0
    res["real_passages"] = len(dev.index) + len(bundled.index)
    res["real_index_mb_per_passage"] = (rss_mb() - rss0) / max(1, res["real_passages"])  # model included
    questions = dev_questions(qa_set, n_questions)
    res["questions"] = len(questions)
    for n in sizes:
        gc.collect()
        rss = rss_mb()
        t = time.perf_counter()
        big = synthetic_index([dev.index, bundled.index], n)
        gen_s = time.perf_counter() - t
        pipe = Pipeline(QAConfig(), encoder=dev.encoder, index=big)
        t = time.perf_counter()
        pipe.retriever.refresh()  # BM25 matrix and sentence matrix
        refresh_s = time.perf_counter() - t
        mb_per_passage = (rss_mb() - rss) * 1024 / n
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
                qq.forget_analysis()
                t = time.perf_counter()
                fn(qq, pipe.config.top_k if name == "run" else r.candidates)
                prof[name].append((time.perf_counter() - t) * 1000)
        res["sizes"][str(n)] = {
            "passages": len(big), "sentences": sum(len(v) for v in big.sentence_vectors.values()),
            "generate_s": gen_s, "refresh_s": refresh_s, "kb_per_passage": mb_per_passage,
            "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            **{f"{k}_p50_ms": percentile(v, 50) for k, v in stages.items()},
            **{f"profile_{k}_p50_ms": percentile(v, 50) for k, v in prof.items()},
            **{f"encode_query_{k}_p50_ms": percentile(v, 50) for k, v in embed.items()},
            "answered": found / len(questions), "contains_gold": contains / len(questions),
        }
        del pipe, big, r, queries, calls
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def scale_table(r: dict) -> str:
    m = r["machine"]
    lines = [machine_line(m) + f"; {r['real_passages']} real passages, "
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=ints, default=[1000, 10_000, 100_000])
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch intra-op threads for the query embedding (default: torch's own)")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="encoder precision of the query embedding (default: %(default)s)")

    add_dev_option(ap)
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "scale.json", help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    r = scale(args.sizes, args.questions, args.data, args.precision)
    return report(r, scale_table(r), args.out)
