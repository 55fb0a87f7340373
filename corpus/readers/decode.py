"""Bytes to text: BOMs, UTF-8, legacy Windows code pages (charset-normalizer), binary data
and size limits, each failure a :class:`~corpus.readers.base.ReadError` naming the file."""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path

from .base import MAX_ARTICLE_BYTES, ReadError

__all__ = ["LEGACY_ENCODINGS", "bom_encoding", "check_not_binary", "check_size", "decode", "read_limited", "read_text"]

logger = logging.getLogger(__name__)

#: Encodings tried (with charset-normalizer) for a text file that is not UTF-8 and has no BOM: the
#: Windows code pages (cp1258 is Windows-Vietnamese). Multi-byte legacy encodings (GB18030, Big5,
#: Shift-JIS) and BOM-less UTF-16 are left out: on short Latin-1 input ("caf\xe9") the detector
#: picks them with full confidence and yields CJK garbage.
LEGACY_ENCODINGS: tuple[str, ...] = ("cp1258", "cp1252", "cp1250", "cp1251", "cp1253", "cp1254",
                                     "cp1257")
#: Share of control characters above which decoded "text" is binary data: real text has none;
#: 1 % tolerates a stray one in a long article. Tab, the line breaks and the separators that
#: Word exports and PDF extractors write (VT, FF, FS/GS/RS: see corpus.cleaning) are not counted.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f]")


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: same prefix
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def check_not_binary(text: str, path: Path) -> str:
    if "\x00" in text or (text and len(_CONTROL_RE.findall(text)) / len(text) > _MAX_CONTROL_SHARE):
        raise ReadError(path, "binary data, not text (is it really a text file?); save it as UTF-8 text",
                        kind="binary")
    return text


def decode(data: bytes, path: Path) -> str:
    """Decode a text file: by its BOM when it has one (UTF-8, UTF-16, UTF-32: what Windows
    Notepad writes as "Unicode"), else UTF-8, else the legacy encoding charset-normalizer finds
    among :data:`LEGACY_ENCODINGS` (logged). Binary data and undetectable bytes raise
    :class:`ReadError` naming the file."""
    encoding = bom_encoding(data)
    if encoding is not None:
        try:
            return check_not_binary(data.decode(encoding), path)
        except UnicodeDecodeError as exc:
            raise ReadError(path, f"invalid {encoding.upper()} text ({exc.reason} at byte {exc.start})",
                            kind="encoding") from exc
    if b"\x00" in data:  # never in UTF-8 or single-byte text; UTF-16 without a BOM is not supported
        raise ReadError(path, "binary data (NUL bytes), not UTF-8 text; if it is UTF-16 text, save it "
                              "as UTF-8 (or UTF-16 with a BOM)", kind="binary")
    try:
        return check_not_binary(data.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        utf8_error = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None:
        raise ReadError(path, f"{utf8_error}, and no known encoding fits: not a text file, or convert it "
                              "to UTF-8 (e.g. `iconv -f WINDOWS-1258 -t UTF-8`)", kind="encoding")
    logger.info("%s: not UTF-8, decoded as %s", path, best.encoding)
    return check_not_binary(str(best), path)


def check_size(path: Path, limit: int) -> None:
    """Reject a file over ``limit`` bytes before reading any of it."""
    size = path.stat().st_size
    if size > limit:
        raise ReadError(path, f"file too large ({size / 2**20:.1f} MiB; the limit for one article is "
                              f"{limit / 2**20:.0f} MiB): split it, or give many articles as JSONL",
                        kind="too-large")


def read_limited(path: Path, limit: int) -> bytes:
    check_size(path, limit)
    return path.read_bytes()


def read_text(path: Path) -> str:
    return decode(read_limited(path, MAX_ARTICLE_BYTES), path)
