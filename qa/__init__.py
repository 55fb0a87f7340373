"""Cited question answering over Vietnamese news.

>>> from qa import ask
>>> a = ask("Ông Kerry gặp ông Putin ở đâu?")
>>> print(a.text)          # answer with [n] markers
>>> a.citations[0].title   # the article [1] points to

The first call loads (or builds) the index of the bundled articles; later calls reuse it.
"""

from __future__ import annotations

from .config import QAConfig
from .pipeline import IndexReport, Pipeline, default_pipeline, reset_default_pipeline
from .text.questions import QuestionError
from .types import Answer, Citation, Passage

__all__ = ["ask", "Answer", "Citation", "Passage", "QAConfig", "Pipeline", "IndexReport",
           "default_pipeline", "reset_default_pipeline", "QuestionError"]


def ask(question: str, *, config: QAConfig | None = None, top_k: int | None = None,
        history: list[dict] | None = None, language: str | None = None,
        filters: dict | None = None) -> Answer:
    """Answer a Vietnamese or English question from the indexed articles, with citations.

    ``config`` selects another index, model or answerer (see :class:`QAConfig`); without it the
    default pipeline over the bundled corpus is used, built lazily once per process.
    ``history`` holds the earlier turns of a conversation as chat messages
    (``{"role": "user" | "assistant", "content": ...}``) so that follow-ups can be understood.
    ``filters`` restricts the sources, e.g. ``{"sources": ["QĐND"], "date_from": "2016"}``
    (see :class:`embeddings.stores.PassageFilter`). ``language`` ("vi"/"en") forces the language
    of the answer's framing; None follows the question.
    """
    return default_pipeline(config).ask(question, top_k=top_k, history=history, language=language,
                                        filters=filters)
