"""Expected answer type of a question (who / when / where / how many / what did X say), in
Vietnamese and English.

The naive extractive baseline picks the wrong sentence of the right passage ~30% of the time;
a sentence that contains the kind of thing the question asks for (a number for "bao nhiêu", a
date for "khi nào", a name for "ai") is far more likely to hold the answer.
"""

from __future__ import annotations

import re

from corpus.normalize import fold_diacritics

__all__ = ["answer_type", "type_match", "answer_span"]

#: Units of time, folded (a duration is a number and one of them; "bao nhiêu ngày" asks for one)
_VI_TIME_UNITS = r"(giay|phut|gio|tieng|ngay|dem|tuan|thang|nam|thap ky|thap nien|the ky)"

# Patterns on folded (tone-less, lower-case) questions. Order matters: "năm nào" is a date
# question before "nào" makes it anything else.
_TYPES: list[tuple[str, re.Pattern]] = [
    # "Ông Lavrov nói gì?", "What did Lavrov say?": a sentence in which the person named speaks
    ("said", re.compile(r"\b(noi gi|phat bieu gi|tuyen bo gi|cho biet gi|noi the nao|noi nhung gi|"
                        r"what (did|does|do|has|have) [\w\s.'-]{1,60} (say|said|tell|told|state|claim)|"
                        r"what was said)\b")),
    # "Cuộc hội đàm kéo dài bao lâu?", "How long did the talks last?": a number with a unit of time
    # ("gần 10 tiếng đồng hồ"), not any number (the sentence that dates the talks "hôm 26-8")
    ("duration", re.compile(r"\b(bao lau|(bao nhieu|may) " + _VI_TIME_UNITS + r"(?! tuoi)|how long|"
                            r"how many (seconds|minutes|hours|days|nights|weeks|months|years|decades|centuries))\b")),
    ("number", re.compile(r"\b(bao nhieu|may (nguoi|lan|tuoi|con)|"
                          r"how (many|much|old|far|tall|high|large|big)|"
                          r"what (percentage|percent|number|proportion)|ti le|phan tram)\b")),
    ("date", re.compile(r"\b(khi nao|bao gio|nam nao|ngay nao|thang nao|luc nao|thoi gian nao|thoi diem nao|"
                        r"the ky nao|thap ky nao|when|what (year|date|day|month|century|time)|which (year|century))\b")),
    ("person", re.compile(r"\b(ai(?! cap)|nguoi nao|who|whom|whose)\b")),
    ("place", re.compile(r"\b(o dau|tai dau|noi nao|cho nao|dau|where|what (city|country|place|region)|"
                         r"which (city|country|place|region)|thanh pho nao|nuoc nao|quoc gia nao)\b")),
]

_NUMBER_WORDS = r"(mot|hai|ba|bon|nam|sau|bay|tam|chin|muoi|tram|nghin|ngan|trieu|ty|ti)"
_HAS_NUMBER = re.compile(r"\d|\b" + _NUMBER_WORDS + r"\b")
_HAS_DATE = re.compile(r"\b(1\d{3}|20\d{2})\b|\d{1,2}\s*[/-]\s*\d{1,2}|\b(nam|thang|ngay|the ky|thap nien|hom)\s+\d"
                       r"|\bthe ky\s+[xvil]+\b")
_TIME_UNITS = r"(" + _VI_TIME_UNITS + r"|seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|decades?|" \
              r"centur(?:y|ies))"
#: "10 tiếng", "ba ngày", "hai năm rưỡi" (folded); not "nhiều năm" (no number)
_HAS_DURATION = re.compile(r"(\d+|\b" + _NUMBER_WORDS + r")\s+(ruoi\s+)?" + _TIME_UNITS + r"\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\w-]+(?:\s+[A-ZĐÂĂÊÔƠƯ][\w-]+)*", re.U)
_PLACE = re.compile(r"\b(ở|tại|in|at|từ|đến)\s+[A-ZĐ]", re.U)


def answer_type(question: str) -> str | None:
    """"said", "duration", "number", "date", "person", "place" or None."""
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
    if kind == "duration":  # any other number (a date, a count) is a weaker sign
        return 1.0 if _HAS_DURATION.search(folded) else (0.5 if _HAS_NUMBER.search(folded) else 0.0)
    if kind == "date":  # a date inside a quotation is what was said, not when it happened
        return 1.0 if _HAS_DATE.search(_QUOTED.sub(" ", folded)) else 0.0
    if kind == "said":
        return _said(sentence, question)
    q = fold_diacritics(question)
    names = [m.group(0) for m in _NAME.finditer(sentence)]
    new = [n for n in names if fold_diacritics(n) not in q]
    if kind == "person":
        return 1.0 if new else 0.0
    if kind == "place":
        return 1.0 if _PLACE.search(sentence) and new else (0.5 if new else 0.0)
    return 0.0


#: A quotation inside a sentence (“…” or "…").
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")


def _quoted_spans(sentence: str) -> list[tuple[int, int]]:
    return [m.span() for m in _QUOTED.finditer(sentence)]


#: Verbs of speech (folded): the sentence reports what someone said.
_SPEECH = re.compile(r"\b(noi|cho biet|tuyen bo|khang dinh|nhan manh|phat bieu|bay to|canh bao|keu goi|"
                     r"de nghi|tiet lo|thong bao|said|says|told|stated|announced|warned)\b")
_QUESTION_NAME = re.compile(r"(?<!^)\b[A-ZĐ][\w-]+", re.U)


