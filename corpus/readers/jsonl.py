"""JSON Lines: one article per line, streamed in bounded memory; a broken line is reported and
skipped."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

from ..cleaning import clean_article
from ..document import Document
from .base import MAX_ARTICLE_BYTES, NO_TEXT, ReadError, ReadProblem, make_document, record_problem, str_field
from .decode import bom_encoding, decode, read_limited

__all__ = ["read_jsonl"]


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str | ReadError]]:
    """(line number, text) for each line of a JSONL file, streamed: memory stays bounded by
    :data:`MAX_ARTICLE_BYTES` whatever the file size. A line that is too long or not UTF-8 comes
    as a :class:`ReadError` in place of its text, and reading goes on with the next line.

    Lines are split on "\\n" only, never on U+2028 and the other characters that str.splitlines()
    treats as line ends (JSON strings may contain them).
    """
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        encoding = bom_encoding(head)
        if encoding not in (None, "utf-8-sig"):  # UTF-16/32 with a BOM: decode as a stream
            text = decode(read_limited(path, MAX_ARTICLE_BYTES), path)
            for lineno, line in enumerate(text.split("\n"), start=1):
                yield lineno, line
            return
        if encoding == "utf-8-sig":
            f.read(len(codecs.BOM_UTF8))
        lineno = 0
        while True:
            raw = f.readline(MAX_ARTICLE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_ARTICLE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line in 1 MiB pieces
                    raw = None
                    raw = f.readline(2**20)
                yield lineno, ReadError(path, f"line longer than {MAX_ARTICLE_BYTES / 2**20:.0f} MiB, skipped",
                                        kind="too-large", line=lineno)
                continue
            if b"\x00" in raw:
                yield lineno, ReadError(path, "binary data (NUL bytes)", kind="binary", line=lineno)
                continue
            try:
                yield lineno, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield lineno, ReadError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start}); JSON Lines "
                                              "files must be UTF-8", kind="encoding", line=lineno)


def read_jsonl(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """JSON Lines: one article per line, ``{"title", "text", "url"?, "date"?, "source"?}``.

    A broken line (malformed JSON, no "text", not UTF-8, too long) is reported with its number
    and skipped; the good lines are kept.
    """
    docs: list[Document] = []
    for lineno, line in _jsonl_lines(path):
        if isinstance(line, ReadError):
            record_problem(problems, path, line.reason, line.kind, lineno)
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            record_problem(problems, path, f"malformed JSON ({exc.msg}), line skipped", "bad-line", lineno)
            continue
        if not isinstance(record, dict):
            record_problem(problems, path, f"expected a JSON object, got {type(record).__name__}", "bad-line", lineno)
            continue
        text = record.get("text")
        if not isinstance(text, str):
            record_problem(problems, path, 'missing "text" string field', "bad-line", lineno)
            continue
        title = str_field(record, "title") or None
        cleaned = clean_article(text, title=title)
        meta = {k: str_field(record, k) for k in ("url", "date", "source", "author")}
        # The record's own "source" wins over a source line found in the text.
        doc = make_document(cleaned, path, fmt="jsonl",
                            meta=meta, extra={"line": lineno}, explicit_source=meta["source"])
        if doc:
            docs.append(doc)
        else:
            record_problem(problems, path, NO_TEXT, "empty", lineno)
    return docs
