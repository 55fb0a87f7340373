"""Unicode and Vietnamese orthography normalization shared by documents and queries.

Every text that enters the product (article bodies, titles, questions, alias tables) goes
through :func:`normalize_text`, so that the same word is always the same code points:

* Unicode NFC. Vietnamese can be typed precomposed (``ồ`` = U+1ED3) or decomposed
  (``o`` + U+0302 + U+0300); IMEs and PDF extractors produce both.
* One tone-mark placement. Vietnamese has two conventions for the open syllables ``oa``, ``oe``
  and ``uy``: the traditional one (``hòa``, ``khỏe``, ``thủy``) and the "new" one (``hoà``,
  ``khoẻ``, ``thuỷ``). News outlets mix them, often inside one article. We rewrite every
  syllable to the traditional placement, which is the majority form in Vietnamese news and in
  the multilingual-e5 training data, so embeddings and BM25 tokens agree.

Why not ``underthesea.text_normalize``: it re-joins tokens with single spaces (so character
offsets, which citations depend on, are lost) and its lookup table also rewrites spellings
(``nghành`` → ``ngành``), i.e. changes words rather than tone placement. The placement rule
itself is short and fully specified by Vietnamese orthography, so it lives here, length
preserving: ``len(normalize_text(s)) == len(unicodedata.normalize("NFC", s))`` apart from the
removal of invisible characters (zero-width spaces, soft hyphens, BOM).

:func:`fold_diacritics` maps text to its tone-less ASCII-ish form (``Giơ-ne-vơ`` → ``gio-ne-vo``,
``Đà Nẵng`` → ``da nang``) for matching queries typed without diacritics.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text", "fold_diacritics", "normalize_syllable"]

# Combining tone marks (after NFD): grave, acute, hook above, tilde, dot below.
_TONES = {"\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_WORD = re.compile(r"[^\W\d_]+")

_VOWELS = set("aăâeêioôơuưy")
_MARKED_VOWELS = set("ăâêôơư")  # vowels carrying a quality diacritic (circumflex, breve, horn)
_CODAS = ("ch", "ng", "nh", "c", "m", "n", "p", "t")
_ONSETS = (
    "ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr",
    "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x",
)


def _split_tone(syllable: str) -> tuple[str, str | None, list[bool]]:
    """Return (lower-case NFC base without tone, tone mark or None, per-char upper flags)."""
    tone = None
    base_chars: list[str] = []
    upper: list[bool] = []
    for ch in syllable:
        decomposed = unicodedata.normalize("NFD", ch)
        kept = []
        for c in decomposed:
            if c in _TONES:
                tone = c
            else:
                kept.append(c)
        plain = unicodedata.normalize("NFC", "".join(kept))
        base_chars.append(plain.lower())
        upper.append(ch != ch.lower())
    return "".join(base_chars), tone, upper


def _tone_position(base: str) -> int | None:
    """Index in ``base`` of the vowel that carries the tone (traditional placement).

    Returns None when ``base`` is not a well-formed Vietnamese syllable (foreign words,
    abbreviations), which are then left exactly as written.
    """
    onset = ""
    for o in _ONSETS:
        if base.startswith(o):
            onset = o
            break
    rest = base[len(onset):]
    # "gi" followed by no other vowel: the i is the nucleus (gì, gìn).
    if onset == "gi" and not any(c in _VOWELS for c in rest):
        onset, rest = "g", base[1:]
    coda = ""
    for c in _CODAS:
        if rest.endswith(c) and len(rest) > len(c):
            coda = c
            break
    nucleus = rest[: len(rest) - len(coda)] if coda else rest
    if not nucleus or any(c not in _VOWELS for c in nucleus) or len(nucleus) > 3:
        return None
    start = len(onset)
    marked = [i for i, c in enumerate(nucleus) if c in _MARKED_VOWELS]
    if marked:
        pos = marked[-1]  # ươ → ơ; ê in iê/yê/uyê
    elif len(nucleus) == 1:
        pos = 0
    elif coda:
        pos = len(nucleus) - 1  # hoàng, thuận, khuỷu-type closed syllables: last vowel
    elif len(nucleus) == 3:
        pos = 1  # ngoài, khuya
    else:
        pos = 0  # traditional open-syllable placement: hòa, khỏe, thủy, mùa, tài
    return start + pos


def normalize_syllable(syllable: str) -> str:
    """Move the tone mark of one syllable to its traditional position, keeping case."""
    base, tone, upper = _split_tone(syllable)
    if tone is None or len(base) != len(syllable):
        return syllable
    pos = _tone_position(base)
    if pos is None:
        return syllable
    out = []
    for i, ch in enumerate(base):
        if i == pos:
            ch = unicodedata.normalize("NFC", ch + tone)
        out.append(ch.upper() if upper[i] else ch)
    return "".join(out)


def normalize_text(text: str) -> str:
    """NFC, drop invisible characters, and normalize tone-mark placement syllable by syllable."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    return _WORD.sub(lambda m: m.group(0) if m.group(0).isascii() else normalize_syllable(m.group(0)), text)


def _fold_table() -> dict[int, str | None]:
    """Precomposed Latin letters → base letters, combining marks → nothing (one C-level pass)."""
    table: dict[int, str | None] = {ord("đ"): "d", ord("Đ"): "D"}
    for cp in range(0xC0, 0x2000):
        ch = chr(cp)
        if unicodedata.combining(ch):
            table[cp] = None
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base != ch and base.isascii() and base:
            table[cp] = base
    return table


_FOLD = _fold_table()


def fold_diacritics(text: str) -> str:
    """Lower-case and strip all Vietnamese diacritics (tones, breve, circumflex, horn, đ).

    Runs on every passage sentence at question time, so it is one ``str.translate`` over a
    table built at import (same result as NFD + dropping combining marks, for Latin text).
    """
    return text.translate(_FOLD).lower()
