"""Answerers: the extractive default; generative backends and a reading-comprehension reader for
users who have a model."""

from __future__ import annotations

from .extractive import ExtractiveAnswerer

__all__ = ["ExtractiveAnswerer", "make_answerer"]


def make_answerer(config, encoder, lexical, index=None):
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
