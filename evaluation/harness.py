"""Evaluation harness: retrieval and answer quality on an MLQA-style QA set.

    python -m evaluation.harness                                  # full dev set, all methods, with answers
    python -m evaluation.harness --methods dense --no-answers     # retrieval only, one method
    python -m evaluation.harness --limit 50 --out /tmp/eval       # quick run on the first 50 questions
    python -m evaluation.harness --methods hybrid --answerer reader --reader-model PATH   # a QA model's answers

A QA set is a directory with ``contexts.jsonl`` (``{context_id, title, text}``) and
``questions.jsonl`` (``{id, question_vi, question_en, answers_vi: [...], context_id}``); every
context is a candidate for every question. The default points at the MLQA-vi dev set in the
shared workspace (CC BY-SA 3.0, see its README); nothing of it is copied into the repository.

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

import argparse
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from corpus.document import Document
from corpus.normalize import normalize_text
from embeddings.encoder import PRECISIONS

__all__ = [
    "EvalContext", "EvalQuestion", "QASet", "load_qa_set",
    "recall_at_k", "mrr_at_k", "context_rank", "answer_key", "contains_answer", "strip_citation_markers",
    "citation_precision", "percentile", "word_count", "UnanswerableQuestion", "load_unanswerable",
    "answer_rate", "DEFAULT_UNANSWERABLE",
    "eval_index_dir", "build_pipeline", "method_pipeline", "prepare_queries", "run_eval", "format_table", "write_results", "main",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "eval" / "mlqa-vi-dev"
DEFAULT_OUT = Path("bench-results") / "eval"
DEFAULT_UNANSWERABLE = Path(__file__).resolve().parent / "evalsets" / "unanswerable-vnnews.jsonl"
METHODS = ("dense", "bm25", "rrf", "hybrid")
LANGUAGES = ("vi", "en")
#: Passages ranked per question for the retrieval metrics.
RANK_DEPTH = 50
RECALL_KS = (1, 5, 20)
MRR_K = 10


# ---------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class EvalContext:
    """One candidate context (its text already normalized like every product text)."""

    context_id: str
    title: str
    text: str

    def to_document(self) -> Document:
        return Document.create(self.title, self.text, metadata={"context_id": self.context_id})


@dataclass(frozen=True)
class EvalQuestion:
    """One question in both languages, with its normalized gold answers and gold context."""

    id: str
    question_vi: str | None
    question_en: str | None
    answers: tuple[str, ...]
    context_id: str

    def text(self, language: str) -> str | None:
        """The question in ``language`` ("vi" or "en"), None when the set lacks it."""
        return {"vi": self.question_vi, "en": self.question_en}.get(language)


@dataclass
class QASet:
    """A loaded QA set: contexts, questions, and where they came from."""

    path: Path
    contexts: list[EvalContext]
    questions: list[EvalQuestion]
    contexts_sha256: str

    @property
    def name(self) -> str:
        return re.sub(r"[^\w.-]+", "_", self.path.name) or "qa"

    def documents(self) -> list[Document]:
        """One :class:`Document` per context, in file order."""
        return [c.to_document() for c in self.contexts]


def load_qa_set(path: str | Path) -> QASet:
    """Read ``contexts.jsonl`` and ``questions.jsonl`` from ``path``; texts and answers normalized.

    Raises FileNotFoundError when a file is missing and ValueError on malformed rows or a
    question whose context is not in the set.
    """
    path = Path(path)
    cpath, qpath = path / "contexts.jsonl", path / "questions.jsonl"
    for p in (cpath, qpath):
        if not p.is_file():
            raise FileNotFoundError(
                f"QA set not found: {p} is missing (expected a directory with contexts.jsonl and "
                f"questions.jsonl; pass --data DIR)")
    raw = cpath.read_bytes()
    contexts: list[EvalContext] = []
    seen: set[str] = set()
    for n, row in enumerate(_read_jsonl(cpath), 1):
        try:
            cid, title, text = str(row["context_id"]), row.get("title") or "", row["text"]
        except KeyError as exc:
            raise ValueError(f"{cpath}:{n}: missing field {exc}") from None
        if cid in seen:
            raise ValueError(f"{cpath}:{n}: duplicate context_id {cid!r}")
        seen.add(cid)
        contexts.append(EvalContext(cid, normalize_text(title).strip(), normalize_text(text)))
    questions: list[EvalQuestion] = []
    for n, row in enumerate(_read_jsonl(qpath), 1):
        try:
            qid, cid, answers = str(row["id"]), str(row["context_id"]), row["answers_vi"]
        except KeyError as exc:
            raise ValueError(f"{qpath}:{n}: missing field {exc}") from None
        if cid not in seen:
            raise ValueError(f"{qpath}:{n}: question {qid} refers to unknown context {cid!r}")
        if isinstance(answers, str):
            answers = [answers]
        questions.append(EvalQuestion(
            id=qid, question_vi=row.get("question_vi") or None, question_en=row.get("question_en") or None,
            answers=tuple(normalize_text(a) for a in answers if a and a.strip()), context_id=cid))
    return QASet(path=path, contexts=contexts, questions=questions,
                 contexts_sha256=hashlib.sha256(raw).hexdigest())


def _read_jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: invalid JSON ({exc})") from None


@dataclass(frozen=True)
class UnanswerableQuestion:
    """A question the corpus named by ``corpus`` ("dev" or "bundled") cannot answer."""

    id: str
    corpus: str
    kind: str  # "absent" (topic not covered) or "near-miss" (known entities, absent fact)
    question_vi: str | None
    question_en: str | None

    def text(self, language: str) -> str | None:
        return {"vi": self.question_vi, "en": self.question_en}.get(language)


def load_unanswerable(path: str | Path) -> list[UnanswerableQuestion]:
    """Read an unanswerable set (JSON lines ``{id, corpus, kind, question_vi, question_en}``).

    Raises FileNotFoundError when missing, ValueError on a malformed row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"unanswerable set not found: {path}")
    out = []
    for n, row in enumerate(_read_jsonl(path), 1):
        try:
            q = UnanswerableQuestion(str(row["id"]), row["corpus"], row["kind"], row.get("question_vi") or None,
                                     row.get("question_en") or None)
        except KeyError as exc:
            raise ValueError(f"{path}:{n}: missing field {exc}") from None
        if q.corpus not in ("dev", "bundled") or q.kind not in ("absent", "near-miss"):
            raise ValueError(f"{path}:{n}: corpus must be dev or bundled and kind absent or near-miss")
        out.append(q)
    return out


