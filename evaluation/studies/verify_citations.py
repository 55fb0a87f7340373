"""How well citation verification separates supported from unsupported claims, on a QA set.

    python -m evaluation.studies.verify_citations --dev ../shared/eval/mlqa-vi-dev
    python -m evaluation.studies.verify_citations --dev DIR --limit 100

No language model is needed: the claims are built from the QA set, as a generative answer
would phrase them, and cited as a model might cite them. For each question (Vietnamese and
English text) the pipeline retrieves passages (hybrid, top 10); ``P+`` is the best-ranked
passage that contains a gold answer, ``P-`` the best-ranked passage of another context that
contains none (a hard negative: retrieved for this question). Claims and citations:

* ``quote → P+``: the sentence of P+ holding the answer (should be supported);
* ``short → P+``: the gold answer alone, an elliptical reply ("Ở Moskva [1].") that is
  checked together with the question (should be supported). The set's answers are Vietnamese
  spans, also for the English questions (it has no English answers), so the English rows show
  an English question answered with a quoted Vietnamese span;
* ``quote → P-`` and ``short → P-``: the same claims citing the wrong passage (should not);
* ``wrong answer → P+``: another question's gold answer as an elliptical reply citing the
  right passage (should not be supported; the hardest case, since the question itself matches
  the passage).

It prints, per language, the share of each case that :class:`CitationVerifier` accepts.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import defaultdict

from qa.answering.citations import CitationVerifier
from qa.answering.generative import ELLIPTICAL_WORDS

from ..datasets import load_qa_set
from ..harness import build_pipeline, method_pipeline
from ..metrics import answer_key

CASES = ["quote → P+", "short → P+", "quote → P-", "short → P-", "wrong answer → P+"]
EXPECTED = {"quote → P+": True, "short → P+": True, "quote → P-": False, "short → P-": False,
            "wrong answer → P+": False}


def _check_text(question: str, claim: str) -> str:
    return f"{question} {claim}" if len(re.findall(r"\w+", claim)) < ELLIPTICAL_WORDS else claim


def run(data: str, limit: int | None, seed: int = 0) -> dict:
    qa = load_qa_set(data)
    base, _ = build_pipeline(qa, progress=False)
    pipe = method_pipeline(base, "hybrid")
    ans = pipe.answerer
    verifier = CitationVerifier(ans.encoder, ans.lexical, sentence_vectors=ans.sentence_vectors)
    doc_context = {d.id: d.metadata.get("context_id") for d in pipe.index.documents.values()}
    questions = qa.questions[:limit] if limit else qa.questions
    rng = random.Random(seed)
    accepted: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for item in questions:
        keys = [answer_key(a) for a in item.answers if a.strip()]
        others = [q for q in qa.questions if q.context_id != item.context_id]
        wrong = rng.choice(others).answers[0]
        for lang in ("vi", "en"):
            text = item.text(lang)
            if not text:
                continue
            q = pipe.query(text)
            passages = pipe.retrieve(q, 10)
            pos = next((p for p in passages if any(k in answer_key(p.text) for k in keys)), None)
            neg = next((p for p in passages if doc_context.get(p.doc_id) != item.context_id
                        and not any(k in answer_key(p.text) for k in keys)), None)
            if pos is None or neg is None or answer_key(wrong) in answer_key(pos.text):
                continue
            sent = next((t for _, _, t in pos.sentence_texts() if any(k in answer_key(t) for k in keys)), None)
            if sent is None:  # the answer spans two sentences
                continue
            claims = {"quote": sent.strip(), "short": _check_text(q.text, item.answers[0]),
                      "wrong answer": _check_text(q.text, wrong)}
            cores = {"quote": None, "short": item.answers[0], "wrong answer": wrong}
            cores = {k: (c if c and claims[k] != c else None) for k, c in cores.items()}
            vecs = dict(zip(claims, verifier.claim_vectors(list(claims.values()))))
            for case in CASES:
                kind, target = case.rsplit(" → ", 1)
                passage = pos if target == "P+" else neg
                # a quote is Vietnamese whatever the question's language; answers are spans of
                # the Vietnamese context too, so checked in the question's language band
                band = "vi" if kind == "quote" else q.language
                s = verifier.support(claims[kind], vecs[kind], band, passage, cores[kind])
                accepted[(lang, case)].append(s.score >= verifier.threshold)
    return {k: (sum(v) / len(v), len(v)) for k, v in accepted.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", "--data", dest="data", required=True, metavar="DIR",
                    help="the MLQA-vi dev set (by convention ../shared/eval/mlqa-vi-dev)")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    res = run(args.data, args.limit)
    print("| case | should be | accepted (vi) | accepted (en) |")
    print("|---|---|---|---|")
    for case in CASES:
        cells = []
        for lang in ("vi", "en"):
            rate, n = res.get((lang, case), (float("nan"), 0))
            cells.append(f"{rate:.1%} (n={n})")
        print(f"| {case} | {'supported' if EXPECTED[case] else 'unsupported'} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
