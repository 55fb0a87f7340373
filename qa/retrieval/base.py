"""What every retrieval channel sees and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.stores import PassageFilter

__all__ = ["Query", "Channel", "Ranking"]

#: A channel's result: (passage id, score) pairs, best first. Scores are only comparable within
#: one channel; fusion (qa/retrieval/fusion.py) decides how channels combine.
Ranking = list[tuple[int, float]]


@dataclass
class Query:
    """A question prepared once for all channels."""

    text: str  # normalized (NFC, tone marks) question
    language: str  # "vi" or "en"
    vector: np.ndarray | None = None  # query embedding, set by the pipeline
    filters: PassageFilter | None = None  # only passages that pass it rank
    #: the lexical terms the question is searched with (qa.retrieval.lexical.query_terms),
    #: computed once on first use by whichever reads them first (BM25, fusion, the answerer)
    lexical_terms: list[str] | None = None
    #: exact dense cosines of the candidates hybrid fusion scored (passage id -> cosine): the
    #: refusal gate reads the cosine of each returned passage, whatever the method
    dense_scores: dict[int, float] = field(default_factory=dict)

    def forget_analysis(self) -> None:
        """Drop what channels computed for this query (a benchmark timing the same query again)."""
        self.lexical_terms = None
        self.dense_scores = {}


class Channel(Protocol):
    """A first-stage scorer over the whole index (dense vectors, BM25, ...)."""

    name: str

    def search(self, query: Query, k: int) -> Ranking:
        """The ``k`` best passages for ``query``."""
        ...