# ------------------------------------------------------------------------------------- metrics
def answer_rate(found: Sequence[bool]) -> float | None:
    """Share of questions that got an answer rather than a refusal; None for no questions.

    On answerable questions ``1 - answer_rate`` is the refusal rate; on unanswerable ones
    ``answer_rate`` is the false-answer rate."""
    return sum(map(bool, found)) / len(found) if found else None


def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose gold rank (1-based; None = not retrieved) is at most ``k``."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Mean reciprocal rank, counting ranks beyond ``k`` (or None) as 0."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def context_rank(ranked_contexts: Iterable[str], gold: str | Iterable[str]) -> int | None:
    """1-based rank of ``gold`` among the distinct contexts of a passage ranking.

    ``ranked_contexts`` holds the context of each ranked passage, best first; a context takes
    the rank of its first passage, later passages of an already seen context are skipped.
    ``gold`` may be one context or several equivalent ones. None when it never appears.
    """
    golds = {gold} if isinstance(gold, str) else set(gold)
    seen: set[str] = set()
    for c in ranked_contexts:
        if c in seen:
            continue
        seen.add(c)
        if c in golds:
            return len(seen)
    return None


_SPACES = re.compile(r"\s+")
_MARKER = re.compile(r"\s*\[\d+\]")


def answer_key(text: str) -> str:
    """Comparison form: NFC + tone placement, casefolded, whitespace collapsed."""
    folded = unicodedata.normalize("NFC", normalize_text(text).casefold())
    return _SPACES.sub(" ", folded).strip()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True when some (non-empty) gold answer occurs in ``text``, compared via :func:`answer_key`."""
    key = answer_key(text)
    return any(a and a in key for a in (answer_key(x) for x in answers))


def strip_citation_markers(text: str) -> str:
    """Remove ``[n]`` markers so they cannot split an answer span."""
    return _MARKER.sub("", text)


def citation_precision(cited_passages: Sequence[Sequence[str]], answers: Sequence[Iterable[str]]) -> float | None:
    """Share of all citations (over all questions) whose passage text contains a gold answer.

    ``cited_passages[i]`` are the passage texts cited for question ``i`` (possibly none),
    ``answers[i]`` its gold answers. Micro-averaged: questions with no citations add nothing.
    None when there are no citations at all.
    """
    if len(cited_passages) != len(answers):
        raise ValueError("cited_passages and answers must have one entry per question")
    total = supported = 0
    for passages, gold in zip(cited_passages, answers):
        gold = list(gold)
        for p in passages:
            total += 1
            supported += contains_answer(p, gold)
    return supported / total if total else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default); None if empty."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def word_count(text: str) -> int:
    """Words of an answer, citation markers not counted."""
    return len(strip_citation_markers(text).split())


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


# ------------------------------------------------------------------------------------ pipeline
def eval_index_dir(qa: QASet, config, precision: str | None = None) -> Path:
    """Cache folder of the index over ``qa``: keyed by the contexts file, the model, chunking
    and the encoder precision (``precision``, else ``config``'s resolved for its device), so
    that a bf16 run never reuses fp32 vectors (their probes match, see Encoder.same_model_as)."""
    from embeddings.encoder import resolve_precision

    from qa.config import cache_dir

    # "sentence-vectors": indexes built before passages stored their sentence vectors are rebuilt
    parts = [qa.contexts_sha256, str(config.embedding_model), str(config.chunk_tokens),
             str(config.chunk_overlap_tokens), "sentence-vectors"]
    precision = precision or resolve_precision(getattr(config, "encoder_precision", "fp32"), config.device)
    if precision != "fp32":  # fp32 keeps the key of the caches made before precisions existed
        parts.append(f"precision={precision}")
    key = "\n".join(parts)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "eval-indexes" / f"{qa.name}-{digest}"


def build_pipeline(qa: QASet, config=None, *, encoder=None, cache: bool = True, rebuild: bool = False,
                   progress: bool = True):
    """A pipeline whose index holds exactly the contexts of ``qa``; returns (pipeline, index info).

    ``cache=True`` keeps the index under :func:`eval_index_dir` (reused when it matches,
    rebuilt when it was made by another model or holds other documents); ``rebuild`` deletes
    it first; ``cache=False`` builds in memory.
    """
    from embeddings.stores.faiss import IndexMismatchError

    from qa.config import QAConfig
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


def _drop_rechunked(pipe, docs: Sequence[Document]) -> list[str]:
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


def method_pipeline(base, method: str):
    """A pipeline with retrieval ``method`` over the index and encoder of ``base`` (no re-embedding)."""
    from qa.pipeline import Pipeline

    return Pipeline(base.config.with_(retrieval=method), encoder=base.encoder, index=base.index)


def prepare_queries(base, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> list:
    """``base.query(t)`` for every text, with the embeddings computed in batches.

    Batching makes the retrieval part several times faster on CPU. The first text is also
    prepared by ``base.query`` itself; should the two disagree (the pipeline's query
    preparation changed), every text goes through ``base.query`` one by one.
    """
    from tqdm.auto import tqdm

    from qa.text.language import detect_language
    from qa.retrieval import Query

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


def run_eval(base, qa: QASet, methods: Sequence[str] = METHODS, *, answers: bool = True,
             limit: int | None = None, languages: Sequence[str] = LANGUAGES, depth: int = RANK_DEPTH,
             factory: Callable[[object, str], object] | None = None, progress: bool = True,
             unanswerable: Sequence[UnanswerableQuestion] = (), bundled_base=None) -> dict:
    """Evaluate every method in ``methods`` on ``qa`` with the index of ``base``.

    ``base`` is a pipeline whose index holds the documents of ``qa`` (see :func:`build_pipeline`);
    ``factory(base, method)`` makes the pipeline of one method (default :func:`method_pipeline`).
    A method that raises gets an error row instead of numbers; the others still run.
    With ``answers``, each ``unanswerable`` question is asked too: "dev" rows through the
    method's pipeline, "bundled" rows through ``factory(bundled_base, method)`` (skipped
    when ``bundled_base`` is None).
    Returns ``{"meta": {...}, "results": [row per method x language]}``.
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

    results: list[dict] = []
    for method in methods:
        try:
            pipe = factory(base, method)
            rows = _eval_method(pipe, method, items, queries, doc_of, passage_doc,
                                languages, answers=answers, depth=depth, progress=progress)
            if answers and unanswerable:
                bpipe = factory(bundled_base, method) if bundled_base is not None else None
                _eval_unanswerable(rows, {"dev": pipe, "bundled": bpipe}, unanswerable)
        except Exception as exc:  # noqa: BLE001 - one broken method must not sink the run
            log.error("method %s failed:\n%s", method, traceback.format_exc())
            err = f"{type(exc).__name__}: {exc}"
            rows = [{"method": method, "language": lang, "error": err} for lang in languages]
        results.extend(rows)

    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _machine(),
        "model": _model_info(base),
        "config": {k: v for k, v in base.config.to_dict().items() if k != "retrieval"},  # per row: method
        "git": _git_info(),
        "data": {"path": str(qa.path), "contexts": len(qa.contexts), "questions": len(qa.questions),
                 "questions_used": len(questions), "contexts_sha256": qa.contexts_sha256},
        "index": {"documents": len(base.index.documents), "passages": len(base.index)},
        "methods": list(methods), "languages": list(languages), "answers": answers, "limit": limit,
        "unanswerable": {"questions": len(unanswerable),
                         "bundled_index": bundled_base is not None and any(u.corpus == "bundled" for u in unanswerable)},
        "rank_depth": depth, "recall_ks": list(RECALL_KS), "mrr_k": MRR_K,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    return {"meta": meta, "results": results}


