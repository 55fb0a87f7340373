"""ask() latency of each answerer at 10,000 passages: ``python -m benchmarks answerers``.

The index is the bundled passages repeated to ``--passages`` rows
(:func:`benchmarks.sources.synthetic_index`: each copy with the original passage's and sentences'
vectors plus a little noise, so a question retrieves copies of the passages it is about, the
relevance gate lets it through and the reader really reads), and their BM25 terms. Every
answerer runs on that one index in the same process, in turns, over the seed questions (warm:
one ask first), so the ratios to the extractive answerer hold even on a shared, noisy machine.
Reader variants: citing the extractive answerer's sentences (the default ``reader_cites``: it
reads the ``reader_windows`` best sentences' neighbourhoods and re-ranks them by its margin;
"not re-ranked", ``reader_fusion_weight=0``, reads only the chosen sentences' neighbourhoods) or
its own span's (``reader-span``: the ``reader_windows`` best sentences' neighbourhoods); at the
default ``reader_precision`` ("auto": bf16 autocast on a CPU with AVX512-BF16 / AMX), at fp32,
and with int8 dynamic quantization of the linear layers (``reader_quantize``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from .common import SEED_QUESTIONS, machine_info, peak_rss_mb, percentile, report
from .sources import synthetic_index

#: (label, QAConfig overrides); the first is the peer the ratios are to
VARIANTS = (
    ("extractive", {"answerer": "extractive"}),
    ("reader (default: re-ranked, precision auto)", {"answerer": "reader"}),
    ("reader fp32", {"answerer": "reader", "reader_precision": "fp32"}),
    ("reader fp32, not re-ranked", {"answerer": "reader", "reader_precision": "fp32", "reader_fusion_weight": 0.0}),
    ("reader int8", {"answerer": "reader", "reader_quantize": True}),
    ("reader-span (precision auto)", {"answerer": "reader", "reader_cites": "span"}),
    ("reader-span int8", {"answerer": "reader", "reader_cites": "span", "reader_quantize": True}),
)


def run(n_passages: int = 10_000, repeats: int = 3) -> dict:
    import tempfile

    from corpus import load_bundled
    from qa import Pipeline, QAConfig

    results: dict = {"machine": machine_info(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     "passages": n_passages, "questions": len(SEED_QUESTIONS), "repeats": repeats}
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-answerers-"))
    pipe = Pipeline(QAConfig(index_dir=tmp / "bundled"))
    pipe.add_documents(load_bundled())
    big = synthetic_index([pipe.index], n_passages)
    results["rows"] = {}
    for label, overrides in VARIANTS:
        p = Pipeline(pipe.config.with_(**overrides), encoder=pipe.encoder, index=big)
        p.ask(SEED_QUESTIONS[0])  # warm-up: loads the reader, builds the retrieval caches
        lat, answer, found = [], [], 0
        for _ in range(repeats):
            for q in SEED_QUESTIONS:
                a = p.ask(q)
                lat.append(a.timings["total"] * 1000)
                answer.append(a.timings["answer"] * 1000)
                found += bool(a.found)
        results["rows"][label] = {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                                  "answer_p50_ms": statistics.median(answer),
                                  "answered": found / len(lat)}
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def table(r: dict) -> str:
    rows = r["rows"]
    peer = rows[VARIANTS[0][0]]
    lines = [f"machine: {r['machine']['cores']} cores; {r['date']}; {r['passages']} passages; "
             f"{r['questions']} seed questions × {r['repeats']}; peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| answerer | ask p50 ms | ask p95 ms | ×extractive p50 | ×extractive p95 | answer stage p50 ms | answered |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, x in rows.items():
        lines.append(f"| {label} | {x['p50_ms']:.0f} | {x['p95_ms']:.0f} | {x['p50_ms'] / peer['p50_ms']:.2f} | "
                     f"{x['p95_ms'] / peer['p95_ms']:.2f} | {x['answer_p50_ms']:.0f} | {x['answered']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks answerers", description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=10_000, help="size of the index (%(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the seed questions (%(default)s)")
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "answerers.json",
                    help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    r = run(args.passages, args.repeats)
    report(r, table(r), args.out)
    return 0
