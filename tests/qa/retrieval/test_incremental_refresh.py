"""Retriever.refresh after adding documents is incremental and changes no result: BM25 scores,
sentence searches and final rankings equal those of channels built from scratch over the same
index (and, for BM25, of a bm25s index built from the term strings); removals too."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from benchmarks.common import SEED_QUESTIONS
from benchmarks.sources import synthetic_index
from embeddings.stores import ann, copy_store
from evaluation.datasets import load_qa_set
from qa import Pipeline, QAConfig
from qa.retrieval.base import Query
from qa.retrieval.dense import SentenceChannel
from qa.retrieval.lexical import K1, B, LexicalChannel
from qa.retrieval.retriever import Retriever

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.usefixtures("dev_set")]


@pytest.fixture(scope="module")
def dev_docs(dev_set):
    """Six dev-set contexts as documents (Vietnamese Wikipedia paragraphs)."""
    return load_qa_set(dev_set).documents()[:6]


@pytest.fixture(scope="module")
def dev_questions(dev_set):
    qa_set = load_qa_set(dev_set)
    return [q.text(lang) for q in qa_set.questions[:6] for lang in ("vi", "en") if q.text(lang)]


@pytest.fixture()
def pipe(encoder, bundled_pipeline):
    """An in-memory pipeline holding the bundled articles (copied: no re-embedding), its
    channels built."""
    p = Pipeline(QAConfig(), encoder=encoder, in_memory=True)
    copy_store(bundled_pipeline.index, p.index)
    p.retriever.refresh()
    return p


def rebuilt(index) -> Retriever:
    """A retriever whose channels are built from scratch over ``index``."""
    r = Retriever(index)
    r.refresh(full=True)
    return r


def bm25s_reference(index) -> tuple[list[int], bm25s.BM25]:
    ids = list(index.passages)
    ref = bm25s.BM25(k1=K1, b=B)
    ref.index([index.passages[p].extra["terms"] for p in ids], show_progress=False)
    return ids, ref


def assert_same_results(pipe: Pipeline, questions: list[str]) -> None:
    """Every channel of ``pipe.retriever`` (refreshed incrementally) agrees exactly with one
    rebuilt from scratch, and BM25 with bm25s's own index over the same terms."""
    inc, ref = pipe.retriever, rebuilt(pipe.index)
    ids, lib = bm25s_reference(pipe.index)
    assert inc.lexical.ids.tolist() == ids == ref.lexical.ids.tolist()
    assert set(inc.lexical.vocab) == set(lib.vocab_dict) - {""} == set(ref.lexical.vocab)
    assert inc.lexical.idf == ref.lexical.idf
    assert inc.sentences._owner.tolist() == ref.sentences._owner.tolist()
    for text in questions:
        q, q_ref = pipe.query(text), pipe.query(text)
        scores = inc.lexical.scores(q)
        assert np.array_equal(scores, ref.lexical.scores(q_ref))
        known = [t for t in q.lexical_terms if t in lib.vocab_dict]
        if known:
            assert np.array_equal(scores, lib.get_scores(known))
        assert inc.sentences.search(q, 20) == ref.sentences.search(q_ref, 20)
        assert inc.rank(q, 20) == ref.rank(q_ref, 20)


def test_adding_documents_matches_a_rebuild(pipe, dev_docs, dev_questions):
    questions = SEED_QUESTIONS + dev_questions
    lexical, sentences = pipe.retriever.lexical, pipe.retriever.sentences
    search_index = sentences._search_index
    before = len(pipe.index)
    pipe.add_documents(dev_docs[:1])  # one, then several at once
    pipe.add_documents(dev_docs[1:4])
    assert len(pipe.index) > before + 3
    # the same channel objects, updated in place: the sentence index was appended to
    assert pipe.retriever.lexical is lexical and sentences._search_index is search_index
    assert search_index.ntotal == sum(len(v) for v in pipe.index.sentence_vectors.values())
    assert_same_results(pipe, questions)
    # a question about an added context finds it
    hit = pipe.retrieve(dev_questions[0], 5)
    assert dev_docs[0].id in {p.doc_id for p in hit}


