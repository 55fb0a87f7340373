"""When should the reader refuse? Its no-answer margin and the relevance gate, calibrated on data.

    python -m evaluation.studies.reader_calibration --dev ../shared/eval/mlqa-vi-dev \\
        --reader-folds runs/dev-stage --out bench-results/reader-calibration

Calibration data that is not the test set: every dev question is asked twice through the
product's retrieval (hybrid, top 5) and the k-fold reader of its fold (each question read by the
reader that never trained on its paragraph, :class:`evaluation.answerers.FoldRouter`):

* **answerable**: as it is; its answer should not be refused;
* **gold removed**: with its own paragraph filtered out of the index (``PassageFilter.doc_ids`` =
  every other document), so the best remaining passages, often on the same topic, do not hold
  the answer: a near miss the product should refuse (the construction of SQuAD 2.0-style
  "no answer" data from retrieval).

For each question both the gate's evidence (:func:`qa.answering.relevance.evidence`) and the
reader's confidence (its best span's margin over "no answer") are recorded. Then, per fold k,
on the questions of the *other* folds only: for each language, the gate threshold (on the
language's gate signal, :data:`qa.answering.relevance.SIGNALS`) and the reader margin are chosen
from a grid to refuse the most gold-removed questions while refusing at most ``--budget`` of the
answerable ones (gate and reader together). Fold k's thresholds are written to
``margins.json`` for ``python -m evaluation --reader-folds … --reader-margins`` (the reported
figures), and the thresholds chosen on all folds to ``all.json`` (the shipped defaults). The
hand-written unanswerable sets (``evaluation/evalsets``) are never used here: they stay a test.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..answerers import FoldRouter
from ..datasets import DEV_FOLDS, dev_fold, load_qa_set
from ..harness import build_pipeline, method_pipeline, prepare_queries
from ..metrics import contains_answer

__all__ = ["choose", "collect", "main"]

#: Gate thresholds tried: these quantiles of the answerable scores (0 = the gate never refuses an
#: answerable question of the calibration set).
GATE_QUANTILES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05)


def collect(dev: Path, folds: Path, *, top_k: int = 5, progress: bool = True) -> list[dict]:
    """One record per (question, language, answerable | gold removed): gate evidence, reader
    confidence, whether the reader's chosen sentence holds a gold answer, and the fold."""
    from tqdm.auto import tqdm

    from embeddings.stores import PassageFilter
    from qa.answering.relevance import evidence
    from qa.config import QAConfig

    qa = load_qa_set(dev)
    base, _ = build_pipeline(qa, QAConfig(), progress=progress)
    router = FoldRouter(method_pipeline(base, "hybrid"), folds, {k: -1e9 for k in range(DEV_FOLDS)})
    doc_of = {c.context_id: c.to_document().id for c in qa.contexts}
    all_docs = tuple(sorted(doc_of.values()))
    items = [(lang, q) for lang in ("vi", "en") for q in qa.questions if q.text(lang)]
    prepared = prepare_queries(base, [q.text(lang) for lang, q in items], progress=progress)
    out = []
    for (lang, q), query in tqdm(list(zip(items, prepared)), desc="calibration", disable=not progress):
        pipe = router.for_key(q.context_id)
        for kind, flt in (("answerable", None),
                          ("gold-removed", PassageFilter(doc_ids=tuple(d for d in all_docs if d != doc_of[q.context_id])))):
            query.filters = flt
            with pipe.retriever.reading():
                passages = pipe.retriever.run(query, top_k)
                ev = evidence(query, passages, getattr(pipe.index, "sentence_vectors", None))
                cands = pipe.answerer.candidates(query, passages) if passages else []
            best = cands[0] if cands else None
            out.append({"id": q.id, "lang": lang, "kind": kind, "fold": dev_fold(q.context_id),
                        "passage": ev.passage, "sentence": ev.sentence,
                        "confidence": best[2].margin if best else None,
                        "correct": bool(best and contains_answer(best[0].text, q.answers))})
        query.filters = None
    return out


