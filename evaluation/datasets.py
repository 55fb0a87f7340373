"""The data sets the harness reads, passed in by path (nothing outside the repository is assumed).

A QA set is a directory with ``contexts.jsonl`` (``{context_id, title, text}``) and
``questions.jsonl`` (``{id, question_vi, question_en, answers_vi: [...], context_id}``); every
context is a candidate for every question (the MLQA-vi dev set, CC BY-SA 3.0, lives in the shared
workspace by convention: ``../shared/eval/mlqa-vi-dev``, given with ``--dev``). The unanswerable set
ships here: :data:`DEFAULT_UNANSWERABLE` (see evalsets/README.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from corpus.normalize import normalize_text

__all__ = ["DEV_FOLDS", "dev_fold", "EVALSETS", "UNANSWERABLE_SETS", "ANSWERABLE_BUNDLED",
           "DEFAULT_UNANSWERABLE", "EvalContext", "EvalQuestion", "QASet", "UnanswerableQuestion", "load_qa_set",
           "load_unanswerable"]

EVALSETS = Path(__file__).resolve().parent / "evalsets"
DEFAULT_UNANSWERABLE = EVALSETS / "unanswerable-vnnews.jsonl"
#: Every unanswerable set the harness asks by default: the first 42 (absent topics and near
#: misses) and the 90 near misses added for the reader (evalsets/README.md).
UNANSWERABLE_SETS = (DEFAULT_UNANSWERABLE, EVALSETS / "near-miss-dev.jsonl", EVALSETS / "near-miss-bundled.jsonl")
#: Answerable questions about the bundled articles, with their exact answer spans.
ANSWERABLE_BUNDLED = EVALSETS / "answerable-bundled.jsonl"

#: Folds of a QA set for k-fold figures (issue 12 allows a second training stage on the dev
#: questions only under k-fold evaluation): five, so each fold's model trains on ~80% of the
#: paragraphs. Fixed here, in one place, for the training (training.dev_stage) and the harness.
DEV_FOLDS = 5


def dev_fold(key: str) -> int:
    """The fold of a paragraph (by its context id), or of an unanswerable question (by its id):
    SHA-1 of ``key`` modulo :data:`DEV_FOLDS`. A paragraph and all its questions share a fold."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % DEV_FOLDS


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
    set: str = ""  # the file it came from (its stem), for rates per set

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
                                     row.get("question_en") or None, set=path.name.split(".")[0])
        except KeyError as exc:
            raise ValueError(f"{path}:{n}: missing field {exc}") from None
        if q.corpus not in ("dev", "bundled") or q.kind not in ("absent", "near-miss"):
            raise ValueError(f"{path}:{n}: corpus must be dev or bundled and kind absent or near-miss")
        out.append(q)
    return out