def _eval_method(pipe, method: str, items, queries, doc_of, passage_doc, languages, *, answers: bool,
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
                ans = pipe.ask(q.text(lang))
                ms = (time.perf_counter() - t0) * 1000
                cited = [c.passage_text for c in ans.citations]
                row.update({
                    "ask_ms": round(ms, 2),
                    "contained": contains_answer(strip_citation_markers(ans.text), q.answers),
                    "citations": len(cited),
                    "supported_citations": sum(contains_answer(p, q.answers) for p in cited),
                    "answered": bool(cited),
                    "words": word_count(ans.text),
                    "answer": ans.text,
                })
                bar.update()
        except Exception as exc:  # noqa: BLE001 - keep the retrieval numbers of this method
            log.error("ask() failed for method %s:\n%s", method, traceback.format_exc())
            answer_error = f"{type(exc).__name__}: {exc}"
            for recs in per.values():
                for r in recs:
                    for key in ("ask_ms", "contained", "citations", "supported_citations", "answered", "words",
                                "answer"):
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
                "containment": _mean([float(r["contained"]) for r in recs]),
                # equal to citation_precision() on the cited passages; counts kept for pooling
                "citation_precision": (sum(r["supported_citations"] for r in recs) / n_cit) if n_cit else None,
                "citations": n_cit,
                "supported_citations": sum(r["supported_citations"] for r in recs),
                "answered": _mean([float(r["answered"]) for r in recs]),
                "words_mean": _mean([r["words"] for r in answered]),
                "words_median": percentile([r["words"] for r in answered], 50),
                "refusal_rate": 1 - _mean([float(r["answered"]) for r in recs]) if recs else None,
                "latency_ms_p50": percentile(lat, 50),
                "latency_ms_p95": percentile(lat, 95),
            })
        row["per_question"] = recs
        rows.append(row)
    return rows


