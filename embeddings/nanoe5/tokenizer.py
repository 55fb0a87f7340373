"""The XLM-R SentencePiece unigram tokenizer rebuilt from the E5S1 vocabulary and normalization map
(a ``tokenizers`` fast tokenizer; the map compiled into a SentencePiece precompiled charsmap)."""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

from .format import E5S1Model

__all__ = ["build_tokenizer"]


def _build_double_array(entries: list[tuple[bytes, int]]) -> list[int]:
    """Build a darts-clone double array (the trie format of SentencePiece charsmaps).

    ``entries`` are (key bytes, value) pairs.  Unit layout (darts-clone, as read by
    the ``spm_precompiled`` crate behind ``tokenizers.normalizers.Precompiled``):
    node unit = ``offset << 10 | has_leaf << 8 | label``; value unit = ``value | 1 << 31``
    stored at the node's base (label 0); child ``c`` of a node lives at ``base ^ c``.
    Bases are kept unique, which makes label checks sufficient.
    """
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    for key, val in entries:
        if not key or 0 in key:
            raise ValueError("charsmap keys must be non-empty and NUL-free")
        node = 0
        for c in key:
            nxt = children[node].get(c)
            if nxt is None:
                nxt = len(children)
                children.append({})
                values.append(None)
                children[node][c] = nxt
            node = nxt
        values[node] = val

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # root
    used_bases: set[int] = set()
    pos_of = {0: 0}
    first_free = 1
    queue = deque([0])
    while queue:
        node = queue.popleft()
        labels = sorted(children[node])
        if values[node] is not None:
            labels = [0, *labels]
        if not labels:
            continue
        f = used.find(0, first_free)  # C-speed scan for the next free slot
        first_free = max(f, 1) if f >= 0 else len(used)
        while True:
            if f < 0:
                f = len(used)
            base = f ^ labels[0]
            need = (max(f, base) | 0xFF) + 1
            if need > len(used):
                grow = need - len(used) + 1024
                used.extend(bytes(grow))
                units.extend([0] * grow)
            if base not in used_bases and all(not used[base ^ lb] for lb in labels):
                break
            f = used.find(0, f + 1)
        used_bases.add(base)
        p = pos_of[node]
        offset = p ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large")
        units[p] |= offset << 10
        if values[node] is not None:
            units[p] |= 1 << 8
            units[base] = values[node] | (1 << 31)
            used[base] = 1
        for c in sorted(children[node]):
            q = base ^ c
            units[q] = c
            used[q] = 1
            pos_of[children[node][c]] = q
            queue.append(children[node][c])
    # Every node's 256-slot block must exist (lookups index base ^ byte).
    end = max((b | 0xFF) + 1 for b in used_bases) if used_bases else 256
    return units[: max(end, 256)]


def _precompiled_charsmap(norm_map: list[tuple[int, str]]) -> bytes:
    """SentencePiece-style precompiled charsmap for a per-codepoint map."""
    pool = bytearray()
    where: dict[str, int] = {}
    entries = []
    for cp, out in norm_map:
        if out not in where:
            where[out] = len(pool)
            pool += out.encode("utf-8") + b"\0"
        entries.append((chr(cp).encode("utf-8"), where[out]))
    entries.sort()
    trie = np.asarray(_build_double_array(entries), dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def _char_class(codepoints: list[int], negate: bool) -> str:
    parts = []
    cps = sorted(codepoints)
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def build_tokenizer(m: E5S1Model) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that tokenizes exactly like ``e5.c: tok_content``."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(p, float(s)) for p, s in zip(m.pieces, m.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, m.unk_id, False))
    # e5.c: per-codepoint map, then collapse runs of U+0020.  (The file carries no
    # SentencePiece charsmap, so we compile the per-codepoint map into one.)
    steps = [
        normalizers.Precompiled(_precompiled_charsmap(m.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ]
    # tokenizers' Precompiled looks a whole grapheme cluster up by its *prefix*, so
    # "K + combining mark" (K a mapped char, cluster < 6 bytes) would lose the mark,
    # whereas e5.c maps codepoint by codepoint.  Fencing every non-ASCII char with a
    # control char that the map deletes makes every cluster a single codepoint (CR LF
    # aside, which ends up as one space either way), hence exactly per-codepoint.
    fence = next((cp for cp, out in m.norm_map if out == "" and (cp < 0x20 or 0x7F <= cp < 0xA0)), None)
    if fence is not None:
        steps[:0] = [
            # (never at offset 0: tokenizers then fails to delete the inserted char)
            normalizers.Replace(Regex(r"(?<=[\s\S])(?=[^\x{0}-\x{7F}])"), chr(fence)),
            normalizers.Replace(Regex(r"(?<=[^\x{0}-\x{7F}])"), chr(fence)),
        ]
    tok.normalizer = normalizers.Sequence(steps)
    # e5.c runs one Viterbi over the whole string.  When no piece contains an inner
    # "▁" (true for XLM-R) every "▁" starts a piece, so splitting on "▁" is
    # equivalent.  e5.c emits one <unk> per unknown character while tokenizers'
    # Unigram fuses runs of <unk>: isolating every character that occurs in no
    # piece keeps them separate (such characters can never be part of a
    # multi-character piece, so nothing else changes).
    split = not any("▁" in p[1:] for p in m.pieces)
    known = sorted({ord(ch) for p in m.pieces for ch in p})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=split),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=split)
    bos, eos = m.pieces[m.bos_id], m.pieces[m.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos_id), (eos, m.eos_id)],
    )
    specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in m.pieces]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok
