"""On the MLQA-vi dev set, hybrid retrieval beats every single channel in both languages.

Slow (indexes 451 contexts and embeds ~1,000 questions): marked ``slow``, run in CI.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.usefixtures("dev_set")]


@pytest.fixture(scope="module")
def devset_results(encoder, dev_set):
    from evaluation.datasets import load_qa_set
    from evaluation.harness import build_pipeline, run_eval

    qa = load_qa_set(dev_set)
    base, _ = build_pipeline(qa, encoder=encoder, cache=True, progress=False)
    results = run_eval(base, qa, ["dense", "bm25", "rrf", "hybrid"], answers=False, progress=False)
    return {(r["method"], r["language"]): r for r in results["results"]}


@pytest.mark.parametrize("language", ["vi", "en"])
def test_hybrid_beats_each_single_method(devset_results, language):
    hybrid = devset_results[("hybrid", language)]
    for peer in ("dense", "bm25", "rrf"):
        other = devset_results[(peer, language)]
        for metric in ("recall@5", "mrr@10"):
            assert hybrid[metric] >= other[metric], (language, peer, metric, hybrid[metric], other[metric])
    # never below dense-only, and clearly above it on MRR
    assert hybrid["mrr@10"] >= devset_results[("dense", language)]["mrr@10"] + 0.03
