"""The chat and API handlers (webapp.handlers) without a browser: streamed cited answers, follow-ups,
the language setting, the backends and their configuration, bad questions and unusable indexes."""

from __future__ import annotations

import json
import re

import pytest

from qa import QAConfig
from webapp import handlers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _backends(pipe) -> handlers.Backends:
    return handlers.Backends(pipe=pipe)


def _final(gen):
    """The last (chat, sources) pair a streaming handler yields."""
    out = None
    for out in gen:
        pass
    return out


def _text(message: dict) -> str:
    return handlers._content_text(message)


# --------------------------------------------------------------------------- chat handler

def test_respond_streams_a_cited_answer(bundled_pipeline):
    steps = list(handlers.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=_backends(bundled_pipeline)))
    chat, panel = steps[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    answer_html = _text(chat[-1])
    assert 'class="cite"' in answer_html and "<mark>" in answer_html and "Moskva" in answer_html
    assert "is-cited" in panel


def test_respond_follow_up_passes_plain_history(bundled_pipeline):
    be = _backends(bundled_pipeline)
    chat, _ = _final(handlers.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=be))
    chat2, _ = _final(handlers.respond("Who is the spokesman of the Russian Defence Ministry?", chat, backends=be))
    assert len(chat2) == 4
    assert 'href="#src-1-1"' in _text(chat2[-1])  # second turn: its own source ids
    history = handlers._plain_history(chat)
    assert "Tổng thống Nga Vladimir Putin" in history[1]["content"] and "<" not in history[1]["content"]
    # the question is shown escaped and handed on as typed
    chat4, _ = _final(handlers.respond("Kerry <b>gặp</b> Putin ở đâu?", [], backends=be))
    assert _text(chat4[0]) == "Kerry &lt;b&gt;gặp&lt;/b&gt; Putin ở đâu?"
    assert handlers._plain_history(chat4)[0]["content"] == "Kerry <b>gặp</b> Putin ở đâu?"
    # a turn that got a message instead of an answer is not handed on as history
    chat3, _ = _final(handlers.respond("   ", chat2, backends=be))
    assert handlers._plain_history(chat3) == handlers._plain_history(chat2) and len(handlers._plain_history(chat2)) == 4


def test_language_setting_forces_the_answer_framing(bundled_pipeline):
    q = "Ông Kerry gặp ông Putin ở đâu?"
    auto = bundled_pipeline.ask(q)
    forced = bundled_pipeline.ask(q, language="en")
    assert auto.language == "vi" and forced.language == "en"
    assert "according to [1]" in forced.text.lower()
    # retrieval follows the question, not the setting: same sources
    assert [c.sentence for c in forced.citations] == [c.sentence for c in auto.citations]
    chat, _ = _final(handlers.respond(q, [], "en", backends=_backends(bundled_pipeline)))
    assert re.match(r'<div class="answer">(<strong>[^<]+</strong> – a|A)ccording to ', _text(chat[-1]))
    with pytest.raises(ValueError):
        bundled_pipeline.ask(q, language="fr")


def test_generative_backend_shares_the_index_and_falls_back_to_cited_sentences(bundled_pipeline):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the model server is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    be = handlers.Backends(pipe=bundled_pipeline,
                      generative=QAConfig(answerer="generative", generator_url=f"http://127.0.0.1:{port}/v1"))
    assert be.names == ["extractive", "generative"]
    assert handlers.Backends(pipe=bundled_pipeline).names == ["extractive"]
    gen = be.get("generative")
    assert gen is not bundled_pipeline and gen.index is bundled_pipeline.index
    chat, _ = _final(handlers.respond("Ông Kerry gặp ông Putin ở đâu?", [], "auto", 5, "generative", backends=be))
    assert 'class="cite"' in _text(chat[-1]) and "Moskva" in _text(chat[-1])


def test_generative_backend_is_configured_from_the_environment():
    # the reader that ships in models/reader is offered with no setting at all
    be = handlers.Backends.from_env({})
    assert be.names == ["extractive", "reader"] and be.configs["reader"].reader_model is None
    assert be.default == "reader"  # the default answerer is preselected, the extractive one a choice
    assert handlers.Backends.from_env({"QA_ANSWERER": "extractive"}).default == "extractive"
    be = handlers.Backends.from_env({"QA_GENERATOR_URL": "http://localhost:11434/v1", "QA_GENERATOR_MODEL": "qwen2.5:3b"})
    assert be.names == ["extractive", "generative", "reader"]
    cfg = be.configs["generative"]
    assert (cfg.answerer, cfg.generator_url, cfg.generator_model) == ("generative", "http://localhost:11434/v1", "qwen2.5:3b")
    # the rest of the configuration comes from the environment the same way (QAConfig.from_env)
    be = handlers.Backends.from_env({"QA_RETRIEVAL": "dense", "QA_TOP_K": "3", "QA_READER_MODEL": "/models/qa"})
    assert be.names == ["extractive", "reader"] and be.configs["reader"].answerer == "reader"
    assert (be.configs["reader"].retrieval, be.configs["reader"].top_k) == ("dense", 3)


