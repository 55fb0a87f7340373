"""Synthetic Vietnamese reading-comprehension questions from Vietnamese text (no dev-set text).

Vietnamese forms questions *in situ*: the question word stands where the answer would
("Ông Kerry gặp ông Putin ở **Moskva**." → "Ông Kerry gặp ông Putin ở **đâu**?"). So a
declarative sentence becomes a natural question by replacing one constituent with the
question phrase of its type; the replaced words are the answer, and the sentence's paragraph is
the context. Types, found with underthesea's part-of-speech tags (offline model):

* a number with its unit or classifier (``M`` + ``Nu``/``N``): ``40 ngày`` → ``bao nhiêu ngày``,
  answer ``40 ngày``;
* a date (``ngày|tháng|năm`` + ``M``): ``năm 1945`` → ``năm nào`` (answer ``1945``) or
  ``khi nào`` (answer ``năm 1945``);
* a proper name (``Np`` run) after a common noun: ``thành phố Hà Nội`` → ``thành phố nào``;
  after a place preposition (ở, tại, đến, từ, sang): ``ở Moskva`` → ``ở đâu``; after a
  person's title (ông, bà, Tổng thống, Ngoại trưởng …) or as the subject: ``ai``.

To keep the questions from being verbatim copies, the clause holding the answer is kept and
the rest of a long sentence dropped, and with probability ``drop`` one or two function words
go. Measured as one more training source (BENCHMARKS.md, "Reader training"); the sources are
the Vietnamese paragraphs of ``vi-extra.jsonl.gz`` that are not held out.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from training.reader_data import Example

__all__ = ["SyntheticQuestion", "questions_from_sentence", "synthesize"]

_TITLES = {
    "ông", "bà", "anh", "chị", "cô", "tổng thống", "thủ tướng", "ngoại trưởng", "bộ trưởng", "chủ tịch",
    "vua", "hoàng đế", "tướng", "giáo sư", "tiến sĩ", "bác sĩ", "nhà văn", "nhà thơ", "ca sĩ", "diễn viên",
    "tác giả", "người phát ngôn", "giám đốc", "đạo diễn", "cầu thủ", "huấn luyện viên", "nhạc sĩ", "họa sĩ",
    "nhà khoa học", "nữ hoàng", "hoàng tử", "công chúa", "thượng nghị sĩ", "đại sứ", "phó tổng thống",
}
_PLACE_PREPS = {"ở", "tại", "đến", "từ", "sang", "về", "khỏi"}
_DATE_NOUNS = {"ngày", "tháng", "năm", "thế kỷ", "thập niên"}
_FUNCTION_WORDS = {"đã", "thì", "là", "những", "các", "cũng", "rất", "được", "đang", "sẽ", "vẫn"}


@dataclass(frozen=True)
class SyntheticQuestion:
    question: str
    answer: str
    answer_start: int  # in the sentence
    kind: str  # number | date | name | place | person


def _locate(sentence: str, words: Sequence[str]) -> list[tuple[int, int]] | None:
    spans, pos = [], 0
    for w in words:
        i = sentence.find(w, pos)
        if i < 0:
            return None
        spans.append((i, i + len(w)))
        pos = i + len(w)
    return spans


def questions_from_sentence(sentence: str, tags: Sequence[tuple[str, str]], rng: random.Random,
                            drop: float = 0.3) -> list[SyntheticQuestion]:
    """Every in-situ question one sentence gives (see the module docstring)."""
    words = [w for w, _ in tags]
    spans = _locate(sentence, words)
    if spans is None or len(words) < 5:
        return []
    pos = [t for _, t in tags]
    out: list[SyntheticQuestion] = []
    i = 0
    while i < len(words):
        w, t = words[i], pos[i]
        prev = words[i - 1].lower() if i else ""
        if t == "M" and re.search(r"\d", w):
            if prev in _DATE_NOUNS and i >= 1:  # date: "năm 1945"
                a0, a1 = spans[i - 1][0], spans[i][1]
                if rng.random() < 0.5:
                    out.append(_make(sentence, spans[i - 1][0], spans[i][1], f"{prev} nào", spans[i][0], spans[i][1], "date"))
                else:
                    out.append(_make(sentence, a0, a1, "khi nào", a0, a1, "date"))
            elif i + 1 < len(words) and pos[i + 1] in ("Nu", "N") and not re.search(r"\d", words[i + 1]):
                a0, a1 = spans[i][0], spans[i + 1][1]  # "40 ngày"
                out.append(_make(sentence, spans[i][0], spans[i][1], "bao nhiêu", a0, a1, "number"))
            i += 1
            continue
        if t == "Np":
            j = i
            while j + 1 < len(words) and pos[j + 1] == "Np":
                j += 1
            a0, a1 = spans[i][0], spans[j][1]
            if prev in _PLACE_PREPS:
                out.append(_make(sentence, a0, a1, "đâu", a0, a1, "place"))
            elif prev in _TITLES or (i == 0 and (j > i or " " in w)) or (
                    i >= 2 and f"{words[i - 2].lower()} {prev}" in _TITLES):
                # a one-word name opening the sentence is too often a mis-tagged capitalized word
                # replace the title too when it precedes: "Tổng thống Putin" -> "ai"
                r0 = spans[i - 1][0] if prev in _TITLES else a0
                out.append(_make(sentence, r0, a1, "ai" if r0 > 0 else "Ai", a0, a1, "person"))
            elif i >= 1 and pos[i - 1] == "N" and prev not in _DATE_NOUNS:
                out.append(_make(sentence, a0, a1, "nào", a0, a1, "name"))
            i = j + 1
            continue
        i += 1
    return [_shorten(q, rng, drop) for q in out if q is not None]


def _make(sentence: str, r0: int, r1: int, wh: str, a0: int, a1: int, kind: str) -> SyntheticQuestion | None:
    """The sentence with [r0, r1) replaced by ``wh``; the answer is sentence[a0:a1]."""
    answer = sentence[a0:a1]
    if not answer.strip() or len(answer) > 60:
        return None
    q = sentence[:r0] + wh + sentence[r1:]
    if r0 == 0 and wh[0].islower():
        wh = wh[0].upper() + wh[1:]
        q = wh + sentence[r1:]
    elif r0 > 0 and q[:1].islower():
        q = q[0].upper() + q[1:]
    return SyntheticQuestion(question=q, answer=answer, answer_start=a0, kind=kind)


def _shorten(q: SyntheticQuestion, rng: random.Random, drop: float) -> SyntheticQuestion:
    """Keep the clause with the question word (comma/semicolon-separated) when the sentence
    is long, end with "?", and sometimes drop one or two function words."""
    text = q.question.strip().rstrip(".!;:…").strip()
    wh_words = ("bao nhiêu", "nào", "đâu", "ai", "Ai", "khi nào")
    parts = re.split(r"(?<=[,;])\s+", text)
    if len(text.split()) > 22 and len(parts) > 1:
        keep = [p for p in parts if any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", p) for w in wh_words)]
        if keep and len(keep[0].split()) >= 5:
            text = keep[0].rstrip(",;").strip()
    if rng.random() < drop:
        toks = text.split()
        idx = [k for k, t in enumerate(toks) if t.lower() in _FUNCTION_WORDS]
        for k in sorted(rng.sample(idx, min(len(idx), rng.randint(1, 2))), reverse=True):
            del toks[k]
        text = " ".join(toks)
    text = text[:1].upper() + text[1:]
    return SyntheticQuestion(question=text + "?", answer=q.answer, answer_start=q.answer_start, kind=q.kind)


def synthesize(contexts: Iterable[tuple[str, str]], *, per_context: int = 4, seed: int = 0,
               drop: float = 0.3) -> list[Example]:
    """Synthetic examples from (group, context) pairs: at most ``per_context`` questions a
    paragraph, of several types where it allows."""
    from underthesea import pos_tag

    from corpus.chunking import split_sentences

    rng = random.Random(seed)
    out: list[Example] = []
    for group, context in contexts:
        cands: list[tuple[SyntheticQuestion, int]] = []
        for s0, s1 in split_sentences(context):
            sentence = context[s0:s1]
            if len(sentence) < 30 or len(sentence) > 400:
                continue
            try:
                tags = pos_tag(sentence)
            except Exception:  # noqa: BLE001 - a tagger failure skips the sentence
                continue
            cands += [(q, s0) for q in questions_from_sentence(sentence, tags, rng, drop)]
        rng.shuffle(cands)
        kinds: dict[str, int] = {}
        taken = 0
        for q, s0 in sorted(cands, key=lambda c: kinds.get(c[0].kind, 0)):
            if taken >= per_context:
                break
            if kinds.get(q.kind, 0) >= 2:
                continue
            start = s0 + q.answer_start
            assert context[start:start + len(q.answer)] == q.answer
            kinds[q.kind] = kinds.get(q.kind, 0) + 1
            taken += 1
            out.append(Example(id=f"synth:{group}:{taken}", group=group, question=q.question, context=context,
                               answers=[(q.answer, start)], q_lang="vi", c_lang="vi", source="synthetic-vi",
                               kind="synthetic"))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m training.synthetic_vi --data DIR --out FILE``: synthetic questions over the
    Vietnamese paragraphs of ``DIR/vi-extra.jsonl.gz`` that the reader's training does not hold
    out (nanibot's test split and the held-out unanswerable groups are skipped), written in the
    ``shared/train`` schema for ``python -m training.reader train --extra-files FILE``."""
    import argparse
    import gzip
    import json
    from pathlib import Path

    from training.reader import Recipe
    from training.reader_data import holdout_split, load_examples

    ap = argparse.ArgumentParser(prog="python -m training.synthetic_vi", description=main.__doc__)
    ap.add_argument("--data", type=Path, required=True, help="the shared/train folder")
    ap.add_argument("--out", type=Path, required=True, help="a .jsonl.gz file to write")
    ap.add_argument("--seed", type=int, default=Recipe().seed, help="the reader recipe's seed (same held-out groups)")
    ap.add_argument("--per-context", type=int, default=4)
    args = ap.parse_args(argv)
    vi = load_examples(args.data / "vi-extra.jsonl.gz")
    held_groups = {e.group for e in vi if "_test" in e.id}
    _, neg_held = holdout_split([e for e in vi if not e.answerable], 60, args.seed + 2)
    held_groups |= {e.group for e in neg_held}
    contexts: dict[str, str] = {}
    for e in vi:
        if e.group not in held_groups:
            contexts.setdefault(e.group, e.context)
    items = sorted(contexts.items())
    examples = synthesize(items, per_context=args.per_context, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        for e in examples:
            text, start = e.answers[0]
            f.write(json.dumps({"id": e.id, "source": e.source, "split": "synthetic", "context_lang": "vi",
                                "question_lang": "vi", "title": "", "context": e.context, "question": e.question,
                                "answers": [{"text": text, "answer_start": start}]}, ensure_ascii=False) + "\n")
    print(f"{len(examples)} questions from {len(items)} paragraphs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
