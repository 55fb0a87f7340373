"""read_path / load_bundled on the bundled corpus and on files of every supported type."""

from __future__ import annotations

import io
import json
import shutil
import unicodedata
import warnings
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from corpus import Document, load_bundled, read_path
from corpus.readers import BUNDLED_DIR, SUPPORTED_SUFFIXES, dehyphenate

SEED_NAMES = [
    "000_bd2bafc4cf2bf486.txt", "001_42beaa4c2245c016.txt", "002_9d0aae2cc10aa5df.txt",
    "003_f82e77ecbe13f8f9.txt", "004_ac6c833612cf015b.txt",
]


# --------------------------------------------------------------------------- bundled corpus


@pytest.fixture(scope="module")
def bundled() -> list[Document]:
    return load_bundled()


def test_bundled_corpus_files_present():
    assert sorted(p.name for p in BUNDLED_DIR.glob("*.txt")) == SEED_NAMES
    meta = json.loads((BUNDLED_DIR / "metadata.json").read_text(encoding="utf-8"))
    assert set(SEED_NAMES) <= set(meta)


def test_load_bundled(bundled):
    assert [Path(d.path).name for d in bundled] == SEED_NAMES
    by_name = {Path(d.path).name: d for d in bundled}
    assert by_name[SEED_NAMES[0]].title == "Nga - Mỹ xích lại gần nhau sau họp bàn ở Moskva"
    assert by_name[SEED_NAMES[0]].date == "2015-12-15"
    assert by_name[SEED_NAMES[0]].source == "Đại đoàn kết"
    assert by_name[SEED_NAMES[0]].metadata["author"] == "Khánh Duy"
    # 003 has no headline line: the editor's headline from metadata.json; the body is untouched
    d003 = by_name[SEED_NAMES[3]]
    assert d003.title == "Ngoại trưởng Mỹ và Nga hội đàm tại Giơ-ne-vơ về lệnh ngừng bắn ở Xy-ri"
    assert d003.metadata["headline_from"] == "editor"
    assert d003.text.startswith("Ngoại trưởng Mỹ Giôn Ke-ri (John Kerry)")
    assert (d003.source, d003.date) == ("QĐND", "2016-08-26")
    assert by_name[SEED_NAMES[2]].url.startswith("http://doanhnghiepvn.vn/")
    assert by_name[SEED_NAMES[4]].source == "VOV-Trung tâm Tin"
    for doc in bundled:
        assert doc.title and doc.text
        assert unicodedata.is_normalized("NFC", doc.text)
        for gone in ("Dòng sự kiện", "Bầu cử tổng thống Mỹ 2024", "Các tin khác",
                     "Xem các tin đã đưa ngày", "Theo QĐND", "Theo Khánh Duy", "/."):
            assert gone not in doc.text


def test_ids_stable_and_distinct(bundled):
    again = load_bundled()
    assert [d.id for d in again] == [d.id for d in bundled]
    assert len({d.id for d in bundled}) == len(bundled)
    assert [d.to_dict() for d in again] == [d.to_dict() for d in bundled]


def test_load_bundled_from_any_cwd(tmp_path, monkeypatch, bundled):
    monkeypatch.chdir(tmp_path)
    assert [d.id for d in load_bundled()] == [d.id for d in bundled]


def test_read_path_on_bundled_folder_matches_load_bundled(bundled):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # README.md and metadata.json are skipped silently
        docs = read_path(BUNDLED_DIR)
    assert [d.id for d in docs] == [d.id for d in bundled]


