"""Optional generative answerer: a language model writes the answer, citations are checked.

Why optional. The default answerer (:mod:`qa.answering.extractive`) needs no language model,
runs offline on a CPU in milliseconds, and cannot say anything that is not in a source. A
generative answer reads better (it can answer "where?" with "In Moscow [1]." instead of quoting a
whole sentence) but needs a model this project does not ship: either a server that speaks the
OpenAI chat API (Ollama, vLLM, llama.cpp ``llama-server``, TGI, hosted APIs) or a local
transformers model (:mod:`qa.answering.backends`). Users who have one set
``QAConfig(answerer="generative", generator_url=... or generator_model=...)``.

The pieces, one module each:

* :mod:`qa.answering.prompt` — the one prompt for every backend: numbered sources fenced as
  data, answer in the question's language, ``[n]`` after each claim, a fixed "not found" reply;
* :mod:`qa.answering.backends` — the two backends, whole replies and streaming;
* :mod:`qa.answering.citations` — marker repair and claim-by-claim verification;
* this module — :class:`GenerativeAnswerer`, which ties them together.

What happens to a reply (it is checked, not trusted):

* reasoning blocks (``<think>…</think>``) are removed; citation markers are repaired into
  ``[n]`` and numbers that name no source are removed (:func:`~qa.answering.citations.repair_markers`);
* a reply without any valid marker, an empty reply, or a model that fails (server down, HTTP
  error, missing model) gives the extractive answer instead, recorded as
  ``answerer="extractive (fallback)"``; the exact "not found" sentence gives ``found=False``;
* every sentence (claim) is checked against each source it cites
  (:class:`~qa.answering.citations.CitationVerifier`): unsupported citations are removed; a claim
  left without support is re-cited to the retrieved passage that supports it, or else dropped
  (``unsupported="drop"``, the default) or kept and flagged (``"flag"``). If no supported claim
  is left, the extractive answer is given instead;
* the cited passages are renumbered 1, 2, ... in order of first appearance; each
  :class:`~qa.types.Citation` names the passage and its sentence that best supports the claims
  citing it, with that sentence's span in document coordinates, ``verified`` and ``support``;
  ``Answer.claims`` lists every checked sentence with its outcome.

:meth:`GenerativeAnswerer.stream` yields partial answers while the model writes (markers already
repaired and renumbered, citations at passage level) and then the verified final answer.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from ..config import UNSUPPORTED_POLICIES, QAConfig
from ..retrieval.base import Query
from ..types import Answer, Citation, Claim, Passage
from .backends import (
    Generator,
    OpenAICompatibleGenerator,
    TransformersGenerator,
    strip_reasoning,
    visible_text,
)
from .base import Answerer
from .citations import (
    CitationVerifier,
    Support,
    has_content,
    parse_markers,
    repair_markers,
    rewrite_groups,
    split_claims,
    strip_markers,
)
from .extractive import ExtractiveAnswerer
from .prompt import LANGUAGE_NAME, build_messages
from .relevance import NOT_FOUND

__all__ = [
    "Generator",
    "OpenAICompatibleGenerator",
    "TransformersGenerator",
    "GenerativeAnswerer",
    "build_messages",
    "parse_markers",
    "repair_markers",
    "LANGUAGE_NAME",
]

log = logging.getLogger(__name__)

FALLBACK_NAME = "extractive (fallback)"
#: Claims shorter than this many words are checked together with the question (see
#: :meth:`GenerativeAnswerer._check_text`): a complete Vietnamese or English statement with a
#: subject, a verb and an object rarely has fewer.
ELLIPTICAL_WORDS = 6


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", strip_markers(text)).lower()
    return " ".join(re.sub(r"[\"'“”‘’.!?…:;,]", " ", text).split())


def _is_not_found(reply: str) -> bool:
    r = _norm(reply)
    return bool(r) and any(_norm(s) in r for s in NOT_FOUND.values())


_END = re.compile(r"([.!?…]+[\"'”’»)]*)\s*$")


def _append_markers(sentence: str, numbers: list[int]) -> str:
    """Put markers before the sentence's final punctuation: "… ở Moskva [1]."."""
    marks = "".join(f"[{n}]" for n in numbers)
    m = _END.search(sentence)
    if m:
        return f"{sentence[:m.start()].rstrip()} {marks}{m.group(1)}"
    return f"{sentence.rstrip()} {marks}"


