"""Lexical analysis shared by the lexical channel and the answerer.

Vietnamese is written in syllables separated by spaces; a word is one to four syllables
("Ngoại trưởng", "Giơ-ne-vơ"). Matching works on folded syllables (lower case, no diacritics):
a query typed without tone marks still matches, and the few collisions folding creates
("bán"/"bạn") are rare within one question's context.
"""

from __future__ import annotations

import re

from corpus.normalize import fold_diacritics

__all__ = ["syllables", "content_terms", "is_citable", "MIN_CITABLE_WORDS", "VI_STOP", "EN_STOP"]

_TOKEN = re.compile(r"\w+", re.U)

#: Vietnamese function syllables and question words: they carry no topic, and matching them
#: between a question and a sentence says nothing about the answer. Folded forms.
VI_STOP = frozenset(fold_diacritics(w) for w in """
là của và có được các những một trong cho với không này đó thì đã sẽ về ở tại gì nào ai đâu
bao nhiêu khi mấy sao thế như nào vì để từ đến theo do bởi cũng rằng mà nên nhưng hay hoặc
việc người ông bà anh chị họ nó ta chúng tôi các vào ra lên xuống đang vẫn còn rất hơn nhất
ấy kia đây gồm năm ngày tháng lúc trên dưới giữa sau trước qua lại
""".split())

#: English function words (an English question matches Vietnamese text only through names,
#: numbers and aliases; these must never match Vietnamese syllables by accident: "an", "to").
EN_STOP = frozenset("""
a an the is are was were be been being what where who whom whose when why how which did does do
done of for with from by and or in on at to into as that this these those it its his her their
they he she we you i many much year years did not no yes there than then also has have had
about after before during between name named called kind type
""".split())


def syllables(text: str) -> list[str]:
    """Folded syllable/word tokens of ``text`` (digits kept, hyphenated names split)."""
    return _TOKEN.findall(fold_diacritics(text))


def content_terms(question: str, language: str) -> list[str]:
    """The question's topical terms: folded syllables minus function words, in order, unique."""
    stop = VI_STOP if language == "vi" else EN_STOP | VI_STOP
    seen: dict[str, None] = {}
    for t in syllables(question):
        if t not in stop and (len(t) > 1 or t.isdigit()):
            seen.setdefault(t, None)
    return list(seen)


#: Fewest words a sentence needs to be cited as an answer.
MIN_CITABLE_WORDS = 3
#: A credit line: "(Nguồn: NBC)", "Ảnh: Reuters", "Source: AFP" (a photo or source credit, not news).
_CREDIT = re.compile(r"^[\s(\[]*(nguồn|ảnh|source|photo|video|đồ họa|đồ hoạ|clip|theo)\s*:", re.I)


def is_citable(sentence: str) -> bool:
    """Whether a sentence can be an answer: at least :data:`MIN_CITABLE_WORDS` words with letters
    and not a credit line. The splitter keeps ellipses ("...") and photo credits ("(Nguồn: NBC)")
    as sentences of their own; short questions ("Hello", "abc xyz?") are closest to exactly
    those, and citing one answers nothing."""
    words = [w for w in _TOKEN.findall(sentence) if any(c.isalpha() for c in w)]
    if len(words) < MIN_CITABLE_WORDS:
        return False
    return not (_CREDIT.match(sentence) and len(words) <= 6)
