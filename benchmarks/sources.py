"""The material the generated indexes are made of: the dev set's cached evaluation index and the
bundled articles, copied (with perturbed vectors) up to any size."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.encoder import Encoder
    from embeddings.stores import VectorStore
    from embeddings.stores.faiss import FaissStore
    from evaluation.datasets import QASet
    from qa.pipeline import Pipeline

import numpy as np

__all__ = ["dev_questions", "real_sources", "synthetic_index"]


def real_sources(data: Path, encoder: Encoder | None = None) -> tuple[QASet, Pipeline, Pipeline]:
    """The real material the generated indexes are made of: the QA set, the pipeline over
    its contexts (the cached index of ``python -m evaluation``) and the bundled-corpus index."""
    from corpus import load_bundled
    from evaluation.datasets import load_qa_set
    from evaluation.harness import build_pipeline
    from qa import Pipeline, QAConfig

    qa_set = load_qa_set(data)
    dev, _ = build_pipeline(qa_set, encoder=encoder, progress=False)
    bundled = Pipeline(QAConfig(), encoder=dev.encoder)  # the default index in the cache dir
    bundled.add_documents(load_bundled())
    return qa_set, dev, bundled


def synthetic_index(sources: list[VectorStore], n: int, *, noise: float = 0.025, seed: int = 0) -> FaissStore:
    """An in-memory index of ``n`` passages made of the real passages of ``sources``.

    Copy 0 of every real passage is the passage itself (text, BM25 terms, sentence spans,
    passage and sentence vectors). Further copies (while ``n`` exceeds the real passages)
    are one-passage documents with the same text under a numbered title, one extra BM25 term
    (``copyN``), and their passage and sentence vectors perturbed by Gaussian noise of
    ``noise`` per dimension (renormalized: cosine ~0.9 to the original at 0.025), so that
    copies do not tie. Search cost depends on the number of passages, sentences and terms,
    which this reproduces; it does not reproduce a larger vocabulary.
    """
    from corpus.document import Chunk, Document
    from embeddings.stores.faiss import FaissStore

    rng = np.random.default_rng(seed)
    first = sources[0]
    big = FaissStore.create(None, model=first.model_name, fingerprint=first.manifest["model"]["fingerprint"],
                             probe=first.manifest["model"]["probe"], dim=first.dim,
                             chunking=first.manifest["chunking"])
    base = []
    for src in sources:
        pids = list(src.passages)
        vecs = src.vectors(pids)
        for pid, v in zip(pids, vecs):
            base.append((src, src.passages[pid], v, src.sentence_vectors.get(pid)))
    for i in range(n):
        src, p, v, sv = base[i % len(base)]
        copy = i // len(base)
        title = src.documents[p.doc_id].title
        doc = Document.create(f"{title} (#{copy})" if copy else title, p.text)
        if doc.id in big:  # two identical real passages: make the second distinct
            doc = Document.create(f"{title} (#{copy}.{i})", p.text)
        sents = tuple((a - p.start, b - p.start) for a, b in p.sentences)
        chunk = Chunk(doc.id, 0, 0, len(p.text), p.text, sents, p.n_tokens)
        terms = p.extra.get("terms", [])
        if copy:
            v = v + noise * rng.standard_normal(v.shape).astype(np.float32)
            v /= np.linalg.norm(v)
            if sv is not None:
                sv = sv.astype(np.float32) + noise * rng.standard_normal(sv.shape).astype(np.float32)
                sv /= np.linalg.norm(sv, axis=1, keepdims=True)
            terms = terms + [f"copy{copy}"]
        big.add(doc, [chunk], v[None, :], [{"terms": terms}], None if sv is None else [sv])
    return big


def dev_questions(qa_set: QASet, n: int) -> list[tuple[str, tuple[str, ...]]]:
    """``n`` questions of the QA set, Vietnamese and English alternating, with gold answers."""
    out = []
    for q in qa_set.questions:
        for lang in ("vi", "en"):
            text = q.text(lang)
            if text and len(out) < n:
                out.append((text, q.answers))
    return out
