"""Training data of the reader: examples from the data sets, hard negatives, windows.

Every text goes through the product's own normalization (:func:`corpus.normalize.normalize_text`:
NFC, one tone-mark placement) so the model is trained on the forms it will read. An example is
one (question, context) pair with zero or more gold answers; no answers means "unanswerable".

Sources (``--data DIR``: a folder with the files of ``shared/train``, see its README):

* ``qa-train.jsonl.gz``: MLQA dev (contexts ar/de/en/es/hi/zh, questions in those languages,
  N-way parallel: one MLQA id is the same question over translations of the same paragraph)
  and TyDi QA GoldP (en/ko/sw). All answerable.
* ``vi-extra.jsonl.gz``: nanibot (hand-written Vietnamese questions; its ``test`` split is held
  out for checkpoint selection) and machine-translated SQuAD 2.0 dev unanswerable questions.

Hard negatives (``make_negatives``): for a question, a context that does not hold its answer
but looks like it does: the context its own dense retrieval (the project's e5 encoder) ranks
highest among contexts of other questions, or another paragraph of the same article (title).
Contexts that are translations of the gold one (same MLQA id) and contexts that contain a gold
answer string are never used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.normalize import normalize_text

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from transformers import PreTrainedTokenizerBase

    from embeddings.encoder import Encoder

__all__ = ["Example", "Feature", "load_examples", "holdout_split", "make_negatives", "fold_questions",
           "featurize"]


@dataclass
class Example:
    """One (question, context) pair; ``answers`` empty = unanswerable."""

    id: str
    group: str  # examples of one group are held out together (parallel translations, one context)
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start in context)
    q_lang: str
    c_lang: str
    source: str
    kind: str = "gold"  # gold | negative-retrieved | negative-title | unanswerable | synthetic | window
    weight: float = 1.0

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class Feature:
    """One window of one example, tokenized, with its span label (0, 0 = no answer)."""

    input_ids: list[int]
    token_type_ids: list[int] | None
    start: int
    end: int
    example: int  # index into the example list
    weight: float = 1.0
    offsets: list[tuple[int, int] | None] = field(default_factory=list)  # context char spans (None = not context)


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _relocate(context: str, norm: str, text: str, start: int) -> tuple[str, int] | None:
    """The answer (text, start) in the normalized context ``norm`` of ``context``."""
    ntext = normalize_text(text)
    if len(norm) == len(context) and norm[start:start + len(ntext)] == ntext:
        return ntext, start
    # normalization removed invisible characters: find the occurrence nearest the old offset
    hits = [m.start() for m in re.finditer(re.escape(ntext), norm)]
    if not hits:
        return None
    return ntext, min(hits, key=lambda h: abs(h - start))


def _example(row: dict, source_group: str) -> Example | None:
    context = row["context"]
    norm = normalize_text(context)
    answers = []
    for a in row.get("answers") or []:
        found = _relocate(context, norm, a["text"], int(a["answer_start"]))
        if found and found[0].strip():
            answers.append(found)
    if row.get("answers") and not answers:
        return None
    return Example(id=str(row["id"]), group=source_group, question=normalize_text(row["question"]).strip(),
                   context=norm, answers=answers, q_lang=row.get("question_lang", "?"),
                   c_lang=row.get("context_lang", "?"), source=row["source"],
                   kind="unanswerable" if row.get("is_impossible") else "gold")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def load_examples(path: str | Path) -> list[Example]:
    """Examples of one JSON-lines file of ``shared/train`` (gzip or plain)."""
    out = []
    with _open(Path(path)) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            # MLQA ids are shared by the parallel versions of one question: hold them out together.
            # TyDi ids repeat across unrelated rows, so its group is the context.
            group = f"mlqa:{row['id']}" if row["source"].startswith("mlqa") else f"ctx:{_digest(row['context'])}"
            ex = _example(row, group)
            if ex is not None:
                out.append(ex)
    return out


def holdout_split(examples: Sequence[Example], n_groups: int, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held-out): ``n_groups`` whole groups drawn at random are held out."""
    groups = sorted({e.group for e in examples})
    rng = random.Random(seed)
    held = set(rng.sample(groups, min(n_groups, len(groups))))
    return [e for e in examples if e.group not in held], [e for e in examples if e.group in held]


