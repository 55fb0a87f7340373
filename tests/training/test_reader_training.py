"""The reader's training: windows and labels, negatives, a few real steps of a tiny model
(resume gives the same weights as an uninterrupted run), export precisions and load errors.

CI never trains the real reader; these tests train a 2-layer, 32-wide BERT built here on the
e5 tokenizer (the real vocabulary, so the tokenization is the product's), on questions written
for the bundled articles.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from evaluation.metrics import answer_em, answer_f1
from training.reader_data import Example, featurize, make_negatives

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ART = "003"  # the Geneva article (Kerry and Lavrov, 26-8, nearly 10 hours)


@pytest.fixture(scope="module")
def tokenizer(e5_model_dir):
    import transformers

    return transformers.AutoTokenizer.from_pretrained(str(e5_model_dir), local_files_only=True)


def _example(doc_text: str, question: str, answer: str, lang: str = "vi", group: str = "g") -> Example:
    start = doc_text.index(answer)
    return Example(id=f"{group}:{question[:10]}", group=group, question=question, context=doc_text,
                   answers=[(answer, start)], q_lang=lang, c_lang="vi", source="test")


def test_windows_label_the_answer_tokens_and_the_rest_is_no_answer(tokenizer, bundled_docs):
    text = bundled_docs[ART].text
    ex = [_example(text, "Cuộc hội đàm ở Giơ-ne-vơ kéo dài bao lâu?", "gần 10 tiếng đồng hồ"),
          _example(text, "How long did the talks in Geneva last?", "gần 10 tiếng đồng hồ", lang="en", group="h"),
          Example(id="u", group="u", question="Ông Kerry sinh năm nào?", context=text, answers=[],
                  q_lang="vi", c_lang="vi", source="test")]
    feats = featurize(tokenizer, ex, max_len=128, stride=32, negative_windows=1, seed=0)
    assert len(text) > 2000  # several windows per example
    for f in feats:
        assert len(f.input_ids) <= 128
        if f.start:
            span = tokenizer.decode(f.input_ids[f.start:f.end + 1]).strip()
            assert span == "gần 10 tiếng đồng hồ"
    for i in (0, 1):  # each answerable example: its answer windows and one window without it
        mine = [f for f in feats if f.example == i]
        assert sum(f.start > 0 for f in mine) >= 1 and sum(f.start == 0 for f in mine) == 1
    assert [f.start for f in feats if f.example == 2] == [0]  # unanswerable: one window, no span


def test_negatives_never_hold_the_answer_nor_the_gold_paragraph(encoder, bundled_docs):
    paras = [p for d in bundled_docs.values() for p in d.text.split("\n") if len(p) > 200]
    gold = next(p for p in paras if "gần 10 tiếng đồng hồ" in p)
    ex = [_example(gold, "Cuộc hội đàm ở Giơ-ne-vơ kéo dài bao lâu?", "gần 10 tiếng đồng hồ", group="a")]
    ex += [Example(id=f"o{i}", group=f"o{i}", question="Ai là người phát ngôn?", context=p,
                   answers=[(p[:5], 0)], q_lang="vi", c_lang="vi", source="test") for i, p in enumerate(paras)
           if p != gold]
    negs = make_negatives(ex, encoder=encoder, rate_retrieved=1.0, rate_names=1.0, seed=0)
    mine = [n for n in negs if n.id.startswith("a:")]
    assert {n.kind for n in mine} >= {"negative-retrieved", "negative-names"}
    for n in negs:
        assert not n.answers and n.context != ex[[e.id for e in ex].index(n.id.rsplit(":", 1)[0])].context
    for n in mine:
        assert "gần 10 tiếng đồng hồ" not in n.context
        assert any(w in n.context for w in ("Giơ-ne-vơ",)) or n.kind == "negative-retrieved"


def test_mlqa_f1_and_em_follow_the_official_normalization():
    assert answer_em("Moskva.", ["moskva"]) == 1.0
    # punctuation is deleted ("15/12" -> "1512"), so the prediction has 4 words, one right
    assert answer_f1("hôm 15/12 ở Moskva", ["15/12"]) == pytest.approx(2 * (1 / 4) * 1 / (1 / 4 + 1))
    assert answer_em("là Igor Konashenkov", ["Igor Konashenkov"]) == 1.0  # a Vietnamese article
    assert answer_em("the Kremlin", ["Kremlin"], "en") == 1.0 and answer_em("the Kremlin", ["Kremlin"], "vi") == 0.0
    assert answer_f1("", ["x"]) == 0.0


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, e5_model_dir):
    """A 2-layer, 32-wide BERT with the e5 vocabulary and tokenizer (random weights)."""
    import torch
    import transformers

    torch.manual_seed(0)
    tok = transformers.AutoTokenizer.from_pretrained(str(e5_model_dir), local_files_only=True)
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=512, type_vocab_size=2)
    path = tmp_path_factory.mktemp("tiny-bert")
    transformers.BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    for f in Path(e5_model_dir).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, path / f.name)
    return path


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, bundled_docs):
    """qa-train / vi-extra files in the shared/train schema, written from the bundled articles."""
    d = tmp_path_factory.mktemp("train-data")
    rows, vi = [], []
    qa = [("003", "Cuộc hội đàm kéo dài bao lâu?", "gần 10 tiếng đồng hồ"),
          ("003", "Ông Kerry và ông Lavrov hội đàm ở đâu?", "Giơ-ne-vơ"),
          ("004", "Ai là người phát ngôn Bộ Quốc phòng Nga?", "Igor Konashenkov"),
          ("002", "Who is the US defence secretary?", "Ash Carter"),
          ("000", "Cuộc họp ở Moskva kéo dài bao lâu?", "3 giờ đồng hồ"),
          ("000", "Ai là Ngoại trưởng Nga?", "Sergei Lavrov")]
    for i, (doc, q, a) in enumerate(qa * 4):
        text = bundled_docs[doc].text
        para = next(p for p in text.split("\n") if a in p)
        row = {"id": f"t{i}", "source": "mlqa-dev" if i % 2 else "tydiqa-goldp", "context_lang": "vi",
               "question_lang": "en" if q.startswith("Who") else "vi", "title": doc, "context": para,
               "question": q, "answers": [{"text": a, "answer_start": para.index(a)}]}
        (rows if i < 16 else vi).append(row)
    for k, r in enumerate(vi):  # half held out (the "test" split), half trained on
        r.update(source="nanibot-wiki", id=f"nanibot_wiki_{'test' if k < 4 else 'train'}-{k}", is_impossible=False)
    vi.append({"id": "squadvi_dev_v2_impossible-1", "source": "squad2-dev-vi-mt-unanswerable", "context_lang": "vi",
               "question_lang": "vi", "title": "", "context": rows[0]["context"], "question": "Ông Kerry sinh năm nào?",
               "answers": [], "is_impossible": True})
    for name, data in (("qa-train.jsonl.gz", rows), ("vi-extra.jsonl.gz", vi)):
        with gzip.open(d / name, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in data)
    return d


def _recipe(tiny_base, tiny_data, **kw):
    from training.reader import Recipe

    return Recipe(data=str(tiny_data), base_model=str(tiny_base), heldout_mlqa_groups=1, heldout_tydi=1,
                  heldout_eval_max=4, vi_unanswerable=5, rate_retrieved_negatives=0.0, max_len=96, stride=32,
                  epochs=1.0, token_budget=400, max_batch=4, checkpoint_every=2, lr=1e-3, **kw)


def test_training_steps_checkpoints_and_resume_give_the_same_weights(tmp_path, tiny_base, tiny_data):
    import torch

    from qa.answering.reader_weights import load_reader, read_meta
    from training.reader import train

    recipe = _recipe(tiny_base, tiny_data)
    train(recipe, tmp_path / "a", max_steps=4, log=lambda *_: None)
    train(recipe, tmp_path / "b", max_steps=2, log=lambda *_: None)
    train(recipe, tmp_path / "b", max_steps=2, resume=True, log=lambda *_: None)

    log = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [2, 4]
    assert {"qa_f1", "vi_f1", "no_answer_auc", "train_loss"} <= set(log[-1])
    assert json.loads((tmp_path / "a" / "recipe.json").read_text())["seed"] == recipe.seed
    a = load_reader(tmp_path / "a" / "last", tiny_base).state_dict()
    b = load_reader(tmp_path / "b" / "last", tiny_base).state_dict()
    assert read_meta(tmp_path / "b" / "last")["step"] == 4
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "b" / "best" / "reader.safetensors").is_file()
    with pytest.raises(SystemExit, match="another recipe"):
        train(_recipe(tiny_base, tiny_data, seed=99), tmp_path / "b", resume=True, max_steps=1, log=lambda *_: None)


def test_skip_batches_continues_the_first_epoch_where_the_init_model_stopped():
    from training.reader import Recipe, batches_for_epoch, schedule
    from training.reader_data import Feature

    feats = [Feature(input_ids=[0] * (8 + i % 5), token_type_ids=None, start=0, end=0, example=i)
             for i in range(200)]
    base = Recipe(token_budget=64, max_batch=4, epochs=1.5)
    full, cont = schedule(feats, base), schedule(feats, Recipe(token_budget=64, max_batch=4, epochs=1.5,
                                                                skip_batches=10))
    assert cont == full[10:]
    assert cont[0] == (0, 10) and len({b for e, b in cont if e == 0}) == len(batches_for_epoch(feats, base, 0)) - 10


def test_export_precisions_round_trip_and_bad_folders_are_refused(tmp_path, tiny_base, tiny_data):
    import torch

    from qa.answering.reader_weights import ReaderWeightsError, load_reader
    from training.reader import main, train

    train(_recipe(tiny_base, tiny_data), tmp_path / "run", max_steps=2, log=lambda *_: None)
    ref = load_reader(tmp_path / "run" / "last", tiny_base)
    ids = torch.tensor([[0, 5860, 580, 2, 2, 33181, 81068, 3692, 2]])
    with torch.no_grad():
        want = ref(input_ids=ids).start_logits
    for precision, tol in (("fp32", 1e-6), ("bf16", 5e-2), ("int8", 5e-2)):
        out = tmp_path / precision
        assert main(["export", "--checkpoint", str(tmp_path / "run" / "last"), "--out", str(out),
                     "--precision", precision, "--base-model", str(tiny_base)]) == 0
        with torch.no_grad():
            got = load_reader(out, tiny_base)(input_ids=ids).start_logits
        assert (got - want).abs().max() <= tol * max(1.0, want.abs().max())
        assert (out / "recipe.json").is_file()

    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "fp32", broken)
    with open(broken / "reader.safetensors", "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\0" * 8)
    with pytest.raises(ReaderWeightsError, match="reader.safetensors.*damaged"):
        load_reader(broken, tiny_base)
    (broken / "reader.safetensors").unlink()
    with pytest.raises(ReaderWeightsError, match="missing"):
        load_reader(broken, tiny_base)
    with pytest.raises(ReaderWeightsError, match="does not exist"):
        load_reader(tmp_path / "nowhere", tiny_base)
    other = tmp_path / "other-base"
    shutil.copytree(tiny_base, other)
    import transformers

    m = transformers.BertModel.from_pretrained(other)
    with torch.no_grad():
        m.embeddings.word_embeddings.weight.add_(0.01)
    m.save_pretrained(other)
    with pytest.raises(ReaderWeightsError, match="other word embeddings"):
        load_reader(tmp_path / "fp32", other)
