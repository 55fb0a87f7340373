"""What the Milvus store needs of ``pymilvus`` beyond its calls: clients for a Milvus Lite file
(one embedded server per file and process, released with its last user) or a server, the filter
expression equivalent to :meth:`PassageFilter.matches`, and full scans of a collection."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

from .base import PassageFilter, StoreUnavailableError

__all__ = ["connect", "filter_expression", "quote", "release", "scan"]


def quote(s: str) -> str:
    """A Milvus filter-expression string literal."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _date_upper(date_to: str) -> str:
    """The smallest string above every date that ``date_to`` includes (prefix bound)."""
    return date_to[:-1] + chr(ord(date_to[-1]) + 1)


def filter_expression(flt: PassageFilter | None) -> str:
    """The Milvus boolean expression over passage rows equivalent to ``flt.matches``."""
    if flt is None or flt.empty:
        return ""
    parts = []
    if flt.sources:
        parts.append(f"source in [{', '.join(quote(s) for s in flt.sources)}]")
    if flt.doc_ids:
        parts.append(f"doc_id in [{', '.join(quote(s) for s in flt.doc_ids)}]")
    if flt.date_from or flt.date_to:
        parts.append('date != ""')
        if flt.date_from:
            parts.append(f"date >= {quote(flt.date_from)}")
        if flt.date_to:
            parts.append(f"date < {quote(_date_upper(flt.date_to))}")
    return " and ".join(parts)


#: Open stores per Milvus Lite file in this process: the embedded server of a file (and its
#: lock, which keeps other processes out) is released when the last store on it is closed.
_LITE_USERS: dict[str, int] = {}


def _lite_path(uri: str) -> str | None:
    return str(Path(uri).expanduser().resolve()) if uri.endswith(".db") else None


def connect(uri: str) -> MilvusClient:
    """A client for ``uri``: a Milvus Lite file (its folder created; one embedded server per file and
    process, counted) or a server URL."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StoreUnavailableError("the Milvus store needs pymilvus (and milvus-lite for a local .db file): "
                           "pip install -r requirements.txt") from exc
    lite = _lite_path(uri)
    if lite is not None:
        Path(lite).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(lite)
        except Exception as exc:
            if "lock" in str(exc).lower():
                raise StoreUnavailableError(f"the Milvus Lite file {lite} is open in another process; a Lite file "
                                   "serves one process at a time (use a Milvus server to share an index)") from exc
            raise
        _LITE_USERS[lite] = _LITE_USERS.get(lite, 0) + 1
        return client
    return MilvusClient(uri)


def release(client: MilvusClient, uri: str) -> None:
    """Close a client from :func:`connect` (and the embedded server when it was the last one)."""
    client.close()
    lite = _lite_path(uri)
    if lite is not None and lite in _LITE_USERS:
        _LITE_USERS[lite] -= 1
        if _LITE_USERS[lite] <= 0:
            del _LITE_USERS[lite]
            try:
                from milvus_lite.server_manager import server_manager_instance
            except ImportError:  # pragma: no cover - another Milvus Lite version
                return
            server_manager_instance.release_server(lite)


@contextlib.contextmanager
def _quiet_iterator():
    """Milvus Lite does not implement the timestamp call a query iterator starts with; pymilvus
    falls back to a client-side timestamp (correct here: one writer, strong consistency) but
    logs a warning and the embedded server a traceback. Hide those two, only while scanning."""
    loggers = [logging.getLogger(name) for name in ("grpc._server", "pymilvus")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def scan(client: MilvusClient, collection: str, fields: list[str], batch: int = 4096) -> Iterator[dict]:
    """Every row of ``collection`` (query_iterator: Milvus caps one query at 16,384 rows)."""
    with _quiet_iterator():
        it = client.query_iterator(collection, batch_size=batch, output_fields=fields)
        try:
            while True:
                rows = it.next()
                if not rows:
                    break
                yield from rows
        finally:
            it.close()
