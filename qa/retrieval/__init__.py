"""Retrieval: channels (dense, lexical), their fusion, and the :class:`Retriever` component."""

from .base import Channel, Query, Ranking
from .dense import DenseChannel
from .retriever import Retriever

__all__ = ["Channel", "Query", "Ranking", "DenseChannel", "Retriever"]
