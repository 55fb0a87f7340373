"""Crash safety and integrity of the FAISS store's folder (see :mod:`embeddings.stores.faiss`): the
files of one generation, their recorded sizes and SHA-256 hashes checked on open, and writes
that reach the disk (fsync of files and of the folder) before the manifest names them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from corpus.checksums import file_sha256

from .base import CorruptIndexError

__all__ = ["MANIFEST", "file_record", "fsync_dir", "fsync_write", "generation_files", "verify_files"]

#: The commit point of a FAISS store's folder.
MANIFEST = "manifest.json"


def generation_files(path: Path, gen: int) -> list[Path]:
    """The data files of generation ``gen`` (``<kind>-<gen>.<ext>``), sorted by name."""
    pattern = re.compile(rf"[a-z]+-{gen}\.[a-z]+")
    return sorted(p for p in path.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def verify_files(path: str | Path, manifest: dict, *, checksums: bool = True) -> None:
    """Check the files a manifest names against their recorded sizes (and SHA-256 hashes);
    raise :class:`CorruptIndexError` naming the first bad one. No-op for manifests without
    a ``"files"`` record (indexes from before it existed)."""
    path = Path(path)
    for name, rec in sorted((manifest.get("files") or {}).items()):
        f = path / name
        if not f.is_file():
            raise CorruptIndexError(path, name, "is missing")
        size = f.stat().st_size
        if size != rec["bytes"]:
            raise CorruptIndexError(path, name, f"has {size:,} bytes, {rec['bytes']:,} were written (truncated?)")
        if checksums and file_sha256(f) != rec["sha256"]:
            raise CorruptIndexError(path, name, "does not match its checksum (the file was modified or damaged)")


def file_record(path: Path) -> dict:
    """What the manifest records of one file: its size and SHA-256."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
