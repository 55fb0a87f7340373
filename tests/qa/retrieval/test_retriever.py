"""Retrieval pieces (aliases, fusion, duplicate removal) and the channels on the bundled index."""

from __future__ import annotations

import math
import os

import pytest

from qa.retrieval import Retriever
from qa.retrieval.aliases import AliasTable, load_aliases
from qa.retrieval.fusion import RRF_K, lexical_weight, rrf, weighted
from qa.retrieval.rescoring import drop_near_duplicates, shingles

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# --------------------------------------------------------------------------- aliases


@pytest.fixture(scope="module")
def aliases() -> AliasTable:
    return load_aliases()


def _one_token(table: AliasTable, text: str) -> str:
    found = table.find(text)
    assert len(found) == 1, (text, found)
    return found[0][0]


@pytest.mark.parametrize("forms", [
    ["Giôn Ke-ri", "John Kerry", "Kerry", "Ke-ri", "giôn ke ri", "GIÔN KE-RI", "Gion Ke-ri"],
    ["Mát-xcơ-va", "Moskva", "Moscow", "Matxcơva", "mat xco va"],
    ["Giơ-ne-vơ", "Geneva", "Genève", "gio ne vo"],
    ["Xéc-gây La-vrốp", "Sergei Lavrov", "Lavrov", "La-vrốp"],
])
def test_forms_of_one_name_map_to_one_token(aliases, forms):
    tokens = {_one_token(aliases, f) for f in forms}
    assert len(tokens) == 1, tokens


def test_different_names_get_different_tokens(aliases):
    assert len({_one_token(aliases, f) for f in ["Kerry", "Lavrov", "Moscow", "Geneva", "Putin"]}) == 5


def test_alias_inside_a_sentence_matches_whole_words_left_to_right(aliases):
    found = aliases.find("Ngoại trưởng Mỹ Giôn Ke-ri đến Mát-xcơ-va gặp ông Pu-tin.")
    tokens = [t for t, _ in found]
    kerry, moscow, putin = (_one_token(aliases, x) for x in ("John Kerry", "Moscow", "Putin"))
    assert [t for t in tokens if t in (kerry, moscow, putin)] == [kerry, moscow, putin]
    assert ("@john_kerry", "Giôn Ke ri") in found  # the longest form wins over "Ke-ri"
    # whole words only: "Kerryson" and "Moscowitz" are other names
    assert aliases.find("Kerryson Moscowitz") == []


def test_islamic_state_only_in_capitals(aliases):
    assert aliases.find("This is what it is, is it not?") == []
    assert aliases.find("Is it?") == []
    is_token = _one_token(aliases, "IS")
    assert is_token == _one_token(aliases, "Nhà nước Hồi giáo tự xưng")
    assert aliases.tokens("Lực lượng IS tại Iraq và Syria").count(is_token) == 1
    assert aliases.tokens("How many Russians fight for IS?").count(is_token) == 1
    assert is_token not in aliases.tokens("What is the ISBN of this book?")


def test_words_with_other_diacritics_are_not_the_alias(aliases):
    assert aliases.find("Anh ấy bị ngã ở ngã ba") == []
    assert aliases.find("Một gói mỳ tôm") == []


def test_user_alias_file(tmp_path, aliases):
    f = tmp_path / "mine.tsv"
    f.write_text("# my names\n\nVolodymyr Zelensky | Zelensky | Vô-lô-đi-mia Dê-len-xki | Dê-len-xki\n",
                 encoding="utf-8")
    assert aliases.find("Dê-len-xki") == []  # not in the shipped table
    table = load_aliases([f])
    token = _one_token(table, "Dê-len-xki")
    assert token == _one_token(table, "Volodymyr Zelensky") == _one_token(table, "zelensky")
    assert "Zelensky" in table.forms(token)
    assert _one_token(table, "Moscow") == _one_token(aliases, "Moscow")  # shipped groups still there


