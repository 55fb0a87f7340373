"""What the Milvus behind a ``pymilvus.MilvusClient`` can do, from its version.

The Milvus store serves three engines with one client (pymilvus 3.0.2):

- Milvus Lite 3.x (``milvus-lite``, a ``.db`` file): reports ``milvus_lite-3.2.2``; has sparse
  vectors and the BM25 function (Python re-implementation);
- the embedded standalone server of the ``milvus`` package 2.3.5 (the tests' real server):
  reports ``v2.3.5-lite``; no sparse vectors, no BM25 function;
- a Milvus standalone/cluster 2.4/2.5/2.6: reports e.g. ``v2.5.4`` or ``2.6.6``; sparse vectors
  from 2.4, the BM25 function (full-text search) from 2.5.

:func:`detect` reads the version once (``GetVersion``, one round trip) and returns
:class:`MilvusFeatures`; the store picks its lexical path from it (Milvus BM25 on 2.5+ and Lite,
a fallback on older servers: docs/scale-out-notes.md). :func:`probe_bm25` checks the claim by
trying (creates and drops a scratch collection): the tests use it to keep the version rule
honest; production code need not call it.

Quirks measured here that callers must handle (the helpers below do):

- pymilvus 3 sends index parameters flattened (``bm25_k1`` as its own key); Milvus Lite 3.2.2
  reads them only from a nested ``params`` JSON and silently used k1=1.5 otherwise.
  :func:`bm25_index_params` sends both forms.
- Milvus Lite returns BM25 hits with *negative* distances (its internal "smaller is better"
  convention), the server with positive scores. :func:`bm25_score` normalizes.
- Milvus Lite 3.2.2 knows only the ``standard`` and ``jieba`` tokenizers (``whitespace`` is
  refused: "unknown tokenizer type"), and ``standard`` splits on ``~``/``@`` (and a server's
  ``standard`` on ``_``): pre-tokenized terms go in encoded by :func:`encode_term` into tokens
  of ``[a-z0-9]`` that every tokenizer keeps whole.
- Milvus Lite computes BM25 statistics per segment (its own TODO): exact only while the
  collection is one segment (up to 100,000 rows and 128 MB unflushed); Milvus 2.5+ servers
  keep collection-wide statistics.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

__all__ = ["MilvusFeatures", "detect", "parse_version", "probe_bm25", "bm25_index_params", "bm25_score",
           "encode_term", "encode_terms", "ANALYZER_PARAMS"]

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
#: The analyzer of the BM25 text field: tokens from :func:`encode_term` survive it on every engine.
ANALYZER_PARAMS = {"tokenizer": "standard"}


@dataclass(frozen=True)
class MilvusFeatures:
    """Capabilities of one Milvus endpoint (see the module docstring)."""

    version: str  # as the server reports it
    engine: str  # "milvus-lite" (the milvus-lite package) or "milvus" (a server)
    release: tuple[int, int, int]  # the Milvus (server) or milvus-lite release
    has_sparse: bool  # SPARSE_FLOAT_VECTOR fields (Milvus 2.4+, Lite 3)
    has_bm25_function: bool  # FunctionType.BM25 full-text search (Milvus 2.5+, Lite 3)
    #: BM25 IDF/avgdl over the whole collection (servers) rather than per segment (Lite)
    bm25_global_stats: bool

    @property
    def lexical_path(self) -> str:
        """``"milvus-bm25"`` where Milvus can run the lexical channel, else ``"fallback"``."""
        return "milvus-bm25" if self.has_bm25_function else "fallback"


def parse_version(version: str) -> tuple[str, tuple[int, int, int]]:
    """(engine, release) from a ``get_server_version()`` string.

    >>> parse_version("milvus_lite-3.2.2")
    ('milvus-lite', (3, 2, 2))
    >>> parse_version("v2.3.5-lite")     # the ``milvus`` package's standalone server, not Milvus Lite
    ('milvus', (2, 3, 5))
    >>> parse_version("2.6.6")
    ('milvus', (2, 6, 6))
    """
    v = version.strip()
    engine = "milvus-lite" if v.lower().startswith(("milvus_lite", "milvus-lite")) else "milvus"
    m = _VERSION.search(v)
    if not m:
        raise ValueError(f"cannot read a Milvus version from {version!r}")
    return engine, (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def features_of(version: str) -> MilvusFeatures:
    """The capabilities implied by a version string (no server call)."""
    engine, rel = parse_version(version)
    if engine == "milvus-lite":
        lite3 = rel >= (3, 0, 0)  # milvus-lite 2.x was the C++ engine without the BM25 function
        return MilvusFeatures(version, engine, rel, has_sparse=lite3, has_bm25_function=lite3,
                              bm25_global_stats=False)
    return MilvusFeatures(version, engine, rel, has_sparse=rel >= (2, 4, 0), has_bm25_function=rel >= (2, 5, 0),
                          bm25_global_stats=rel >= (2, 5, 0))


def detect(client: MilvusClient) -> MilvusFeatures:
    """The capabilities of the Milvus behind ``client`` (one ``GetVersion`` call)."""
    return features_of(str(client.get_server_version()))


def bm25_index_params(k1: float, b: float) -> dict:
    """``params`` for ``IndexParams.add_index(..., index_type="SPARSE_INVERTED_INDEX",
    metric_type="BM25", params=...)`` that every engine reads: flat keys (servers) and the same
    in a nested ``params`` (Milvus Lite 3.2.2 reads only that one; without it, k1 was 1.5)."""
    flat = {"bm25_k1": float(k1), "bm25_b": float(b)}
    return dict(flat, params=dict(flat))


def bm25_score(distance: float) -> float:
    """A BM25 hit's score, positive on every engine (Milvus Lite reports ``-score``).

    Milvus' BM25 keeps the ``(k1 + 1)`` factor of the classic formula; bm25s' Lucene variant
    (the FAISS path) drops it: Milvus score = (k1 + 1) x bm25s score, the same ranking.
    """
    return abs(float(distance))


def encode_term(term: str) -> str:
    """A lexical term (``ngoại_trưởng``, ``~ngoai``, ``@john_kerry``) as one token of
    ``[a-z0-9]`` (``t`` + 13 base-32 characters of a 64-bit BLAKE2b): kept whole by the
    standard tokenizer of Milvus Lite and of servers, and by ``whitespace``; its lowercasing
    changes nothing. Deterministic across processes and machines (writers and readers agree)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return "t" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def encode_terms(terms: Iterable[str]) -> str:
    """The BM25 text field of a passage (or a query): its encoded terms, space-separated, with
    repeats (term frequency counts, on both sides, as in bm25s)."""
    return " ".join(map(encode_term, terms))


