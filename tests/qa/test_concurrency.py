"""Questions asked from many threads at once (as Gradio's workers do), also while documents are
added and removed: the same answers as one at a time, no exceptions, never a torn index."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corpus import Document, clean_article, load_bundled

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 16 different questions over the bundled articles, Vietnamese and English (from test_ask.py),
# two of them with no answer in the corpus.
QUESTIONS = [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Where did Kerry meet Putin in December?",
    "ong Kerry gap ong Putin o dau",
    "Where did Kerry and Lavrov meet in August 2016?",
    "Ngoại trưởng Kerry và Lavrov hội đàm ở đâu vào tháng 8?",
    "Cuộc họp giữa Putin và Kerry ở Moscow kéo dài bao lâu?",
    "How long did the meeting between Putin and Kerry in Moscow last?",
    "Ai là người phát ngôn Bộ Quốc phòng Nga?",
    "Bộ trưởng Quốc phòng Mỹ Ash Carter đã điện đàm với ai?",
    "Who did US Defense Secretary Ash Carter talk to by phone?",
    "Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?",
    "How many Russians are fighting for IS according to US intelligence?",
    "Có bao nhiêu người làm nhiệm vụ nhân đạo tại Xy-ri đã thiệt mạng?",
    "How many people were killed by air strikes in Raqqa and Aleppo?",
    "Giá vàng hôm nay bao nhiêu?",
    "What is the capital of Australia?",
]


def key(answer) -> tuple:
    """What must not differ between a concurrent and a sequential answer."""
    return (answer.text, answer.found, answer.language,
            tuple((c.doc_id, c.start, c.end) for c in answer.citations),
            tuple(p.id for p in answer.passages))


def check_whole(answer, pipe) -> None:
    """Every passage and citation of an answer is a real span of a document that was indexed."""
    for p in answer.passages:
        doc = pipe.index.documents.get(p.doc_id)
        if doc is not None:  # (a document removed since is fine; a torn one is not)
            assert doc.text[p.start:p.end] == p.text
    for c in answer.citations:
        assert c.sentence in c.passage_text


def test_16_threads_get_the_sequential_answers(bundled_pipeline):
    sequential = {q: key(bundled_pipeline.ask(q)) for q in QUESTIONS}
    assert sum(found for _, found, *_ in sequential.values()) >= 12  # real answers, not refusals
    barrier = threading.Barrier(len(QUESTIONS))

    def ask(q):
        barrier.wait()  # all 16 start together
        return key(bundled_pipeline.ask(q))

    for _ in range(2):
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            concurrent = dict(zip(QUESTIONS, pool.map(ask, QUESTIONS)))
        assert concurrent == sequential


def _mlqa_documents(dev_set: Path, n: int) -> list[Document]:
    """Real Vietnamese Wikipedia paragraphs (MLQA contexts), as documents to add."""
    docs = []
    with open(dev_set / "contexts.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            cleaned = clean_article(row["text"], title=row["title"])
            docs.append(Document.create(f"{cleaned.title} ({row['context_id']})", cleaned.text))
            if len(docs) == n:
                break
    return docs


@pytest.fixture(scope="module")
def private_pipeline(bundled_pipeline, encoder, tmp_path_factory):
    """A pipeline over a copy of the session's bundled index, which this module may change."""
    import shutil

    from qa import Pipeline, QAConfig

    copy = tmp_path_factory.mktemp("concurrency") / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    return Pipeline(QAConfig(index_dir=copy), encoder=encoder)


