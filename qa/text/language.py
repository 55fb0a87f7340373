"""Question language detection: Vietnamese or English.

``py3langid`` (langid.py's maintained fork, BSD) ships its model inside the package and needs no
download; restricted to {vi, en} it is right on short questions as long as they carry
diacritics. Vietnamese typed without diacritics ("ong Kerry gap ong Putin o dau") looks like
English to a character n-gram model, so such text is also tested for Vietnamese syllable
structure: when most words are well-formed Vietnamese syllables it is Vietnamese.
"""

from __future__ import annotations

import re
from functools import lru_cache

from corpus.normalize import _tone_position, fold_diacritics

__all__ = ["detect_language", "LANGUAGES"]

LANGUAGES = ("vi", "en")
_WORDS = re.compile(r"[^\W\d_]+")
#: Share of words that must be well-formed Vietnamese syllables for diacritic-less text to
#: count as Vietnamese. English questions score 0.1-0.4 (short words like "in", "an", "to"
#: happen to be valid syllables); toneless Vietnamese scores 0.7-1.0 (names lower it).
SYLLABLE_SHARE = 0.6
#: English function words that are not Vietnamese syllables. An English question about a
#: Vietnamese name ("Where is Đà Nẵng?") has diacritics that pull the n-gram model to "vi";
#: two or more of these words overrule it. ("in", "an", "to" are left out: valid syllables.)
ENGLISH_FUNCTION_WORDS = frozenset(
    "the is are was were what where who whom whose when why how which did does do of for with "
    "from by and many much has have had been their its this that".split())


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def _vietnamese_syllable_share(text: str) -> float:
    words = [w for w in _WORDS.findall(fold_diacritics(text))]
    if not words:
        return 0.0
    ok = sum(1 for w in words if _tone_position(w) is not None or w in ("a", "o", "u", "y", "i", "e"))
    return ok / len(words)


def detect_language(text: str) -> str:
    """``"vi"`` or ``"en"`` for a question or passage (defaults to ``"vi"`` for empty text)."""
    if not text.strip():
        return "vi"
    lang, _ = _identifier().classify(text)
    if lang == "vi" and sum(w in ENGLISH_FUNCTION_WORDS for w in _WORDS.findall(text.lower())) >= 2:
        return "en"
    if lang == "en" and fold_diacritics(text) == text.lower() and _vietnamese_syllable_share(text) >= SYLLABLE_SHARE:
        return "vi"
    return lang
