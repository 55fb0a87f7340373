"""clean_article on the bundled seed articles (real data) and on small synthetic cases."""

from __future__ import annotations

import re
import unicodedata

import pytest

from corpus.cleaning import clean_article
from corpus.normalize import normalize_text
from corpus.readers import BUNDLED_DIR

SEED_TITLES = {
    "000": "Nga - Mỹ xích lại gần nhau sau họp bàn ở Moskva",
    "001": "Chung tay bảo vệ nhân loại",
    "002": "Mỹ, Nga chính thức khởi động đàm phán về quân sự ở Syria",
    "003": "",  # the file has no headline line (metadata.json supplies one)
    "004": "Nga - Mỹ chỉ trích nhau gay gắt nhưng vẫn hợp tác trong vấn đề Syria",
}

# (source, author, url, the source line(s) as written in the file)
SEED_SOURCES = {
    "000": ("Đại đoàn kết", "Khánh Duy", "", ["Theo Khánh Duy", "Đại đoàn kết"]),
    "001": ("", "", "", []),
    "002": (
        "Doanh Nghiệp", "",
        "http://doanhnghiepvn.vn/my-nga-chinh-thuc-khoi-dong-dam-phan-ve-quan-su-o-syria-d54987.html",
        ["Nguồn Doanh Nghiệp: http://doanhnghiepvn.vn/"],
    ),
    "003": ("QĐND", "", "", ["Theo QĐND"]),
    "004": ("VOV-Trung tâm Tin", "Vũ Anh Tuấn", "", ["Theo Vũ Anh Tuấn/VOV-Trung tâm Tin"]),
}


def _raw(prefix: str) -> str:
    (path,) = BUNDLED_DIR.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cleaned() -> dict:
    return {prefix: clean_article(_raw(prefix)) for prefix in SEED_TITLES}


def _lines(raw: str) -> list[str]:
    """The file's lines as the cleaner sees them: normalized, blanks collapsed, stripped."""
    return [re.sub(r"\s+", " ", line).strip() for line in normalize_text(raw).split("\n")]


# --------------------------------------------------------------------------- furniture


def test_topic_menu_removed(cleaned):
    doc = cleaned["000"]
    for gone in ("Dòng sự kiện", "Chiến sự Nga - Ukraine", "Bầu cử tổng thống Mỹ 2024",
                 "Chiến sự Israel - Hamas"):
        assert gone not in doc.text
        assert gone not in doc.title
    assert doc.text.startswith("Mỹ và Nga dường như đã phần nào xóa bỏ các bất đồng")
    assert any("Dòng sự kiện" in block for block in doc.removed)


def test_related_news_list_and_everything_after_it_removed(cleaned):
    raw_lines = _lines(_raw("003"))
    start = raw_lines.index("Các tin khác")
    after = [line for line in raw_lines[start:] if line]
    assert len(after) > 10  # heading, 6 headline + teaser pairs, archive footer
    text = cleaned["003"].text
    for line in after:
        assert line not in text, line
    for gone in ("Các tin khác", "Xem các tin đã đưa ngày", "Tin trong:", "Chuyên mục này",
                 "Patriot", "G7", "TTXVN", "Thụy Điển"):
        assert gone not in text


def test_archive_footer_removed_even_without_related_heading():
    raw = ("Tiêu đề bài báo\n\nĐoạn văn thứ nhất của bài báo.\n\n"
           "Xem các tin đã đưa ngày:\nTin trong: Chuyên mục này Mọi chuyên mục\n\nĐoạn văn cuối.")
    doc = clean_article(raw)
    assert doc.text == "Đoạn văn thứ nhất của bài báo.\n\nĐoạn văn cuối."


def test_no_blank_or_padded_lines(cleaned):
    for prefix, doc in cleaned.items():
        assert "\n\n\n" not in doc.text, prefix
        assert "\xa0" not in doc.text, prefix
        for paragraph in doc.text.split("\n\n"):
            assert paragraph and paragraph == paragraph.strip(), prefix
            assert "  " not in paragraph, prefix
            assert "\n" not in paragraph, prefix