def test_removing_documents_matches_a_rebuild(pipe, dev_docs, dev_questions, bundled_docs):
    pipe.add_documents(dev_docs[:3])
    gone = bundled_docs["000"]
    only_there = set(next(p.extra["terms"] for p in pipe.index.passages.values() if p.doc_id == gone.id))
    for p in pipe.index.passages.values():
        if p.doc_id != gone.id:
            only_there -= set(p.extra["terms"])
    assert only_there  # the article has terms no other passage holds
    pipe.remove(gone.id)
    pipe.remove(dev_docs[1].id)
    assert not only_there & set(pipe.retriever.lexical.vocab)  # the vocabulary shrank with it
    assert_same_results(pipe, SEED_QUESTIONS + dev_questions)
    pipe.add_documents([dev_docs[1], dev_docs[4]])  # and adding after removals
    assert_same_results(pipe, SEED_QUESTIONS + dev_questions)


def test_lexical_channel_reads_passages_stored_without_terms(pipe, dev_docs):
    """Passages from a store that lacks their terms get them computed, as before."""
    pipe.add_documents(dev_docs[:1])
    pid = next(iter(pipe.index.passages))
    expected = pipe.index.passages[pid].extra.pop("terms")
    ch = LexicalChannel(pipe.index, pipe.retriever.lexical.aliases)
    ch.refresh()
    assert pipe.index.passages[pid].extra["terms"] == expected
    _, lib = bm25s_reference(pipe.index)
    terms = expected[:10]
    assert np.array_equal(ch._bm25.get_scores(terms), lib.get_scores(terms))


def test_ivf_sentence_index_takes_additions_and_removals(pipe, dev_docs, monkeypatch):
    """Beyond the ANN threshold the trained IVF index is added to and removed from, and
    retrained only after the collection grew RETRAIN_GROWTH times."""
    stored = pipe.index.sentence_vectors
    n = sum(len(v) for v in stored.values())
    monkeypatch.setattr(ann, "ANN_THRESHOLD", n // 2)
    ch = SentenceChannel(pipe.index)
    ch.refresh()
    ivf = ch._search_index
    assert ch._ivf and ann.trained_size(ivf) == pytest.approx(n, rel=0.05)
    pipe.add_documents(dev_docs[:2])
    ch.refresh()
    assert ch._search_index is ivf and ivf.ntotal == sum(len(v) for v in stored.values())
    added = [pid for pid, p in pipe.index.passages.items() if p.doc_id == dev_docs[0].id]
    own = {pid: Query("", "vi", vector=stored[pid][0].astype(np.float32)) for pid in added}
    for pid, q in own.items():  # each added passage's own sentence finds it
        assert ch.search(q, 1)[0][0] == pid
    pipe.remove(dev_docs[0].id)
    ch.refresh()
    assert ch._search_index is ivf and ivf.ntotal == sum(len(v) for v in stored.values())
    for q in own.values():
        top = ch.search(q, 10)
        assert len(top) == 10 and not {p for p, _ in top} & set(added)
    # grown past RETRAIN_GROWTH x the trained size: a new index, trained again
    big = synthetic_index([pipe.index], int(len(pipe.index) * (ann.RETRAIN_GROWTH + 1)))
    later = list(big.passages)[len(pipe.index):]
    hidden = {pid: big.passages.pop(pid) for pid in later}
    grown = SentenceChannel(big)
    grown.refresh()
    first = grown._search_index
    big.passages.update(hidden)
    grown.refresh()
    assert grown._ivf and grown._search_index is not first
    assert grown._search_index.ntotal == sum(len(v) for v in big.sentence_vectors.values())
