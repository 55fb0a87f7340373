"""Answerers: the extractive default and generative backends for users who have a model."""

from __future__ import annotations

from .extractive import ExtractiveAnswerer

__all__ = ["ExtractiveAnswerer", "make_answerer"]


def make_answerer(config, encoder, lexical):
    """The answerer that ``config.answerer`` names."""
    extractive = ExtractiveAnswerer(encoder, lexical, max_sentences=config.max_answer_sentences)
    if config.answerer == "extractive":
        return extractive
    from .generative import GenerativeAnswerer

    return GenerativeAnswerer.from_config(config, fallback=extractive)