def _eval_unanswerable(rows: list[dict], pipes: dict, unanswerable: Sequence[UnanswerableQuestion]) -> None:
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
            ans = pipe.ask(text)
            recs.append({"id": u.id, "corpus": u.corpus, "kind": u.kind, "answered": bool(ans.found and ans.citations),
                         "answer": ans.text})
        row["unanswerable_n"] = len(recs)
        row["false_answer_rate"] = answer_rate([r["answered"] for r in recs])
        for kind in ("absent", "near-miss"):
            row[f"false_answer_rate_{kind.replace('-', '_')}"] = answer_rate(
                [r["answered"] for r in recs if r["kind"] == kind])
        row["unanswerable"] = recs


# -------------------------------------------------------------------------------------- output
_COLUMNS = [  # (header, key, format)
    ("R@1", "recall@1", "{:.3f}"), ("R@5", "recall@5", "{:.3f}"), ("R@20", "recall@20", "{:.3f}"),
    ("MRR@10", "mrr@10", "{:.3f}"), ("contain.", "containment", "{:.3f}"),
    ("cit. prec.", "citation_precision", "{:.3f}"), ("answered", "answered", "{:.3f}"),
    ("words", "words_mean", "{:.1f}"), ("words p50", "words_median", "{:.0f}"),
    ("refused", "refusal_rate", "{:.3f}"), ("false ans.", "false_answer_rate", "{:.3f}"),
    ("p50 ms", "latency_ms_p50", "{:.0f}"), ("p95 ms", "latency_ms_p95", "{:.0f}"),
]


