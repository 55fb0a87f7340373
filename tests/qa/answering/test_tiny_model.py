"""The transformers backend, run for real on a tiny model built here.

The model is a one-layer Llama with random weights and the tokenizer is a byte-level BPE trained
in the test (``tokenizers``) on the bundled articles, with a ChatML chat template: nothing is
downloaded. Its output is noise, so these tests prove the plumbing — the chat template renders
the prompt, the model receives exactly that prompt, streaming yields pieces that add up to the
whole reply, and the reply goes through citation checking (noise has no valid ``[n]`` marker,
so the answer is the extractive fallback, which is the correct behaviour).
"""

from __future__ import annotations

import pytest

from qa.answering.generative import (
    GenerativeAnswerer,
    TransformersGenerator,
    build_messages,
)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, bundled_docs):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator([d.text for d in bundled_docs.values()], trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", additional_special_tokens=SPECIAL[1:])
    tok.chat_template = CHATML
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=8192, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    path = tmp_path_factory.mktemp("tiny-llm")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


class _Recorder:
    """Wraps the real ``model.generate`` and records the input ids it received."""

    def __init__(self, model):
        self.real = model.generate
        self.inputs = []

    def __call__(self, **kwargs):
        self.inputs.append(kwargs["input_ids"][0].tolist())
        return self.real(**kwargs)


MESSAGES = [{"role": "system", "content": "Trả lời ngắn gọn."}, {"role": "user", "content": "Ông Kerry gặp ai?"}]


def test_chat_template_prompt_is_what_the_model_receives(tiny_model_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    gen = TransformersGenerator(str(tiny_model_dir))
    assert gen.device == "cpu" and not gen.loaded
    prompt = gen.prompt(MESSAGES)
    assert prompt == ("<|im_start|>system\nTrả lời ngắn gọn.<|im_end|>\n"
                      "<|im_start|>user\nÔng Kerry gặp ai?<|im_end|>\n<|im_start|>assistant\n")
    rec = _Recorder(gen.model)
    monkeypatch.setattr(gen.model, "generate", rec)
    reply = gen.generate(MESSAGES, 8)
    assert isinstance(reply, str)
    (ids,) = rec.inputs
    assert gen.tokenizer.decode(ids) == prompt  # byte-level BPE round-trips exactly
    assert ids[0] == gen.tokenizer.convert_tokens_to_ids("<|im_start|>")  # no extra BOS before the template


def test_streaming_yields_the_reply_piece_by_piece(tiny_model_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    gen = TransformersGenerator(str(tiny_model_dir))
    pieces = list(gen.stream(MESSAGES, 12))
    assert len(pieces) >= 2 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces).strip() == gen.generate(MESSAGES, 12)  # greedy: the same reply both ways


def test_tiny_model_answer_goes_through_citation_checking(tiny_model_dir, bundled_pipeline, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    gen = TransformersGenerator(str(tiny_model_dir))
    rec = _Recorder(gen.model)
    monkeypatch.setattr(gen.model, "generate", rec)
    answerer = GenerativeAnswerer(gen, fallback=bundled_pipeline.answerer, max_tokens=16)
    q = bundled_pipeline.query("Ông Kerry gặp ông Putin ở đâu?")
    passages = bundled_pipeline.retrieve(q)
    parts = list(answerer.stream(q, passages))
    # the whole numbered, fenced prompt reached the model through the chat template
    (ids,) = rec.inputs
    assert gen.tokenizer.decode(ids) == gen.prompt(build_messages(q, passages))
    assert '<source id="5">' in gen.tokenizer.decode(ids)
    final = parts[-1]
    assert not final.partial and all(p.partial for p in parts[:-1])
    # random weights write noise without a valid citation: the extractive answer stands in
    assert final.answerer == "extractive (fallback)"
    assert final.text == bundled_pipeline.answerer.run(q, passages).text and final.citations