@pytest.mark.parametrize("question, key", [("", "Please type a question"), ("   \n", "Please type a question"),
                                           ("x" * (handlers.MAX_QUESTION_CHARS + 1), "too long")])
def test_respond_explains_bad_questions(question, key):
    be = handlers.Backends()  # built lazily: no pipeline is needed (nor built) for these
    chat, panel = _final(handlers.respond(question, [], backends=be))
    assert key in _text(chat[-1]) and chat[-1]["role"] == "assistant"
    assert "error" in handlers.ask_json(question, backends=be)
    assert be._base is None


def test_respond_explains_an_unusable_index(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 999}), encoding="utf-8")
    be = handlers.Backends(config=QAConfig(index_dir=tmp_path))
    chat, _ = _final(handlers.respond("Ông Kerry gặp ông Putin ở đâu?", [], backends=be))
    msg = _text(chat[-1])
    assert "Chưa có chỉ mục" in msg and "index is not available" in msg and "format 999" in msg
    assert "Traceback" not in msg
    from webapp import documents

    out = list(documents.upload([str(tmp_path / "manifest.json")], lambda *a, **k: None, backends=be))[-1]
    assert "index is not available" in out


@pytest.mark.parametrize("question", ["🙂🙂🙂", "😀 👍"])
def test_an_emoji_only_question_is_explained_once_in_each_language(question):
    chat, _ = _final(handlers.respond(question, [], backends=handlers.Backends()))
    lines = [x for x in _text(chat[-1]).split("  \n") if x.strip()]
    assert len(lines) == 2, lines  # Vietnamese, then English: not both on each line, not twice
    vi, en = lines
    assert " · " not in vi and " · " not in en and vi != en


def test_a_refused_question_shows_no_passages_as_evidence(bundled_pipeline):
    chat, panel = _final(handlers.respond("What is the capital of Australia?", [], backends=_backends(bundled_pipeline)))
    assert "could not find" in _text(chat[-1]).lower() and '<details class="src"' not in _text(chat[-1])
    assert "not used as evidence" in panel and '<details class="not-evidence">' in panel
    assert "is-cited" not in panel and "<ol" in panel.split('<details class="not-evidence">')[1]


@pytest.mark.parametrize("greeting", ["Hello", "Xin chào", "abc xyz?"])
def test_greetings_get_what_the_bot_can_do_and_no_citation(bundled_pipeline, greeting):
    chat, panel = _final(handlers.respond(greeting, [], backends=_backends(bundled_pipeline)))
    text = _text(chat[-1])
    assert "cite" not in text and "Nguồn" not in text and "<mark>" not in text
    assert "passages" not in panel.lower() or "no retrieval" in panel.lower()
    assert any(w in text for w in ("article", "bài báo"))


def test_two_citations_of_one_article_share_one_source_entry(bundled_pipeline):
    """An answer citing two sentences of one article lists that article once, both sentences marked."""
    from webapp.render import source_groups

    merged = 0
    for q in ["Ông Kerry gặp ông Putin ở đâu?", "Ai là người phát ngôn Bộ Quốc phòng Nga?",
              "Where did Kerry and Lavrov meet in August 2016?", "What did Carter and Shoygu discuss?"]:
        answer = bundled_pipeline.ask(q)
        html_ = handlers.render_answer(answer, bundled_pipeline.index.documents)
        groups = source_groups(answer.citations)
        assert html_.count('<details class="src"') == len(groups)
        for g in groups:
            assert len({(c.doc_id, c.title) for c in g}) == 1
            if len(g) > 1:
                merged += 1
                entry = html_.split(f'id="src-0-{g[0].n}"')[1].split("</details>")[0]
                assert entry.count("<mark>") >= len({c.sentence for c in g})
                assert all(f'href="#src-0-{g[0].n}"' in html_ for _ in g)
    assert merged  # (answers take their second sentence from the first one's passage)


def test_bad_filter_date_is_explained(bundled_pipeline):
    chat, _ = _final(handlers.respond("Ông Kerry gặp ông Putin ở đâu?", [], date_from="2016-13-45",
                                      backends=_backends(bundled_pipeline)))
    assert "Invalid filter date" in _text(chat[-1]) and "no month 13" in _text(chat[-1])
    outlet = next(iter(bundled_pipeline.index.documents.values())).source
    only = handlers.ask_json("Ông Kerry gặp ông Putin ở đâu?", sources=[outlet], backends=_backends(bundled_pipeline))
    assert "error" not in only
    assert all(bundled_pipeline.index.documents[c["doc_id"]].source == outlet for c in only["citations"])


