"""Read articles from files and folders into cleaned :class:`~corpus.document.Document` s.

:mod:`~corpus.readers.paths` walks folders, dispatches by extension and de-duplicates (the
public API below); :mod:`~corpus.readers.decode` turns bytes into text;
:mod:`~corpus.readers.sidecar` reads a folder's ``metadata.json``; one module per format
(:mod:`~corpus.readers.txt`, :mod:`~corpus.readers.markdown`, :mod:`~corpus.readers.html`,
:mod:`~corpus.readers.pdf`, :mod:`~corpus.readers.jsonl`) and :mod:`~corpus.readers.base` for
what they share (errors, limits, the document they build).
"""

from .base import MAX_ARTICLE_BYTES, MAX_PDF_BYTES, ReadError, ReadProblem, ReadReport
from .decode import LEGACY_ENCODINGS
from .paths import BUNDLED_DIR, SUPPORTED_SUFFIXES, load_bundled, read_file, read_path, read_paths_report
from .pdf import dehyphenate
from .sidecar import SIDECAR_NAME

__all__ = ["BUNDLED_DIR", "LEGACY_ENCODINGS", "MAX_ARTICLE_BYTES", "MAX_PDF_BYTES", "SIDECAR_NAME",
           "SUPPORTED_SUFFIXES", "ReadError", "ReadProblem", "ReadReport", "dehyphenate", "load_bundled",
           "read_file", "read_path", "read_paths_report"]
