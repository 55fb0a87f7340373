"""Citation markers of a generated answer: repair, renumbering and verification.

A language model's reply is checked, not trusted. This module does the checking, in three steps
that :class:`~qa.answering.generative.GenerativeAnswerer` runs after every reply:

1. **Repair** (:func:`repair_markers`). Models write citations in many shapes: ``[1]``,
   ``[1, 3]``, ``[1][3]``, ``[1-3]``, ``【1】``, ``[^1]``, ``[Source 1]``, ``[nguồn 2]``,
   ``[[1]]``. All become canonical ``[n]`` markers; numbers that name no passage (``[9]`` of
   five) are removed, so no answer ever shows a number that points to no source.
2. **Claims** (:func:`split_claims`). The reply is cut into sentences; each sentence is a claim
   and the markers inside it or right after its final punctuation (``"… Moskva. [1]"``) are its
   citations.
3. **Verification** (:class:`CitationVerifier`). Each claim is checked against every passage it
   cites: the support score is the best, over the passage's sentences, of the embedding
   similarity of claim and sentence (E5, multilingual, so an English claim can be checked
   against a Vietnamese source) blended with the IDF-weighted share of the claim's terms
   (syllables, names, numbers) that the sentence contains. A claim whose cited passage does not
   support it is re-cited to the retrieved passage that does, when one does; otherwise it is
   *dropped* (default) or kept and *flagged* (``QAConfig.generator_unsupported``). Claims
   without any content (a greeting, "Theo các nguồn:") are kept and not checked.

The thresholds are calibrated on crafted claims over the bundled articles
(tests/qa/test_citations.py): a claim copied or paraphrased from its source sentence scores
well above :data:`SUPPORT_THRESHOLD`; a claim about another article scores below it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..retrieval.base import Query
from ..retrieval.lexical import has_diacritics, query_terms
from ..retrieval.rescoring import coverage, query_units, sentence_units
from ..types import Passage

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.encoder import Encoder

    from ..retrieval.lexical import LexicalChannel

__all__ = ["MARKER", "repair_markers", "parse_markers", "split_claims", "strip_markers", "ClaimSpan",
           "CitationVerifier", "SUPPORT_THRESHOLD", "NAME_PENALTY", "DENSE_FLOOR", "DENSE_CEILING", "LEXICAL_WEIGHT"]

#: Canonical marker: ``[n]`` or ``[n, m]`` (comma or semicolon lists are kept as written and
#: expanded by :func:`parse_markers`): the one grammar the answerers write, the evaluation strips,
#: the conversation ignores and the chat renders as links (group 1: the numbers).
MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
#: A marker with the blanks before it (what removing a marker removes).
_MARKER = re.compile(r"\s*" + MARKER.pattern)

#: Non-canonical citation shapes models produce, each with the group that holds the numbers.
_VARIANTS = [
    re.compile(r"\[\s*\[\s*([\d\s,;–-]+?)\s*\]\s*\]"),  # [[1]]
    re.compile(r"【\s*([\d\s,;–-]+?)\s*】"),  # 【1】 (Qwen, DeepSeek)
    re.compile(r"\[\s*\^\s*([\d\s,;–-]+?)\s*\]"),  # [^1] (footnote style)
    re.compile(r"\[\s*(?:source|sources|passage|passages|doc|document|nguồn|đoạn|tài liệu)\s*:?\s*"
               r"([\d\s,;–-]+?)\s*\]", re.I),  # [Source 1], [nguồn 2], [passage: 3]
    re.compile(r"\[\s*(\d+\s*[–-]\s*\d+)\s*\]"),  # [1-3] (a range)
]


def _numbers(spec: str) -> list[int]:
    """``"1, 3"`` → [1, 3]; ``"2-4"`` → [2, 3, 4] (ranges capped at 10 numbers)."""
    out: list[int] = []
    for part in re.split(r"[,;\s]+", spec.strip()):
        m = re.fullmatch(r"(\d+)\s*[–-]\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a <= b <= a + 9:
                out.extend(range(a, b + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def repair_markers(text: str, k: int) -> str:
    """Rewrite every citation shape as ``[n]`` markers and remove numbers outside ``1..k``.

    A marker that names no valid passage disappears with its leading space
    (``"Moskva [9]."`` → ``"Moskva."``); a list keeps its valid numbers (``[1, 9]`` → ``[1]``).
    """
    def canon(numbers: list[int]) -> str:
        seen: list[int] = []
        for n in numbers:
            if 1 <= n <= k and n not in seen:
                seen.append(n)
        return "".join(f"[{n}]" for n in seen)

    for pattern in _VARIANTS:
        text = pattern.sub(lambda m: canon(_numbers(m.group(1))) or "\x00", text)
    # a removed variant leaves \x00: take the space before it away too
    text = re.sub(r"\s*\x00", "", text)
    return rewrite_groups(text, canon)


#: Markers separated only by spaces, commas or semicolons back the same claim: one group.
_GROUP = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\](?:[\s,;]*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])*")


def rewrite_groups(text: str, canon: Callable[[list[int]], str]) -> str:
    """Replace each marker group by ``" " + canon(numbers)`` (nothing at all when that is empty)."""
    def sub(m: re.Match) -> str:
        out = canon(_numbers(" ".join(re.findall(r"\d+", m.group(0)))))
        return " " + out if out else ""

    return _GROUP.sub(sub, text)


@dataclass
class Marker:
    start: int  # span of the marker in the text, leading whitespace included
    end: int
    numbers: list[int]  # passage numbers as written (1-based), valid or not


def parse_markers(text: str) -> list[Marker]:
    """The ``[n]`` / ``[n, m]`` markers of a text, in order."""
    return [Marker(m.start(), m.end(), _numbers(m.group(1))) for m in _MARKER.finditer(text)]


def strip_markers(text: str) -> str:
    """The text without its ``[n]`` markers."""
    return _MARKER.sub("", text).strip()


#: End of a sentence: final punctuation (and closing quotes), then optional markers, then
#: whitespace or the end. ``15.12`` or ``3.5`` (no space after the dot) do not end a sentence.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)]*(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])*(?=\s|$)|\n+")


@dataclass
class ClaimSpan:
    """One sentence of a reply and the passage numbers it cites (as written)."""

    start: int
    end: int
    text: str
    numbers: list[int] = field(default_factory=list)

    @property
    def content(self) -> str:
        """The claim without markers."""
        return strip_markers(self.text)


def split_claims(text: str) -> list[ClaimSpan]:
    """The sentences of ``text`` with their markers (a marker group after the final
    punctuation belongs to the sentence before it)."""
    out: list[ClaimSpan] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        piece = text[pos:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(ClaimSpan(pos + lead, end, piece.strip()))
        pos = end
    if text[pos:].strip():
        lead = len(text[pos:]) - len(text[pos:].lstrip())
        out.append(ClaimSpan(pos + lead, len(text), text[pos:].strip()))
    for c in out:
        for mk in parse_markers(c.text):
            c.numbers += [n for n in mk.numbers if n not in c.numbers]
    return out


def has_content(text: str) -> bool:
    """Whether a claim says something checkable: a word beyond markers and punctuation, and
    not a lead-in that ends with a colon (``"Theo các nguồn:"``)."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", strip_markers(text)))
    return bool(words) and not strip_markers(text).rstrip().endswith(":")


