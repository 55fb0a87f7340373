"""The chat app without a browser: rendering of answers and sources, the chat handler's
messages, the language setting, and uploads (name sanitizing, type and size checks, per-file
reports, listing and removal) into a real index."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import app
from qa import Pipeline, QAConfig
from qa.types import Answer, Citation, Passage
from webapp.render import escape, plain_text, render_answer, render_sources
from webapp.uploads import (
    MAX_UPLOAD_BYTES,
    document_rows,
    ingest,
    remove_documents,
    safe_filename,
    target_path,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _backends(pipe) -> app.Backends:
    return app.Backends(pipe=pipe)


def _final(gen):
    """The last (chat, sources) pair a streaming handler yields."""
    out = None
    for out in gen:
        pass
    return out


def _text(message: dict) -> str:
    return app._content_text(message)


# --------------------------------------------------------------------------- rendering

def test_render_links_every_citation_to_its_source(bundled_pipeline, bundled_docs):
    answer = bundled_pipeline.ask("Where did Kerry and Lavrov meet in August 2016?")
    assert answer.citations
    out = render_answer(answer, bundled_pipeline.index.documents, turn=3)
    # English frame, after the bold short answer when there is one
    assert re.match(r'<div class="answer">(<strong>[^<]+</strong> – a|A)ccording to ', out)
    assert ("<strong>" in out) == answer.text.startswith("**")  # the lead span is bold, not literal **
    for c in answer.citations:
        assert f'<a class="cite" href="#src-3-{c.n}">&#91;{c.n}&#93;</a>' in out
        details = re.search(rf'<details class="src" id="src-3-{c.n}">(.*?)</details>', out).group(1)
        doc = bundled_pipeline.index.documents[c.doc_id]
        assert escape(doc.title) in details
        assert escape(c.source) in details
        if doc.date:
            assert doc.date in details
        # the passage is shown with exactly the cited sentence marked
        marked = re.search(r"<mark>(.*?)</mark>", details).group(1)
        assert html.unescape(marked.replace("<br>", "\n")).strip() == c.sentence
    # the article of 26 August 2016 is among the sources, with its date
    assert any(bundled_pipeline.index.documents[c.doc_id].date == "2016-08-26" for c in answer.citations)
    assert plain_text(out) == answer.text


def test_render_partial_answer_has_links_but_no_sources_yet(bundled_pipeline):
    final = bundled_pipeline.ask("Ông Kerry gặp ông Putin ở đâu?")
    partial = Answer(**{**final.__dict__, "partial": True, "text": final.text[: final.text.index("]") + 1]})
    out = render_answer(partial, bundled_pipeline.index.documents)
    assert 'class="answer partial"' in out and '<a class="cite" href="#src-0-1">' in out
    assert "<details" not in out


def test_render_escapes_markup_from_documents_and_answers():
    text = 'Tin <b>nóng</b>: "A & B" *đậm* `mã` $x$ ở [1].'
    passage_text = "Câu trước.\n\n" + text + "\n<script>alert(1)</script>"
    start = passage_text.index(text)
    p = Passage(id=7, doc_id="d1", title="<img src=x onerror=alert(1)>", source="Báo <i>X</i>",
                url="javascript:alert(1)", text=passage_text, start=100, end=100 + len(passage_text),
                sentences=[(100 + start, 100 + start + len(text))], score=1.0, rank=1, scores={"dense": 0.9})
    c = Citation(n=1, doc_id="d1", title=p.title, source=p.source, url=p.url, passage_id=7,
                 passage_text=passage_text, start=100 + start, end=100 + start + len(text),
                 sentence=text, score=1.0)
    a = Answer(question="q", text=text, language="vi", citations=[c], passages=[p], timings={})
    for out in (render_answer(a), render_sources(a)):
        for raw in ("<b>nóng", "<script>", "<img", "<i>X", "javascript:", "`", "*", "$"):
            assert raw not in out, raw
        assert "&lt;img src=x onerror=alert(1)&gt;" in out
        assert "\n\n" not in out  # a blank line would let Markdown parse the rest
    out = render_answer(a)
    assert out.count("<mark>") == 1
    assert '<a class="cite" href="#src-0-1">&#91;1&#93;</a>' in out


def test_sources_panel_lists_every_retrieved_passage_with_scores(bundled_pipeline):
    answer = bundled_pipeline.ask("Ai là người phát ngôn Bộ Quốc phòng Nga?", top_k=4)
    panel = render_sources(answer, bundled_pipeline.index.documents)
    items = re.findall(r'<li class="passage( is-cited)?">(.*?)</li>', panel)
    assert len(items) == len(answer.passages) == 4
    for (cited, body), p in zip(items, answer.passages):
        assert f"#{p.rank}" in body and f"{p.score:.3f}" in body
        assert f"dense {p.scores['dense']:.3f}" in body
        assert bool(cited) == any(c.passage_id == p.id for c in answer.citations)
    assert "No question yet" in render_sources(None)


# --------------------------------------------------------------------------- chat handler

def test_respond_streams_a_cited_answer(bundled_pipeline):
    steps = list(app.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=_backends(bundled_pipeline)))
    chat, panel = steps[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    answer_html = _text(chat[-1])
    assert 'class="cite"' in answer_html and "<mark>" in answer_html and "Moskva" in answer_html
    assert "is-cited" in panel


def test_respond_follow_up_passes_plain_history(bundled_pipeline):
    be = _backends(bundled_pipeline)
    chat, _ = _final(app.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=be))
    chat2, _ = _final(app.respond("Who is the spokesman of the Russian Defence Ministry?", chat, backends=be))
    assert len(chat2) == 4
    assert 'href="#src-1-1"' in _text(chat2[-1])  # second turn: its own source ids
    history = app._plain_history(chat)
    assert "Tổng thống Nga Vladimir Putin" in history[1]["content"] and "<" not in history[1]["content"]
    # the question is shown escaped and handed on as typed
    chat4, _ = _final(app.respond("Kerry <b>gặp</b> Putin ở đâu?", [], backends=be))
    assert _text(chat4[0]) == "Kerry &lt;b&gt;gặp&lt;/b&gt; Putin ở đâu?"
    assert app._plain_history(chat4)[0]["content"] == "Kerry <b>gặp</b> Putin ở đâu?"
    # a turn that got a message instead of an answer is not handed on as history
    chat3, _ = _final(app.respond("   ", chat2, backends=be))
    assert app._plain_history(chat3) == app._plain_history(chat2) and len(app._plain_history(chat2)) == 4


def test_language_setting_forces_the_answer_framing(bundled_pipeline):
    q = "Ông Kerry gặp ông Putin ở đâu?"
    auto = bundled_pipeline.ask(q)
    forced = bundled_pipeline.ask(q, language="en")
    assert auto.language == "vi" and forced.language == "en"
    assert "according to [1]" in forced.text.lower()
    # retrieval follows the question, not the setting: same sources
    assert [c.sentence for c in forced.citations] == [c.sentence for c in auto.citations]
    chat, _ = _final(app.respond(q, [], "en", backends=_backends(bundled_pipeline)))
    assert re.match(r'<div class="answer">(<strong>[^<]+</strong> – a|A)ccording to ', _text(chat[-1]))
    with pytest.raises(ValueError):
        bundled_pipeline.ask(q, language="fr")


def test_generative_backend_shares_the_index_and_falls_back_to_cited_sentences(bundled_pipeline):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the model server is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    be = app.Backends(pipe=bundled_pipeline,
                      generative=QAConfig(answerer="generative", generator_url=f"http://127.0.0.1:{port}/v1"))
    assert be.names == ["extractive", "generative"]
    assert app.Backends(pipe=bundled_pipeline).names == ["extractive"]
    gen = be.get("generative")
    assert gen is not bundled_pipeline and gen.index is bundled_pipeline.index
    chat, _ = _final(app.respond("Ông Kerry gặp ông Putin ở đâu?", [], "auto", 5, "generative", backends=be))
    assert 'class="cite"' in _text(chat[-1]) and "Moskva" in _text(chat[-1])


def test_generative_backend_is_configured_from_the_environment(monkeypatch):
    monkeypatch.delenv("QA_GENERATOR_URL", raising=False)
    monkeypatch.delenv("QA_GENERATOR_MODEL", raising=False)
    assert app.generative_config() is None
    monkeypatch.setenv("QA_GENERATOR_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("QA_GENERATOR_MODEL", "qwen2.5:3b")
    cfg = app.generative_config()
    assert (cfg.answerer, cfg.generator_url, cfg.generator_model) == ("generative", "http://localhost:11434/v1", "qwen2.5:3b")


@pytest.mark.parametrize("question, key", [("", "Please type a question"), ("   \n", "Please type a question"),
                                           ("x" * (app.MAX_QUESTION_CHARS + 1), "too long")])
def test_respond_explains_bad_questions(question, key):
    chat, panel = _final(app.respond(question, []))  # no pipeline is needed (nor built) for these
    assert key in _text(chat[-1]) and chat[-1]["role"] == "assistant"
    assert "error" in app.ask_json(question)


def test_respond_explains_an_unusable_index(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 999}), encoding="utf-8")
    be = app.Backends(config=QAConfig(index_dir=tmp_path))
    chat, _ = _final(app.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=be))
    msg = _text(chat[-1])
    assert "Chưa có chỉ mục" in msg and "index is not available" in msg and "format 999" in msg
    assert "Traceback" not in msg
    assert "index is not available" in app.upload([str(tmp_path / "manifest.json")], lambda *a, **k: None, backends=be)


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


def test_upload_handler_summarises_per_file(upload_pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "ghi-chu.exe"
    p.write_bytes(b"MZ")
    be = _backends(upload_pipe)
    out = app.upload([str(p)], lambda *a, **k: None, backends=be)
    assert "rejected 1 file(s)" in out and "ghi-chu.exe" in out and "unsupported" in out
    assert "No file selected" in app.upload([], lambda *a, **k: None, backends=be)
    assert "No article selected" in app.remove([], backends=be)
    assert "No article 0123456789abcdef in the index" in app.remove(["0123456789abcdef"], backends=be)


def test_app_builds():
    demo = app.build_app()
    assert demo.title.startswith("Hỏi đáp")
    assert app.launch_options()["max_file_size"] == MAX_UPLOAD_BYTES