def format_table(results: dict) -> str:
    """The Markdown table: one row per method x language."""
    head = ["method", "lang", "n"] + [h for h, _, _ in _COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for row in results["results"]:
        if "error" in row:
            cells = [row["method"], row["language"], "", f"ERROR: {row['error']}"[:200].replace("|", "/")]
            cells += [""] * (len(head) - len(cells))
        else:
            cells = [row["method"], row["language"], str(row["n"])]
            for _, key, fmt in _COLUMNS:
                v = row.get(key)
                cells.append("–" if v is None else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- answers of {r['method']}/{r['language']} failed: {r['answer_error']}"
             for r in results["results"] if r.get("answer_error")]
    return "\n".join(lines + ([""] + notes if notes else []))


def _markdown(results: dict) -> str:
    m = results["meta"]
    git = m["git"]
    lines = [
        f"# Evaluation: {Path(m['data']['path']).name}",
        "",
        f"- date: {m['date']}; machine: {m['machine']['cores']} cores, {m['machine']['platform']}",
        f"- model: {m['model']['name']} (fingerprint {m['model'].get('fingerprint')}, "
        f"precision {m['model'].get('precision')}); "
        f"git: {git.get('commit') or 'no commit'}{' (dirty)' if git.get('dirty') else ''}",
        f"- data: {m['data']['path']}: {m['data']['contexts']} contexts, {m['data']['questions_used']} of "
        f"{m['data']['questions']} questions; index: {m['index']['passages']} passages",
        f"- answers: {'yes (' + m.get('config', {}).get('answerer', 'extractive') + ')' if m['answers'] else 'no (retrieval only)'}"
        f"; wall time {m['seconds']} s"
        + (f"; index {m['index'].get('build_seconds')} s ({'cached' if m['index'].get('cached') else 'built'})"
           if "build_seconds" in m["index"] else ""),
        "",
        format_table(results),
        "",
        f"R@k / MRR@10: rank of the gold context among distinct contexts of the top {m['rank_depth']} passages. "
        "contain.: a gold answer occurs in the answer text (NFC, tone placement, casefold, whitespace). "
        "cit. prec.: share of all citations whose passage contains a gold answer. answered: share of questions "
        "with at least one citation. words / words p50: mean / median answer length of answered questions. "
        "refused: share of the (answerable) questions the relevance gate declined. false ans.: share of the "
        f"{m.get('unanswerable', {}).get('questions', 0)} unanswerable questions per language that got an answer "
        "(by kind in eval.json). p50/p95: `ask()` latency.",
        "",
    ]
    return "\n".join(lines)


def write_results(results: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.md`` into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / "eval.json", out / "eval.md"
    jpath.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    mpath.write_text(_markdown(results), encoding="utf-8")
    return jpath, mpath


# --------------------------------------------------------------------------------------- meta
def _machine() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count()
    info = {"cores": usable, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def _model_info(pipe) -> dict:
    enc = pipe.encoder
    info = {"name": getattr(enc, "name", None)}
    for attr in ("fingerprint", "dim", "max_tokens", "precision"):
        try:
            info[attr] = getattr(enc, attr)
        except Exception:  # noqa: BLE001 - metadata only
            info[attr] = None
    return info


def _git_info() -> dict:
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# ---------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evaluation.harness``: see the module docstring."""
    ap = argparse.ArgumentParser(prog="python -m evaluation.harness", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="QA set directory (contexts.jsonl, questions.jsonl); default: %(default)s")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated retrieval methods (%(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N questions")
    ap.add_argument("--no-answers", action="store_true", help="retrieval metrics only (skip ask())")
    ap.add_argument("--no-cache", action="store_true", help="rebuild the cached index (re-embed every context)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--model", default=None, help="embedding model (default: the QAConfig default)")
    ap.add_argument("--device", default=None, help="torch device for the embedder (default: cpu)")
    ap.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="encoder precision (default: the QAConfig default, auto); the cached "
                         "index is kept per resolved precision")
    ap.add_argument("--unanswerable", type=Path, default=DEFAULT_UNANSWERABLE,
                    help="unanswerable questions for the false-answer rate (default: %(default)s)")
    ap.add_argument("--no-unanswerable", action="store_true", help="skip the unanswerable set")
    ap.add_argument("--answerer", choices=["extractive", "reader"], default=None,
                    help="the answerer to evaluate (default: the QAConfig default, extractive)")
    ap.add_argument("--reader-model", default=None, help="the reader's question-answering model id or folder "
                    "(implies --answerer reader)")
    ap.add_argument("--reader-min-margin", type=float, default=None,
                    help="the reader's refusal margin (default: the QAConfig default, 0.0)")
    ap.add_argument("--reader-device", default=None, help="torch device for the reader (default: cpu)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        ap.error("--methods is empty")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    try:
        qa = load_qa_set(args.data)
        unanswerable = [] if args.no_unanswerable or args.no_answers else load_unanswerable(args.unanswerable)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from qa.config import QAConfig

    kwargs = {}
    if args.model:
        kwargs["embedding_model"] = args.model
    if args.device:
        kwargs["device"] = args.device
    if args.precision:
        kwargs["encoder_precision"] = args.precision
    if args.answerer or args.reader_model:
        kwargs["answerer"] = "reader" if args.reader_model else args.answerer
    for name in ("reader_model", "reader_min_margin", "reader_device"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    try:
        config = QAConfig(**kwargs)
        if config.answerer == "reader":
            from qa.answering.reader import ReaderAnswerer

            ReaderAnswerer.from_config(config)  # a missing model folder fails here, before indexing
    except (FileNotFoundError, ValueError) as exc:  # e.g. --answerer reader without --reader-model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = not args.quiet
    t0 = time.perf_counter()
    base, index_info = build_pipeline(qa, config, rebuild=args.no_cache, progress=progress)
    bundled_base = None
    if any(u.corpus == "bundled" for u in unanswerable):
        from corpus import load_bundled

        from qa.pipeline import Pipeline

        bundled_base = Pipeline(base.config, encoder=base.encoder, in_memory=True)
        bundled_base.add_documents(load_bundled())
    results = run_eval(base, qa, methods, answers=not args.no_answers, limit=args.limit, progress=progress,
                       unanswerable=unanswerable, bundled_base=bundled_base)
    results["meta"]["index"].update(index_info)
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 2)
    jpath, mpath = write_results(results, args.out)
    print(format_table(results))
    how = ("from cache" if index_info["cached"] else
           f"{index_info['added_documents']} documents embedded" if index_info["added_documents"] is not None
           else "built")
    print(f"\nwrote {jpath} and {mpath} ({results['meta']['seconds']} s; index {how}, "
          f"{index_info['build_seconds']} s)")
    return 1 if any("error" in r for r in results["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
