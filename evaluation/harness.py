"""Evaluation harness: retrieval and answer quality on an MLQA-style QA set (``python -m evaluation``,
see :mod:`evaluation.cli`; the data sets: :mod:`evaluation.datasets`).

All contexts go into one index, cached under ``cache_dir()/eval-indexes/`` so later runs skip
embedding. Each question is asked twice (Vietnamese and English text) through every retrieval
method, over the same passages and encoder. Per method and language it reports:

* retrieval: recall@1/5/20 and MRR@10 of the gold context, where a context's rank is the rank
  of its first passage in the passage ranking (contexts deduplicated, ranking depth 50);
* answers (``Pipeline.ask``): answer containment (a gold answer occurs in the answer text,
  compared after NFC + tone normalization + casefold + whitespace collapsing, citation
  markers removed), citation precision (share of all citations whose passage contains a gold
  answer), share of questions answered (at least one citation), mean answer length in words
  (answered questions), and ``ask()`` latency p50/p95;
* refusals: the refusal rate on the (all answerable) QA set's questions, and the false-answer
  rate on an unanswerable set (``--unanswerable``, default
  ``evaluation/evalsets/unanswerable-vnnews.jsonl``): share of its questions that got an answer
  instead of a refusal, overall and for the "absent" (topic not covered) and "near-miss"
  (known entities, absent fact) kinds. Rows marked ``"corpus": "dev"`` are asked against
  the QA set's index, rows marked ``"bundled"`` against an index of the bundled articles
  (built in memory with the same encoder), each with the method under evaluation.

Results go to ``<out>/eval.json`` (numbers, per-question details and run metadata) and
``<out>/eval.md`` (the table), and the table is printed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.encoder import Encoder
    from qa.pipeline import Pipeline

from corpus.document import Document
from corpus.normalize import normalize_text
from qa.config import DEFAULT_RETRIEVAL, RETRIEVAL_METHODS, QAConfig

from .answerers import FoldRouter, answerer_pipeline, pipe_for
from .datasets import QASet, UnanswerableQuestion, dev_fold
from .metrics import (
    answer_em,
    answer_f1,
    answer_rate,
    contains_answer,
    context_rank,
    mean,
    mrr_at_k,
    percentile,
    recall_at_k,
    strip_citation_markers,
    word_count,
)
from .report import git_info, machine_info, model_info

__all__ = ["LANGUAGES", "METHODS", "build_pipeline", "eval_index_dir", "method_pipeline", "prepare_queries", "run_eval"]

log = logging.getLogger(__name__)

#: Methods in the table's order: the peers first, the product's default last.
METHODS = (*(m for m in RETRIEVAL_METHODS if m != DEFAULT_RETRIEVAL), DEFAULT_RETRIEVAL)
LANGUAGES = ("vi", "en")
#: Passages ranked per question for the retrieval metrics.
RANK_DEPTH = 50
RECALL_KS = (1, 5, 20)
MRR_K = 10


def eval_index_dir(qa: QASet, config: QAConfig, precision: str | None = None) -> Path:
    """Cache folder of the index over ``qa``: keyed by the contexts file, the model, chunking
    and the encoder precision (``precision``, else ``config``'s resolved for its device), so
    that a bf16 run never reuses fp32 vectors (their probes match, see Encoder.same_model_as)."""
    from embeddings.encoder import resolve_precision
    from qa.config import cache_dir

    # "sentence-vectors": indexes built before passages stored their sentence vectors are rebuilt
    parts = [qa.contexts_sha256, str(config.embedding_model), str(config.chunk_tokens),
             str(config.chunk_overlap_tokens), "sentence-vectors"]
    precision = precision or resolve_precision(config.encoder_precision, config.device)
    if precision != "fp32":  # fp32 keeps the key of the caches made before precisions existed
        parts.append(f"precision={precision}")
    key = "\n".join(parts)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "eval-indexes" / f"{qa.name}-{digest}"


def build_pipeline(qa: QASet, config: QAConfig | None = None, *, encoder: Encoder | None = None, cache: bool = True,
                   rebuild: bool = False, progress: bool = True) -> tuple[Pipeline, dict]:
    """A pipeline whose index holds exactly the contexts of ``qa``; returns (pipeline, index info).

    ``cache=True`` keeps the index under :func:`eval_index_dir` (reused when it matches,
    rebuilt when it was made by another model or holds other documents); ``rebuild`` deletes
    it first; ``cache=False`` builds in memory.
    """
    from embeddings.stores import IndexMismatchError
    from qa.pipeline import Pipeline

    config = (config or QAConfig()).with_(retrieval="dense")  # the base pipeline only indexes
    docs = qa.documents()
    wanted = {d.id for d in docs}
    path = eval_index_dir(qa, config, getattr(encoder, "precision", None)) if cache else None
    if path is not None and rebuild and path.exists():
        shutil.rmtree(path)
    t0 = time.perf_counter()
    if path is None:
        pipe = Pipeline(config, encoder=encoder, in_memory=True)
    else:
        cfg = config.with_(index_dir=path)
        if encoder is None:  # loaded once, also when the cached index has to be rebuilt
            encoder = Pipeline(config, in_memory=True).encoder
        try:
            pipe = Pipeline(cfg, encoder=encoder)
            stale = set(pipe.index.documents) - wanted
            reason = f"it holds {len(stale)} documents not in the QA set" if stale else None
        except IndexMismatchError as exc:
            reason = str(exc)
        if reason:
            log.warning("rebuilding the cached eval index at %s: %s", path, reason)
            shutil.rmtree(path)
            pipe = Pipeline(cfg, encoder=encoder)
    rechunked = _drop_rechunked(pipe, docs) if path is not None else []
    try:
        report = pipe.add_documents(docs, progress=progress)
    except Exception:
        # The documents are committed before the retriever refreshes its own state (BM25 ...).
        # The base pipeline's retriever is never used for ranking (each method gets its own
        # pipeline, whose failure becomes an error row), so a broken refresh is not fatal here.
        if wanted - set(pipe.index.documents):
            raise
        log.warning("retriever refresh failed after indexing; continuing:\n%s", traceback.format_exc())
        report = None
    info = {
        "path": str(path) if path else None,
        "cached": report is not None and not report.added,
        "added_documents": len(report.added) if report is not None else None,
        "build_seconds": round(time.perf_counter() - t0, 3),
        "embed_seconds": round(report.seconds, 3) if report is not None else None,
        "rechunked_documents": len(rechunked),
        "documents": len(pipe.index.documents),
        "passages": len(pipe.index),
    }
    return pipe, info


def _drop_rechunked(pipe: Pipeline, docs: Sequence[Document]) -> list[str]:
    """Remove from a cached index the documents the current chunker splits differently.

    The cache key cannot see code changes (chunking, sentence splitting, what is stored per
    passage); re-chunking costs only tokenization, so every cached document is checked and the
    changed ones (or those without stored sentence vectors) re-embedded.
    """
    stored: dict[str, list[tuple[int, int, int]]] = {}
    for p in pipe.index.passages.values():
        stored.setdefault(p.doc_id, []).append((p.index, p.start, p.end))
    # Passages indexed before sentence vectors were stored lack them (hybrid needs them).
    sentence_vectors = getattr(pipe.index, "sentence_vectors", None)
    unvectored = ({p.doc_id for pid, p in pipe.index.passages.items() if pid not in sentence_vectors}
                  if isinstance(sentence_vectors, dict) else set())
    changed = []
    for doc in docs:
        if doc.id not in pipe.index:
            continue
        if doc.id in unvectored or sorted(stored.get(doc.id, [])) != [(c.index, c.start, c.end)
                                                                      for c in pipe.chunk(doc)]:
            changed.append(doc.id)
    if changed:
        log.warning("re-embedding %d cached documents whose chunks changed", len(changed))
        for doc_id in changed:
            pipe.index.remove(doc_id)
    return changed


def method_pipeline(base: Pipeline, method: str) -> Pipeline:
    """A pipeline with retrieval ``method`` over the index and encoder of ``base`` (no re-embedding)."""
    from qa.pipeline import Pipeline

    return Pipeline(base.config.with_(retrieval=method), encoder=base.encoder, index=base.index)


def prepare_queries(base: Pipeline, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> list:
    """``base.query(t)`` for every text, with the embeddings computed in batches.

    Batching makes the retrieval part several times faster on CPU. The first text is also
    prepared by ``base.query`` itself; should the two disagree (the pipeline's query
    preparation changed), every text goes through ``base.query`` one by one.
    """
    from tqdm.auto import tqdm

    from qa.retrieval import Query
    from qa.text.language import detect_language

    if not texts:
        return []
    out = []
    bar = tqdm(total=len(texts), desc="queries", unit="q", disable=not progress)
    for i in range(0, len(texts), batch_size):
        norm = [normalize_text(t.strip()) for t in texts[i:i + batch_size]]
        vecs = base.encoder.encode_queries(norm)
        out.extend(Query(text=t, language=detect_language(t), vector=v) for t, v in zip(norm, vecs))
        bar.update(len(norm))
    bar.close()
    ref = base.query(texts[0])
    if (ref.text, ref.language) != (out[0].text, out[0].language) or float(ref.vector @ out[0].vector) < 0.999:
        log.warning("batched query preparation differs from Pipeline.query; preparing one by one")
        out = [base.query(t) for t in tqdm(texts, desc="queries", unit="q", disable=not progress)]
    return out


def run_eval(base: Pipeline, qa: QASet, methods: Sequence[str] = METHODS, *, answers: bool = True,
             limit: int | None = None, languages: Sequence[str] = LANGUAGES, depth: int = RANK_DEPTH,
             factory: Callable[[object, str], object] | None = None, progress: bool = True,
             unanswerable: Sequence[UnanswerableQuestion] = (), bundled_base: Pipeline | None = None,
             answerers: Sequence[str] | None = None, reader_folds: Path | None = None,
             reader_margins: dict[int, float | dict] | None = None) -> dict:
    """Evaluate every method in ``methods`` on ``qa`` with the index of ``base``.

    ``base`` is a pipeline whose index holds the documents of ``qa`` (see :func:`build_pipeline`);
    ``factory(base, method)`` makes the pipeline of one method (default :func:`method_pipeline`).
    A method that raises gets an error row instead of numbers; the others still run.
    With ``answers``, each ``unanswerable`` question is asked too: "dev" rows through the
    method's pipeline, "bundled" rows through ``factory(bundled_base, method)`` (skipped
    when ``bundled_base`` is None).
    ``answerers``: the answerers to compare on the same retrieval (default: the configured
    one), a row each; the reader with ``reader_folds`` is the k-fold reader (:class:`FoldRouter`).
    Returns ``{"meta": {...}, "results": [row per method x answerer x language]}``.
    """
    factory = factory or method_pipeline
    t_start = time.perf_counter()
    questions = qa.questions[:limit] if limit is not None else list(qa.questions)
    doc_of = {c.context_id: c.to_document().id for c in qa.contexts}
    missing = set(doc_of.values()) - set(base.index.documents)
    if missing:
        raise ValueError(f"the index lacks {len(missing)} documents of the QA set; add them first")
    passage_doc = {pid: p.doc_id for pid, p in base.index.passages.items()}

    # Each question is embedded once per language and the Query reused by every method's ranking.
    items = [(lang, q) for lang in languages for q in questions if q.text(lang)]
    prepared = prepare_queries(base, [q.text(lang) for lang, q in items], progress=progress)
    queries = {(lang, q.id): pq for (lang, q), pq in zip(items, prepared)}

    answerers = list(answerers or [base.config.answerer])
    results: list[dict] = []
    for method in methods:
        for answerer in answerers:
            try:
                pipe = answerer_pipeline(factory(base, method), answerer, reader_folds=reader_folds,
                                         reader_margins=reader_margins)
                rows = _eval_method(pipe, method, items, queries, doc_of, passage_doc,
                                    languages, answers=answers, depth=depth, progress=progress)
                if answers and unanswerable:
                    bpipe = (answerer_pipeline(factory(bundled_base, method), answerer, reader_folds=reader_folds,
                                               reader_margins=reader_margins) if bundled_base is not None else None)
                    _eval_unanswerable(rows, {"dev": pipe, "bundled": bpipe}, unanswerable)
            except Exception as exc:  # noqa: BLE001 - one broken method must not sink the run
                log.error("method %s (%s) failed:\n%s", method, answerer, traceback.format_exc())
                err = f"{type(exc).__name__}: {exc}"
                rows = [{"method": method, "language": lang, "error": err} for lang in languages]
            for r in rows:
                r["answerer"] = answerer
            results.extend(rows)
            if not answers:
                break  # retrieval rows do not depend on the answerer

    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "model": model_info(base),
        "config": {k: v for k, v in base.config.to_dict().items() if k != "retrieval"},  # per row: method
        "git": git_info(),
        "data": {"path": str(qa.path), "contexts": len(qa.contexts), "questions": len(qa.questions),
                 "questions_used": len(questions), "contexts_sha256": qa.contexts_sha256},
        "index": {"documents": len(base.index.documents), "passages": len(base.index)},
        "methods": list(methods), "languages": list(languages), "answers": answers, "limit": limit,
        "answerers": answerers, "reader_folds": str(reader_folds) if reader_folds else None,
        "reader_margins": reader_margins,
        "unanswerable": {"questions": len(unanswerable),
                         "bundled_index": bundled_base is not None and any(u.corpus == "bundled" for u in unanswerable)},
        "rank_depth": depth, "recall_ks": list(RECALL_KS), "mrr_k": MRR_K,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    return {"meta": meta, "results": results}


def _eval_method(pipe: Pipeline | FoldRouter, method: str, items: list, queries: dict, doc_of: dict, passage_doc: dict,
                 languages: Sequence[str], *, answers: bool,
                 depth: int, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm

    from qa.retrieval import Query

    per: dict[str, list[dict]] = {lang: [] for lang in languages}
    bar = tqdm(total=len(items) * (2 if answers else 1), desc=method, unit="q", disable=not progress)
    for lang, q in items:
        base_q = queries[lang, q.id]
        query = Query(text=base_q.text, language=base_q.language, vector=base_q.vector)
        t0 = time.perf_counter()
        ranking = pipe.retriever.rank(query, depth)
        rank_ms = (time.perf_counter() - t0) * 1000
        rank = context_rank((passage_doc[pid] for pid, _ in ranking[:depth]), doc_of[q.context_id])
        per[lang].append({"id": q.id, "rank": rank, "rank_ms": round(rank_ms, 3)})
        bar.update()
    answer_error = None
    if answers:
        try:
            rec = {lang: iter(per[lang]) for lang in languages}
            for lang, q in items:
                row = next(rec[lang])
                t0 = time.perf_counter()
                ans = pipe_for(pipe, q.context_id).ask(q.text(lang))
                ms = (time.perf_counter() - t0) * 1000
                cited = [c.passage_text for c in ans.citations]
                lead = ans.lead_source or ""  # the span as the source writes it (gold answers are Vietnamese)
                row.update({
                    "ask_ms": round(ms, 2),
                    "contained": contains_answer(strip_citation_markers(ans.text), q.answers),
                    "citations": len(cited),
                    "supported_citations": sum(contains_answer(p, q.answers) for p in cited),
                    "answered": bool(cited),
                    "words": word_count(ans.text),
                    "answer": ans.text,
                    "lead": ans.lead,
                    "lead_em": answer_em(lead, q.answers, "vi") if ans.citations else 0.0,
                    "lead_f1": answer_f1(lead, q.answers, "vi") if ans.citations else 0.0,
                    "confidence": ans.confidence,
                })
                if isinstance(pipe, FoldRouter):
                    row["fold"] = dev_fold(q.context_id)
                bar.update()
        except Exception as exc:  # noqa: BLE001 - keep the retrieval numbers of this method
            log.error("ask() failed for method %s:\n%s", method, traceback.format_exc())
            answer_error = f"{type(exc).__name__}: {exc}"
            for recs in per.values():
                for r in recs:
                    for key in ("ask_ms", "contained", "citations", "supported_citations", "answered", "words",
                                "answer", "lead", "lead_em", "lead_f1", "confidence", "fold"):
                        r.pop(key, None)
    bar.close()

    rows = []
    for lang in languages:
        recs = per[lang]
        ranks = [r["rank"] for r in recs]
        row: dict = {"method": method, "language": lang, "n": len(recs)}
        for k in RECALL_KS:
            row[f"recall@{k}"] = recall_at_k(ranks, k)
        row[f"mrr@{MRR_K}"] = mrr_at_k(ranks, MRR_K)
        row["rank_ms_p50"] = percentile([r["rank_ms"] for r in recs], 50)
        if answer_error:
            row["answer_error"] = answer_error
        elif answers:
            answered = [r for r in recs if r["answered"]]
            lat = [r["ask_ms"] for r in recs]
            n_cit = sum(r["citations"] for r in recs)
            row.update({
                "containment": mean([float(r["contained"]) for r in recs]),
                # equal to citation_precision() on the cited passages; counts kept for pooling
                "citation_precision": (sum(r["supported_citations"] for r in recs) / n_cit) if n_cit else None,
                "citations": n_cit,
                "supported_citations": sum(r["supported_citations"] for r in recs),
                "answered": mean([float(r["answered"]) for r in recs]),
                "words_mean": mean([r["words"] for r in answered]),
                "words_median": percentile([r["words"] for r in answered], 50),
                "refusal_rate": 1 - mean([float(r["answered"]) for r in recs]) if recs else None,
                # the bold short answer against the gold answer (MLQA's F1/EM; refusals count 0)
                "lead_em": mean([r["lead_em"] for r in recs]),
                "lead_f1": mean([r["lead_f1"] for r in recs]),
                "latency_ms_p50": percentile(lat, 50),
                "latency_ms_p95": percentile(lat, 95),
            })
        row["per_question"] = recs
        rows.append(row)
    return rows


def _eval_unanswerable(rows: list[dict], pipes: dict[str, Pipeline | FoldRouter | None],
                       unanswerable: Sequence[UnanswerableQuestion]) -> None:
    """Ask the unanswerable questions and add false-answer rates to each language's row."""
    for row in rows:
        if "answer_error" in row or "containment" not in row:
            continue
        lang = row["language"]
        recs = []
        for u in unanswerable:
            pipe, text = pipes.get(u.corpus), u.text(lang)
            if pipe is None or not text:
                continue
            ans = pipe_for(pipe, u.id).ask(text)
            recs.append({"id": u.id, "corpus": u.corpus, "kind": u.kind, "set": u.set,
                         "answered": bool(ans.found and ans.citations),
                         "answer": ans.text, "confidence": ans.confidence})
        row["unanswerable_n"] = len(recs)
        row["false_answer_rate"] = answer_rate([r["answered"] for r in recs])
        for kind in ("absent", "near-miss"):
            row[f"false_answer_rate_{kind.replace('-', '_')}"] = answer_rate(
                [r["answered"] for r in recs if r["kind"] == kind])
        row["false_answer_rate_by_set"] = {s: answer_rate([r["answered"] for r in recs if r["set"] == s])
                                           for s in sorted({r["set"] for r in recs})}
        row["unanswerable"] = recs