def test_single_newlines_become_paragraphs(cleaned):
    # Seed 004 has no blank lines: headline, 10 prose lines, source line.
    paragraphs = cleaned["004"].text.split("\n\n")
    assert len(paragraphs) == 10
    assert paragraphs[0] == ("Nga đã hoàn toàn sẵn sàng để tiếp tục thảo luận với Mỹ về việc phối hợp "
                             "hành động chống khủng bố ở Syria.")


# --------------------------------------------------------------------------- body kept verbatim


def test_known_sentences_kept_verbatim(cleaned):
    assert "Sau cuộc họp kéo dài 3 giờ đồng hồ ở Moscow hôm 15/12" in cleaned["000"].text
    # photo captions carry facts and are kept
    assert ("Tổng thống Nga Vladimir Putin bắt tay Ngoại trưởng Mỹ John Kerry sau cuộc họp hôm 15/12 "
            "ở Moskva. (Nguồn: NBC)") in cleaned["000"].text
    assert "(Ảnh: NB News)" in cleaned["001"].text
    assert "Vấn đề Ukraine" in cleaned["001"].text  # a subheading
    assert "Thành phố Aleppo của Syria sau cuộc không kích của chính quyền Assad (Ảnh: AFP)" in cleaned["002"].text
    # NBSP runs collapse to one space, so a sentence typed with plain spaces is found
    assert "Xy-ri hiện đang là thảm kịch lớn của thời đại" in cleaned["003"].text
    assert "Ngoại trưởng Mỹ Giôn Ke-ri (bên trái) và người đồng cấp Nga Xéc-gây La-vrốp" in cleaned["003"].text
    # a body paragraph that starts with "Theo" is prose, not a source line
    assert "Theo Liên hợp quốc (LHQ)" in cleaned["003"].text


@pytest.mark.parametrize("prefix", sorted(SEED_TITLES))
def test_every_body_line_survives(cleaned, prefix):
    """Every line of the file that is neither furniture, title nor source is in the text as is."""
    doc = cleaned[prefix]
    lines = [line for line in _lines(_raw(prefix)) if line]
    if "Các tin khác" in lines:
        lines = lines[: lines.index("Các tin khác")]
    furniture = {line for line in lines if re.match(r"^(\d+\. )?(Dòng sự kiện|Chiến sự|Bầu cử)", line)}
    source_lines = SEED_SOURCES[prefix][3]
    body = [
        line for line in lines
        if line not in furniture
        and line != SEED_TITLES[prefix]
        and not any(line.startswith(s) for s in source_lines)
    ]
    assert body
    for line in body:
        if line.endswith("./."):
            line = line[:-2]  # the VOV end mark is stripped, the period stays
        assert line in doc.text, line
    # and nothing else: the text is exactly those lines as paragraphs
    assert doc.text == "\n\n".join(line[:-2] if line.endswith("./.") else line for line in body)


def test_end_of_article_mark_stripped(cleaned):
    text = cleaned["004"].text
    assert "/." not in text
    assert text.endswith("tại chiến trường quan trọng này.")


# --------------------------------------------------------------------------- title and source


@pytest.mark.parametrize("prefix", sorted(SEED_TITLES))
def test_titles(cleaned, prefix):
    assert cleaned[prefix].title == SEED_TITLES[prefix]
    if SEED_TITLES[prefix]:
        assert not cleaned[prefix].text.startswith(SEED_TITLES[prefix])


@pytest.mark.parametrize("prefix", sorted(SEED_SOURCES))
def test_source_lines_extracted(cleaned, prefix):
    source, author, url, lines = SEED_SOURCES[prefix]
    doc = cleaned[prefix]
    assert (doc.source, doc.author, doc.url) == (source, author, url)
    for line in lines:
        assert line not in doc.text
    if source:
        assert not doc.text.endswith(source)


def test_given_title_drops_duplicate_leading_line():
    raw = _raw("000")
    doc = clean_article(raw, title="Nga - Mỹ xích lại gần nhau sau họp bàn ở Moskva")
    assert doc.title == "Nga - Mỹ xích lại gần nhau sau họp bàn ở Moskva"
    assert "xích lại gần nhau sau họp bàn" not in doc.text
    assert doc.text == clean_article(raw).text


