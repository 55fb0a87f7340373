"""What every benchmark shares: the seed questions, percentiles (interpolated: the one definition
of :func:`evaluation.metrics.percentile`), machine information (:func:`evaluation.report.machine_info`),
resident memory, the ``--dev`` option and writing a result."""

from __future__ import annotations

import argparse
import json
import os
import resource
from collections.abc import Sequence
from pathlib import Path

from evaluation.metrics import percentile as _percentile
from evaluation.report import machine_info

__all__ = ["SEED_QUESTIONS", "add_dev_option", "ints", "machine_info", "machine_line", "peak_rss_mb", "percentile", "report",
           "rss_mb"]

SEED_QUESTIONS = [
    "Ông Kerry gặp ông Putin ở đâu?", "Where did Kerry and Lavrov meet in August 2016?",
    "Cuộc họp giữa Putin và Kerry ở Moscow kéo dài bao lâu?", "Who is the spokesman of the Russian Defence Ministry?",
    "Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?", "How many humanitarian workers have been killed in Syria?",
    "Các cuộc không kích ở Raqqa và Aleppo đã giết chết bao nhiêu người?",
    "Who did US Defense Secretary Ash Carter talk to by phone?",
]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated; NaN for no values (a table cell, not an error)."""
    p = _percentile(values, q)
    return float("nan") if p is None else p


def machine_line(machine: dict) -> str:
    """The first words of every table: cores, load and date of the run (:func:`machine_info`)."""
    return f"machine: {machine['cores']} cores, load {machine['load_avg'][0]:.1f}; {machine['date']}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process (Linux /proc; else the peak), MiB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return peak_rss_mb()


def ints(text: str) -> list[int]:
    """``"1000,10_000"`` -> ``[1000, 10000]`` (sizes on the command line)."""
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def store_names(text: str, known: Sequence[str]) -> list[str]:
    """``--stores``' comma list, each checked against ``known`` (exit with an error otherwise)."""
    stores = [s.strip() for s in text.split(",") if s.strip()]
    for s in stores:
        if s not in known:
            raise SystemExit(f"error: unknown store {s!r}")
    return stores


def add_dev_option(parser: argparse.ArgumentParser) -> None:
    """``--dev DIR``: the MLQA-vi dev set the benchmark builds its indexes from (required: no
    path outside the repository is assumed; by convention ``../shared/eval/mlqa-vi-dev``)."""
    parser.add_argument("--dev", "--data", dest="data", type=Path, required=True, metavar="DIR",
                        help="the MLQA-vi dev set (contexts.jsonl, questions.jsonl), e.g. ../shared/eval/mlqa-vi-dev")


def report(result: dict, table_text: str, out: Path) -> int:
    """Write a benchmark's numbers to ``out`` (JSON) and print its table; the exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(table_text)
    print(f"\nwritten to {out}")
    return 0