def test_alias_files_from_environment(tmp_path, monkeypatch):
    a = tmp_path / "a.tsv"
    b = tmp_path / "b.tsv"
    a.write_text("Recep Tayyip Erdogan | Erdogan | Ơ-đô-gan\n", encoding="utf-8")
    b.write_text("Ankara | An-ca-ra\n", encoding="utf-8")
    monkeypatch.setenv("QA_ALIAS_FILES", os.pathsep.join([str(a), str(b)]))
    table = load_aliases()
    assert _one_token(table, "Ơ-đô-gan") == _one_token(table, "Erdogan")
    assert _one_token(table, "An-ca-ra") == _one_token(table, "Ankara")
    monkeypatch.setenv("QA_ALIAS_FILES", str(tmp_path / "missing.tsv"))
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_aliases()


def test_malformed_alias_line_names_file_and_line(tmp_path):
    f = tmp_path / "bad.tsv"
    f.write_text("# comment\nGood Name | Gút Nêm\nthis line has no separator\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_aliases([f])
    assert f"{f}:3" in str(err.value)


# --------------------------------------------------------------------------- fusion


def test_rrf_known_values():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (1, 4.0), (4, 1.0)]
    fused = rrf([dense, lexical])
    assert RRF_K == 60
    expected = {1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 63}
    assert [pid for pid, _ in fused] == [1, 3, 2, 4]
    for pid, score in fused:
        assert score == pytest.approx(expected[pid], abs=1e-12)
    # k only damps the head: with k=0, 1 (1 + 1/2) still beats 3 (1/3 + 1), by more
    fused0 = dict(rrf([dense, lexical], k=0))
    assert fused0[1] == pytest.approx(1.5) and fused0[3] == pytest.approx(1 + 1 / 3)
    assert rrf([]) == [] and rrf([[], []]) == []


def test_weighted_known_values_and_lexical_only_candidate():
    dense = {1: 0.86, 2: 0.85}
    lexical = {3: 10.0, 1: 2.0}
    w = 0.45
    fused = weighted(dense, lexical, w)
    assert {pid for pid, _ in fused} == {1, 2, 3}  # 3 came from the lexical channel only
    s = dict(fused)
    # dense min-max over {0.86, 0.85, 0 (missing)}, lexical divided by its max
    assert s[1] == pytest.approx((1 - w) * 1.0 + w * 0.2)
    assert s[2] == pytest.approx((1 - w) * 0.85 / 0.86)
    assert s[3] == pytest.approx(w * 1.0)
    assert [pid for pid, _ in fused] == [1, 2, 3]
    # a strong lexical weight lifts the lexical-only candidate to the top
    assert weighted(dense, lexical, 0.7)[0][0] == 3
    # no lexical weight: the dense order
    assert [pid for pid, _ in weighted({1: 0.5, 2: 0.9, 3: 0.7}, {1: 9.0}, 0.0)] == [2, 3, 1]
    assert weighted({}, {}, 0.5) == []


def test_lexical_weight_depends_on_language_and_shared_terms():
    assert lexical_weight("vi", 0, 5) == lexical_weight("vi", 5, 5) > 0
    assert lexical_weight("en", 0, 5) == 0.0
    assert lexical_weight("en", 3, 0) == 0.0
    assert 0 < lexical_weight("en", 1, 6) < lexical_weight("en", 3, 6) == lexical_weight("en", 6, 6)


def test_drop_near_duplicates(bundled_docs):
    text = bundled_docs["003"].text
    a = text[:600]
    near_copy = a.replace("hôm 26-8", "hôm thứ sáu 26-8").replace("Thụy Sĩ", "Thụy Sỹ")
    assert near_copy != a
    other_same_event = bundled_docs["000"].text[:600]
    items = [("a", a), ("other", other_same_event), ("copy", near_copy), ("a-again", a)]
    kept = drop_near_duplicates(items, lambda x: shingles(x[1]))
    assert [k for k, _ in kept] == ["a", "other"]
    # the order decides which copy survives
    assert [k for k, _ in drop_near_duplicates(items[::-1], lambda x: shingles(x[1]))] == ["a-again", "other"]
    # distinct passages of one article are all kept
    paras = [p for p in text.split("\n\n") if len(p) > 200]
    assert len(paras) >= 3
    assert drop_near_duplicates(paras, shingles) == paras


