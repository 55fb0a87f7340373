"""Sidecar metadata: a folder's ``metadata.json`` mapping file names to
``{"headline", "outlet", "author", "url", "date", ...}`` (see :mod:`corpus.readers.paths`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from .base import str_field
from .decode import read_text

__all__ = ["SIDECAR_NAME", "sidecar_entry", "sidecar_extra", "sidecar_title"]

SIDECAR_NAME = "metadata.json"


def sidecar_entry(path: Path, cache: dict[Path, dict]) -> dict:
    """The ``metadata.json`` entry for ``path`` (normalized strings), or {}."""
    folder = path.parent
    if folder not in cache:
        table: dict = {}
        sidecar = folder / SIDECAR_NAME
        if sidecar.is_file():
            try:
                loaded = json.loads(read_text(sidecar))
            except (ValueError, OSError) as exc:
                warnings.warn(f"{sidecar}: ignored, not readable JSON ({exc})", stacklevel=2)
                loaded = {}
            if isinstance(loaded, dict):
                table = {k: v for k, v in loaded.items() if isinstance(v, dict) and not k.startswith("_")}
        cache[folder] = table
    entry = cache[folder].get(path.name) or {}
    return {k: str_field(entry, k) for k in entry if not k.startswith("_")}


def sidecar_title(entry: dict) -> str | None:
    return entry.get("headline") or entry.get("title") or None


def sidecar_extra(entry: dict) -> dict:
    return {"headline_from": entry["headline_from"]} if entry.get("headline_from") else {}