def _contains_answer(context: str, answers: Iterable[tuple[str, int]]) -> bool:
    low = context.casefold()
    return any(a.casefold() in low for a, _ in answers)


def make_negatives(examples: Sequence[Example], *, encoder: Encoder | None = None, rate_retrieved: float = 0.35,
                   rate_names: float = 0.15, top: int = 24, seed: int = 0,
                   cache: Path | None = None) -> list[Example]:
    """Hard unanswerable examples for a share of the answerable ``examples``.

    * ``negative-retrieved`` (share ``rate_retrieved``): the context the project's dense
      retrieval (``encoder``, an :class:`embeddings.encoder.Encoder`) ranks highest for the
      question among the other questions' contexts;
    * ``negative-names`` (share ``rate_names``): a context in the gold context's language that
      contains one of the question's capitalized names but not its answer (the same people,
      another fact).

    Neither is ever the gold context, a translation of it (same group), or a context holding a
    gold answer string. ``cache``: a .npz file keeping the embeddings between runs."""
    import numpy as np

    rng = random.Random(seed)
    pos = [e for e in examples if e.answerable]
    contexts = sorted({e.context for e in pos})
    cidx = {c: i for i, c in enumerate(contexts)}
    groups_of_ctx: dict[int, set[str]] = defaultdict(set)
    lang_of_ctx: dict[int, str] = {}
    for e in pos:
        groups_of_ctx[cidx[e.context]].add(e.group)
        lang_of_ctx[cidx[e.context]] = e.c_lang

    def usable(e: Example, c: int) -> bool:
        return e.group not in groups_of_ctx[c] and contexts[c] != e.context \
            and not _contains_answer(contexts[c], e.answers)

    out: list[Example] = []
    if encoder is not None and rate_retrieved > 0:
        questions = sorted({e.question for e in pos})
        qv = _cached(cache, "q", len(questions), lambda: encoder.encode_queries(questions))
        cv = _cached(cache, "c", len(contexts), lambda: _encode_heads(encoder, contexts))
        ranked: dict[str, list[int]] = {}
        for s0 in range(0, len(questions), 512):
            best = np.argsort(-(qv[s0:s0 + 512] @ cv.T), axis=1)[:, :top]
            ranked.update({questions[s0 + i]: row.tolist() for i, row in enumerate(best)})
        for e in pos:
            if rng.random() < rate_retrieved:
                c = next((c for c in ranked[e.question] if usable(e, c)), None)
                if c is not None:
                    out.append(replace(e, id=e.id + ":neg-r", context=contexts[c], answers=[],
                                       kind="negative-retrieved"))
    if rate_names > 0:
        by_lang: dict[str, list[int]] = defaultdict(list)
        for c, lang in lang_of_ctx.items():
            by_lang[lang].append(c)
        for e in pos:
            if rng.random() >= rate_names:
                continue
            words = e.question.split()
            names = {w.strip("?,.:;!\"'()") for w in words[1:] if w[:1].isupper()}
            names = {n for n in names if len(n) >= 3}
            if not names:
                continue
            pool = by_lang.get(e.c_lang, [])
            cands = [c for c in rng.sample(pool, min(len(pool), 600))
                     if any(n in contexts[c] for n in names) and usable(e, c)]
            if cands:
                out.append(replace(e, id=e.id + ":neg-n", context=contexts[rng.choice(cands)], answers=[],
                                   kind="negative-names"))
    return out


#: Tokens of a context embedded to mine retrieved negatives: a paragraph's opening ranks it
#: well enough among other paragraphs, and 128 tokens cost a quarter of the model's 512 (on 2
#: cores 8,300 contexts take ~10 minutes instead of ~50 at 512 tokens, the non-Latin scripts
#: of MLQA being 2-4 tokens a word).
EMBED_TOKENS = 128