def test_asking_while_documents_are_added_and_removed(private_pipeline, dev_set):
    pipe = private_pipeline
    questions = QUESTIONS[:4]
    before = {q: key(pipe.ask(q)) for q in questions}
    extra = _mlqa_documents(dev_set, 4)
    errors: list[BaseException] = []
    seen: dict[str, set] = {q: set() for q in questions}
    asked = [0]
    stop = threading.Event()

    def writer():
        try:
            for doc in extra:  # one at a time: many index changes while questions run
                pipe.add_documents([doc])
            for doc in extra:
                pipe.remove(doc.id)
        except BaseException as exc:  # noqa: BLE001 - collected, asserted by the main thread
            errors.append(exc)
        finally:
            stop.set()

    def reader(q):
        try:
            while not stop.is_set():
                answer = pipe.ask(q)
                check_whole(answer, pipe)
                seen[q].add(key(answer))
                asked[0] += 1
        except BaseException as exc:  # noqa: BLE001 - collected, asserted by the main thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert asked[0] >= 2 * len(questions)  # the questions did run meanwhile
    # back to the bundled articles only: the same answers as before, and no trace of the others
    assert set(pipe.index.documents) == {d.id for d in load_bundled()}
    assert {q: key(pipe.ask(q)) for q in questions} == before
    # every answer given meanwhile cites the bundled articles or the added ones, never a mixture
    # that could not exist (checked by check_whole); the questions about the bundled articles
    # keep citing them
    bundled_ids = {d.id for d in load_bundled()}
    for q in questions:
        for text, found, lang, citations, passages in seen[q]:
            assert all(doc_id in bundled_ids | {d.id for d in extra} for doc_id, *_ in citations)


class PausingDict(dict):
    """A dict that, once armed, stops the writing thread right after its next insertion, until
    released: it holds ``index.add`` half-way (vectors added, passages partly stored), so the
    test can ask a question exactly then."""

    def __init__(self, *args):
        super().__init__(*args)
        self.armed = False
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __setitem__(self, k, v):
        super().__setitem__(k, v)
        if self.armed:
            self.armed = False
            self.paused.set()
            self.resume.wait(60)


def test_a_question_never_sees_a_half_added_document(private_pipeline, dev_set):
    pipe = private_pipeline
    (doc,) = [d for d in _mlqa_documents(dev_set, 12) if len(pipe.chunk(d)) >= 2][:1]
    query = pipe.query(QUESTIONS[0])  # embedded beforehand: the question below only searches
    passages = PausingDict(pipe.index.passages)
    pipe.index.passages = passages
    results: list = []

    def write():
        try:
            pipe.add_documents([doc])
        except BaseException as exc:  # noqa: BLE001 - collected, asserted by the main thread
            results.append(exc)

    def read():
        try:
            results.append(pipe.retrieve(query, top_k=50))
        except BaseException as exc:  # noqa: BLE001 - collected, asserted by the main thread
            results.append(exc)

    try:
        passages.armed = True
        writer = threading.Thread(target=write)
        writer.start()
        assert passages.paused.wait(120)  # index.add is half-way through the document
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=2)  # without locking it runs into the half-added document now
        passages.resume.set()
        reader.join(timeout=120)
        writer.join(timeout=120)
        assert len(results) == 1 and not isinstance(results[0], BaseException), results
        new = [p for p in results[0] if p.doc_id == doc.id]
        assert len(new) == len(pipe.chunk(doc))  # all of the document (it waited), not a part
        for p in new:
            assert doc.text[p.start:p.end] == p.text
    finally:
        passages.resume.set()
        pipe.index.passages = dict(passages)
        if doc.id in pipe.index:
            pipe.remove(doc.id)


def test_16_asks_through_the_gradio_queue(bundled_pipeline, monkeypatch):
    """The same through Gradio's queue and worker threads: a minimal Blocks app around
    Pipeline.ask (independent of app.py), driven by gradio_client with 16 jobs at once."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    from gradio_client import Client

    sequential = {q: bundled_pipeline.ask(q).text for q in QUESTIONS}
    active = [0, 0]  # now, most at once
    guard = threading.Lock()

    def ask(question: str) -> str:
        with guard:
            active[0] += 1
            active[1] = max(active)
        try:
            return bundled_pipeline.ask(question).text
        finally:
            with guard:
                active[0] -= 1

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        gr.Button().click(ask, box, out, api_name="ask", concurrency_limit=16)
    demo.queue(default_concurrency_limit=16)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        jobs = {q: client.submit(q, api_name="/ask") for q in QUESTIONS}
        answers = {q: job.result(timeout=300) for q, job in jobs.items()}
    finally:
        demo.close()
    assert answers == sequential
    assert active[1] >= 2  # the queue did run questions at the same time
