"""``python -m benchmarks NAME [options]``: the speed and memory benchmarks (BENCHMARKS.md).

    python -m benchmarks speed                                  # ask() latency per method, memory
    python -m benchmarks scale --dev DIR --sizes 1000,10000     # ask() latency by index size
    python -m benchmarks ingest --dev DIR                       # indexing rate vs the encoder's
    python -m benchmarks ann --dev DIR --n 1000000              # exact vs IVF search by size
    python -m benchmarks coldstart                              # fresh process to first answer
    python -m benchmarks refresh --dev DIR --sizes 10000        # adding a document to a big index
    python -m benchmarks stores --dev DIR --n 100000            # FAISS vs Milvus Lite
    python -m benchmarks upload                                 # ask() while an upload indexes
    python -m benchmarks milvus_scale --dev DIR --n 100000      # ask() and RSS: FAISS, Lite, server
    python -m benchmarks answerers --passages 10000             # ask() with the reader vs extractive
    python -m benchmarks store_recall --dev DIR                 # dev-set recall: FAISS, server, Lite

``DIR`` is the MLQA-vi dev set (by convention ``../shared/eval/mlqa-vi-dev``). Each writes its
numbers as JSON under ``bench-results/`` and prints its table.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["BENCHMARKS", "main"]

#: Benchmark name -> module (each has ``main(argv) -> int``).
BENCHMARKS = {name: f"benchmarks.{name}" for name in ("speed", "scale", "ingest", "ann", "coldstart", "refresh",
                                                     "stores", "upload", "milvus_scale", "answerers",
                                                     "store_recall")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(__doc__, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])
