"""The command line of ``python -m evaluation --dev DIR [--out DIR] ...``: the dev-set evaluation (:mod:`evaluation.harness`).

    python -m evaluation --dev ../shared/eval/mlqa-vi-dev                     # all methods, with answers
    python -m evaluation --dev DIR --methods dense --no-answers               # retrieval only, one method
    python -m evaluation --dev DIR --limit 50 --out /tmp/eval                 # the first 50 questions
    python -m evaluation --dev DIR --methods hybrid --answerer reader --reader-model PATH   # a QA model
    python -m evaluation --dev DIR --methods hybrid --answerers extractive,reader \
        --reader-folds runs/dev-stage --reader-margins margins.json        # the k-fold reader beside today's
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from embeddings.encoder import PRECISIONS
from qa.config import ANSWERERS, READER_CITES, QAConfig

from . import harness
from .answerers import eval_settings
from .datasets import UNANSWERABLE_SETS, load_qa_set, load_unanswerable
from .harness import METHODS, build_pipeline, run_eval
from .report import format_table, write_results

DEFAULT_OUT = Path("bench-results") / "eval"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evaluation``: see the module docstring."""
    ap = argparse.ArgumentParser(prog="python -m evaluation", description=harness.__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", "--data", dest="data", type=Path, required=True, metavar="DIR",
                    help="the QA set: a directory with contexts.jsonl and questions.jsonl (the MLQA-vi dev "
                         "set: ../shared/eval/mlqa-vi-dev)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated retrieval methods (%(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N questions")
    ap.add_argument("--no-answers", action="store_true", help="retrieval metrics only (skip ask())")
    ap.add_argument("--no-cache", action="store_true", help="rebuild the cached index (re-embed every context)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--model", dest="embedding_model", default=None, help="embedding model (default: the QAConfig default)")
    ap.add_argument("--device", default=None, help="torch device for the embedder (default: cpu)")
    ap.add_argument("--precision", dest="encoder_precision", choices=PRECISIONS, default=None,
                    help="encoder precision (default: the QAConfig default, auto); the cached "
                         "index is kept per resolved precision")
    ap.add_argument("--unanswerable", type=Path, nargs="+", default=list(UNANSWERABLE_SETS),
                    help="unanswerable sets for the false-answer rate (default: the three in evaluation/evalsets)")
    ap.add_argument("--no-unanswerable", action="store_true", help="skip the unanswerable set")
    ap.add_argument("--answerer", choices=[a for a in ANSWERERS if a != "generative"], default=None,
                    help="the answerer to evaluate (default: the QAConfig default, extractive)")
    ap.add_argument("--reader-model", default=None, help="the reader's question-answering model id or folder "
                    "(implies --answerer reader)")
    ap.add_argument("--reader-min-margin", type=float, default=None,
                    help="the reader's refusal margin (default: the QAConfig default, 0.0)")
    ap.add_argument("--reader-cites", choices=READER_CITES, default=None,
                    help="which sentences the reader cites: the extractive answerer's (lead: the span in them) "
                         "or its own best span's (default: QAConfig's, extractive)")
    ap.add_argument("--reader-device", default=None, help="torch device for the reader (default: cpu)")
    ap.add_argument("--reader-windows", type=int, default=None,
                    help="sentence neighbourhoods the reader reads (0: whole passages; default: QAConfig's)")
    ap.add_argument("--reader-sentence-weight", type=float, default=None,
                    help="weight of the extractive sentence score beside the span margin (default: QAConfig's)")
    ap.add_argument("--reader-quantize", action=argparse.BooleanOptionalAction, default=None,
                    help="int8 dynamic quantization of the reader (default: QAConfig's)")
    ap.add_argument("--answerers", default=None,
                    help="comma-separated answerers compared on the same retrieval, a row each "
                         "(extractive, reader, reader-span: the reader citing its own span's sentence; "
                         "NAME@FOLDER: that reader answerer with another model; e.g. "
                         "extractive,reader,reader@runs/reader2/best; +FIELD=VALUE adds a QAConfig setting to a row: "
                         "reader+reader_one_citation_margin_en=0; default: the configured answerer)")
    ap.add_argument("--reader-folds", type=Path, default=None,
                    help="the k-fold reader: a folder with fold0 … fold4 (python -m training.dev_stage kfold); "
                         "each question is answered by the reader of its fold (evaluation.datasets.dev_fold)")
    ap.add_argument("--reader-margins", type=Path, default=None,
                    help="a JSON file {fold: refusal margin} for the k-fold reader "
                         "(python -m evaluation.studies.reader_calibration)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        ap.error("--methods is empty")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    answerers = [a.strip() for a in args.answerers.split(",") if a.strip()] if args.answerers else None
    for a in answerers or []:
        try:
            eval_settings(a)
        except ValueError as exc:
            ap.error(f"--answerers: {exc}")
    try:
        qa = load_qa_set(args.data)
        unanswerable = ([] if args.no_unanswerable or args.no_answers
                        else [u for p in args.unanswerable for u in load_unanswerable(p)])
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    margins = None
    if args.reader_margins is not None:
        import json

        try:
            margins = {int(k): v if isinstance(v, dict) else float(v)
                       for k, v in json.loads(args.reader_margins.read_text()).items()}
        except (OSError, ValueError) as exc:
            ap.error(f"--reader-margins: {exc}")
    options = dict(vars(args), answerer=None if args.reader_model else args.answerer)
    try:
        config = QAConfig.from_dict(options, ignore_unknown=True, imply_answerer=True)
        if config.answerer == "reader":
            from qa.answering.reader import ReaderAnswerer

            ReaderAnswerer.from_config(config)  # a missing model folder fails here, before indexing
    except (FileNotFoundError, ValueError) as exc:  # e.g. --answerer reader without --reader-model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = not args.quiet
    t0 = time.perf_counter()
    base, index_info = build_pipeline(qa, config, rebuild=args.no_cache, progress=progress)
    bundled_base = None
    if any(u.corpus == "bundled" for u in unanswerable):
        from corpus import load_bundled
        from qa.pipeline import Pipeline

        bundled_base = Pipeline(base.config, encoder=base.encoder, in_memory=True)
        bundled_base.add_documents(load_bundled())
    results = run_eval(base, qa, methods, answers=not args.no_answers, limit=args.limit, progress=progress,
                       unanswerable=unanswerable, bundled_base=bundled_base, answerers=answerers,
                       reader_folds=args.reader_folds, reader_margins=margins)
    results["meta"]["index"].update(index_info)
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 2)
    jpath, mpath = write_results(results, args.out)
    print(format_table(results))
    how = ("from cache" if index_info["cached"] else
           f"{index_info['added_documents']} documents embedded" if index_info["added_documents"] is not None
           else "built")
    print(f"\nwrote {jpath} and {mpath} ({results['meta']['seconds']} s; index {how}, "
          f"{index_info['build_seconds']} s)")
    return 1 if any("error" in r for r in results["results"]) else 0

