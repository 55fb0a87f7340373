"""The refusal-rule study's pieces on the shipped unanswerable set and bundled articles."""

from __future__ import annotations

from evaluation.datasets import DEFAULT_UNANSWERABLE, load_unanswerable
from evaluation.studies.refusal_rules import (
    RULES,
    Case,
    anchor_missing,
    anchors,
    measure,
)


def test_anchors_are_the_names_and_numbers_of_the_question():
    questions = {u.id: u for u in load_unanswerable(DEFAULT_UNANSWERABLE)}
    assert anchors(questions["b01"].question_vi) == ["world cup", "2018"]  # "Ai vô địch World Cup 2018?"
    assert anchors(questions["b02"].question_en) == ["peru"]  # the opening "What" is no name
    assert anchors(questions["b12"].question_vi) == ["nga sergei lavrov"]
    assert anchors("Ai là người phát ngôn?") == []


def _case(question: str, cited: str, *, answerable: bool, kind: str, cosine: float) -> Case:
    return Case("vi", answerable, kind, {"passage": cosine, "sentence": cosine}, None, False, answerable,
                cited, cited, question)


def test_rules_and_budget_on_articles(bundled_docs):
    moskva = bundled_docs["000"].text
    canada = _case("Thủ đô của Canada là thành phố nào?", moskva, answerable=False, kind="absent", cosine=0.9)
    lavrov = _case("Ngoại trưởng Sergei Lavrov sinh năm nào?", moskva, answerable=False, kind="near-miss", cosine=0.9)
    asked = _case("Ông Kerry gặp ông Putin ở đâu?", moskva, answerable=True, kind="answerable", cosine=0.9)
    typo = _case("Ông Kerry gặp ông Pution ở đâu?", moskva, answerable=True, kind="answerable", cosine=0.9)
    assert anchor_missing(canada, "top5", fuzzy=False) and anchor_missing(canada, "top5", fuzzy=True)
    assert not anchor_missing(lavrov, "top5", fuzzy=False)  # a near miss keeps its names
    assert not anchor_missing(asked, "top1", fuzzy=False)
    assert anchor_missing(typo, "top1", fuzzy=False) and not anchor_missing(typo, "top1", fuzzy=True)
    rows = {r["rule"]: r for r in measure([canada, lavrov, asked, typo], {"vi": 0.8, "en": 0.8}) if r["language"] == "vi"}
    assert set(rows) == set(RULES)
    gate = rows["gate only (shipped)"]["shipped"]
    assert gate["false"] == 1.0 and gate["refused"] == 0.0
    exact = rows["anchor top1"]["shipped"]
    assert exact["false_absent"] == 0.0 and exact["false_near"] == 1.0 and exact["refused"] == 0.5
    assert rows["anchor top1"]["retuned"] is None  # refusing the misspelt question breaks the 5% budget
    assert rows["anchor top5 fuzzy"]["shipped"]["refused"] == 0.0
