"""What every retrieval channel sees and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

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
    terms: dict = field(default_factory=dict)  # lexical analysis, filled by the lexical channel
    filters: object = None  # an embeddings.stores.PassageFilter: only passages that pass it rank


class Channel(Protocol):
    """A first-stage scorer over the whole index (dense vectors, BM25, ...)."""

    name: str

    def search(self, query: Query, k: int) -> Ranking:
        """The ``k`` best passages for ``query``."""
        ...
