"""The evaluation's outputs: the Markdown table, ``eval.json`` / ``eval.md``, and the run's metadata
(machine, model, git state)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from qa.pipeline import Pipeline

__all__ = ["format_table", "git_info", "machine_info", "model_info", "write_results"]

REPO_ROOT = Path(__file__).resolve().parents[1]


_COLUMNS = [  # (header, key, format)
    ("R@1", "recall@1", "{:.3f}"), ("R@5", "recall@5", "{:.3f}"), ("R@20", "recall@20", "{:.3f}"),
    ("MRR@10", "mrr@10", "{:.3f}"), ("contain.", "containment", "{:.3f}"),
    ("cit. prec.", "citation_precision", "{:.3f}"), ("answered", "answered", "{:.3f}"),
    ("words", "words_mean", "{:.1f}"), ("words p50", "words_median", "{:.0f}"),
    ("lead EM", "lead_em", "{:.3f}"), ("lead F1", "lead_f1", "{:.3f}"),
    ("refused", "refusal_rate", "{:.3f}"), ("false ans.", "false_answer_rate", "{:.3f}"),
    ("near miss", "false_answer_rate_near_miss", "{:.3f}"),
    ("p50 ms", "latency_ms_p50", "{:.0f}"), ("p95 ms", "latency_ms_p95", "{:.0f}"),
]


def format_table(results: dict) -> str:
    """The Markdown table: one row per method x language."""
    head = ["method", "answerer", "lang", "n"] + [h for h, _, _ in _COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for row in results["results"]:
        if "error" in row:
            cells = [row["method"], row.get("answerer", ""), row["language"], "",
                     f"ERROR: {row['error']}"[:200].replace("|", "/")]
            cells += [""] * (len(head) - len(cells))
        else:
            cells = [row["method"], row.get("answerer", ""), row["language"], str(row["n"])]
            for _, key, fmt in _COLUMNS:
                v = row.get(key)
                cells.append("–" if v is None else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- answers of {r['method']}/{r['language']} failed: {r['answer_error']}"
             for r in results["results"] if r.get("answer_error")]
    return "\n".join(lines + ([""] + notes if notes else []))


def _markdown(results: dict) -> str:
    m = results["meta"]
    git = m["git"]
    lines = [
        f"# Evaluation: {Path(m['data']['path']).name}",
        "",
        f"- date: {m['date']}; machine: {m['machine']['cores']} cores, {m['machine']['platform']}",
        f"- model: {m['model']['name']} (fingerprint {m['model'].get('fingerprint')}, "
        f"precision {m['model'].get('precision')}); "
        f"git: {git.get('commit') or 'no commit'}{' (dirty)' if git.get('dirty') else ''}",
        f"- data: {m['data']['path']}: {m['data']['contexts']} contexts, {m['data']['questions_used']} of "
        f"{m['data']['questions']} questions; index: {m['index']['passages']} passages",
        "- answers: " + (f"yes ({m.get('config', {}).get('answerer', 'extractive')})" if m["answers"] else "no (retrieval only)")
        + f"; wall time {m['seconds']} s"
        + (f"; index {m['index'].get('build_seconds')} s ({'cached' if m['index'].get('cached') else 'built'})"
           if "build_seconds" in m["index"] else ""),
        "",
        format_table(results),
        "",
        f"R@k / MRR@10: rank of the gold context among distinct contexts of the top {m['rank_depth']} passages. "
        "contain.: a gold answer occurs in the answer text (NFC, tone placement, casefold, whitespace). "
        "cit. prec.: share of all citations whose passage contains a gold answer. answered: share of questions "
        "with at least one citation. words / words p50: mean / median answer length of answered questions. "
        "lead EM / F1: the bold short answer (as its source writes it) against the gold answers, MLQA's "
        "normalization, refusals and answers without a lead count 0. "
        "refused: share of the (answerable) questions refused (the relevance gate, or the answerer). false ans.: "
        f"share of the {m.get('unanswerable', {}).get('questions', 0)} unanswerable questions per language that got "
        "an answer; near miss: the same for the near-miss kind (by kind and set in eval.json). "
        "p50/p95: `ask()` latency.",
        "",
    ]
    return "\n".join(lines)


def write_results(results: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.md`` into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / "eval.json", out / "eval.md"
    jpath.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    mpath.write_text(_markdown(results), encoding="utf-8")
    return jpath, mpath


def machine_info() -> dict:
    """The machine a run measured: usable cores, platform, load, date, Python and torch (also
    what every benchmark records, see benchmarks.common)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count()
    info = {"cores": usable, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "load_avg": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def model_info(pipe: Pipeline) -> dict:
    """The encoder a run used: name, fingerprint, dimension, token limit, precision."""
    enc = pipe.encoder
    info = {"name": getattr(enc, "name", None)}
    for attr in ("fingerprint", "dim", "max_tokens", "precision"):
        try:
            info[attr] = getattr(enc, attr)
        except Exception:  # noqa: BLE001 - metadata only
            info[attr] = None
    return info


def git_info() -> dict:
    """The commit the run measured and whether the work tree had changes."""
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}