# ------------------------------------------------------------------------------ verification
#: E5 cosines between a claim (query prompt) and source sentences (passage prompt) sit in a
#: narrow band: on the bundled articles an unrelated sentence scores ~0.75-0.80, the sentence a
#: claim restates ~0.85-0.95. The dense part of the support maps [DENSE_FLOOR, DENSE_CEILING]
#: linearly onto [0, 1].
#: Cross-lingual pairs (an English claim, a Vietnamese source) score ~0.06 lower, the same gap
#: as :attr:`~qa.config.QAConfig.min_relevance_en`, hence the lower band for English.
DENSE_FLOOR = {"vi": 0.80, "en": 0.74}
DENSE_CEILING = {"vi": 0.90, "en": 0.84}
#: Share of the support that comes from lexical coverage (names, numbers, syllables of the
#: claim found in the sentence). Below one half: English claims over Vietnamese sources
#: share only names and numbers with them, so the multilingual embedding must carry them.
LEXICAL_WEIGHT = 0.4
#: A citation supports a claim when the support score reaches this value.
SUPPORT_THRESHOLD = 0.5
#: Names and numbers of the claim that the passage lacks scale the support down: by
#: ``1 - NAME_PENALTY * share missing``. A claim about "Konashenkov" cited to a passage that
#: never names him is not supported however close the embeddings are.
NAME_PENALTY = 0.5