# --------------------------------------------------------------------------- channels on the bundled index


def _retriever(pipe, method: str) -> Retriever:
    return Retriever(pipe.index, method=method, candidates=pipe.config.candidates,
                     lexical=pipe.retriever.lexical)


def test_query_without_diacritics_finds_the_geneva_article_by_bm25(bundled_pipeline, bundled_docs):
    q = bundled_pipeline.query("hoi dam tai gio ne vo")
    assert q.language == "vi"
    passages = _retriever(bundled_pipeline, "bm25").run(q, 5)
    assert passages[0].doc_id == bundled_docs["003"].id
    # ranked by BM25; the dense cosine rides along for the relevance gate
    assert set(passages[0].scores) == {"bm25", "dense"} and passages[0].scores["bm25"] > 0
    assert passages[0].score == passages[0].scores["bm25"] and -1 <= passages[0].scores["dense"] <= 1
    assert all(t.startswith(("~", "@")) for t in q.lexical_terms)  # folded syllables and aliases
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_english_names_find_the_transliterated_article_through_aliases(bundled_pipeline, bundled_docs):
    pipe = bundled_pipeline
    q = pipe.query("Kerry Lavrov Geneva")
    assert q.language == "en"
    passages = _retriever(pipe, "bm25").run(q, 5)
    assert passages[0].doc_id == bundled_docs["003"].id
    geneva = _one_token(pipe.retriever.lexical.aliases, "Geneva")
    assert geneva in q.lexical_terms
    # 003 writes Geneva only as "Giơ-ne-vơ": the match is the alias token, not the word
    top_terms = pipe.index.passages[passages[0].id].extra["terms"]
    assert geneva in top_terms and "~geneva" not in top_terms
    assert all("geneva" not in p.text.lower() for p in pipe.index.passages.values()
               if p.doc_id == bundled_docs["003"].id)
    # "Geneva" alone finds 003 through its alias token, and finds nothing without it
    alone = pipe.query("Geneva")
    assert _retriever(pipe, "bm25").run(alone, 5)[0].doc_id == bundled_docs["003"].id
    alone_plain = pipe.query("Geneva")
    alone_plain.lexical_terms = ["~geneva"]
    assert _retriever(pipe, "bm25").run(alone_plain, 5) == []


SEED_QUESTIONS = [
    ("Ông Kerry gặp ông Putin ở đâu?", "000"),
    ("Where did Kerry and Lavrov meet in August 2016?", "003"),
    ("Ai là người phát ngôn Bộ Quốc phòng Nga?", "004"),
    ("Who is the spokesman of the Russian Defence Ministry?", "004"),
    ("Bộ trưởng Quốc phòng Mỹ Ash Carter đã điện đàm với ai?", "002"),
    ("Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?", "001"),
    ("How many humanitarian workers have been killed in Syria?", "003"),
    ("Các cuộc không kích ở Raqqa và Aleppo đã giết chết bao nhiêu người?", "002"),
]


def _rank_of(passages, doc_id) -> float:
    return next((p.rank for p in passages if p.doc_id == doc_id), math.inf)


def test_hybrid_is_never_worse_than_dense(bundled_pipeline, bundled_docs):
    pipe = bundled_pipeline
    dense, hybrid = _retriever(pipe, "dense"), _retriever(pipe, "hybrid")
    ranks = []
    for question, article in SEED_QUESTIONS:
        doc_id = bundled_docs[article].id
        d = _rank_of(dense.run(pipe.query(question), 5), doc_id)
        h = _rank_of(hybrid.run(pipe.query(question), 5), doc_id)
        ranks.append((question, d, h))
    assert all(h <= d for _, d, h in ranks), ranks
    assert all(h <= 2 for _, _, h in ranks), ranks
    assert sum(h < d for _, d, h in ranks) >= 2, ranks  # and hybrid does help


def test_retriever_rejects_unknown_method(bundled_pipeline):
    with pytest.raises(ValueError, match="unknown retrieval method"):
        Retriever(bundled_pipeline.index, method="tfidf")