def choose(records: Sequence[dict], lang: str, budget: float) -> dict:
    """The (gate threshold, reader margin) of ``lang`` refusing the most gold-removed questions
    with at most ``budget`` of the answerable ones refused; with the rates it gives."""
    from qa.answering.relevance import SIGNALS

    signal = SIGNALS[lang]
    pos = [r for r in records if r["lang"] == lang and r["kind"] == "answerable"]
    neg = [r for r in records if r["lang"] == lang and r["kind"] == "gold-removed"]
    ps = np.array([r[signal] for r in pos])
    pc = np.array([r["confidence"] if r["confidence"] is not None else -1e9 for r in pos])
    ns = np.array([r[signal] for r in neg])
    nc = np.array([r["confidence"] if r["confidence"] is not None else -1e9 for r in neg])
    best = None
    for gq in GATE_QUANTILES:
        gate = float(np.quantile(ps, gq)) if gq > 0 else float(ps.min()) - 1e-6
        passed = ps >= gate
        room = budget - float(np.mean(~passed))
        if room < 0:
            continue
        # the reader may refuse up to `room` of all answerable questions among those the gate passed
        kept = np.sort(pc[passed])
        k = int(np.floor(room * len(pc)))
        margin = float(kept[k - 1]) if k > 0 else float(kept[0]) - 1e-6 if len(kept) else 0.0
        refused = float(np.mean(~(passed & (pc > margin))))
        if refused > budget:  # ties at the margin
            continue
        false = float(np.mean((ns >= gate) & (nc > margin)))
        cand = {"gate": gate, "gate_quantile": gq, "margin": margin, "refused_answerable": refused,
                "answered_gold_removed": false, "n_answerable": len(pos), "n_gold_removed": len(neg)}
        if best is None or false < best["answered_gold_removed"]:
            best = cand
    if best is None:
        raise ValueError(f"no threshold keeps {lang} refusals within {budget}")
    return best


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.studies.reader_calibration",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", type=Path, required=True, help="the MLQA-vi dev folder")
    ap.add_argument("--reader-folds", type=Path, required=True, help="fold0 … fold4 reader folders")
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "reader-calibration")
    ap.add_argument("--budget", type=float, default=0.045,
                    help="most answerable questions refused, gate and reader together (%(default)s: the "
                         "issue's 5%% with slack)")
    ap.add_argument("--records", type=Path, default=None, help="reuse records.jsonl of an earlier run")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.records:
        records = [json.loads(x) for x in args.records.read_text().splitlines() if x.strip()]
    else:
        records = collect(args.dev, args.reader_folds)
        with open(args.out / "records.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    per_fold = {}
    for k in range(DEV_FOLDS):
        others = [r for r in records if r["fold"] != k]
        per_fold[k] = {lang: choose(others, lang, args.budget) for lang in ("vi", "en")}
    overall = {lang: choose(records, lang, args.budget) for lang in ("vi", "en")}
    margins = {str(k): {lang: {"gate": v[lang]["gate"], "margin": v[lang]["margin"]} for lang in v}
               for k, v in per_fold.items()}
    (args.out / "margins.json").write_text(json.dumps(margins, indent=2) + "\n")
    (args.out / "all.json").write_text(json.dumps(overall, indent=2) + "\n")
    print("| fold | lang | gate | margin | refused answerable | answered gold-removed |")
    print("|---|---|---:|---:|---:|---:|")
    for k, v in [*per_fold.items(), ("all", overall)]:
        for lang, c in v.items():
            print(f"| {k} | {lang} | {c['gate']:.3f} | {c['margin']:.2f} | {c['refused_answerable']:.3f} | "
                  f"{c['answered_gold_removed']:.3f} |")
    print(f"\nwrote {args.out / 'margins.json'} and {args.out / 'all.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