def test_duplicate_file_in_folder_gives_no_duplicate_ids(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(BUNDLED_DIR / SEED_NAMES[0], tmp_path / "a.txt")
    shutil.copy(BUNDLED_DIR / SEED_NAMES[0], tmp_path / "sub" / "copy.txt")
    shutil.copy(BUNDLED_DIR / SEED_NAMES[1], tmp_path / "b.txt")
    docs = read_path(tmp_path)
    assert len(docs) == 2
    assert len({d.id for d in docs}) == 2
    assert [Path(d.path).name for d in docs] == ["a.txt", "b.txt"]  # sorted, first copy kept


def test_same_article_same_id_regardless_of_file(tmp_path):
    shutil.copy(BUNDLED_DIR / SEED_NAMES[4], tmp_path / "x.txt")
    (doc,) = read_path(tmp_path / "x.txt")
    assert doc.id == load_bundled()[4].id


def test_untitled_article_gets_content_based_title(tmp_path):
    # 003 has no headline; outside corpus/articles there is no metadata.json to supply one
    shutil.copy(BUNDLED_DIR / SEED_NAMES[3], tmp_path / "one.txt")
    shutil.copy(BUNDLED_DIR / SEED_NAMES[3], tmp_path / "two.txt")
    (doc,) = read_path(tmp_path)  # same content under two names: one document
    assert doc.title == "Ngoại trưởng Mỹ Giôn Ke-ri (John Kerry) và người đồng cấp Nga…"
    assert doc.metadata["title_from"] == "body"
    assert doc.text.startswith("Ngoại trưởng Mỹ Giôn Ke-ri (John Kerry)")


# --------------------------------------------------------------------------- folders and errors


def test_folder_skips_hidden_and_warns_on_unsupported(tmp_path):
    (tmp_path / "a.txt").write_text("Tiêu đề A\n\nNội dung bài A.", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("Tiêu đề ẩn\n\nNội dung ẩn.", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "b.txt").write_text("Tiêu đề B\n\nNội dung B.", encoding="utf-8")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.warns(UserWarning, match=r"unsupported.*photo\.jpg"):
        docs = read_path(tmp_path)
    assert [d.title for d in docs] == ["Tiêu đề A"]


def test_unsupported_single_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unsupported.*\.csv") as exc:
        read_path(path)
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in str(exc.value)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_path(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        read_path(tmp_path / "nope.txt")


def test_txt_bom_and_invalid_utf8(tmp_path):
    good = tmp_path / "bom.txt"
    good.write_bytes("\ufeffTiêu đề\n\nNội dung có BOM.".encode("utf-8"))
    (doc,) = read_path(good)
    assert (doc.title, doc.text) == ("Tiêu đề", "Nội dung có BOM.")
    bad = tmp_path / "latin.txt"
    bad.write_bytes("Tiêu đề\n\nNội dung.".encode("utf-16-le"))  # no BOM: not UTF-8
    with pytest.raises(ValueError, match=r"latin\.txt.*UTF-8"):
        read_path(bad)


def test_nfd_input_normalized(tmp_path):
    path = tmp_path / "nfd.txt"
    path.write_text(unicodedata.normalize("NFD", "Hoà bình ở Xy-ri\n\nHai bên đã thoả thuận hoà bình."),
                    encoding="utf-8")
    (doc,) = read_path(path)
    assert doc.title == "Hòa bình ở Xy-ri"
    assert doc.text == "Hai bên đã thỏa thuận hòa bình."
    assert unicodedata.is_normalized("NFC", doc.title + doc.text)


def test_empty_document_skipped_with_warning(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\xa0\n\n   \nCác tin khác\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="no text"):
        assert read_path(path) == []


def test_skip_errors_in_folder(tmp_path):
    (tmp_path / "a.txt").write_text("Tiêu đề\n\nNội dung.", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("Bài UTF-16\n\nNội dung UTF-16 có BOM.".encode("utf-16"))
    (tmp_path / "c.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # binary, named .txt
    with pytest.raises(ValueError, match="c.txt"):
        read_path(tmp_path)
    with pytest.warns(UserWarning, match="c.txt"):
        docs = read_path(tmp_path, skip_errors=True)
    assert [d.title for d in docs] == ["Tiêu đề", "Bài UTF-16"]  # b.txt: UTF-16 with BOM decodes


# --------------------------------------------------------------------------- HTML

HTML_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>Nga và Mỹ nhất trí về lệnh ngừng bắn ở Syria - Báo Thời Sự</title>
<meta property="og:title" content="Nga và Mỹ nhất trí về lệnh ngừng bắn ở Syria">
<meta property="og:site_name" content="Báo Thời Sự">
<meta property="og:url" content="https://baothoisu.example.vn/the-gioi/nga-my-ngung-ban-123.html">
<meta property="article:published_time" content="2016-09-10T08:30:00+07:00">
<style>body { font-family: sans-serif; }</style>
<script>var ads = [];</script>
</head>
<body>
<header>
  <div class="logo"><a href="/">Báo Thời Sự</a></div>
  <nav class="menu"><ul>
    <li><a href="/">Trang chủ</a></li><li><a href="/the-gioi">Thế giới</a></li>
    <li><a href="/kinh-te">Kinh tế</a></li><li><a href="/the-thao">Thể thao</a></li>
    <li><a href="/giai-tri">Giải trí</a></li>
  </ul></nav>
</header>
<main>
<article>
  <h1>Nga và Mỹ nhất trí về lệnh ngừng bắn ở Syria</h1>
  <p class="date">Thứ bảy, 10/9/2016 08:30</p>
  <p>Ngoại trưởng Mỹ John Kerry và người đồng cấp Nga Sergei Lavrov đã đạt được thỏa thuận về một lệnh
  ngừng bắn mới ở Syria sau nhiều giờ đàm phán tại Geneva.</p>
  <p>Theo thỏa thuận, lệnh ngừng bắn sẽ có hiệu lực từ ngày 12/9, trùng với dịp lễ Eid al-Adha của người
  Hồi giáo. Hai bên sẽ thành lập một trung tâm phối hợp chung để chia sẻ thông tin về các mục tiêu khủng bố.</p>
  <p>Ông Kerry cho biết thỏa thuận này có thể trở thành bước ngoặt nếu tất cả các bên tuân thủ. Ông Lavrov
  nói Nga đã thông báo kế hoạch cho chính phủ Syria và chính phủ này sẵn sàng thực hiện.</p>
  <p>Cuộc xung đột ở Syria kéo dài hơn 5 năm đã làm hàng trăm nghìn người thiệt mạng và hàng triệu người
  phải rời bỏ nhà cửa.</p>
</article>
<aside class="related">
  <h3>Tin liên quan</h3>
  <ul>
    <li><a href="/a">Liên hợp quốc kêu gọi viện trợ nhân đạo cho Aleppo</a></li>
    <li><a href="/b">Thổ Nhĩ Kỳ mở rộng chiến dịch quân sự ở miền bắc Syria</a></li>
  </ul>
</aside>
</main>
<footer>
  <p>© 2016 Báo Thời Sự. Mọi quyền được bảo lưu.</p>
  <p>Giấy phép số 123/GP-BTTTT. Liên hệ quảng cáo: 0123 456 789</p>
</footer>
</body></html>
"""


def test_html_news_page(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    (doc,) = read_path(path)
    assert doc.title == "Nga và Mỹ nhất trí về lệnh ngừng bắn ở Syria"
    assert doc.source == "Báo Thời Sự"
    assert doc.url == "https://baothoisu.example.vn/the-gioi/nga-my-ngung-ban-123.html"
    assert doc.date == "2016-09-10"
    assert doc.text.startswith("Ngoại trưởng Mỹ John Kerry và người đồng cấp Nga Sergei Lavrov")
    assert "trùng với dịp lễ Eid al-Adha của người Hồi giáo." in doc.text
    assert doc.text.endswith("hàng triệu người phải rời bỏ nhà cửa.")
    assert len(doc.text.split("\n\n")) == 4
    for gone in ("Trang chủ", "Thể thao", "Giải trí", "Tin liên quan", "Liên hợp quốc kêu gọi",
                 "Thổ Nhĩ Kỳ", "©", "Mọi quyền", "Giấy phép", "quảng cáo", "var ads", "font-family",
                 "10/9/2016", "Nga và Mỹ nhất trí"):
        assert gone not in doc.text, gone


# --------------------------------------------------------------------------- JSONL


def test_jsonl(tmp_path):
    path = tmp_path / "news.jsonl"
    records = [
        {"title": "Nga - Mỹ hội đàm", "text": "Nga - Mỹ hội đàm\n\nHai ngoại trưởng gặp nhau tại Paris.",
         "url": "https://example.vn/1", "date": "2014-10-14", "source": "Báo A"},
        {"title": "Thoả thuận ngừng bắn", "text": "Hai bên đạt thoả thuận.\n\nTheo TTXVN"},
    ]
    path.write_text(json.dumps(records[0], ensure_ascii=False) + "\n\n"
                    + json.dumps(records[1], ensure_ascii=False) + "\n", encoding="utf-8")
    first, second = read_path(path)
    assert (first.title, first.text) == ("Nga - Mỹ hội đàm", "Hai ngoại trưởng gặp nhau tại Paris.")
    assert (first.url, first.date, first.source) == ("https://example.vn/1", "2014-10-14", "Báo A")
    assert (second.title, second.text, second.source) == ("Thỏa thuận ngừng bắn", "Hai bên đạt thỏa thuận.", "TTXVN")
    assert second.metadata["line"] == 3


@pytest.mark.parametrize("bad_line, message", [
    ('{"title": "x", "text": ', "malformed"),
    ('{"title": "Không có text"}', "text"),
    ('["a list"]', "object"),
])
def test_jsonl_bad_line(tmp_path, bad_line, message):
    """A broken line is reported with its number and skipped; the good lines are kept."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"title": "Tốt", "text": "Nội dung tốt."}\n' + bad_line + "\n"
                    + '{"title": "Cũng tốt", "text": "Nội dung sau dòng hỏng."}\n', encoding="utf-8")
    with pytest.warns(UserWarning, match=rf"bad\.jsonl, line 2.*{message}"):
        docs = read_path(path)
    assert [(d.title, d.metadata["line"]) for d in docs] == [("Tốt", 1), ("Cũng tốt", 3)]


# --------------------------------------------------------------------------- Markdown


def test_markdown(tmp_path):
    path = tmp_path / "bai.md"
    path.write_text(
        "# Nga và Mỹ *nối lại* đối thoại\n\n"
        "![Ảnh minh họa](anh.jpg)\n\n"
        "Ngoại trưởng **Lavrov** và [ông Kerry](https://example.vn/kerry) đã gặp nhau tại _Geneva_.\n\n"
        "## Bối cảnh\n\n"
        "- Cuộc xung đột kéo dài nhiều năm.\n"
        "- Hai bên từng đạt thoả thuận vào tháng 2.\n\n"
        "> Chúng tôi đã đạt được sự thông suốt.\n",
        encoding="utf-8",
    )
    (doc,) = read_path(path)
    assert doc.title == "Nga và Mỹ nối lại đối thoại"
    assert doc.text == (
        "Ngoại trưởng Lavrov và ông Kerry đã gặp nhau tại Geneva.\n\n"
        "Bối cảnh\n\n"
        "Cuộc xung đột kéo dài nhiều năm.\n\n"
        "Hai bên từng đạt thỏa thuận vào tháng 2.\n\n"
        "Chúng tôi đã đạt được sự thông suốt."
    )


# --------------------------------------------------------------------------- PDF


def _pdf_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page, one line of text per item.

    Objects: 1 catalog, 2 page tree, 3 font, then a page and its content stream per page, then the
    optional /Info dictionary; the xref table holds the byte offset of every object.
    """
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    info_id = 4 + 2 * n
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for lines, pid in zip(pages, page_ids):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        ops += [f"({_pdf_escape(line)}) Tj T*" if line else "T*" for line in lines]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[pid] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                        f"/Resources << /Font << /F1 3 0 R >> >> /Contents {pid + 1} 0 R >>").encode()
        objects[pid + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    if title:
        objects[info_id] = f"<< /Title ({_pdf_escape(title)}) >>".encode("latin-1")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[num] for num in range(1, size))
    info = f" /Info {info_id} 0 R" if title else ""
    out += f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


PDF_PAGES = [
    [
        "Russia and the United States agreed on Friday to a new ceasefire",
        "plan for Syria after talks in Geneva that lasted almost ten hours.",
        "",
        "The two sides will set up a joint centre to share inter-",
        "national intelligence on militant groups.",
    ],
    ["Aid convoys are expected to reach Aleppo within days."],
]


def test_pdf(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(PDF_PAGES, title="Ceasefire plan for Syria"))
    reader = PdfReader(path)  # the hand-made file is a real PDF
    assert len(reader.pages) == 2
    assert "Aleppo" in reader.pages[1].extract_text()
    (doc,) = read_path(path)
    assert doc.title == "Ceasefire plan for Syria"
    assert doc.metadata["pages"] == 2
    assert ("Russia and the United States agreed on Friday to a new ceasefire plan for Syria after "
            "talks in Geneva that lasted almost ten hours.") in doc.text
    assert "joint centre to share international intelligence on militant groups." in doc.text
    assert doc.text.endswith("Aid convoys are expected to reach Aleppo within days.")


def test_pdf_without_title_metadata_uses_headline(tmp_path):
    path = tmp_path / "untitled.pdf"
    path.write_bytes(make_pdf([["Ceasefire plan for Syria", "", "The talks lasted ten hours."]]))
    (doc,) = read_path(path)
    assert (doc.title, doc.text) == ("Ceasefire plan for Syria", "The talks lasted ten hours.")


def test_pdf_encrypted_and_unreadable(tmp_path):
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(PDF_PAGES)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as f:
        writer.write(f)
    with pytest.raises(ValueError, match=r"locked\.pdf.*encrypted"):
        read_path(locked)
    # encrypted with an empty user password (printing restrictions only): readable
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(PDF_PAGES)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    open_pdf = tmp_path / "restricted.pdf"
    with open_pdf.open("wb") as f:
        writer.write(f)
    (doc,) = read_path(open_pdf)
    assert "Aleppo" in doc.text
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a pdf")
    with pytest.raises(ValueError, match=r"broken\.pdf"):
        read_path(broken)


def test_dehyphenate():
    assert dehyphenate("inter-\nnational talks") == "international talks"
    assert dehyphenate("the Al-\nQaeda group") == "the Al-Qaeda group"
    # Vietnamese is not hyphenated by typesetters: the hyphen belongs to the word
    assert dehyphenate("hội đàm tại Giơ-ne-\nvơ, Thụy Sĩ, với ông Ke-\nri") == "hội đàm tại Giơ-ne-vơ, Thụy Sĩ, với ông Ke-ri"
