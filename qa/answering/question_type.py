"""Expected answer type of a question (who / when / where / how many), in Vietnamese and English.

The naive extractive baseline picks the wrong sentence of the right passage ~30% of the time;
a sentence that contains the kind of thing the question asks for (a number for "bao nhiêu", a
date for "khi nào", a name for "ai") is far more likely to hold the answer.
"""

from __future__ import annotations

import re

from corpus.normalize import fold_diacritics

__all__ = ["answer_type", "type_match"]

# Patterns on folded (tone-less, lower-case) questions. Order matters: "năm nào" is a date
# question before "nào" makes it anything else.
_TYPES: list[tuple[str, re.Pattern]] = [
    ("number", re.compile(r"\b(bao nhieu|may (nguoi|lan|nam|ngay|thang|gio)|how (many|much|long|old|far)|"
                          r"what (percentage|percent|number)|ti le|phan tram)\b")),
    ("date", re.compile(r"\b(khi nao|bao gio|nam nao|ngay nao|thang nao|luc nao|thoi gian nao|thoi diem nao|"
                        r"the ky nao|thap ky nao|when|what (year|date|day|month|century|time)|which (year|century))\b")),
    ("person", re.compile(r"\b(ai|nguoi nao|who|whom|whose)\b")),
    ("place", re.compile(r"\b(o dau|tai dau|noi nao|cho nao|dau|where|what (city|country|place|region)|"
                         r"which (city|country|place|region)|thanh pho nao|nuoc nao|quoc gia nao)\b")),
]

_NUMBER_WORDS = r"(mot|hai|ba|bon|nam|sau|bay|tam|chin|muoi|tram|nghin|ngan|trieu|ty|ti)"
_HAS_NUMBER = re.compile(r"\d|\b" + _NUMBER_WORDS + r"\b")
_HAS_DATE = re.compile(r"\b(1\d{3}|20\d{2})\b|\d{1,2}\s*[/-]\s*\d{1,2}|\b(nam|thang|ngay|the ky|thap nien|hom)\s+\d"
                       r"|\bthe ky\s+[xvil]+\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\w-]+(?:\s+[A-ZĐÂĂÊÔƠƯ][\w-]+)*", re.U)
_PLACE = re.compile(r"\b(ở|tại|in|at|từ|đến)\s+[A-ZĐ]", re.U)


def answer_type(question: str) -> str | None:
    """"number", "date", "person", "place" or None."""
    q = fold_diacritics(question)
    for name, pattern in _TYPES:
        if pattern.search(q):
            return name
    return None


def type_match(kind: str | None, sentence: str, question: str) -> float:
    """1.0 when ``sentence`` contains something of the expected kind not already in the question."""
    if kind is None:
        return 0.0
    folded = fold_diacritics(sentence)
    if kind == "number":
        return 1.0 if _HAS_NUMBER.search(folded) else 0.0
    if kind == "date":
        return 1.0 if _HAS_DATE.search(folded) else 0.0
    q = fold_diacritics(question)
    names = [m.group(0) for m in _NAME.finditer(sentence)]
    new = [n for n in names if fold_diacritics(n) not in q]
    if kind == "person":
        return 1.0 if new else 0.0
    if kind == "place":
        return 1.0 if _PLACE.search(sentence) and new else (0.5 if new else 0.0)
    return 0.0