def probe_bm25(client: MilvusClient, *, keep_on_error: bool = False) -> bool:
    """Whether the BM25 function really works: create a scratch collection with a BM25 text
    field, insert two rows, search, drop it. Needs the right to create collections.

    On Milvus 2.3.5 creating such a collection *half succeeds*: the collection is created (the
    function is ignored) and its sparse index is refused ("create index on 104 field is not
    supported"); the scratch collection is dropped either way.
    """
    from pymilvus import DataType, Function, FunctionType

    name = f"_vnnews_probe_bm25_{uuid.uuid4().hex[:8]}"
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("terms", DataType.VARCHAR, max_length=1024, enable_analyzer=True,
                         analyzer_params=ANALYZER_PARAMS)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["terms"], output_field_names=["sparse"]))
        ip = client.prepare_index_params()
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params=bm25_index_params(1.2, 0.75))
        client.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong")
        client.insert(name, [{"id": 1, "terms": encode_terms(["hà_nội", "~ha"])},
                             {"id": 2, "terms": encode_terms(["sài_gòn"])}])
        hits = client.search(name, data=[encode_terms(["hà_nội"])], anns_field="sparse", limit=2,
                             search_params={"metric_type": "BM25"})
        return [h["id"] for h in hits[0]] == [1]
    except Exception:  # noqa: BLE001 - any refusal means "no"
        if keep_on_error:
            raise
        return False
    finally:
        try:
            if client.has_collection(name):
                client.drop_collection(name)
        except Exception:  # noqa: BLE001 - the server may be gone; nothing else to clean
            pass
