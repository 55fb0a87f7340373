"""The running app through its HTTP API, with ``gradio_client``: a Vietnamese and an English
question through the chat endpoint and the JSON endpoint, an upload, and removals by id."""

from __future__ import annotations

import os
import re
import socket

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_pipe(bundled_pipeline, encoder, tmp_path_factory):
    """A copy of the bundled-articles index (removals here leave the shared one alone)."""
    import shutil

    from qa import Pipeline, QAConfig

    copy = tmp_path_factory.mktemp("api") / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    return Pipeline(QAConfig(index_dir=copy), encoder=encoder)


@pytest.fixture(scope="module")
def app_url(app_pipe, one_torch_thread):
    """The app over the bundled-articles index, served on a free local port."""
    from webapp.handlers import Backends
    from webapp.layout import build_app, launch_options

    backends = Backends(pipe=app_pipe, typing=False)
    demo = build_app(backends).queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                            quiet=True, **launch_options())
    yield url
    demo.close()
    backends.close()


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.mark.parametrize("question, language, expect", [
    ("Ông Kerry gặp ông Putin ở đâu?", "vi", "Moskva"),
    ("Where did Kerry and Lavrov meet in August 2016?", "en", "Giơ-ne-vơ"),
])
def test_ask_endpoint_answers_with_citations(client, question, language, expect):
    result = client.predict(question, "auto", 5, api_name="/ask")
    assert result["language"] == language and result["found"]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", result["text"])}
    assert markers and markers == {c["n"] for c in result["citations"]}
    for c in result["citations"]:
        assert c["sentence"] in c["passage_text"] and c["title"]
    assert any(expect in c["sentence"] for c in result["citations"])
    if language == "en":
        assert "according to [" in result["text"].lower()  # English frame (after a bold lead span)


def test_chat_endpoint_returns_the_rendered_answer_and_sources(client):
    chat, sources, box = client.predict("Ai là người phát ngôn Bộ Quốc phòng Nga?", [], "auto", 5, "extractive",
                                        api_name="/respond")
    assert box == ""
    answer = chat[-1]
    text = answer["content"] if isinstance(answer["content"], str) else "".join(
        p.get("text", "") for p in answer["content"])
    assert answer["role"] == "assistant"
    assert '<a class="cite" href="#src-0-1">' in text and "Konashenkov" in text
    assert "<mark>" in text and "is-cited" in sources


def test_api_refuses_bad_questions_with_a_message(client):
    assert "Please type a question" in client.predict("  ", "auto", 5, api_name="/ask")["error"]


def test_upload_endpoint_reports_unreadable_and_refused_files(client, tmp_path):
    from gradio_client import handle_file

    broken = tmp_path / "bao-cao.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    summary = client.predict([handle_file(str(broken))], api_name="/upload")
    assert "rejected 1 file(s)" in summary and "bao-cao.pdf" in summary and "unreadable file" in summary
    assert "Traceback" not in summary
    # a type the app does not read is refused before it reaches the index, with a message
    exe = tmp_path / "notes.exe"
    exe.write_bytes(b"MZ\x90\x00")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict([handle_file(str(exe))], api_name="/upload")


def test_remove_endpoint_removes_existing_ids_and_names_unknown_ones(client, app_pipe):
    """``/remove`` used to refuse every id ("Value … is not in the list of choices: []")."""
    doc_id = next(iter(app_pipe.index.documents))
    out = client.predict([doc_id, "0123456789abcdef"], api_name="/remove")
    assert "Removed 1 article(s)" in out and "No article 0123456789abcdef in the index" in out
    assert doc_id not in app_pipe.index.documents
    assert "No article" in client.predict(["ffffffffffffffff"], api_name="/remove")
    assert "No article selected" in client.predict([], api_name="/remove")


def test_ask_endpoint_takes_filters_and_refuses_an_impossible_date(client, app_pipe):
    outlet = next(d.source for d in app_pipe.index.documents.values() if d.source)  # (one article has none)
    result = client.predict("Ông Kerry gặp ông Putin ở đâu?", "auto", 5, [outlet], "", "", api_name="/ask")
    assert result["passages"]
    assert all(app_pipe.index.documents[p["doc_id"]].source == outlet for p in result["passages"])
    bad = client.predict("Ông Kerry gặp ông Putin ở đâu?", "auto", 5, [], "2016-13-45", "", api_name="/ask")
    assert "no month 13" in bad["error"]
