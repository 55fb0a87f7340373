"""Restore the diacritics of a Vietnamese question typed without them, from the passages it is
asked against.

Users often type Vietnamese without tone marks ("ong Kerry gap ong Putin o dau"). Retrieval
copes (it also matches folded forms), but the reader was trained on marked text and reads a
folded question badly: the syllable "o" could be ở, ô, ơ or o, "dau" đâu or đầu. The passages
the question is asked against settle most of it: a question's content words are the passage's
words (that is how it was retrieved), so each run of question syllables is replaced by the
marked form of the same folded run in the passages, longest runs first (a run of two or three
syllables, "bat dau" → "bắt đầu", is far less ambiguous than one). What the passages do not
hold is mostly the question's own words (đâu, nào, bao nhiêu, khi nào): a closed class, given
below and preferred over a one-syllable passage match ("dau" in a question is "đâu", whatever
"đầu" the passage has).

No diacritic-restoration model ships in a package usable here (the registries hold none for
Vietnamese), and the passages carry the answer's vocabulary anyway.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from corpus.normalize import fold_diacritics

from .language import detect_language

__all__ = ["is_unmarked_vietnamese", "restore_marks", "QUESTION_WORDS"]

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

#: Folded form → marked form of the Vietnamese question words and the function words around
#: them that a question brings and a news passage may not (one- and two-syllable forms).
QUESTION_WORDS: dict[str, str] = {
    "ai": "ai", "dau": "đâu", "o dau": "ở đâu", "nao": "nào", "gi": "gì", "cai gi": "cái gì",
    "bao nhieu": "bao nhiêu", "bao lau": "bao lâu", "bao gio": "bao giờ", "may": "mấy",
    "khi nao": "khi nào", "luc nao": "lúc nào", "nam nao": "năm nào", "ngay nao": "ngày nào",
    "thang nao": "tháng nào", "tai sao": "tại sao", "vi sao": "vì sao", "the nao": "thế nào",
    "nhu the nao": "như thế nào", "ra sao": "ra sao", "la gi": "là gì", "la ai": "là ai",
    "cua ai": "của ai", "nhung ai": "những ai", "o": "ở", "tai": "tại", "la": "là", "cua": "của",
    "duoc": "được", "da": "đã", "se": "sẽ", "co": "có", "khong": "không", "voi": "với",
    "ve": "về", "nhung": "những", "cac": "các", "nguoi": "người", "ong": "ông",
}
_MAX_RUN = 3


def is_unmarked_vietnamese(text: str, language: str | None = None) -> bool:
    """True when ``text`` is Vietnamese typed without any diacritic (English is not: it is told
    apart by :func:`~qa.text.language.detect_language`'s syllable test, or by ``language`` when
    the caller already detected it)."""
    return (bool(_WORD.search(text)) and fold_diacritics(text) == text.lower()
            and (language or detect_language(text)) == "vi")


def _runs(texts: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """(folded run of 1..3 words → its most frequent marked lower-case form in ``texts``, the
    marked words the passages mostly capitalize: names, not sentence starts)."""
    counts: dict[str, Counter] = {}
    capitals: Counter = Counter()
    seen: Counter = Counter()
    for text in texts:
        words = _WORD.findall(text)
        for w in words:
            seen[w.lower()] += 1
            capitals[w.lower()] += w[:1].isupper()
        words = [w.lower() for w in words]
        for n in range(1, _MAX_RUN + 1):
            for i in range(len(words) - n + 1):
                run = " ".join(words[i:i + n])
                folded = fold_diacritics(run)
                if folded != run:  # only runs whose marks carry information
                    counts.setdefault(folded, Counter())[run] += 1
    names = {w for w, n in seen.items() if capitals[w] * 2 > n}
    return {k: c.most_common(1)[0][0] for k, c in counts.items()}, names


def _cased(marked: str, typed: str, names: set[str]) -> str:
    """``marked`` (lower case) with the capitals of ``typed`` and of the passages' names."""
    out = []
    for m, t in zip(marked.split(" "), typed.split(" ")):
        out.append(m[:1].upper() + m[1:] if t[:1].isupper() or m in names else m)
    return " ".join(out)


def restore_marks(question: str, passages: Iterable[str], language: str | None = None) -> str:
    """``question`` with its diacritics restored from ``passages`` when it was typed without any
    (see the module docstring); any other question is returned unchanged. ``language``: the
    question's, when already known (else detected)."""
    if not is_unmarked_vietnamese(question, language):
        return question
    known, names = _runs(passages)
    words = list(_WORD.finditer(question))
    out: list[str] = []
    last = 0
    i = 0
    while i < len(words):
        replaced = False
        for n in range(min(_MAX_RUN, len(words) - i), 0, -1):
            group = words[i:i + n]
            # only runs of adjacent words (one space apart), so "ai, o" does not read as "ai o"
            if any(question[a.end():b.start()] != " " for a, b in zip(group, group[1:])):
                continue
            typed = question[group[0].start():group[-1].end()]
            key = typed.lower()
            if n > 1:  # a passage's run of words first, then the question phrases
                marked = known.get(key) or QUESTION_WORDS.get(key)
            else:  # a lone syllable: the question word first ("dau" → đâu, not the passage's đầu)
                marked = QUESTION_WORDS.get(key) or known.get(key)
            if marked is None:
                continue
            out.append(question[last:group[0].start()])
            out.append(_cased(marked, typed, names))
            last = group[-1].end()
            i += n
            replaced = True
            break
        if not replaced:
            i += 1
    out.append(question[last:])
    return "".join(out)
