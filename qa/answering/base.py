"""The answerer contract: what the pipeline may ask of every answerer.

An answerer turns a question and the passages retrieved for it (already judged relevant by the
refusal gate, :mod:`qa.answering.relevance`) into a cited :class:`~qa.types.Answer`:

* :attr:`Answerer.name`: recorded in ``Answer.answerer``;
* :meth:`Answerer.run`: the final answer;
* :meth:`Answerer.stream`: partial answers (``partial=True``) and then the final one. By default
  the answer of :meth:`run`, computed at once, yielded sentence by sentence
  (:func:`sentence_stream`); a model that writes for a while streams as it writes;
* :attr:`Answerer.needs_index_lock`: whether :meth:`stream` reads the index (lexical statistics,
  stored sentence vectors of other passages), so that the pipeline calls it under the retriever's
  read lock; an answerer that reads only the passages it was given (copies) and sentence vectors
  by passage id says False, and indexing never waits on a model writing for seconds;
* :attr:`Answerer.generator`: the language model it writes with, if any; the pipeline asks it to
  rewrite follow-up questions (:func:`qa.conversation.llm_rewriter`).

Three answerers implement it: :class:`~qa.answering.extractive.ExtractiveAnswerer` (the default),
:class:`~qa.answering.generative.GenerativeAnswerer` and :class:`~qa.answering.reader.ReaderAnswerer`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from ..retrieval.base import Query
from ..types import Answer, Passage
from .citations import parse_markers, split_claims

if TYPE_CHECKING:  # pragma: no cover
    from .backends import Generator

__all__ = ["Answerer", "sentence_stream"]


class Answerer(ABC):
    """Answers a question from retrieved passages, with citations (see the module docstring)."""

    name: ClassVar[str]
    needs_index_lock: ClassVar[bool] = True
    #: the language model the answerer writes with (None: it writes with none)
    generator: Generator | None = None

    @abstractmethod
    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""

    def stream(self, query: Query, passages: list[Passage]) -> Iterator[Answer]:
        """Partial answers, then the final one: by default :meth:`run`'s answer, computed now,
        yielded sentence by sentence."""
        return sentence_stream(self.run(query, passages))


def sentence_stream(answer: Answer) -> Iterator[Answer]:
    """An answer computed at once, yielded sentence by sentence (each partial carries the
    citations its text shows), then whole."""
    claims = split_claims(answer.text) if answer.found else []
    if len(claims) > 1:
        for c in claims[:-1]:
            shown = answer.text[:c.end].strip()
            cited = {n for m in parse_markers(shown) for n in m.numbers}
            yield replace(answer, text=shown, citations=[x for x in answer.citations if x.n in cited],
                          claims=list(answer.claims), partial=True)
    yield answer
