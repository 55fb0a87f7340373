"""Reading, cleaning (and, later, chunking) the news articles the chatbot answers from."""

from .cleaning import CleanedArticle, clean_article
from .document import Chunk, Document
from .normalize import fold_diacritics, normalize_text
from .readers import SUPPORTED_SUFFIXES, ReadError, ReadProblem, ReadReport, load_bundled, read_file, read_path, read_paths_report

__all__ = [
    "Document",
    "Chunk",
    "read_path",
    "read_file",
    "read_paths_report",
    "ReadError",
    "ReadProblem",
    "ReadReport",
    "load_bundled",
    "SUPPORTED_SUFFIXES",
    "clean_article",
    "CleanedArticle",
    "normalize_text",
    "fold_diacritics",
]
