"""Uploads into a real index (webapp.uploads and the Documents tab's handlers, webapp.documents):
name sanitizing, type and size checks, per-file reports, the per-upload cap, listing and removal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import Pipeline, QAConfig
from webapp import documents, handlers
from webapp.uploads import (
    MAX_UPLOAD_BYTES,
    document_rows,
    ingest,
    remove_documents,
    safe_filename,
    target_path,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _backends(pipe) -> handlers.Backends:
    return handlers.Backends(pipe=pipe)


# --------------------------------------------------------------------------- uploads

@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\evil.md", "evil.md"),
    ("/abs/path/bai.HTML", "bai.html"),
    (".hidden.txt", "hidden.txt"),
    ("..", "upload"),
    ("", "upload"),
    ("Tin tức: Nga–Mỹ?.pdf", "Tin tức_ Nga_Mỹ_.pdf"),
    ("a" * 300 + ".jsonl", "a" * 100 + ".jsonl"),
])
def test_safe_filename(name, safe, tmp_path):
    assert safe_filename(name) == safe
    target = target_path(tmp_path, name)
    assert target.parent == tmp_path.resolve()


ARTICLE = """Hà Nội khánh thành cầu đi bộ mới bắc qua sông Tô Lịch

Sáng 12/3/2024, UBND thành phố Hà Nội khánh thành cây cầu đi bộ dài 120 mét bắc qua sông Tô Lịch tại quận Cầu Giấy.
Cầu được thiết kế bằng thép sơn màu xanh lá, rộng 4 mét, có đèn chiếu sáng bằng năng lượng mặt trời.
Theo ông Nguyễn Văn Bình, giám đốc ban quản lý dự án, tổng vốn đầu tư của cây cầu là 45 tỷ đồng.
Người dân hai bên bờ sông cho biết cây cầu giúp rút ngắn quãng đường đi học của trẻ em hơn hai cây số.
"""


@pytest.fixture(scope="module")
def upload_pipe(encoder, tmp_path_factory):
    """A pipeline over an empty index of its own (uploads must not change the shared one)."""
    return Pipeline(QAConfig(index_dir=tmp_path_factory.mktemp("upload-index")), encoder=encoder)


def test_ingest_reports_added_duplicates_and_rejections(upload_pipe, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    folder = tmp_path / "data" / "uploads"

    def put(name: str, content: str | bytes) -> tuple[str, Path]:
        p = src / f"f{len(list(src.iterdir()))}"
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return name, p

    big = src / "big"
    with open(big, "wb") as f:  # sparse: size checked before anything is read
        f.truncate(MAX_UPLOAD_BYTES + 1)
    files = [
        put("../../etc/passwd.txt", ARTICLE),
        put("cau-di-bo.md", ARTICLE),  # same article again: a duplicate
        put("bao.docx", "PK\x03\x04"),
        ("huge.txt", big),
        put("hong.jsonl", '{"title": "A", "text": "B"}\n{not json\n'),
        put("rong.txt", "   \n"),
        put("tin.jsonl", json.dumps({"title": "Giá xăng giảm", "text": "Giá xăng RON 95 giảm 500 đồng mỗi lít từ chiều nay.",
                                      "date": "2024-05-02", "source": "VnExpress"}, ensure_ascii=False) + "\n"),
    ]
    report = ingest(upload_pipe, files, folder=folder)
    by_name = {f.name: f for f in report.files}
    assert len(by_name["../../etc/passwd.txt"].added) == 1
    assert by_name["../../etc/passwd.txt"].saved_as == "passwd.txt"
    assert by_name["cau-di-bo.md"].skipped == by_name["../../etc/passwd.txt"].added
    assert "unsupported file type .docx" in by_name["bao.docx"].rejected
    assert "too large" in by_name["huge.txt"].rejected
    # a broken JSONL line is reported; the good line is kept
    assert len(by_name["hong.jsonl"].added) == 1 and not by_name["hong.jsonl"].rejected
    assert any("hong.jsonl, line 2" in p for p in by_name["hong.jsonl"].problems)
    assert not any(str(tmp_path) in p for p in by_name["hong.jsonl"].problems)  # no server paths in messages
    assert "no text" in by_name["rong.txt"].rejected
    assert len(by_name["tin.jsonl"].added) == 1
    assert (report.added, report.skipped, report.rejected) == (3, 1, 3)
    # only files that brought articles are kept, all inside the upload folder
    assert sorted(p.name for p in folder.iterdir()) == ["hong.jsonl", "passwd.txt", "tin.jsonl"]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "data" / "etc").exists()

    # the new articles are listed (with date and outlet when the file has them) and answerable
    rows = {r[0]: r for r in document_rows(upload_pipe)}
    jsonl_id = by_name["tin.jsonl"].added[0]
    assert rows[jsonl_id][1:4] == ["Giá xăng giảm", "VnExpress", "2024-05-02"]
    answer = upload_pipe.ask("Cây cầu đi bộ qua sông Tô Lịch dài bao nhiêu mét?")
    assert answer.found and "120 mét" in answer.text

    # uploading the same files again adds nothing
    again = ingest(upload_pipe, files[:1], folder=folder)
    assert again.added == 0 and again.skipped == 1

    # removal: the article leaves the index, and its stored file goes with it
    removed, missing = remove_documents(upload_pipe, [jsonl_id, "0000000000000000"], folder=folder)
    assert removed == [jsonl_id] and missing == ["0000000000000000"]
    assert jsonl_id not in {r[0] for r in document_rows(upload_pipe)}
    assert sorted(p.name for p in folder.iterdir()) == ["hong.jsonl", "passwd.txt"]


def _last(gen):
    out = None
    for out in gen:
        pass
    return out


def test_upload_handler_summarises_per_file(upload_pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "ghi-chu.exe"
    p.write_bytes(b"MZ")
    be = _backends(upload_pipe)
    out = _last(documents.upload([str(p)], lambda *a, **k: None, backends=be))
    assert "rejected 1 file(s)" in out and "ghi-chu.exe" in out and "unsupported" in out
    assert "No file selected" in _last(documents.upload([], lambda *a, **k: None, backends=be))
    assert "No article selected" in documents.remove([], backends=be)
    assert "No article 0123456789abcdef in the index" in documents.remove(["0123456789abcdef"], backends=be)
    assert "No upload is running" in documents.cancel_upload("", backends=be)


def test_a_file_over_the_upload_cap_is_refused_in_words(upload_pipe, tmp_path):
    """The cap in passages (besides the byte cap) is named in the file's line of the summary."""
    folder = tmp_path / "uploads"
    many = tmp_path / "nhieu-doan.txt"
    many.write_text("Tin ngắn\n\n" + "\n\n".join(ARTICLE.splitlines()[2:] * 20), encoding="utf-8")
    capped = Pipeline(upload_pipe.config.with_(max_upload_passages=2), encoder=upload_pipe.encoder,
                      index=upload_pipe.index, retriever=upload_pipe.retriever)
    report = ingest(capped, [("nhieu-doan.txt", many)], folder=folder)
    [f] = report.files
    assert not f.added and "limit of 2 passages" in f.rejected and "tối đa 2 đoạn" in f.rejected
    assert "python -m qa index" in f.rejected
    assert not any(folder.iterdir())  # the refused file is not kept
    text = documents.summary(report)
    assert "rejected 1 file(s)" in text and "nhieu-doan.txt" in text


def test_document_list_tells_bundled_from_uploaded_and_searches(upload_pipe, bundled_pipeline):
    html = documents.documents_html(_backends(bundled_pipeline))
    assert html.count('class="doc origin-bundled"') == len(bundled_pipeline.index.documents)
    assert "có sẵn · bundled" in html and "Tiêu đề · Headline" in html
    one = documents.documents_html(_backends(bundled_pipeline), "xich lai gan")  # diacritics optional
    assert one.count("<tr class=\"doc") == 1 and "xích lại gần" in one
    none = documents.documents_html(_backends(bundled_pipeline), "zzzz")
    assert "No article matches" in none
