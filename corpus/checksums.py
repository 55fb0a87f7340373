"""File checksums shared by the layers above: index files, the converted model's source and
upload identity all use :func:`file_sha256` (corpus is the lowest layer every one of them may import)."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256"]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (any size, bounded memory): the
    checksum of index files and of the converted model's source, and the identity of uploads."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
