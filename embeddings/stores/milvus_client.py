"""What the Milvus store needs of ``pymilvus`` beyond its calls: clients for a Milvus Lite file
(one embedded server per file and process, released with its last user) or a server, calls that
ride out a server restart (:class:`RetryingClient`), the filter expression equivalent to
:meth:`PassageFilter.matches`, and full scans of a collection.

Faults, as measured on a Milvus 2.3.5 standalone server (docs/scale-out-notes.md): a stopped
server fails every call at once ("Fail connecting to server", code 2); after a restart the same
client reconnects by itself, and reads fail with "collection not loaded" (code 101) until the
server has loaded the collection again (0-2.5 s). :class:`RetryingClient` retries both, with
backoff, for ``retry_s`` seconds (loading the collection itself on code 101), then raises
:class:`StoreUnavailableError` naming the server. Every call the store makes is safe to repeat:
writes are upserts of rows with stable ids, deletes are by id or by document.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

from .base import PassageFilter, StoreUnavailableError

__all__ = ["RetryingClient", "connect", "fault_kind", "filter_expression", "quote", "release", "scan"]

log = logging.getLogger(__name__)

#: Seconds a call is retried while the server is unreachable or reloading (QAConfig.vector_store_retry_s).
RETRY_S = 30.0


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


_UNAVAILABLE = ("fail connecting", "unavailable", "connection refused", "not ready", "deadline exceeded",
                "failed to connect", "connection reset", "socket closed", "no available", "stopping",
                # A restarted server's coordinators still address the old node ids for a moment:
                # "node not match[expectedNodeID=1][actualNodeID=2]", "session not found->datanode-1"
                # (seen on flush right after a restart on a loaded 2-core machine).
                "node not match", "node not found", "session not found", "channel not found",
                "shard delegator", "shard leader", "recovering")
_NOT_LOADED = ("not loaded", "collection not load", "not fully loaded")


def fault_kind(exc: BaseException) -> str | None:
    """``"unavailable"`` (server down or restarting), ``"not_loaded"`` (restarted, collection
    not loaded yet) or None (any other error: not retried) for an exception of a pymilvus call."""
    code = getattr(exc, "code", None)
    text = str(getattr(exc, "message", "") or exc).lower()
    if code == 101 or any(s in text for s in _NOT_LOADED):
        return "not_loaded"
    if any(s in text for s in _UNAVAILABLE):
        return "unavailable"
    try:
        import grpc
    except ImportError:  # pragma: no cover - pymilvus depends on grpcio
        return None
    if isinstance(exc, grpc.RpcError) and exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                                         grpc.StatusCode.DEADLINE_EXCEEDED):
        return "unavailable"
    return None


class RetryingClient:
    """A ``MilvusClient`` whose calls ride out a server restart (see the module docstring): a call
    that fails because the server is unreachable or has not loaded the collection yet is repeated
    with backoff (0.2 s doubling to 2 s) for ``retry_s`` seconds, then :class:`StoreUnavailableError`.
    Other errors pass through at once. Attributes that are not calls are the client's own."""

    def __init__(self, client: MilvusClient, uri: str, retry_s: float = RETRY_S,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.uri = uri
        self.retry_s = retry_s
        self._sleep = sleep

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.client, name)
        if not callable(attr) or name in ("close",):
            return attr

        def call(*args: object, **kwargs: object) -> object:
            return self.call(name, *args, **kwargs)

        return call

    def call(self, method: str, *args: object, **kwargs: object) -> object:
        """``client.<method>(*args, **kwargs)``, retried as the class docstring says."""
        deadline = time.monotonic() + self.retry_s
        delay = 0.2
        while True:
            try:
                return getattr(self.client, method)(*args, **kwargs)
            except Exception as exc:
                kind = fault_kind(exc)
                if kind is None:
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailableError(
                        f"the Milvus server at {self.uri} did not answer {method}() for {self.retry_s:g} s "
                        f"({'collection not loaded' if kind == 'not_loaded' else 'unreachable'}: "
                        f"{str(exc).strip()[:200]}); start it or check vector_store_uri, then retry") from exc
                log.info("Milvus %s() at %s: %s, retrying in %.1f s", method, self.uri, kind, delay)
                if kind == "not_loaded":
                    name = kwargs.get("collection_name", args[0] if args else None)
                    if isinstance(name, str):
                        with contextlib.suppress(Exception):  # the server loads it itself too
                            self.client.load_collection(name)
                self._sleep(delay)
                delay = min(2.0, delay * 2)


def connect(uri: str, retry_s: float = RETRY_S) -> RetryingClient:
    """A client for ``uri``: a Milvus Lite file (its folder created; one embedded server per file and
    process, counted) or a server URL (reachable within ``retry_s`` seconds, else
    :class:`StoreUnavailableError`)."""
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
        return RetryingClient(client, uri, retry_s)
    deadline = time.monotonic() + retry_s
    while True:
        try:
            client = RetryingClient(MilvusClient(uri), uri, max(0.0, deadline - time.monotonic()))
            # pymilvus shares one connection per URI between clients: construction alone proves
            # nothing about the server, a call does
            client.get_server_version()
            client.retry_s = retry_s
            return client
        except StoreUnavailableError:
            raise
        except Exception as exc:
            if fault_kind(exc) is None and "connect" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise StoreUnavailableError(f"the Milvus server at {uri} is unreachable ({str(exc).strip()[:200]}); "
                                            "start it or check vector_store_uri") from exc
            time.sleep(0.5)


def release(client: RetryingClient | MilvusClient, uri: str) -> None:
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


#: Rows per query of a scan (Milvus caps offset + limit of one query at 16,384).
SCAN_WINDOW = 8192
#: Ids (and the documents' ``key``) are 63-bit hashes, uniform in [0, 2**63).
_KEY_SPACE = 2**63


def scan(client: RetryingClient | MilvusClient, collection: str, fields: list[str], *, filter: str = "",
         key: str = "id", consistency_level: str = "Session") -> Iterator[dict]:
    """Every row of ``collection`` passing ``filter``. A full scan: for listings, copies and tests,
    never on a question's path.

    Not ``query_iterator``: on a 2.3.5 server it falls back to a client-side timestamp and missed
    rows written a moment before. Instead, ``key`` (an INT64 field holding a uniform 63-bit hash)
    is cut into ranges of about half a window each (from a ``count(*)``), one query per range;
    a range that still holds more than a window is halved."""
    amp = f" and ({filter})" if filter else ""
    rows = client.query(collection, filter=filter, output_fields=["count(*)"], consistency_level=consistency_level)
    total = int(rows[0]["count(*)"]) if rows else 0
    if not total:
        return
    parts = max(1, -(-2 * total // SCAN_WINDOW))
    bounds = [_KEY_SPACE * i // parts for i in range(parts + 1)]
    todo = list(zip(bounds[:-1], bounds[1:]))[::-1]
    while todo:
        lo, hi = todo.pop()
        got = client.query(collection, filter=f"{key} >= {lo} and {key} <= {hi - 1}{amp}", output_fields=fields,
                           limit=SCAN_WINDOW + 1, consistency_level=consistency_level)
        if len(got) <= SCAN_WINDOW or hi - lo < 2:
            yield from got
        else:
            mid = (lo + hi) // 2
            todo += [(mid, hi), (lo, mid)]
