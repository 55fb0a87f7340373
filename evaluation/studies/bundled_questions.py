"""Questions a user would ask about the bundled articles, answered by each answerer.

    python -m evaluation.studies.bundled_questions [--answerers extractive,reader,reader-span] [--out DIR]

The 40 answerable questions of ``evaluation/evalsets/answerable-bundled.jsonl`` (who, when,
where, how long, how many, which organisation; each in Vietnamese, English, and for 10 of them
Vietnamese typed without tone marks) and the bundled near misses and absent topics of the
unanswerable sets are asked of an index of the bundled articles (built in memory), with every
answerer on the same retrieval. Per answerer and question form it reports:

* lead: the bold short answer holds the gold span (compared as the source writes it, NFC, tone
  placement, casefold), or for English questions, its English rendering;
* contained: the answer text holds the gold span;
* refused: answerable questions refused;
* refused near misses / absent: unanswerable questions refused (higher is better);
* English leads in English: share of English leads with no Vietnamese common word left.

Results go to ``<out>/bundled-questions.json`` and the table is printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..answerers import eval_settings
from ..datasets import ANSWERABLE_BUNDLED, UNANSWERABLE_SETS, load_unanswerable
from ..metrics import contains_answer

__all__ = ["ask_all", "compare", "load_answerable", "main"]


def load_answerable(path: Path = ANSWERABLE_BUNDLED) -> list[dict]:
    """The answerable bundled questions: one dict a line (see evaluation/evalsets/README.md)."""
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _forms(row: dict) -> list[tuple[str, str]]:
    out = [("vi", row["question_vi"]), ("en", row["question_en"])]
    if row.get("question_vi_notone"):
        out.append(("vi-notone", row["question_vi_notone"]))
    return out


def ask_all(pipe: object, answerable: Sequence[dict], unanswerable: Sequence) -> dict:
    """Ask every question of both sets through ``pipe`` (a :class:`qa.pipeline.Pipeline`)."""
    from qa.answering.english_lead import has_vietnamese_words

    recs = []
    for row in answerable:
        for form, text in _forms(row):
            a = pipe.ask(text)
            lead = a.lead or ""
            source = a.lead_source or ""
            recs.append({"id": row["id"], "type": row["type"], "form": form, "question": text, "answer": a.text,
                         "found": a.found and bool(a.citations), "lead": lead, "lead_source": source,
                         "cited": [c.sentence for c in a.citations],
                         "lead_ok": bool(a.citations) and contains_answer(source, [row["answer"]]),
                         "contained": contains_answer(a.text, [row["answer"]]),
                         "lead_english": form == "en" and bool(lead) and not has_vietnamese_words(lead)})
    refusals = []
    for u in unanswerable:
        for lang in ("vi", "en"):
            text = u.text(lang)
            if text:
                a = pipe.ask(text)
                refusals.append({"id": u.id, "kind": u.kind, "lang": lang, "question": text, "answer": a.text,
                                 "refused": not (a.found and a.citations)})
    return {"answerable": recs, "unanswerable": refusals}


def compare(base: object, answerers: Sequence[str]) -> dict:
    """Every answerer in ``answerers`` on ``base``'s index and encoder (a :class:`qa.pipeline.Pipeline`
    holding the bundled articles): ``{name: {"summary": …, "answerable": […], "unanswerable": […]}}``."""
    from qa.pipeline import Pipeline

    unanswerable = [u for p in UNANSWERABLE_SETS for u in load_unanswerable(p) if u.corpus == "bundled"]
    answerable = load_answerable()
    results = {}
    for name in answerers:
        pipe = Pipeline(base.config.with_(**eval_settings(name)), encoder=base.encoder, index=base.index)
        res = ask_all(pipe, answerable, unanswerable)
        results[name] = {"summary": summary(res), **res}
    return results


def _rate(xs: list[bool]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summary(res: dict) -> dict:
    """Rates per question form (vi, en, vi-notone) and for the unanswerable kinds."""
    out: dict = {}
    for form in ("vi", "en", "vi-notone"):
        rs = [r for r in res["answerable"] if r["form"] == form]
        out[form] = {"n": len(rs), "lead": _rate([r["lead_ok"] for r in rs]),
                     "contained": _rate([r["contained"] for r in rs]),
                     "refused": _rate([not r["found"] for r in rs])}
    en = [r for r in res["answerable"] if r["form"] == "en" and r["lead"]]
    out["en"]["lead_in_english"] = _rate([r["lead_english"] for r in en])
    for kind in ("near-miss", "absent"):
        rs = [r for r in res["unanswerable"] if r["kind"] == kind]
        out[kind] = {"n": len(rs), "refused": _rate([r["refused"] for r in rs])}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.studies.bundled_questions",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--answerers", default="extractive,reader,reader-span",
                    help="comma-separated, from evaluation.answerers.EVAL_ANSWERERS (%(default)s)")
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "bundled-questions")
    args = ap.parse_args(argv)
    from corpus import load_bundled
    from qa.config import QAConfig
    from qa.pipeline import Pipeline

    base = Pipeline(QAConfig(), in_memory=True)
    base.add_documents(load_bundled())
    results = compare(base, [a.strip() for a in args.answerers.split(",") if a.strip()])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bundled-questions.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                                     encoding="utf-8")
    print("| answerer | form | n | lead right | contained | refused | EN lead in English |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        s = r["summary"]
        for form in ("vi", "en", "vi-notone"):
            f = s[form]
            eng = f"{f['lead_in_english']:.2f}" if form == "en" and f.get("lead_in_english") is not None else ""
            print(f"| {name} | {form} | {f['n']} | {f['lead']:.2f} | {f['contained']:.2f} | {f['refused']:.2f} | {eng} |")
    print("\n| answerer | near misses refused | absent topics refused |")
    print("|---|---:|---:|")
    for name, r in results.items():
        s = r["summary"]
        print(f"| {name} | {s['near-miss']['refused']:.2f} (n={s['near-miss']['n']}) | "
              f"{s['absent']['refused']:.2f} (n={s['absent']['n']}) |")
    print(f"\nwrote {args.out / 'bundled-questions.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
