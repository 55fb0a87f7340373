"""normalize_text / fold_diacritics: NFC, traditional tone placement, invisible characters."""

from __future__ import annotations

import unicodedata

import pytest

from corpus import load_bundled
from corpus.normalize import fold_diacritics, normalize_syllable, normalize_text
from corpus.readers import BUNDLED_DIR


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


# --------------------------------------------------------------------------- NFC


@pytest.mark.parametrize("word", ["Nguyễn", "người", "Giơ-ne-vơ", "Đà Nẵng", "Xéc-gây La-vrốp", "thuyền"])
def test_decomposed_input_becomes_precomposed(word):
    decomposed = nfd(word)
    assert decomposed != word  # the test input really is decomposed
    out = normalize_text(decomposed)
    assert out == nfc(word)
    assert unicodedata.is_normalized("NFC", out)
    assert len(out) == len(nfc(word)) < len(decomposed)


def test_decomposed_new_style_is_both_composed_and_moved():
    # NFD "Hoà" with the tone on the "a": composed *and* moved to the "o"
    assert normalize_text(nfd("Nguyễn Thị Hoà")) == "Nguyễn Thị Hòa"


# --------------------------------------------------------------------------- tone placement


@pytest.mark.parametrize("new,traditional", [
    ("hoà", "hòa"),
    ("thuỷ", "thủy"),
    ("khoẻ", "khỏe"),
    ("uỷ ban", "ủy ban"),
    ("HOÀ", "HÒA"),
    ("Hoà Bình", "Hòa Bình"),
    ("Thuỷ", "Thủy"),
    ("THUỶ", "THỦY"),
    ("tuỳ", "tùy"),
    ("xoá", "xóa"),
    ("luỹ", "lũy"),
    ("Hoè", "Hòe"),
    ("qùa", "quà"),  # tone on the "u" of the onset "qu" belongs on the nucleus
    ("Ông Hoà ký thoả thuận", "Ông Hòa ký thỏa thuận"),
])
def test_new_style_tone_placement_becomes_traditional(new, traditional):
    assert new != traditional
    out = normalize_text(new)
    assert out == traditional
    assert len(out) == len(nfc(new))


def test_case_stays_with_the_letters_only_the_tone_moves():
    assert normalize_text("hOà") == "hÒa"
    assert normalize_syllable("ThuỶ") == "ThủY"
    assert normalize_syllable("KhOẻ") == "KhỎe"


@pytest.mark.parametrize("word", [
    # traditional placement already, or syllables where both conventions agree
    "quý", "giữa", "người", "thuyền", "ngoài", "Nguyễn", "quỳnh", "hoàng", "thuở", "gìn",
    "giá", "hủy", "khuya", "khuỷu", "xoáy", "khuấy", "rượu", "nghiêng", "hòa", "thủy", "khỏe",
    "Lê Duẩn", "Ừ",
    # foreign words and names are not Vietnamese syllables: left exactly as written
    "café", "cafè", "Putin", "résumé", "Pokémon", "Kerry", "Genève", "Bjørnshøi",
])
def test_words_that_must_not_change(word):
    assert normalize_text(word) == word


def test_length_is_preserved_for_nfc_input():
    text = ("Thủ tướng Nguyễn Xuân Phúc hoà giải, uỷ ban thuỷ lợi khoẻ mạnh; café Putin "
            "HOÀ BÌNH, Giơ-ne-vơ 26-8, “quý” người thuyền ngoài.")
    assert unicodedata.is_normalized("NFC", text)
    out = normalize_text(text)
    assert out != text  # something was rewritten ...
    assert len(out) == len(text)  # ... in place
    # every character that is not a rewritten vowel is where it was
    changed = [i for i, (a, b) in enumerate(zip(text, out)) if a != b]
    assert changed and all(fold_diacritics(text[i]) == fold_diacritics(out[i]) for i in changed)


# --------------------------------------------------------------------------- invisible characters


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_invisible_characters_are_removed(char):
    assert normalize_text(f"Giơ{char}-ne-vơ") == "Giơ-ne-vơ"
    assert normalize_text(f"{char}Hà{char} Nội{char}") == "Hà Nội"


def test_invisible_character_inside_a_syllable_does_not_block_the_tone_rule():
    assert normalize_text("ho\u200bà") == "hòa"


def test_ordinary_whitespace_and_punctuation_are_kept():
    text = "Hà Nội,\n\n\tngày 26-8 (AFP) — “Xin chào!”  Hết."
    assert normalize_text(text) == text


# --------------------------------------------------------------------------- folding


@pytest.mark.parametrize("text,folded", [
    ("Giơ-ne-vơ", "gio-ne-vo"),
    ("Đà Nẵng", "da nang"),
    ("Nguyễn Phú Trọng", "nguyen phu trong"),
    ("ĐƯỜNG Ưu Ái", "duong uu ai"),
    ("Xéc-gây La-vrốp 26/8", "xec-gay la-vrop 26/8"),
    ("Putin", "putin"),
])
def test_fold_diacritics(text, folded):
    assert fold_diacritics(text) == folded
    assert fold_diacritics(nfd(text)) == folded


def test_fold_makes_both_tone_conventions_equal():
    assert fold_diacritics("hoà") == fold_diacritics("hòa") == "hoa"


# --------------------------------------------------------------------------- the bundled corpus


def test_bundled_documents_are_normalized_and_normalization_is_idempotent():
    docs = load_bundled()
    assert len(docs) == 5
    for d in docs:
        for text in (d.title, d.text):
            once = normalize_text(text)
            assert once == text, d.path  # the reader already normalized
            assert normalize_text(once) == once


def test_idempotent_on_raw_article_files():
    for path in sorted(BUNDLED_DIR.glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        once = normalize_text(raw)
        assert normalize_text(once) == once, path.name
        assert len(once) == len(nfc(raw)) - sum(nfc(raw).count(c) for c in
                                                ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"))
        # folding is idempotent too, and normalization does not change the folded text
        assert fold_diacritics(fold_diacritics(raw)) == fold_diacritics(raw)
