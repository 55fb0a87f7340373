"""Bad input files: a clear error naming the file and the reason, and nothing good lost."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import unicodedata
import warnings

import pytest
from pypdf import PdfWriter

from corpus import ReadError, read_path, read_paths_report
from corpus.readers import MAX_ARTICLE_BYTES

ARTICLE = (
    "Hà Nội thông qua kế hoạch chống ngập\n\n"
    "Ủy ban nhân dân thành phố Hà Nội đã thông qua kế hoạch chống ngập cho mùa mưa năm nay, "
    "với tổng kinh phí hơn 500 tỷ đồng. Người dân ở các quận nội thành được khuyến cáo theo dõi "
    "thông tin thời tiết và hạn chế đi lại khi có mưa lớn.\n\n"
    "Theo kế hoạch, thành phố sẽ nạo vét hơn 200 km cống thoát nước và lắp đặt thêm 12 trạm bơm mới "
    "trước tháng Sáu."
)
# Windows-1258 has precomposed letters for the vowel shapes (â, ê, ô, ơ, ư, ă, đ) but writes tone
# marks as combining characters after the letter: "ộ" = "ô" + U+0323.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def to_windows_1258(text: str) -> bytes:
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
        out.append(base + "".join(c for c in parts if c in _TONES))
    return "".join(out).encode("cp1258")


def test_legacy_and_bom_encodings_decode_to_the_same_document(tmp_path):
    (tmp_path / "utf8.txt").write_text(ARTICLE, encoding="utf-8")
    (expected,) = read_path(tmp_path / "utf8.txt")
    encoded = {
        "cp1258.txt": to_windows_1258(ARTICLE),
        "utf16.txt": ARTICLE.encode("utf-16"),  # with BOM, as Windows Notepad writes "Unicode"
        "utf16be.txt": b"\xfe\xff" + ARTICLE.encode("utf-16-be"),
        "utf8sig.txt": ARTICLE.encode("utf-8-sig"),
        "utf32.txt": ARTICLE.encode("utf-32"),
    }
    assert b"\xcc" in encoded["cp1258.txt"]  # U+0300 combining grave as cp1258 writes it: the hard case
    for name, data in encoded.items():
        (tmp_path / name).write_bytes(data)
        (doc,) = read_path(tmp_path / name)
        assert (doc.id, doc.title, doc.text) == (expected.id, expected.title, expected.text), name
        assert unicodedata.is_normalized("NFC", doc.title + doc.text)


def test_empty_and_whitespace_files_are_skipped_and_reported(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text(" \n\t\n", encoding="utf-8")
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"empty\.txt: empty file"):
        assert read_path(tmp_path / "empty.txt") == []
    report = read_paths_report([tmp_path])
    assert [d.title for d in report.documents] == ["Hà Nội thông qua kế hoạch chống ngập"]
    problems = {os.path.basename(p.path): p for p in report.problems}
    assert problems["empty.txt"].kind == "empty" and "0 bytes" in problems["empty.txt"].reason
    assert problems["blank.md"].kind == "empty" and "no text" in problems["blank.md"].reason


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 50,  # an image renamed .txt
    b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 20,  # a zip (docx) renamed .txt
    bytes(b for b in range(1, 256) if b not in b"\t\n\r\x0c") * 20,  # no NUL, but control bytes
])
def test_binary_renamed_txt_is_rejected_clearly(tmp_path, data):
    path = tmp_path / "photo.txt"
    path.write_bytes(data)
    with pytest.raises(ReadError, match=r"photo\.txt: .*(binary|encoding|not valid UTF-8)") as exc:
        read_path(path)
    assert exc.value.kind in ("binary", "encoding") and exc.value.path == str(path)
    html = tmp_path / "photo.html"
    html.write_bytes(data if b"\x00" in data else b"\x00" + data)
    with pytest.raises(ReadError, match=r"photo\.html: binary"):
        read_path(html)


def test_html_of_only_scripts_is_reported(tmp_path):
    path = tmp_path / "app.html"
    path.write_text("<html><head><script>var a = 1; document.write('Tin mới nhất');</script></head>"
                    "<body><script src='x.js'></script><noscript>Bật JavaScript</noscript>"
                    "<style>p{color:red}</style></body></html>", encoding="utf-8")
    report = read_paths_report([path])
    assert report.documents == []
    (problem,) = report.problems
    assert problem.kind == "empty" and "no article text" in problem.reason and "app.html" in str(problem)


def _write_big(path, first: bytes, size: int, last: bytes = b"") -> None:
    block = b"Tin t\xe1\xbb\xa9c d\xc3\xa0i. " * 4096  # UTF-8 Vietnamese filler, no newline
    with open(path, "wb") as f:
        f.write(first)
        written = len(first)
        while written < size:
            f.write(block)
            written += len(block)
        f.write(last)


def test_50_mb_text_file_is_rejected_without_being_read(tmp_path):
    path = tmp_path / "dump.txt"
    _write_big(path, b"", 50 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(ReadError, match=r"dump\.txt: file too large \(5\d\.\d MiB.*limit.*10 MiB") as exc:
            read_path(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert exc.value.kind == "too-large"
    assert peak < 2**20  # rejected from the file size: nothing of it was loaded


def test_50_mb_jsonl_is_streamed_and_an_oversized_line_reported(tmp_path):
    """JSONL holds many articles, so a big file is legitimate: it is read line by line, a single
    line over the per-article limit is rejected with its number, and memory stays bounded."""
    path = tmp_path / "big.jsonl"
    good = json.dumps({"title": "Bài một", "text": ARTICLE}, ensure_ascii=False).encode() + b"\n"
    tail = b"\n" + json.dumps({"title": "Bài ba", "text": ARTICLE.replace("500", "600")},
                              ensure_ascii=False).encode() + b"\n"
    _write_big(path, good + b'{"title": "Qu\xc3\xa1 d\xc3\xa0i", "text": "', 50 * 2**20, b'"}' + tail)
    assert path.stat().st_size > 50 * 2**20
    tracemalloc.start()
    try:
        report = read_paths_report([path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.metadata["line"] for d in report.documents] == [1, 3]
    (problem,) = report.problems
    assert (problem.line, problem.kind) == (2, "too-large")
    assert peak < 3 * MAX_ARTICLE_BYTES  # one bounded piece of the line at a time, never 50 MB


def test_pdf_without_text_layer(tmp_path):
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)  # what a scan looks like to a text extractor
    buf = io.BytesIO()
    writer.write(buf)
    path = tmp_path / "scan.pdf"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ReadError, match=r"scan\.pdf: PDF has no text layer \(scanned PDF\?\)") as exc:
        read_path(path)
    assert exc.value.kind == "no-text-layer"
    (problem,) = read_paths_report([path]).problems
    assert problem.kind == "no-text-layer"


def test_jsonl_broken_lines_keep_the_good_ones(tmp_path):
    path = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"title": "Một", "text": "Bài thứ nhất có nội dung."}, ensure_ascii=False).encode(),
        b'{"title": "Hai", "text": "c\xe1t"}',  # Latin-1 byte inside a UTF-8 file
        b'{"title": "Ba", "text": ',  # truncated
        json.dumps({"title": "Bốn", "text": "Bài thứ tư vẫn được đọc."}, ensure_ascii=False).encode(),
        '{"title": "Năm", "text": ""}'.encode(),  # nothing to index
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = read_paths_report([path])
    assert [d.title for d in report.documents] == ["Một", "Bốn"]
    assert [(p.line, p.kind) for p in report.problems] == [(2, "encoding"), (3, "bad-line"), (5, "empty")]
    assert "UTF-8" in report.problems[0].reason and "malformed JSON" in report.problems[1].reason
    assert str(report.problems[1]).startswith(f"{path}, line 3: ")


def test_duplicates_are_kept_once_and_reported(tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.md").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "c.txt").write_bytes(to_windows_1258(ARTICLE))  # same article, other encoding
    report = read_paths_report([tmp_path, tmp_path / "a.txt"])
    assert len(report.documents) == 1 and report.documents[0].path.endswith("a.txt")
    dups = [p for p in report.problems if p.kind == "duplicate"]
    assert sorted(os.path.basename(p.path) for p in dups) == ["a.txt", "b.md", "c.txt"]
    assert all(report.documents[0].id in p.reason for p in dups)


def test_path_traversal_names(tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("Mật khẩu\n\nĐây là tệp nằm ngoài thư mục được đọc.", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (corpus / "link.txt").symlink_to(secret)  # a link leading out of the folder
    (corpus / "inner.txt").symlink_to(corpus / "good.txt")  # inside: fine (and a duplicate)
    report = read_paths_report([corpus])
    assert [d.title for d in report.documents] == ["Hà Nội thông qua kế hoạch chống ngập"]
    assert {(os.path.basename(p.path), p.kind) for p in report.problems} == {
        ("link.txt", "outside"), ("inner.txt", "duplicate")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert all("Mật khẩu" != d.title for d in read_path(corpus))


def test_report_never_raises(tmp_path):
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    report = read_paths_report([tmp_path, tmp_path / "missing.txt", tmp_path / "notes.docx"])
    assert len(report.documents) == 1
    kinds = sorted((os.path.basename(p.path), p.kind) for p in report.problems)
    assert kinds == [("bad.txt", "binary"), ("missing.txt", "missing"), ("notes.docx", "unsupported"),
                     ("notes.docx", "unsupported")]
