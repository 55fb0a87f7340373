"""Sentence-aware splitting of cleaned documents into passages sized in model tokens.

Passages are built from whole sentences until the token budget is reached, so that every
citation can point at one exact sentence and the embedding model never truncates a passage
silently: a passage's token count (with the title prefix and prompt the embedder adds, which
the caller passes as ``reserved_tokens``) never exceeds ``max_tokens``. A single sentence
longer than the budget is cut at word boundaries into pieces that fit.

Sentences come from ``underthesea.sent_tokenize`` (a Punkt model trained on Vietnamese, which
knows abbreviations such as "TP." or "ThS."), applied paragraph by paragraph, and are mapped
back to character offsets in the document text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .document import Chunk, Document

__all__ = ["ChunkingConfig", "split_sentences", "chunk_document"]

TokenCounter = Callable[[str], int]

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", re.S)
_CLOSERS = "\"'”’»)]"


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into passages.

    ``max_tokens`` = 200: multilingual-e5 was trained on passages of up to a few hundred tokens
    and answer-bearing news paragraphs are 40-150 tokens; 200 keeps a paragraph or two
    together while leaving the answerer a small number of candidate sentences. The hard
    limit of the model (512) is enforced separately by the embedder.
    ``overlap_tokens`` = 40: roughly one sentence of context carried into the next passage, so a
    fact split across a passage boundary is still retrievable with its antecedent.
    """

    max_tokens: int = 200
    overlap_tokens: int = 40

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be in [0, max_tokens/2), got {self.overlap_tokens}")


def _sent_tokenize(text: str) -> list[str]:
    from underthesea import sent_tokenize  # imported lazily: ~1 s import

    return sent_tokenize(text)


def _opens_unclosed(sentence: str, quote: str) -> bool:
    """A straight quote after ``sentence`` closes it only if the sentence left one open."""
    return sentence.count(quote) % 2 == 1


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (paragraph breaks always end a sentence)."""
    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        p_start, p_text = para.start(), para.group(0)
        cursor = 0
        pieces: list[tuple[int, int]] = []
        for sent in _sent_tokenize(p_text):
            sent = sent.strip()
            if not sent:
                continue
            at = p_text.find(sent, cursor)
            if at < 0:  # the tokenizer altered whitespace: fall back to the first word
                first = sent.split()[0]
                at = p_text.find(first, cursor)
                if at < 0:
                    continue
            pieces.append((at, at + len(sent)))
            cursor = at + len(sent)
        # The Punkt model ends a sentence before a closing quote ("...đi." | "” Rồi"): give
        # the closing punctuation back to the sentence it closes.
        fixed: list[tuple[int, int]] = []
        for s, e in pieces:
            j = s
            while (j < e and p_text[j] in _CLOSERS and fixed and p_text[fixed[-1][1]:j].strip() == ""
                   and (p_text[j] not in "\"'" or _opens_unclosed(p_text[fixed[-1][0]:fixed[-1][1]], p_text[j]))):
                j += 1
            if j > s and fixed:
                fixed[-1] = (fixed[-1][0], j)
                while j < e and p_text[j].isspace():
                    j += 1
                s = j
            if s < e:
                fixed.append((s, e))
        # Cover the whole paragraph: text between pieces joins the preceding sentence.
        for i, (s, e) in enumerate(fixed):
            end = fixed[i + 1][0] if i + 1 < len(fixed) else len(p_text)
            seg = p_text[s:end].rstrip()
            spans.append((p_start + s, p_start + s + len(seg)))
    return spans


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Cut one over-long sentence at word boundaries into spans of at most ``budget`` tokens."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        lo, hi = i + 1, len(words)
        # binary search for the longest prefix of words[i:] that fits
        best = i + 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if count(text[words[i][0]:words[mid - 1][1]]) <= budget:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        out.append((words[i][0], words[best - 1][1]))
        i = best
    return out


def chunk_document(doc: Document, count_tokens: TokenCounter, config: ChunkingConfig = ChunkingConfig(),
                   reserved_tokens: int = 0) -> list[Chunk]:
    """Split ``doc.text`` into passages of whole sentences within the token budget.

    ``reserved_tokens`` is what the embedder adds around the passage text (prompt, title
    prefix, special tokens); it is subtracted from ``config.max_tokens``.
    """
    budget = config.max_tokens - reserved_tokens
    if budget < 8:
        raise ValueError(f"title and prompt leave only {budget} tokens for the passage; "
                         f"raise max_tokens ({config.max_tokens})")
    text = doc.text
    units: list[tuple[int, int, int]] = []  # (start, end, tokens)
    for s, e in split_sentences(text):
        n = count_tokens(text[s:e])
        if n <= budget:
            units.append((s, e, n))
        else:
            units.extend((a, b, count_tokens(text[a:b])) for a, b in _split_long(text, s, e, budget, count_tokens))
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and total + units[j][2] + (1 if j > i else 0) <= budget:
            total += units[j][2] + (1 if j > i else 0)  # +1: the joining space may tokenize
            j += 1
        j = max(j, i + 1)
        s, e = units[i][0], units[j - 1][1]
        while count_tokens(text[s:e]) > budget and j - 1 > i:  # tokenization is not additive
            j -= 1
            e = units[j - 1][1]
        sents = tuple((a, b) for a, b, _ in units[i:j])
        chunks.append(Chunk(doc_id=doc.id, index=len(chunks), start=s, end=e, text=text[s:e],
                            sentences=sents, n_tokens=count_tokens(text[s:e])))
        if j >= len(units):
            break
        # Next chunk starts with the trailing sentences of this one that fit the overlap.
        k, carried = j, 0
        while k - 1 > i and carried + units[k - 1][2] <= config.overlap_tokens:
            carried += units[k - 1][2]
            k -= 1
        # The next chunk must bring new text: drop carried sentences that leave no room for it.
        while k < j and carried + (j - k) + units[j][2] > budget:
            carried -= units[k][2]
            k += 1
        i = k
    return chunks
