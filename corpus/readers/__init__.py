"""Read articles from files and folders (see :mod:`corpus.readers.paths`)."""

from .paths import (BUNDLED_DIR, LEGACY_ENCODINGS, MAX_ARTICLE_BYTES, MAX_PDF_BYTES, SIDECAR_NAME,
                    SUPPORTED_SUFFIXES, ReadError, ReadProblem, ReadReport, dehyphenate, file_sha256,
                    load_bundled, read_file, read_path, read_paths_report)

__all__ = ["BUNDLED_DIR", "LEGACY_ENCODINGS", "MAX_ARTICLE_BYTES", "MAX_PDF_BYTES", "SIDECAR_NAME",
           "SUPPORTED_SUFFIXES", "ReadError", "ReadProblem", "ReadReport", "dehyphenate", "file_sha256",
           "load_bundled", "read_file", "read_path", "read_paths_report"]
