"""The collections of one Milvus store (layout :data:`FORMAT`), created once by whoever comes first.

==============================  ===========================================================
``<name>``                      passages: ``id`` (INT64), ``vector``, ``doc_id``/``source``/
                                ``date`` (filterable copies of the document's fields),
                                ``data`` (JSON: chunk index, offsets, text, sentence spans,
                                token count), ``extra`` (JSON: the BM25 terms, read only by
                                copies and listings), and the lexical field(s) of the
                                collection's path (:mod:`embeddings.stores.milvus_lexical`):
                                ``bm25_text`` + ``bm25_sparse`` (BM25 function), or ``terms``
``<name>_sentences``            one row per passage sentence: its vector, ``passage_id``,
                                ``pos`` and ``doc_id``/``source``/``date`` (so the sentence
                                search filters like the passage search)
``<name>_documents``            one row per cleaned document: ``id``, ``key`` (a 63-bit hash
                                of the id: scans cut it in ranges), ``data`` (JSON: title,
                                outlet, url, date, path, metadata, passage count, when added)
                                and ``text_parts`` (the text in 16,000-character pieces:
                                citations are spans of it)
``<name>_meta``                 the manifest: layout version, model name, fingerprint, probe,
                                dimension, chunking, vector index, lexical path
==============================  ===========================================================

Milvus requires a vector field in every collection: the documents and meta collections carry a
constant 2-dimensional placeholder vector that nothing searches.

Consistency: the data collections are created ``Bounded`` and every read asks for ``Session``
(a writer sees its own rows at once, other writers' within the staleness bound); ``Strong``
costs a wait for the next time tick, 200 ms per read on a 2.3.5 server, which a question with
~10 reads cannot afford. The manifest is read ``Strong`` (once per open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import BM25_B, BM25_K1
from .milvus_lexical import add_bm25_fields, add_fallback_terms_field

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

__all__ = ["FORMAT", "PLACEHOLDER", "SUFFIXES", "create_collections", "drop_collections"]

#: Layout version of the Milvus collections. 1: the first layout (every process loaded all
#: passages, terms and sentence vectors on open; no lexical field, no filter fields on sentences).
FORMAT = 2
#: Placeholder vector of the documents and meta collections (Milvus needs one per collection).
PLACEHOLDER = [1.0, 0.0]
#: The collections of one store: ``<name><suffix>``.
SUFFIXES = ("", "_sentences", "_documents", "_meta")
#: Consistency the data collections are created with (every read passes its own, see above).
CREATE_CONSISTENCY = "Bounded"


def create_collections(client: MilvusClient, name: str, dim: int, index: dict, lexical: str) -> None:
    """Create the store's collections that do not exist yet (see the module docstring);
    ``lexical``: ``"milvus-bm25"`` or ``"fallback"``. A collection whose creation fails half-way
    (Milvus 2.3 creates the collection, then refuses a sparse index) is dropped again."""
    from pymilvus import DataType

    def create(cname: str, fields: list[tuple], vector_dim: int, index_type: str = "FLAT",
               params: dict | None = None, pk: tuple = ("id", DataType.INT64, {}), lexical_path: str | None = None,
               consistency: str = CREATE_CONSISTENCY) -> None:
        if client.has_collection(cname):
            return
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(pk[0], pk[1], is_primary=True, **pk[2])
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vector_dim)
        for fname, ftype, kw in fields:
            schema.add_field(fname, ftype, **kw)
        ip = client.prepare_index_params()
        ip.add_index("vector", index_type=index_type, metric_type="IP", params=params or {})
        if lexical_path == "milvus-bm25":
            add_bm25_fields(schema, ip, k1=BM25_K1, b=BM25_B)
        elif lexical_path == "fallback":
            add_fallback_terms_field(schema)
        try:
            client.create_collection(cname, schema=schema, index_params=ip, consistency_level=consistency)
        except Exception:
            if client.has_collection(cname):
                client.drop_collection(cname)
            raise

    key = {"max_length": 512}
    filterable = [("doc_id", DataType.VARCHAR, key), ("source", DataType.VARCHAR, key),
                  ("date", DataType.VARCHAR, {"max_length": 64})]
    create(name, [*filterable, ("data", DataType.JSON, {}), ("extra", DataType.JSON, {})],
           dim, index["index_type"], index.get("params"), lexical_path=lexical)
    create(name + "_sentences", [("passage_id", DataType.INT64, {}), ("pos", DataType.INT64, {}), *filterable], dim)
    create(name + "_documents", [("key", DataType.INT64, {}), ("data", DataType.JSON, {}),
                                 ("text_parts", DataType.ARRAY, {"element_type": DataType.VARCHAR,
                                                                 "max_capacity": 4096, "max_length": 65535})],
           len(PLACEHOLDER), pk=("id", DataType.VARCHAR, key))
    create(name + "_meta", [("value", DataType.JSON, {})], len(PLACEHOLDER),
           pk=("key", DataType.VARCHAR, {"max_length": 64}), consistency="Strong")


def drop_collections(client: MilvusClient, name: str) -> None:
    """Drop every collection of the store ``name`` (tests, or replacing an old-layout store)."""
    for suffix in SUFFIXES:
        if client.has_collection(name + suffix):
            client.drop_collection(name + suffix)
