"""Seconds from a fresh Python process to its first answer: ``python -m benchmarks coldstart``."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from .common import SEED_QUESTIONS, machine_info, report

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
    return {"machine": machine_info(), "question": question, "runs": out}


def coldstart_table(r: dict) -> str:
    lines = ["| run | cache | process start to first answer s | import + model + index s | first ask s |",
             "|---:|---|---:|---:|---:|"]
    for x in r["runs"]:
        lines.append(f"| {x['run']} | {x['cache']} | {x['wall_s']:.1f} | {x['import_and_load_s']:.1f} | {x['first_ask_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks coldstart", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "coldstart.json",
                    help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    r = coldstart(args.runs)
    return report(r, coldstart_table(r), args.out)