@dataclass
class Support:
    """How well one passage supports one claim."""

    score: float  # in [0, 1]
    sentence: tuple[int, int, str] | None  # the passage sentence that supports it best (doc coordinates)
    dense: float = 0.0
    lexical: float = 0.0


class CitationVerifier:
    """Scores how well a passage supports a claim (see the module docstring).

    ``encoder`` embeds claims (query prompt); ``sentence_vectors`` maps passage ids to their
    stored sentence vectors (passage prompt), computed on the fly for passages without them;
    ``lexical`` supplies the alias table and IDF weights of the index.
    """

    def __init__(self, encoder: Encoder, lexical: LexicalChannel, sentence_vectors: dict | None = None,
                 threshold: float = SUPPORT_THRESHOLD):
        self.encoder = encoder
        self.lexical = lexical
        self.sentence_vectors = sentence_vectors if sentence_vectors is not None else {}
        self.threshold = threshold
        self._fresh: dict[int, np.ndarray] = {}

    def _vectors(self, passage: Passage) -> np.ndarray:
        sv = self.sentence_vectors.get(passage.id)
        if sv is None:
            sv = self._fresh.get(passage.id)
        if sv is None:
            texts = [t for _, _, t in passage.sentence_texts()] or [passage.text]
            sv = self._fresh[passage.id] = np.asarray(self.encoder.encode_passages(texts), dtype=np.float32)
        return sv

    def claim_vectors(self, claims: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode_queries(claims), dtype=np.float32)

    def support(self, claim: str, claim_vector: np.ndarray, language: str, passage: Passage,
                core: str | None = None) -> Support:
        """The support of ``passage`` for ``claim`` (its best sentence).

        ``core``: for an elliptical claim checked together with its question ("Ông Kerry gặp
        ông Putin ở đâu? Ở Moskva"), the claim's own words ("Ở Moskva"). The question matches
        its passage whatever the answer, so the names, numbers and (Vietnamese) words of the
        core must be found in the passage too: each missing share scales the support down by
        :data:`NAME_PENALTY`."""
        sentences = passage.sentence_texts() or [(passage.start, passage.end, passage.text)]
        vecs = self._vectors(passage)
        if len(vecs) != len(sentences):  # stored vectors out of step with the spans: embed afresh
            vecs = self._fresh[passage.id] = np.asarray(
                self.encoder.encode_passages([t for _, _, t in sentences]), dtype=np.float32)
        dense = vecs @ claim_vector
        from corpus.normalize import normalize_text

        lang = language if language in DENSE_FLOOR else "vi"
        floor, ceiling = DENSE_FLOOR[lang], DENSE_CEILING[lang]
        text = normalize_text(claim)
        aliases = self.lexical.aliases
        weights = query_units(query_terms(Query(text=text, language=lang), aliases), self.lexical.idf)
        # names and numbers only: the English term extractor keeps exactly those, in any language
        own = normalize_text(core) if core else text
        names = query_units(query_terms(Query(text=own, language="en"), aliases), self.lexical.idf)
        units = [sentence_units(t, aliases.tokens(t, normalized=True)) for _, _, t in sentences]
        everywhere = set().union(*units)
        name_factor = 1.0
        if names:
            name_factor = 1.0 - NAME_PENALTY * (1.0 - coverage(names, everywhere))
        if core:
            # an answer quoted from the source ("Moskva", "Tổng thống Putin") is Vietnamese even
            # under an English question: its words count then, not only its names
            core_lang = "vi" if has_diacritics(own) else lang
            words = query_units(query_terms(Query(text=own, language=core_lang), aliases), self.lexical.idf)
            if words:
                name_factor *= 1.0 - NAME_PENALTY * (1.0 - coverage(words, everywhere))
        best: Support | None = None
        for (s, e, text), d, u in zip(sentences, dense, units):
            lex = coverage(weights, u) if weights else 0.0
            dn = min(1.0, max(0.0, (float(d) - floor) / (ceiling - floor)))
            # a claim without lexical units (an English one with no names or numbers) has no
            # lexical evidence: only a very close embedding can carry it past the threshold
            score = (1 - LEXICAL_WEIGHT) * dn + LEXICAL_WEIGHT * lex
            score *= name_factor
            if best is None or score > best.score:
                best = Support(round(score, 4), (s, e, text), float(d), lex)
        assert best is not None
        return best
