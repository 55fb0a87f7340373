"""The reader's span score as one more feature of sentence choice, measured with held-out folds.

    python -m evaluation.studies.sentence_fusion --dev ../shared/eval/mlqa-vi-dev --out runs/fusion

Today's default cites the extractive answerer's best sentence (and its same-passage
runner-up); the reader only reads inside it. Issue 12 suggests the reader's span score as one
more feature of the sentence choice. This study, for every dev question (Vietnamese and English
text, hybrid retrieval of ``--depth`` passages), reads each of the ``--candidates`` best
extractive sentences with the shipped reader (:meth:`~qa.answering.reader.ReaderAnswerer.read_sentences`:
the sentence as the only place a span may lie, one sentence of context either side) and records per sentence the
extractive score, the reader's best-span margin and whether it holds a gold answer. The reads
are cached (``cases.jsonl``), so the fusion grid runs in seconds.

The fused score is ``extractive + weight * clip(margin, -clip, clip)`` over the best ``k``
sentences of the top ``passages`` passages. Weight, clip and k are chosen on one half of the
dev folds (:func:`evaluation.datasets.dev_fold`, even vs odd folds) and scored on the other,
both ways: no figure reported comes from the half it was tuned on. Columns: the best sentence
holds a gold answer (``top1``), its passage does (``passage``), and the product's selection
rule (best + same-passage runner-up within the margin) on the fused score (``chosen``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from ..datasets import dev_fold, load_qa_set
from ..harness import build_pipeline, method_pipeline
from ..metrics import contains_answer

WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
CLIPS = (5.0, 10.0, 20.0)
KS = (2, 3, 4, 6, 8)
PASSAGES = (5, 8)


def collect(dev: Path, out: Path, candidates: int, depth: int, progress: bool = True) -> list[dict]:
    """Read the best ``candidates`` sentences of every dev question; cached in ``out``."""
    from tqdm.auto import tqdm

    from qa.answering.reader import ReaderAnswerer
    from qa.config import QAConfig

    path = out / "cases.jsonl"
    done = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done[r["id"]] = r
    qa = load_qa_set(dev)
    base, _ = build_pipeline(qa, QAConfig(), progress=progress)
    pipe = method_pipeline(base, "hybrid")
    reader = pipe.answerer
    assert isinstance(reader, ReaderAnswerer) and reader.extractive is not None
    ext = reader.extractive
    items = [(f"{q.id}:{lang}", q, lang) for q in qa.questions for lang in ("vi", "en") if q.text(lang)]
    out.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for key, q, lang in tqdm(items, desc="questions", disable=not progress):
            if key in done:
                continue
            query = pipe.query(q.text(lang))
            passages = pipe.retrieve(query, top_k=depth)
            scored = ext.score_sentences(query, passages)[:candidates]
            reads = reader.read_sentences(query, scored)
            margins = [r[1].margin if r else None for r in reads]
            leads = [r[0] if r else None for r in reads]
            gold_pid = {p.id for p in passages if contains_answer(p.text, q.answers)}
            rec = {"id": key, "lang": lang, "fold": dev_fold(q.context_id),
                   "sentences": [{"score": s.score, "margin": m, "rank": s.passage.rank, "pid": s.passage.id,
                                  "gold": contains_answer(s.text, q.answers),
                                  "lead_gold": bool(ld) and contains_answer(ld, q.answers),
                                  "passage_gold": s.passage.id in gold_pid}
                                 for s, m, ld in zip(scored, margins, leads)]}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            done[key] = rec
    return [done[k] for k, _, _ in items if k in done]


def choose(sents: list[dict], weight: float, clip: float, k: int, passages: int,
           second_margin: float = 1.0) -> list[dict]:
    """The product's selection rule on the fused score: best, plus its same-passage runner-up
    within ``second_margin``."""
    pool = [s for s in sents if s["rank"] <= passages][:k]
    if not pool:
        return []

    def fused(s: dict) -> float:
        m = s["margin"] if s["margin"] is not None else -clip
        return s["score"] + weight * float(np.clip(m, -clip, clip))

    ranked = sorted(pool, key=lambda s: -fused(s))
    best = ranked[0]
    chosen = [best]
    if len(ranked) > 1 and ranked[1]["pid"] == best["pid"] and fused(ranked[1]) >= fused(best) - second_margin:
        chosen.append(ranked[1])
    return chosen


def score(cases: list[dict], weight: float, clip: float, k: int, passages: int) -> dict:
    top1 = passage = chosen_hit = n_cit = cit_gold = 0
    for c in cases:
        ch = choose(c["sentences"], weight, clip, k, passages)
        if not ch:
            continue
        top1 += ch[0]["gold"]
        passage += ch[0]["passage_gold"]
        chosen_hit += any(s["gold"] for s in ch)
        n_cit += len({s["pid"] for s in ch})
        cit_gold += len({s["pid"] for s in ch if s["passage_gold"]})
    n = max(len(cases), 1)
    return {"top1": top1 / n, "passage": passage / n, "chosen": chosen_hit / n,
            "cit_prec": cit_gold / max(n_cit, 1), "n": len(cases)}


def grid() -> list[tuple[float, float, int, int]]:
    return list(itertools.product(WEIGHTS, CLIPS, KS, PASSAGES))


def cross_validate(cases: list[dict], lang: str) -> dict:
    """Tune on one half of the folds, score on the other, both ways; the pooled held-out result."""
    halves = [[c for c in cases if c["lang"] == lang and c["fold"] % 2 == h] for h in (0, 1)]
    picks, held = [], []
    for tune, test in ((halves[0], halves[1]), (halves[1], halves[0])):
        best = max(grid(), key=lambda g: (score(tune, *g)["chosen"], -g[0]))
        picks.append(best)
        held.append((score(test, *best), len(test)))
    total = sum(n for _, n in held)
    pooled = {k: sum(s[k] * n for s, n in held) / total for k in ("top1", "passage", "chosen", "cit_prec")}
    return {"picks": picks, "held_out": pooled}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.studies.sentence_fusion",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--candidates", type=int, default=max(KS))
    ap.add_argument("--depth", type=int, default=max(PASSAGES))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    cases = collect(args.dev, args.out, args.candidates, args.depth, progress=not args.quiet)
    report: dict = {}
    print("| lang | setting | top1 | passage | chosen | cit. prec. |")
    print("|---|---|---:|---:|---:|---:|")
    for lang in ("vi", "en"):
        mine = [c for c in cases if c["lang"] == lang]
        today = score(mine, 0.0, 5.0, 2, 5)  # the product's rule: best two of the top-5 passages
        cv = cross_validate(cases, lang)
        best_all = max(grid(), key=lambda g: score(mine, *g)["chosen"])
        report[lang] = {"today": today, "cv": cv, "best_on_all": [best_all, score(mine, *best_all)]}
        for name, s in (("today (extractive)", today), ("fused, held-out halves", cv["held_out"]),
                        (f"fused, best on all {best_all} (optimistic)", score(mine, *best_all))):
            print(f"| {lang} | {name} | {s['top1']:.3f} | {s['passage']:.3f} | {s['chosen']:.3f} | {s['cit_prec']:.3f} |")
        print(f"|  | picks (weight, clip, k, passages) per half: {cv['picks']} | | | | |")
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