@dataclass
class _Checked:
    start: int
    end: int
    text: str  # claim text, markers as written (valid numbers only)
    numbers: list[int]  # passage numbers (1-based, as written) it keeps
    verified: bool
    support: float
    note: str
    checked: bool  # False for claims without content (not verified, kept as is)
    best: dict  # passage number -> Support


class GenerativeAnswerer(Answerer):
    """A language model writes the answer; citations are verified and tied to source sentences.

    ``run()`` has the extractive answerer's signature; ``stream()`` yields partial answers and
    then the final one. ``fallback`` answers whenever the reply cannot be grounded (see the
    module docstring). ``unsupported``: "drop" (default) removes claims no source supports,
    "flag" keeps them with ``Claim.verified=False``.
    """

    name = "generative"
    #: streams while the model writes (seconds): reads only its passages and sentence vectors by id
    needs_index_lock = False

    def __init__(self, generator: Generator, fallback: ExtractiveAnswerer, max_tokens: int = 256,
                 unsupported: str = "drop", verifier: CitationVerifier | None = None) -> None:
        if unsupported not in UNSUPPORTED_POLICIES:
            raise ValueError(f"unsupported must be one of {UNSUPPORTED_POLICIES}, not {unsupported!r}")
        self.generator = generator
        self.fallback = fallback
        self.max_tokens = max_tokens
        self.unsupported = unsupported
        self.verifier = verifier or CitationVerifier(fallback.encoder, fallback.lexical,
                                                     sentence_vectors=fallback.sentence_vectors)

    @classmethod
    def from_config(cls, config: QAConfig, fallback: ExtractiveAnswerer) -> GenerativeAnswerer:
        """``generator_url`` → OpenAI-compatible server; else ``generator_model`` → transformers."""
        if config.generator_url:
            gen: Generator = OpenAICompatibleGenerator(
                config.generator_url, model=config.generator_model or "default",
                api_key_env=config.generator_api_key_env, timeout=config.generator_timeout,
                max_retries=config.generator_retries)
        elif config.generator_model:
            gen = TransformersGenerator(config.generator_model, device=config.generator_device)
        else:
            raise ValueError(
                "answerer='generative' needs a language model: set generator_url to an OpenAI-compatible "
                "server (e.g. Ollama: http://localhost:11434/v1, with generator_model naming the model) or "
                "generator_model to a transformers model id or folder; or use answerer='extractive'")
        return cls(gen, fallback, max_tokens=config.generator_max_tokens, unsupported=config.generator_unsupported)

    # ------------------------------------------------------------------ answering
    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""
        if not passages:
            return self._fallback(query, passages, "no passages")
        try:
            reply = self.generator.generate(build_messages(query, passages), self.max_tokens)
        except Exception as e:  # the model is optional: any failure gives the extractive answer
            log.warning("generative answerer failed, using the extractive answer: %s", e)
            return self._fallback(query, passages, f"generator error: {e}")
        return self.finish(query, passages, reply)

    def stream(self, query: Query, passages: list[Passage]) -> Iterator[Answer]:
        """Partial answers (``partial=True``) as the model writes, then the final verified one."""
        if not passages:
            yield self._fallback(query, passages, "no passages")
            return
        raw = ""
        shown = ""
        try:
            for piece in self.generator.stream(build_messages(query, passages), self.max_tokens):
                raw += piece
                text, cited = self._partial_text(visible_text(raw), len(passages))
                if text and text != shown:
                    shown = text
                    yield self._partial(query, passages, text, cited)
        except Exception as e:
            log.warning("generative answerer failed while streaming, using the extractive answer: %s", e)
            yield self._fallback(query, passages, f"generator error: {e}")
            return
        yield self.finish(query, passages, raw)

    def finish(self, query: Query, passages: list[Passage], reply: str) -> Answer:
        """The final answer from a complete reply: repair, verify, renumber, cite."""
        reply = strip_reasoning(reply or "")
        k = len(passages)
        repaired = repair_markers(reply, k)
        if not parse_markers(repaired):
            if _is_not_found(reply):
                return Answer(question=query.text, text=NOT_FOUND[query.language], language=query.language,
                              citations=[], passages=passages, timings={}, answerer=self.name, found=False)
            return self._fallback(query, passages, f"reply without a valid citation: {reply[:200]!r}")
        checked = self._verify(query, passages, repaired)
        if not any(c.checked and c.numbers and c.verified for c in checked):
            return self._fallback(query, passages, f"no claim of the reply is supported: {reply[:200]!r}")
        return self._compose(query, passages, repaired, checked)

    # ------------------------------------------------------------------ verification
    def _verify(self, query: Query, passages: list[Passage], text: str) -> list[_Checked]:
        claims = split_claims(text)
        contentful = [c for c in claims if has_content(c.text)]
        texts = {id(c): self._check_text(query, c.content) for c in contentful}
        vectors = self.verifier.claim_vectors([texts[id(c)] for c in contentful]) if contentful else []
        vec = {id(c): v for c, v in zip(contentful, vectors)}
        thr = self.verifier.threshold
        out: list[_Checked] = []
        for c in claims:
            if id(c) not in vec:
                out.append(_Checked(c.start, c.end, c.text, list(c.numbers), False, 0.0, "", False, {}))
                continue
            v = vec[id(c)]
            core = c.content if texts[id(c)] != c.content else None
            best = {n: self.verifier.support(texts[id(c)], v, query.language, passages[n - 1], core)
                    for n in c.numbers}
            kept = [n for n in c.numbers if best[n].score >= thr]
            note = ""
            if not kept:
                # the claim's own sources do not back it: does another retrieved passage?
                others = {n: self.verifier.support(texts[id(c)], v, query.language, passages[n - 1], core)
                          for n in range(1, len(passages) + 1) if n not in best}
                best.update(others)
                n_best = max(best, key=lambda n: best[n].score) if best else None
                if n_best is not None and best[n_best].score >= thr:
                    kept, note = [n_best], "recited"
            if kept:
                out.append(_Checked(c.start, c.end, c.text, kept, True, max(best[n].score for n in kept),
                                    note, True, best))
            elif self.unsupported == "flag":
                score = max((best[n].score for n in c.numbers), default=0.0)
                out.append(_Checked(c.start, c.end, c.text, list(c.numbers), False, score, "unsupported", True,
                                    best))
            else:
                score = max((s.score for s in best.values()), default=0.0)
                out.append(_Checked(c.start, c.end, c.text, [], False, score, "dropped", True, best))
        return out

    @staticmethod
    def _check_text(query: Query, content: str) -> str:
        """What a claim is checked as: itself, or, when it is elliptical (fewer than
        :data:`ELLIPTICAL_WORDS` words: "Ở Moskva [1]."), the question plus the claim, since
        such an answer only states something together with its question."""
        if len(re.findall(r"\w+", content)) < ELLIPTICAL_WORDS:
            return f"{query.text} {content}"
        return content

    def _compose(self, query: Query, passages: list[Passage], text: str, checked: list[_Checked]) -> Answer:
        """Rebuild the text from the kept claims with renumbered markers; cite best sentences."""
        new_number: dict[int, int] = {}
        for c in checked:
            for n in c.numbers:
                new_number.setdefault(n, len(new_number) + 1)
        pieces: list[str] = []
        claims: list[Claim] = []
        prev = 0
        for c in checked:
            gap = text[prev:c.start]
            prev = c.end
            if c.note == "dropped":
                log.info("dropped an unsupported claim: %r", c.text)
                claims.append(Claim(text=strip_markers(c.text), citations=[], verified=False,
                                    support=round(c.support, 4), note="dropped"))
                continue
            if c.note == "recited":
                body = _append_markers(strip_markers(c.text), [new_number[n] for n in c.numbers])
            else:
                body = rewrite_groups(c.text, lambda ns, keep=set(c.numbers): "".join(
                    f"[{new_number[n]}]" for n in dict.fromkeys(ns) if n in keep))
            pieces.append((gap if pieces else "") + body)
            if c.checked:
                claims.append(Claim(text=body, citations=[new_number[n] for n in c.numbers], verified=c.verified,
                                    support=round(c.support, 4), note=c.note))
        answer_text = "".join(pieces).strip()
        citations: list[Citation] = []
        for n, m in sorted(new_number.items(), key=lambda x: x[1]):
            citing = [c for c in checked if n in c.numbers and n in c.best]
            best = max((c.best[n] for c in citing), key=lambda s: s.score, default=None)
            verified = bool(citing) and all(c.verified for c in citing)
            citations.append(self._cite(passages[n - 1], m, best, verified if citing else None))
        return Answer(question=query.text, text=answer_text, language=query.language, citations=citations,
                      passages=passages, timings={}, answerer=self.name, found=True, claims=claims)

    def _cite(self, passage: Passage, n: int, best: Support | None, verified: bool | None) -> Citation:
        """Citation ``n``: ``passage`` and its sentence that best supports the claims citing it."""
        if best is not None and best.sentence is not None:
            start, end, sentence = best.sentence
            score = best.score
        else:
            spans = passage.sentence_texts()
            start, end, sentence = spans[0] if spans else (passage.start, passage.end, passage.text)
            score = 0.0
        lead = len(sentence) - len(sentence.lstrip())
        trail = len(sentence) - len(sentence.rstrip())
        start, end, sentence = start + lead, end - trail, sentence.strip()
        return Citation(n=n, doc_id=passage.doc_id, title=passage.title, source=passage.source, url=passage.url,
                        passage_id=passage.id, passage_text=passage.text, start=start, end=end,
                        sentence=sentence, score=round(float(score), 4), verified=verified,
                        support=round(float(score), 4) if best is not None else None)

    # ------------------------------------------------------------------ streaming and fallback
    @staticmethod
    def _partial_text(visible: str, k: int) -> tuple[str, list[int]]:
        """Text of a reply still being written, safe to show: a marker being typed ("[1", "【")
        is held back, numbers that name no source are removed, the rest renumbered by first
        appearance (the numbering the final answer uses when verification keeps them all)."""
        visible = re.sub(r"[\[【][^\]】]{0,24}$", "", visible).rstrip()
        repaired = repair_markers(visible, k)
        order: dict[int, int] = {}
        for m in parse_markers(repaired):
            for n in m.numbers:
                order.setdefault(n, len(order) + 1)
        text = rewrite_groups(repaired, lambda ns: "".join(f"[{order[n]}]" for n in dict.fromkeys(ns)))
        return text.strip(), list(order)

    def _partial(self, query: Query, passages: list[Passage], text: str, cited: list[int]) -> Answer:
        citations = [self._cite(passages[n - 1], i, None, None) for i, n in enumerate(cited, 1)]
        for c, n in zip(citations, cited):  # passage-level until verification picks the sentence
            p = passages[n - 1]
            c.start, c.end, c.sentence = p.start, p.end, p.text
        return Answer(question=query.text, text=text, language=query.language, citations=citations,
                      passages=passages, timings={}, answerer=self.name, found=True, partial=True)

    def _fallback(self, query: Query, passages: list[Passage], why: str) -> Answer:
        log.info("generative answer replaced by the extractive one (%s)", why)
        answer = self.fallback.run(query, passages)
        answer.answerer = FALLBACK_NAME
        return answer
