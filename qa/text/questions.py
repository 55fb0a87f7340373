"""Question validation: what the pipeline accepts as a question, with bilingual errors.

Rules (checked by :func:`validate_question`, called by :meth:`qa.Pipeline.query`):

* empty: no letter or digit at all (``""``, blanks, ``"???"``, zero-width spaces) → error;
* too long: more than :data:`MAX_QUESTION_CHARS` characters → error (never silently cut: a
  cut question may ask something else);
* another script: a question written mostly outside the Latin script (Chinese, Russian, Arabic,
  Thai...) → error saying that only Vietnamese and English are supported. The answer templates,
  refusal thresholds, lexical analysis and evaluation cover only Vietnamese and English, so an
  answer to such a question would be unvalidated guesswork. Latin-script questions in other
  languages (French, Indonesian) cannot be told from English reliably on a few words and are
  answered as English questions.

:class:`QuestionError` is a ``ValueError`` whose message holds the English and the Vietnamese
text (``"<en> / <vi>"``), because the question's own language is not known when it is empty or
foreign; :meth:`QuestionError.message` gives one of them.
"""

from __future__ import annotations

import unicodedata

from corpus.normalize import normalize_text

__all__ = ["MAX_QUESTION_CHARS", "QuestionError", "validate_question"]

#: Longest question accepted: 2,000 characters. Real questions are short (the 511 MLQA-vi dev
#: questions, Vietnamese and English: at most 171 characters); the encoder reads at most 512
#: tokens (~2,000 characters of Vietnamese), so longer text would be truncated silently, and it
#: is not a question anyway (a pasted article). >10x the longest real question leaves room.
MAX_QUESTION_CHARS = 2000
#: Share of a question's letters that must be Latin-script for it to count as Vietnamese or
#: English: a Vietnamese question quoting a Russian or Chinese name stays well above it.
MIN_LATIN_SHARE = 0.5


class QuestionError(ValueError):
    """A question the pipeline does not accept. ``kind``: "empty", "too-long" or "language"."""

    def __init__(self, kind: str, en: str, vi: str) -> None:
        self.kind = kind
        self.messages = {"en": en, "vi": vi}
        super().__init__(f"{en} / {vi}")

    def message(self, language: str = "en") -> str:
        """The message in ``language`` ("vi" or "en")."""
        return self.messages.get(language, self.messages["en"])


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum(unicodedata.name(c, "").startswith("LATIN") for c in letters) / len(letters)


def validate_question(question: object, *, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question normalized (NFC, stripped), or :class:`QuestionError`. ``max_chars``: a
    stricter length limit for one interface (the chat's box, :mod:`webapp.handlers`)."""
    if not isinstance(question, str) or not any(c.isalnum() for c in question):
        raise QuestionError("empty", "the question is empty; please type a question",
                            "câu hỏi trống; vui lòng nhập câu hỏi")
    text = normalize_text(question).strip()
    if len(text) > max_chars:
        raise QuestionError(
            "too-long",
            f"the question is too long ({len(text):,} characters; at most {max_chars:,})",
            f"câu hỏi quá dài ({len(text):,} ký tự; tối đa {max_chars:,})")
    if _latin_share(text) < MIN_LATIN_SHARE:
        raise QuestionError(
            "language", "only questions in Vietnamese or English are supported",
            "chỉ hỗ trợ câu hỏi bằng tiếng Việt hoặc tiếng Anh")
    return text