def test_given_title_keeps_body_when_no_line_matches():
    doc = clean_article(_raw("003"), title="Hội đàm Nga - Mỹ tại Giơ-ne-vơ")
    assert doc.title == "Hội đàm Nga - Mỹ tại Giơ-ne-vơ"
    assert doc.text.startswith("Ngoại trưởng Mỹ Giôn Ke-ri (John Kerry)")


def test_theo_prose_and_nguon_prose_at_end_are_not_sources():
    raw = ("Tiêu đề\n\nĐoạn đầu.\n\n"
           "Theo ông Kerry, hai bên sẽ tiếp tục thảo luận các chi tiết kỹ thuật trong những ngày tới "
           "tại Giơ-ne-vơ.")
    doc = clean_article(raw)
    assert doc.source == "" and doc.text.endswith("tại Giơ-ne-vơ.")
    doc = clean_article("Tiêu đề\n\nĐoạn đầu.\n\nNguồn tin cho biết Nga đã rút quân.")
    assert doc.source == "" and doc.text.endswith("Nguồn tin cho biết Nga đã rút quân.")


def test_other_source_forms():
    doc = clean_article("Tiêu đề\n\nNội dung bài báo.\n\n(Theo TTXVN)")
    assert (doc.source, doc.text) == ("TTXVN", "Nội dung bài báo.")
    doc = clean_article("Tiêu đề\n\nNội dung bài báo.\n\nNguồn: VnExpress")
    assert (doc.source, doc.text) == ("VnExpress", "Nội dung bài báo.")
    doc = clean_article("Tiêu đề\n\nNội dung bài báo.\n\nhttps://example.vn/bai-bao-123.html")
    assert (doc.url, doc.text) == ("https://example.vn/bai-bao-123.html", "Nội dung bài báo.")


# --------------------------------------------------------------------------- normalization


def test_nfc_and_traditional_tone_placement():
    raw = unicodedata.normalize("NFD", "Hoà bình\n\nNgười dân khoẻ mạnh, thuỷ điện hoà lưới.")
    doc = clean_article(raw)
    assert doc.title == "Hòa bình"
    assert doc.text == "Người dân khỏe mạnh, thủy điện hòa lưới."
    for s in (doc.title, doc.text):
        assert unicodedata.is_normalized("NFC", s)
        assert "hoà" not in s.lower() and "khoẻ" not in s and "thuỷ" not in s


def test_seed_text_is_nfc(cleaned):
    for doc in cleaned.values():
        assert unicodedata.is_normalized("NFC", doc.text)
        assert doc.text == normalize_text(doc.text)


def test_line_endings_and_invisible_characters():
    raw = "Tiêu đề\r\n\r\nDòng\u200b một.\r\nDòng\thai   có  tab.\rDòng ba.\u2028Dòng bốn."
    doc = clean_article(raw)
    assert doc.text == "Dòng một.\n\nDòng hai có tab.\n\nDòng ba.\n\nDòng bốn."


def test_soft_wrapped_lines_are_joined():
    raw = "Tiêu đề\n\nĐây là một câu dài bị ngắt\ndòng giữa chừng.\nCâu tiếp theo."
    assert clean_article(raw).text == "Đây là một câu dài bị ngắt dòng giữa chừng.\n\nCâu tiếp theo."


def test_dateline_and_see_also_lines_removed():
    raw = ("Tiêu đề bài\nThứ bảy, 10/9/2016 08:30\n\nĐoạn một.\n\nXem thêm: Nga tuyên bố rút quân\n\n"
           "Đoạn hai.")
    doc = clean_article(raw)
    assert doc.title == "Tiêu đề bài"
    assert doc.date == "2016-09-10"
    assert doc.text == "Đoạn một.\n\nĐoạn hai."


def test_single_paragraph_is_body_not_title():
    doc = clean_article("Một câu ngắn không có dấu chấm")
    assert (doc.title, doc.text) == ("", "Một câu ngắn không có dấu chấm")


def test_empty_input():
    doc = clean_article(" \n\xa0\n\t\n")
    assert (doc.title, doc.text) == ("", "")
