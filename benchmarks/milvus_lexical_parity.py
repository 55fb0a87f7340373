"""Does the lexical channel in Milvus rank like the FAISS path's bm25s? One run on one engine.

    python benchmarks/milvus_lexical_parity.py --uri /tmp/parity.db            # Milvus Lite: BM25 function
    python benchmarks/milvus_lexical_parity.py --uri http://127.0.0.1:19530    # a 2.3.5 server: fallback
    python benchmarks/milvus_lexical_parity.py --uri ... --path fallback       # force a path

Passages: the MLQA-vi dev contexts (title + text), terms from qa.retrieval.lexical.passage_terms;
questions: the Vietnamese and English dev questions, terms from query_terms (the project's own
analysis). Reference: bm25s with k1=1.2, b=0.75 over the same terms. Reports top-1 agreement,
top-10 overlap and the largest relative score difference (Milvus = (k1+1) x bm25s), per query ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "mlqa-vi-dev"


def load_terms(limit_docs: int | None = None, limit_queries: int | None = None,
               dev: Path = DEV) -> tuple[list[int], list[list[str]], list[list[str]]]:
    """(passage ids, passage term lists, query term lists) of the dev set, with the project's analysis."""
    from qa.retrieval.aliases import load_aliases
    from qa.retrieval.base import Query
    from qa.retrieval.lexical import passage_terms, query_terms
    from qa.text.language import detect_language

    aliases = load_aliases()
    ctx = [json.loads(line) for line in open(dev / "contexts.jsonl", encoding="utf-8")][:limit_docs]
    qs = [json.loads(line) for line in open(dev / "questions.jsonl", encoding="utf-8")]
    ids = [int.from_bytes(hashlib.blake2b(c["context_id"].encode(), digest_size=8).digest(), "big") >> 1 for c in ctx]
    docs = [passage_terms(f"{c['title']}\n{c['text']}", aliases) for c in ctx]
    queries = []
    for q in qs:
        for lang in ("vi", "en"):
            text = q[f"question_{lang}"]
            queries.append(query_terms(Query(text=text, language=detect_language(text)), aliases))
    return ids, docs, queries[:limit_queries]


def build(client: MilvusClient, name: str, ids: list[int], docs: list[list[str]], path: str, k1: float, b: float) -> None:
    from pymilvus import DataType

    from embeddings.stores.milvus_lexical import MAX_TERMS, add_bm25_fields, add_fallback_terms_field, bm25_text

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # every Milvus collection needs one
    schema.add_field("doc_id", DataType.VARCHAR, max_length=64)  # the store's searches return it
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")
    if path == "milvus-bm25":
        add_bm25_fields(schema, ip, k1=k1, b=b)
    else:
        add_fallback_terms_field(schema)
    client.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong")
    rows = []
    for pid, terms in zip(ids, docs):
        row = {"id": pid, "vector": [1.0, 0.0], "doc_id": str(pid)}
        if path == "milvus-bm25":
            row["bm25_text"] = bm25_text(terms)
        else:
            row["terms"] = list(terms)[:MAX_TERMS]
        rows.append(row)
    for i in range(0, len(rows), 200):
        client.insert(name, rows[i:i + 200])
    client.flush(name)


def compare(client: MilvusClient, name: str, ids: list[int], docs: list[list[str]], queries: list[list[str]],
            path: str, k1: float = 1.2, b: float = 0.75, k: int = 10,
            **fallback) -> dict:
    import bm25s

    from embeddings.stores.milvus_lexical import CandidateBM25, search_bm25

    ref = bm25s.BM25(k1=k1, b=b)
    ref.index(docs, show_progress=False)
    ids_arr = np.asarray(ids, dtype=np.int64)
    row_of = {pid: i for i, pid in enumerate(ids)}
    cand = CandidateBM25(client, name, k1=k1, b=b, **fallback) if path == "fallback" else None
    n = top1 = 0
    overlap = maxrel = 0.0
    cands = []
    t0 = time.perf_counter()
    for q in queries:
        known = [t for t in q if t in ref.vocab_dict]
        if not known:
            continue
        s = np.asarray(ref.get_scores(known), dtype=np.float64)  # both paths return bm25s's scale
        if not (s > 0).any():
            continue
        want = ids_arr[np.argsort(-s, kind="stable")[:k]]
        got = search_bm25(client, name, q, k, k1=k1) if cand is None else cand.search(q, k)
        if cand is not None:
            cands.append(cand.last["candidates"])
        n += 1
        top1 += bool(got) and (got[0][0] == want[0] or abs(got[0][1] - s.max()) <= 1e-5 * s.max())  # ties
        positive = int((s > 0).sum())
        overlap += len({p for p, *_ in got} & set(want.tolist()[:min(k, positive)])) / min(k, positive)
        for pid, score, *_ in got:
            r = s[row_of[pid]]
            maxrel = max(maxrel, abs(score - r) / max(r, 1e-9))
    out = {"path": path, "passages": len(ids), "queries": n, "top1_agree": top1 / n, "top10_overlap": overlap / n,
           "max_rel_score_diff": maxrel, "ms_per_query": 1000 * (time.perf_counter() - t0) / n}
    if cands:
        out["mean_candidates"] = float(np.mean(cands))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uri", required=True)
    ap.add_argument("--path", choices=("auto", "milvus-bm25", "fallback"), default="auto")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--per-term", type=int, default=400)
    ap.add_argument("--budget", type=int, default=2000)
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    from pymilvus import MilvusClient

    from embeddings.stores.milvus_features import detect

    client = MilvusClient(args.uri)
    feats = detect(client)
    path = feats.lexical_path if args.path == "auto" else args.path
    t = time.perf_counter()
    ids, docs, queries = load_terms(args.docs, args.queries)
    print(f"# {feats.version} ({feats.engine}); analysis of {len(docs)} passages and {len(queries)} questions: "
          f"{time.perf_counter() - t:.1f} s", file=sys.stderr)
    name = f"parity_{path.replace('-', '_')}_{int(time.time())}"
    t = time.perf_counter()
    build(client, name, ids, docs, path, 1.2, 0.75)
    print(f"# built {name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    try:
        res = compare(client, name, ids, docs, queries, path, per_term=args.per_term, budget=args.budget)
    finally:
        client.drop_collection(name)
        client.close()
    print(json.dumps(dict(res, version=feats.version)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
