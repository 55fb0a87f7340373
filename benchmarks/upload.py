"""Questions while an upload indexes: ``python -m benchmarks upload [--copies 60] [--asks 24]``.

Issue 14's target: while a large upload is indexed (the app's way: :class:`qa.background.BackgroundIndexer`,
a worker process at a lower priority), warm ``ask()`` p95 stays within 2x its idle value. One
pipeline over a copy of the bundled-articles index (in a temporary folder) answers the seed
questions, warm, ``--asks`` times idle; then a JSON Lines upload of the bundled articles under
``--copies`` headlines each (real text; about 10 passages and 60 sentences per copy) is
submitted, and once the worker is embedding the same questions are asked again while it works.
The upload is cancelled at the end (the index keeps its last commit). Prints a table, writes
``bench-results/upload.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .common import SEED_QUESTIONS, machine_info, machine_line, percentile, report

if TYPE_CHECKING:  # pragma: no cover
    from qa.pipeline import Pipeline

__all__ = ["main"]


def _latencies(pipe: Pipeline, n: int, keep_going: Callable[[], bool] | None = None) -> list[float]:
    out = []
    for i in range(n):
        if keep_going is not None and not keep_going():
            break
        t = time.perf_counter()
        pipe.ask(SEED_QUESTIONS[i % len(SEED_QUESTIONS)])
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=60, help="headlines per bundled article in the upload")
    parser.add_argument("--asks", type=int, default=24, help="questions asked idle, and at most while indexing")
    parser.add_argument("--out", type=Path, default=Path("bench-results/upload.json"), help="where the numbers go")
    args = parser.parse_args(argv)

    import torch

    from corpus import load_bundled
    from qa import Pipeline, QAConfig, default_pipeline
    from qa.background import BackgroundIndexer

    torch.set_num_threads(1)  # as the tests: one intra-op thread on a small shared machine
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        base = default_pipeline()
        shutil.copytree(base.index.path, tmp / "index")
        pipe = Pipeline(QAConfig(index_dir=tmp / "index"), encoder=base.encoder)
        _latencies(pipe, len(SEED_QUESTIONS))  # warm
        idle = _latencies(pipe, args.asks)
        big = tmp / "upload.jsonl"
        big.write_text("\n".join(json.dumps({"title": f"{d.title} ({i})", "text": d.text}, ensure_ascii=False)
                                 for i in range(args.copies) for d in load_bundled()), encoding="utf-8")
        jobs = BackgroundIndexer(pipe)
        try:
            job = jobs.submit([str(big)], max_passages=0, max_sentences=0)
            t0 = time.monotonic()
            while not (job.state == "embedding" and job.done) and not job.final:
                time.sleep(0.2)
            started = time.monotonic() - t0
            busy = _latencies(pipe, args.asks, keep_going=lambda: job.state == "embedding")
            progress = (job.done, job.total)
            jobs.cancel(job.id)
            jobs.wait(job.id, timeout=120)
        finally:
            jobs.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    machine = machine_info()
    rows = {"idle": idle, "while indexing": busy}
    result = {"machine": machine, "copies": args.copies, "worker_start_s": started,
              "embedded_when_done": progress,
              **{k.replace(" ", "_"): {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95),
                                       "max": max(v, default=float("nan"))} for k, v in rows.items()}}
    result["p95_ratio"] = result["while_indexing"]["p95"] / result["idle"]["p95"]
    lines = [machine_line(machine), f"upload: {args.copies * len(load_bundled())} articles; worker embedding after "
             f"{started:.0f} s; {progress[0]:,}/{progress[1]:,} texts embedded when the asks ended", "",
             "| ask() | n | p50 s | p95 s | max s |", "|---|---|---|---|---|"]
    for name, v in rows.items():
        lines.append(f"| {name} | {len(v)} | {percentile(v, 50):.3f} | {percentile(v, 95):.3f} | "
                     f"{max(v, default=float('nan')):.3f} |")
    lines.append(f"\np95 while indexing / idle: {result['p95_ratio']:.2f}x (target: at most 2x)")
    return report(result, "\n".join(lines), args.out)
