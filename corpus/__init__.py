"""Reading, cleaning (and, later, chunking) the news articles the chatbot answers from."""

from .cleaning import CleanedArticle, clean_article
from .document import Chunk, Document
from .normalize import fold_diacritics, normalize_text
from .readers import SUPPORTED_SUFFIXES, load_bundled, read_file, read_path

__all__ = [
    "Document",
    "Chunk",
    "read_path",
    "read_file",
    "load_bundled",
    "SUPPORTED_SUFFIXES",
    "clean_article",
    "CleanedArticle",
    "normalize_text",
    "fold_diacritics",
]
