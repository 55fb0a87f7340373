"""The generative answerer against a tiny OpenAI-compatible server with canned replies.

No language model is needed: the server (http.server on 127.0.0.1, one per test, shut down
afterwards) answers each chat completion with the reply the test chose, and records the
requests so the prompt can be checked. Retrieval and the extractive fallback are the real ones.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from qa import QAConfig
from qa.answering import make_answerer
from qa.answering.extractive import NOT_FOUND
from qa.answering.generative import (
    GenerativeAnswerer,
    OpenAICompatibleGenerator,
    TransformersGenerator,
    build_messages,
    parse_markers,
)
from qa.answering.citations import CitationVerifier

QUESTION_VI = "Ông Kerry gặp ông Putin ở đâu?"
QUESTION_EN = "Where did Kerry meet Putin in December?"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        status, content = self.server.reply
        if status == 200:
            payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
        else:
            payload = json.dumps({"error": {"message": content}})
        data = payload.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output quiet
        pass


class FakeServer:
    """Answers every POST with ``reply`` = (HTTP status, completion text); records requests."""

    def __init__(self):
        self.httpd = HTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.timeout = 5
        self.httpd.requests = []
        self.httpd.reply = (200, "")
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.httpd.requests

    def reply(self, content: str, status: int = 200) -> None:
        self.httpd.reply = (status, content)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(request):
    srv = FakeServer()
    request.addfinalizer(srv.close)
    return srv


@pytest.fixture
def answerer(server, bundled_pipeline):
    gen = OpenAICompatibleGenerator(server.url, model="test-model", timeout=10)
    return GenerativeAnswerer(gen, fallback=bundled_pipeline.answerer)


def _lenient(generator, pipe):
    """An answerer whose verifier accepts every citation (threshold 0): for tests of marker
    repair and renumbering alone, independent of what verification would keep."""
    fb = pipe.answerer
    return GenerativeAnswerer(generator, fallback=fb, verifier=CitationVerifier(
        fb.encoder, fb.lexical, sentence_vectors=fb.sentence_vectors, threshold=0.0))


def _retrieve(pipe, question):
    q = pipe.query(question)
    return q, pipe.retrieve(q)


def _check_citation_spans(pipe, answer):
    for c in answer.citations:
        assert f"[{c.n}]" in answer.text
        doc = pipe.index.documents[c.doc_id]
        assert doc.text[c.start:c.end] == c.sentence
        assert c.sentence in c.passage_text


def test_grounded_answer_cites_a_real_sentence(server, answerer, bundled_pipeline):
    assert bundled_pipeline.answerer.name == "extractive"
    server.reply("Họ gặp nhau ở Moskva [1].")
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    a = answerer.run(q, passages)
    assert a.found and a.answerer == "generative"
    assert a.text == "Họ gặp nhau ở Moskva [1]."
    assert len(a.citations) == 1
    c = a.citations[0]
    p = passages[0]
    assert (c.n, c.passage_id, c.doc_id) == (1, p.id, p.doc_id)
    assert any(c.sentence == t.strip() for _, _, t in p.sentence_texts())
    # the sentence that best supports "they met in Moscow" names the place
    assert "Moskva" in c.sentence or "Moscow" in c.sentence
    _check_citation_spans(bundled_pipeline, a)


def test_invalid_markers_are_dropped_and_citations_renumbered(server, answerer, bundled_pipeline):
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    assert len(passages) >= 3
    server.reply("Ông Kerry gặp ông Putin tại Moskva [3][9]. Cuộc gặp kéo dài khoảng 3 giờ [9], [1, 3].")
    a = _lenient(answerer.generator, bundled_pipeline).run(q, passages)
    assert a.found and a.answerer == "generative"
    assert a.text == "Ông Kerry gặp ông Putin tại Moskva [1]. Cuộc gặp kéo dài khoảng 3 giờ [2][1]."
    assert "[9]" not in a.text and "[3]" not in a.text
    assert [c.n for c in a.citations] == [1, 2]
    assert [c.passage_id for c in a.citations] == [passages[2].id, passages[0].id]
    _check_citation_spans(bundled_pipeline, a)


def test_reply_without_marker_falls_back_to_extractive(server, answerer, bundled_pipeline):
    server.reply("Họ gặp nhau ở Moskva.")
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    a = answerer.run(q, passages)
    expected = bundled_pipeline.answerer.run(q, passages)
    assert a.answerer == "extractive (fallback)"
    assert a.found and a.text == expected.text
    assert [c.sentence for c in a.citations] == [c.sentence for c in expected.citations]


def test_only_invalid_markers_fall_back(server, answerer, bundled_pipeline):
    server.reply("Họ gặp nhau ở Moskva [7].")
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    assert answerer.run(q, passages).answerer == "extractive (fallback)"


def test_server_error_falls_back(server, answerer, bundled_pipeline):
    server.reply("model exploded", status=500)
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    a = answerer.run(q, passages)
    assert len(server.requests) == 1
    assert a.answerer == "extractive (fallback)" and a.found and a.citations
    _check_citation_spans(bundled_pipeline, a)


def test_server_error_message_names_the_url(server):
    server.reply("model exploded", status=500)
    gen = OpenAICompatibleGenerator(server.url, model="m")
    with pytest.raises(RuntimeError, match=re.escape(server.url + "/chat/completions") + ".*500"):
        gen.generate([{"role": "user", "content": "hi"}], 8)


def test_unreachable_server_is_a_clear_error():
    srv = HTTPServer(("127.0.0.1", 0), _Handler)  # bind a port, then free it: nobody listens
    port = srv.server_address[1]
    srv.server_close()
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", timeout=5)
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}"):
        gen.generate([{"role": "user", "content": "hi"}], 8)


def test_request_holds_passages_question_and_language(server, answerer, bundled_pipeline, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    answerer.generator = OpenAICompatibleGenerator(server.url, model="test-model")
    server.reply("Moskva [1].")
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    answerer.run(q, passages)
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"].get("Authorization") == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "test-model" and body["temperature"] == 0 and body["max_tokens"] > 0
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    assert QUESTION_VI in user
    for i, p in enumerate(passages, 1):
        assert f'<source id="{i}">\nTitle: {p.title}\n{p.text.strip()}\n</source>' in user
    assert "Answer in Vietnamese" in system and "Answer in English" not in system
    assert NOT_FOUND["vi"] in system

    server.reply("They met in Moscow [1].")
    q, passages = _retrieve(bundled_pipeline, QUESTION_EN)
    a = answerer.run(q, passages)
    system, user = (m["content"] for m in server.requests[-1]["body"]["messages"])
    assert QUESTION_EN in user
    assert "Answer in English" in system and "Answer in Vietnamese" not in system
    assert NOT_FOUND["en"] in system
    assert a.language == "en" and a.text == "They met in Moscow [1]." and a.citations[0].passage_id == passages[0].id
    _check_citation_spans(bundled_pipeline, a)


@pytest.mark.parametrize("question,reply", [
    (QUESTION_VI, NOT_FOUND["vi"]),
    (QUESTION_VI, f"  {NOT_FOUND['vi'].rstrip('.')}  "),
    (QUESTION_EN, NOT_FOUND["en"]),
])
def test_not_found_reply(server, answerer, bundled_pipeline, question, reply):
    server.reply(reply)
    q, passages = _retrieve(bundled_pipeline, question)
    a = answerer.run(q, passages)
    assert not a.found and a.citations == []
    assert a.text == NOT_FOUND[q.language]
    assert a.answerer == "generative"
    assert a.passages == passages


def test_reasoning_block_is_stripped(server, answerer, bundled_pipeline):
    server.reply("<think>The passage [1] mentions [2]...</think>\nHọ gặp nhau ở Moskva [1].")
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    a = answerer.run(q, passages)
    assert a.text == "Họ gặp nhau ở Moskva [1]." and len(a.citations) == 1


def test_parse_markers():
    ms = parse_markers("A [1]. B [2, 3][10]. C [x] [ 4 ].")
    assert [m.numbers for m in ms] == [[1], [2, 3], [10], [4]]


def test_build_messages_numbers_passages(bundled_pipeline):
    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    msgs = build_messages(q, passages)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert f'<source id="{len(passages)}">' in user and f'<source id="{len(passages) + 1}">' not in user
    assert user.count("<source id=") == user.count("</source>") == len(passages)


def test_from_config_picks_the_backend(bundled_pipeline, tmp_path):
    fallback = bundled_pipeline.answerer
    a = GenerativeAnswerer.from_config(QAConfig(answerer="generative", generator_url="http://localhost:11434/v1/"),
                                       fallback)
    assert a.name == "generative" and a.fallback is fallback
    assert isinstance(a.generator, OpenAICompatibleGenerator)
    assert a.generator.url == "http://localhost:11434/v1/chat/completions" and a.generator.model == "default"
    a = GenerativeAnswerer.from_config(
        QAConfig(answerer="generative", generator_url="http://h:1/v1", generator_model="qwen2.5:3b"), fallback)
    assert a.generator.model == "qwen2.5:3b"
    a = GenerativeAnswerer.from_config(QAConfig(answerer="generative", generator_model=str(tmp_path)), fallback)
    assert isinstance(a.generator, TransformersGenerator) and not a.generator.loaded  # loaded lazily


def test_from_config_without_model_or_url_is_an_error(bundled_pipeline):
    config = QAConfig(answerer="generative")
    with pytest.raises(ValueError, match="generator_url.*generator_model"):
        GenerativeAnswerer.from_config(config, bundled_pipeline.answerer)
    with pytest.raises(ValueError, match="generator_url"):
        make_answerer(config, bundled_pipeline.encoder, bundled_pipeline.retriever.lexical)


def test_make_answerer_builds_the_generative_one(bundled_pipeline, server):
    config = QAConfig(answerer="generative", generator_url=server.url)
    a = make_answerer(config, bundled_pipeline.encoder, bundled_pipeline.retriever.lexical)
    assert isinstance(a, GenerativeAnswerer) and a.fallback.name == "extractive"


def test_transformers_generator_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TransformersGenerator(str(tmp_path / "no-such-model"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    gen = TransformersGenerator("nobody-has/this-model-xyz")
    assert gen.local_files_only
    with pytest.raises(RuntimeError, match="this-model-xyz"):
        gen.generate([{"role": "user", "content": "hi"}], 4)


def test_adjacent_marker_groups_merge_and_dedupe(bundled_pipeline):
    class Canned:
        def generate(self, messages, max_tokens):
            return "Moskva [2], [2]; [1]. Ba giờ. [1]"

    q, passages = _retrieve(bundled_pipeline, QUESTION_VI)
    a = _lenient(Canned(), bundled_pipeline).run(q, passages)
    assert a.text == "Moskva [1][2]. Ba giờ. [2]"
    assert [c.passage_id for c in a.citations] == [passages[1].id, passages[0].id]
    _check_citation_spans(bundled_pipeline, a)


def test_transformers_generator_runs_a_local_model(e5_model_dir, tmp_path, monkeypatch):
    """Plumbing only: a tiny random Llama with the E5 tokenizer, built here (no download)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    tok = AutoTokenizer.from_pretrained(str(e5_model_dir))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    path = tmp_path / "tiny-llm"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    messages = [{"role": "system", "content": "Be short."}, {"role": "user", "content": "Xin chào"}]

    gen = TransformersGenerator(str(path))
    assert gen.prompt(messages) == "System: Be short.\n\nUser: Xin chào\n\nAssistant:"  # no chat template
    out = gen.generate(messages, 4)
    assert isinstance(out, str)

    # a chat template that refuses a system turn: the system text moves into the user turn
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}"
                         "{% endif %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    tok.save_pretrained(path)
    gen = TransformersGenerator(str(path))
    assert gen.prompt(messages) == "<user>Be short.\n\nXin chào\n<assistant>"
    assert isinstance(gen.generate(messages, 2), str)
