"""Encoder precision: bf16 autocast where the hardware runs it, fp32 elsewhere, and indexes
built at one precision searched at the other."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.common import SEED_QUESTIONS
from embeddings.encoder import (
    FINGERPRINT_PROBE,
    PRECISIONS,
    bf16_native,
    load_encoder,
    resolve_precision,
)
from qa import Pipeline, QAConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_bf16 = pytest.mark.skipif(not bf16_native("cpu"),
                                reason="this CPU has no native bfloat16 (AVX512-BF16/AMX/ARM BF16)")


def test_auto_follows_the_hardware_check():
    assert resolve_precision("auto", native_bf16=False) == "fp32"
    assert resolve_precision("auto", native_bf16=True) == "bf16"
    # an explicit choice is kept whatever the hardware
    assert resolve_precision("fp32", native_bf16=True) == "fp32"
    assert resolve_precision("bf16", native_bf16=False) == "bf16"
    assert resolve_precision("auto") in ("fp32", "bf16")


def test_capabilities_decide_native_bf16():
    plain_avx512 = {"architecture": "x86_64", "avx2": True, "avx512_f": True, "avx512_bw": True,
                    "avx512_bf16": False, "amx_bf16": False}
    assert not bf16_native("cpu", plain_avx512)
    assert resolve_precision("auto", native_bf16=bf16_native("cpu", plain_avx512)) == "fp32"
    assert bf16_native("cpu", {**plain_avx512, "avx512_bf16": True})
    assert bf16_native("cpu", {**plain_avx512, "amx_bf16": True})
    assert bf16_native("cpu", {"architecture": "arm64", "neon": True, "bf16": True})
    assert not bf16_native("cpu", {"architecture": "arm64", "neon": True, "bf16": False})
    assert not bf16_native("meta")  # neither a CPU nor a CUDA device


@pytest.mark.parametrize("bad", ["fp16", "BF16", "", "float32"])
def test_bad_precision_is_a_clear_error(bad, encoder):
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision(bad)
    with pytest.raises(ValueError, match="encoder_precision must be auto, fp32 or bf16"):
        QAConfig(encoder_precision=bad)
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        load_encoder(precision=bad)  # fails before loading the model
    with pytest.raises(ValueError, match="precision must be"):
        encoder.with_precision(bad)


def test_default_precision_is_auto_resolved(encoder):
    assert QAConfig().encoder_precision == "auto"
    assert "auto" in PRECISIONS
    assert encoder.precision == resolve_precision("auto", "cpu")
    assert encoder.with_precision("fp32").precision == "fp32"
    assert encoder.with_precision("fp32").model is encoder.model  # shared, not copied


def test_probe_is_fp32_at_any_precision(encoder):
    """The stored probe names the model, so indexes built at one precision open with the other."""
    fp32, bf16 = encoder.with_precision("fp32"), encoder.with_precision("bf16")
    assert np.array_equal(fp32.probe_vector, bf16.probe_vector)
    assert fp32.fingerprint == bf16.fingerprint
    assert bf16.same_model_as(fp32.probe_vector.tolist())


@needs_bf16
def test_bf16_vectors_agree_with_fp32(encoder, bundled_pipeline):
    fp32, bf16 = encoder.with_precision("fp32"), encoder.with_precision("bf16")
    idx = bundled_pipeline.index
    texts = [fp32.passage_input(idx.documents[p.doc_id].title, p.text) for p in idx.passages.values()]
    texts.append(FINGERPRINT_PROBE)
    a, b = fp32.encode_passages(texts), bf16.encode_passages(texts)
    assert a.dtype == b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert float((a * b).sum(axis=1).min()) >= 0.999
    assert not np.array_equal(a, b)  # bf16 really ran (its rounding shows in the last digits)
    qa, qb = fp32.encode_queries(SEED_QUESTIONS), bf16.encode_queries(SEED_QUESTIONS)
    assert float((qa * qb).sum(axis=1).min()) >= 0.999
    # the fingerprint check (cosine >= 0.99) would accept a probe embedded at bf16 too
    assert fp32.same_model_as(b[-1].tolist())


@needs_bf16
def test_fp32_index_answers_the_same_at_bf16(encoder, bundled_docs, tmp_path):
    fp32, bf16 = encoder.with_precision("fp32"), encoder.with_precision("bf16")
    built = Pipeline(QAConfig(index_dir=tmp_path, encoder_precision="fp32"), encoder=fp32)
    built.add_documents(list(bundled_docs.values()))
    reopened = Pipeline(QAConfig(index_dir=tmp_path, encoder_precision="bf16"), encoder=bf16)
    assert len(reopened.index) == len(built.index) > 0
    found = 0
    for q in SEED_QUESTIONS:
        a, b = built.ask(q), reopened.ask(q)
        assert b.found == a.found, q
        found += a.found
        assert b.passages[0].id == a.passages[0].id, q
        assert [c.passage_id for c in b.citations][:1] == [c.passage_id for c in a.citations][:1], q
    assert found >= len(SEED_QUESTIONS) - 2  # the seed questions are about the bundled articles