def _said(sentence: str, question: str) -> float:
    """1.0 when a person the question names is the speaker of ``sentence`` (the name, then a verb of
    speech within a few words: "… – Ngoại trưởng Nga Sergei Lavrov nói …"); 0.5 when the sentence
    only names them and reports speech; else 0."""
    names = [fold_diacritics(n) for n in _QUESTION_NAME.findall(question)]
    folded = fold_diacritics(sentence)
    if not names:
        return 1.0 if _SPEECH.search(folded) else 0.0
    found = [m for n in names for m in re.finditer(rf"\b{re.escape(n)}\b", folded)]
    if not found:
        return 0.0
    for m in found:
        if _SPEECH.match(folded[m.end():].lstrip(" ,")) or _SPEECH.search(" ".join(folded[m.end():].split()[:3])):
            return 1.0
    return 0.5 if _SPEECH.search(folded) or "“" in sentence or '"' in sentence else 0.0


# ------------------------------------------------------------------------------ answer spans
_DATE_SPAN = re.compile(
    r"(?:ngày\s+\d{1,2}\s+tháng\s+\d{1,2}(?:\s*(?:năm|,)\s*\d{3,4})?"
    r"|tháng\s+\d{1,2}\s*(?:năm|,|/)\s*\d{3,4}"
    r"|\d{1,2}\s*[/-]\s*\d{1,2}(?:\s*[/-]\s*\d{2,4})?"
    r"|năm\s+\d{3,4}|thế kỷ\s+(?:[XVI]+|\d+)|thập niên\s+\d{2,4}"
    r"|\b1\d{3}\b|\b20\d{2}\b)", re.I | re.U)
_NUMBER_SPAN = re.compile(r"\d[\d.,]*(?:\s*%|(?:\s+(?:triệu|tỷ|nghìn|ngàn|trăm))?(?:\s+[^\W\d]+){0,2})", re.U)
#: "gần 10 tiếng đồng hồ", "hơn hai năm", "3 giờ rưỡi", "nearly 10 hours"
_DURATION_SPAN = re.compile(
    r"(?:(?:gần|hơn|khoảng|chừng|suốt|ít nhất|nearly|about|almost|more than|over)\s+)?"
    r"(?:\d[\d.,]*|\b(?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mươi|trăm|nghìn|ngàn|one|two|three|four|five|"
    r"six|seven|eight|nine|ten)\b)(?:\s+(?:mươi|trăm|nghìn|ngàn))?\s+"
    r"(?:giây|phút|giờ(?:\s+đồng\s+hồ)?|tiếng(?:\s+đồng\s+hồ)?|ngày(?:\s+đêm)?|đêm|tuần|tháng|năm|thập kỷ|thập niên|"
    r"thế kỷ|seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|decades?|centur(?:y|ies))\b(?:\s+rưỡi)?",
    re.I | re.U)
#: Words after a number that belong to the answer ("40 ngày", "3 giờ", "500 người Nga"):
#: a span stops at the first word that is not lower-case or is a function word.
_STOP = {"và", "của", "ở", "tại", "trong", "là", "được", "với", "cho", "đã", "sẽ", "khi", "từ", "đến", "năm",
         "vào", "theo", "này", "đó", "các", "những", "mà", "thì", "nhưng", "hay", "hoặc"}


def _new(span: str, folded_question: str) -> bool:
    return fold_diacritics(span) not in folded_question


def _number_span(sentence: str, fq: str) -> str | None:
    for m in _NUMBER_SPAN.finditer(sentence):
        words = m.group(0).split()
        keep = [words[0]]
        for w in words[1:]:
            if w.lower() != w or w in _STOP or not w.isalpha():
                break
            keep.append(w)
        span = " ".join(keep[:2]).rstrip(".,")  # number + one unit word: "3 giờ", "40 ngày"
        if _new(span, fq) and not re.fullmatch(r"(1\d{3}|20\d{2})", span):
            return span
    return None


def _name_spans(sentence: str) -> list[tuple[str, bool]]:
    """Proper nouns (underthesea POS ``Np``; it keeps "Vladimir Putin" in one token, and
    adjacent tokens are separate names: "Nga | Igor Konashenkov") with whether a
    preposition of place (ở, tại, đến, tới, từ) precedes them."""
    from underthesea import pos_tag

    out, prev = [], ""
    for word, tag in pos_tag(sentence):
        if tag == "Np":
            out.append((word, prev.lower() in ("ở", "tại", "đến", "tới", "từ")))
        prev = word
    return out


def answer_span(kind: str | None, sentence: str, question: str) -> str | None:
    """The short answer in ``sentence`` for a question of type ``kind``: the first date,
    number (with its unit word), name or place that the question does not already contain.
    None when ``kind`` is None or nothing fits (the answer is then the sentence alone)."""
    if kind is None or kind == "said" or not sentence.strip():  # "what did X say": the sentence is the answer
        return None
    fq = fold_diacritics(question)
    if kind == "date":
        quoted = _quoted_spans(sentence)
        for m in _DATE_SPAN.finditer(sentence):
            if _new(m.group(0), fq) and not any(a <= m.start() < b for a, b in quoted):
                return m.group(0).strip()
        return None
    if kind == "number":
        return _number_span(sentence, fq)
    if kind == "duration":
        for m in _DURATION_SPAN.finditer(sentence):
            if _new(m.group(0), fq):
                return m.group(0).strip()
        return _number_span(sentence, fq)
    names = [(n, prep) for n, prep in _name_spans(sentence) if _new(n, fq)]
    if kind == "place":
        names = [x for x in names if x[1]] or names
    elif kind == "person":  # a full name ("Igor Konashenkov") before a bare "Nga"
        names = [x for x in names if " " in x[0]] or names
    return names[0][0] if names else None