def _encode_heads(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Passage vectors of the first :data:`EMBED_TOKENS` tokens of each text."""
    model = encoder.model
    before = model.max_seq_length
    model.max_seq_length = EMBED_TOKENS
    try:
        return encoder.encode_passages(texts, show_progress=True)
    finally:
        model.max_seq_length = before


def _cached(cache: Path | None, name: str, n: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` (an array of n rows), kept in ``<cache>.<name>.npy`` between runs."""
    import numpy as np

    path = None if cache is None else cache.with_name(f"{cache.stem}.{name}.npy")
    if path is not None and path.is_file():
        arr = np.load(path)
        if len(arr) == n:
            return arr
    arr = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, arr)
    return arr


def fold_questions(examples: Sequence[Example], rate: float, seed: int) -> list[Example]:
    """Copies of a share of the Vietnamese questions typed without tone marks (``Ai la nguoi
    phat ngon?``), as users do: the reader must read both forms."""
    rng = random.Random(seed)
    return [replace(e, id=e.id + ":fold", question=strip_marks(e.question))
            for e in examples if e.q_lang == "vi" and rng.random() < rate]


def strip_marks(text: str) -> str:
    """``text`` without Vietnamese tone and quality marks, case kept (``Đà Nẵng`` → ``Da Nang``):
    what a user without a Vietnamese keyboard types (:func:`corpus.normalize.fold_diacritics`
    also lower-cases, for matching)."""
    import unicodedata

    out = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", out.replace("đ", "d").replace("Đ", "D"))


def featurize(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], *, max_len: int = 192, stride: int = 64,
              max_question_tokens: int = 64, negative_windows: int = 1, seed: int = 0,
              keep_offsets: bool = False, batch: int = 256) -> list[Feature]:
    """Windows of ``max_len`` tokens (question + context, context overlapping by ``stride``)
    with their span labels. An answerable example keeps the windows that hold a gold answer
    and ``negative_windows`` of the others (drawn at random), labelled "no answer"; an
    unanswerable example keeps one window (the first)."""
    rng = random.Random(seed)
    feats: list[Feature] = []
    for b0 in range(0, len(examples), batch):
        chunk = examples[b0:b0 + batch]
        qs = []
        for e in chunk:
            ids = tokenizer(e.question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            qs.append(e.question[:ids[max_question_tokens - 1][1]] if len(ids) > max_question_tokens else e.question)
        enc = tokenizer(qs, [e.context for e in chunk], truncation="only_second", max_length=max_len,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        by_example: dict[int, list[Feature]] = defaultdict(list)
        for w, owner in enumerate(enc["overflow_to_sample_mapping"]):
            e = chunk[owner]
            seq = enc.sequence_ids(w)
            offs = enc["offset_mapping"][w]
            ctx = [i for i, s in enumerate(seq) if s == 1]
            if not ctx:
                continue
            c0, c1 = offs[ctx[0]][0], offs[ctx[-1]][1]
            start = end = 0
            for text, a in e.answers:
                b = a + len(text)
                if a >= c0 and b <= c1:
                    si = next(i for i in ctx if offs[i][1] > a)
                    ei = next(i for i in reversed(ctx) if offs[i][0] < b)
                    if si <= ei:
                        start, end = si, ei
                        break
            f = Feature(input_ids=enc["input_ids"][w],
                        token_type_ids=enc["token_type_ids"][w] if "token_type_ids" in enc else None,
                        start=start, end=end, example=b0 + owner, weight=e.weight,
                        offsets=[tuple(offs[i]) if seq[i] == 1 else None for i in range(len(seq))] if keep_offsets else [])
            by_example[owner].append(f)
        for owner, fs in by_example.items():
            e = chunk[owner]
            if keep_offsets:
                feats.extend(fs)
            elif e.answerable:
                hits = [f for f in fs if f.start > 0]
                misses = [f for f in fs if f.start == 0]
                feats.extend(hits)
                feats.extend(rng.sample(misses, min(negative_windows, len(misses))) if hits else [])
            else:
                feats.append(fs[0])
    return feats
