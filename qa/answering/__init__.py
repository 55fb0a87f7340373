"""Answerers behind one contract (:mod:`qa.answering.base`): the extractive default; a generative
answerer and a reading-comprehension reader for users who have a model. The refusal gate and its
text: :mod:`qa.answering.relevance`; citations: :mod:`qa.answering.citations`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Answerer
from .extractive import ExtractiveAnswerer

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.encoder import Encoder
    from embeddings.stores import VectorStore

    from ..config import QAConfig
    from ..retrieval.lexical import LexicalChannel

__all__ = ["Answerer", "ExtractiveAnswerer", "make_answerer"]


def make_answerer(config: QAConfig, encoder: Encoder, lexical: LexicalChannel,
                  index: VectorStore | None = None) -> Answerer:
    """The answerer that ``config.answerer`` names (``index`` supplies stored sentence vectors)."""
    extractive = ExtractiveAnswerer(encoder, lexical, max_sentences=config.max_answer_sentences,
                                    sentence_vectors=index.sentence_vectors if index is not None else None)
    if config.answerer == "reader":
        from .reader import ReaderAnswerer

        return ReaderAnswerer.from_config(config, extractive=extractive, aliases=lexical.aliases)
    if config.answerer == "extractive":
        return extractive
    from .generative import GenerativeAnswerer

    return GenerativeAnswerer.from_config(config, fallback=extractive)
