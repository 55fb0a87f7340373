"""Optional generative answerer: a language model writes the answer, citations are checked.

Why optional. The default answerer (:mod:`qa.answering.extractive`) needs no language model,
runs offline on a CPU in milliseconds, and cannot say anything that is not in a source. A
generative answer reads better (it can answer "where?" with "In Moscow [1]." instead of quoting a
whole sentence) but needs a model this project does not ship: either a server that speaks the
OpenAI chat API (Ollama, vLLM, llama.cpp ``llama-server``, ...) or a local transformers model.
Users who have one set ``QAConfig(answerer="generative", generator_url=... or generator_model=...)``.

How grounding is enforced. The model sees the retrieved passages numbered ``[1]..[k]`` and is told
to answer only from them, briefly, in the question's language, with ``[n]`` after every claim, and
to reply with a fixed "not found" sentence when the passages do not answer. Its reply is then
checked, not trusted:

* every ``[n]`` marker is parsed (``[2]``, ``[1, 3]``, ``[1][3]``); markers that name no passage
  (``[9]`` of five) are removed;
* a reply without any valid marker, an empty reply, or a model that fails (server down, HTTP
  error, missing model) gives the extractive answer instead, recorded as
  ``answerer="extractive (fallback)"``; the exact "not found" sentence gives ``found=False``;
* the cited passages are renumbered 1, 2, ... in order of first appearance, and each
  :class:`~qa.types.Citation` names the passage *and* its sentence that best supports the claims
  citing it (the extractive answerer's sentence scorer, run on that one passage with the question
  plus those claims), with that sentence's span in document coordinates, so a reader can check
  every claim against an exact source sentence.

What is not enforced: that each sentence of the reply carries a marker, or that a cited passage
really entails the claim. The citation shows the best-supporting source sentence; judging the
paraphrase is left to the reader, which is why the extractive answerer stays the default.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..retrieval.base import Query
from ..types import Answer, Citation, Passage
from .extractive import NOT_FOUND, ExtractiveAnswerer

__all__ = [
    "Generator",
    "OpenAICompatibleGenerator",
    "TransformersGenerator",
    "GenerativeAnswerer",
    "build_messages",
    "parse_markers",
]

log = logging.getLogger(__name__)

FALLBACK_NAME = "extractive (fallback)"
LANGUAGE_NAME = {"vi": "Vietnamese (tiếng Việt)", "en": "English"}


# ---------------------------------------------------------------------------------- generators
class Generator(Protocol):
    """Anything that turns chat messages into a reply."""

    def generate(self, messages: list[dict], max_tokens: int) -> str:
        """The assistant's reply to ``messages`` (OpenAI chat format: role + content)."""
        ...


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


def _strip_reasoning(text: str) -> str:
    """Drop the ``<think>…</think>`` block that reasoning models (Qwen3, DeepSeek-R1) emit."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # the opening tag was in the prompt (some chat templates add it)
        text = text.split("</think>", 1)[1]
    return text.strip()


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAICompatibleGenerator:
    """Chat completions from an OpenAI-compatible server, with the standard library only.

    ``base_url`` is the API root, e.g. ``http://localhost:11434/v1`` (Ollama),
    ``http://localhost:8000/v1`` (vLLM) or ``http://localhost:8080/v1`` (llama.cpp); the request
    goes to ``{base_url}/chat/completions`` (a URL already ending in ``/chat/completions`` is used
    as is). Decoding is greedy (temperature 0). The API key comes from ``api_key`` or the
    ``OPENAI_API_KEY`` environment variable; local servers need none. Requests to a loopback
    address never go through an HTTP proxy.
    """

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None,
                 timeout: float = 60):
        if not base_url:
            raise ValueError("base_url is empty")
        base = base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.url) else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"OpenAICompatibleGenerator(url={self.url!r}, model={self.model!r})"

    def generate(self, messages: list[dict], max_tokens: int = 256) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens,
                "stream": False}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = e.read().decode("utf-8", "replace").strip()[:300]
            except Exception:  # pragma: no cover - the body is a courtesy
                pass
            raise RuntimeError(f"the generator server at {self.url} answered HTTP {e.code} {e.reason}"
                               + (f": {detail}" if detail else "")) from e
        except urllib.error.URLError as e:
            raise RuntimeError(f"could not reach the generator server at {self.url}: {e.reason}") from e
        except (TimeoutError, OSError) as e:  # socket timeouts while reading, resets
            raise RuntimeError(f"request to the generator server at {self.url} failed: {e}") from e
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise RuntimeError(f"unexpected reply from the generator server at {self.url}: "
                               f"{raw[:300].decode('utf-8', 'replace')!r}") from e
        return _strip_reasoning(content or "")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 1 and name[1] == ":") \
        or os.path.exists(os.path.expanduser(name))


class TransformersGenerator:
    """A local causal language model through ``transformers`` (loaded on first use).

    ``model_id_or_path`` is a model folder or a Hugging Face id already in the local cache: the
    model is loaded with ``local_files_only=True`` unless the environment sets
    ``HF_HUB_OFFLINE=0`` (which allows a download). The tokenizer's chat template formats the
    messages when it has one; otherwise a plain "System/User/Assistant" prompt is used.
    Decoding is greedy.
    """

    def __init__(self, model_id_or_path: str, device: str | None = None):
        if not model_id_or_path:
            raise ValueError("model_id_or_path is empty")
        if _looks_like_path(model_id_or_path):
            path = Path(model_id_or_path).expanduser()
            if not path.is_dir():
                raise FileNotFoundError(f"generator model folder {str(path)!r} does not exist")
            model_id_or_path = str(path)
        self.model_id = model_id_or_path
        self.device = device
        self._pipe = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformersGenerator({self.model_id!r})"

    @property
    def local_files_only(self) -> bool:
        return os.environ.get("HF_HUB_OFFLINE") != "0"

    def _load(self):
        with self._lock:
            if self._pipe is not None:
                return self._pipe
            try:
                import transformers
            except ImportError as e:  # pragma: no cover - transformers comes with sentence-transformers
                raise RuntimeError("the transformers generator needs the 'transformers' package") from e
            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.model_id,
                                                                 local_files_only=self.local_files_only)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    self.model_id, local_files_only=self.local_files_only)
            except (OSError, ValueError) as e:
                hint = (" (loading offline: download it first, or set HF_HUB_OFFLINE=0 to allow a download)"
                        if self.local_files_only else "")
                raise RuntimeError(f"could not load generator model {self.model_id!r}{hint}: {e}") from e
            kwargs = {"device": self.device} if self.device else {}
            self._pipe = transformers.pipeline("text-generation", model=model, tokenizer=tok, **kwargs)
            return self._pipe

    def prompt(self, messages: list[dict]) -> str:
        """The text the model continues: the chat template's rendering, or a plain transcript."""
        tok = self._load().tokenizer
        if getattr(tok, "chat_template", None):
            try:
                return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:
                # Some templates (Gemma, Mistral) reject a system turn: fold it into the user turn.
                system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
                rest = [dict(m) for m in messages if m["role"] != "system"]
                if system and rest and rest[0]["role"] == "user":
                    rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
                return tok.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
        names = {"system": "System", "user": "User", "assistant": "Assistant"}
        turns = [f"{names.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
        return "\n\n".join(turns) + "\n\nAssistant:"

    def generate(self, messages: list[dict], max_tokens: int = 256) -> str:
        pipe = self._load()
        out = pipe(self.prompt(messages), max_new_tokens=max_tokens, do_sample=False, return_full_text=False)
        return _strip_reasoning(out[0]["generated_text"])


# ---------------------------------------------------------------------------------- prompt
def build_messages(query: Query, passages: list[Passage]) -> list[dict]:
    """The chat messages for one question: instructions, then numbered passages and the question."""
    lang = query.language if query.language in NOT_FOUND else "vi"
    language = LANGUAGE_NAME[lang]
    also = ", even though the passages are in Vietnamese" if lang == "en" else ""
    system = (
        "You answer questions about news articles using only the numbered passages you are given.\n"
        "Rules:\n"
        f"- Answer in {language}, the language of the question{also}.\n"
        "- Be short: 1 to 3 sentences.\n"
        "- Use only information stated in the passages, never outside knowledge.\n"
        "- After every claim, put the number of the passage that supports it in square brackets, "
        "for example [1] or [2][3].\n"
        f"- If the passages do not answer the question, reply exactly: {NOT_FOUND[lang]}"
    )
    blocks = []
    for i, p in enumerate(passages, 1):
        head = f"[{i}] {p.title}".rstrip()
        blocks.append(f"{head}\n{p.text.strip()}")
    user = ("Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {query.text}\n\n"
            f"Answer in {language}, citing passages as [n]:")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ---------------------------------------------------------------------------------- grounding
_MARKER = re.compile(r"\s*\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


@dataclass
class _Marker:
    start: int  # span of the marker in the reply, leading whitespace included
    end: int
    numbers: list[int]  # passage numbers as written (1-based), valid or not


def parse_markers(text: str) -> list[_Marker]:
    """The ``[n]`` / ``[n, m]`` markers of a reply, in order."""
    return [_Marker(m.start(), m.end(), [int(x) for x in re.findall(r"\d+", m.group(1))])
            for m in _MARKER.finditer(text)]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", _MARKER.sub("", text)).lower()
    return " ".join(re.sub(r"[\"'“”‘’.!?…:;,]", " ", text).split())


def _is_not_found(reply: str) -> bool:
    r = _norm(reply)
    return bool(r) and any(_norm(s) in r for s in NOT_FOUND.values())


class GenerativeAnswerer:
    """A language model writes the answer; citations are verified and tied to source sentences.

    ``run()`` has the extractive answerer's signature; ``fallback`` answers whenever the model's
    reply cannot be grounded (see the module docstring).
    """

    name = "generative"

    def __init__(self, generator: Generator, fallback: ExtractiveAnswerer, max_tokens: int = 256):
        self.generator = generator
        self.fallback = fallback
        self.max_tokens = max_tokens

    @classmethod
    def from_config(cls, config, fallback: ExtractiveAnswerer) -> "GenerativeAnswerer":
        """``generator_url`` → OpenAI-compatible server; else ``generator_model`` → transformers."""
        if config.generator_url:
            gen: Generator = OpenAICompatibleGenerator(config.generator_url, model=config.generator_model or "default")
        elif config.generator_model:
            gen = TransformersGenerator(config.generator_model, device=getattr(config, "device", None))
        else:
            raise ValueError(
                "answerer='generative' needs a language model: set generator_url to an OpenAI-compatible "
                "server (e.g. Ollama: http://localhost:11434/v1, with generator_model naming the model) or "
                "generator_model to a transformers model id or folder; or use answerer='extractive'")
        return cls(gen, fallback)

    # ------------------------------------------------------------------ answering
    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""
        if not passages:
            return self._fallback(query, passages, "no passages")
        try:
            reply = self.generator.generate(build_messages(query, passages), self.max_tokens)
        except Exception as e:  # the model is optional: any failure gives the extractive answer
            log.warning("generative answerer failed, using the extractive answer: %s", e)
            return self._fallback(query, passages, f"generator error: {e}")
        reply = (reply or "").strip()
        markers = parse_markers(reply)
        valid = [n for m in markers for n in m.numbers if 1 <= n <= len(passages)]
        if not valid:
            if _is_not_found(reply):
                return Answer(question=query.text, text=NOT_FOUND[query.language], language=query.language,
                              citations=[], passages=passages, timings={}, answerer=self.name, found=False)
            return self._fallback(query, passages, f"reply without a valid citation: {reply[:200]!r}")
        return self._grounded(query, passages, reply, markers)

    def _fallback(self, query: Query, passages: list[Passage], why: str) -> Answer:
        log.info("generative answer replaced by the extractive one (%s)", why)
        answer = self.fallback.run(query, passages)
        answer.answerer = FALLBACK_NAME
        return answer

    def _grounded(self, query: Query, passages: list[Passage], reply: str, markers: list[_Marker]) -> Answer:
        """Renumber valid markers by first appearance, drop invalid ones, cite the best sentences."""
        k = len(passages)
        new_number: dict[int, int] = {}  # passage number as written -> citation number
        claims: dict[int, list[str]] = {}  # passage number as written -> claim texts citing it
        # Markers separated only by commas/semicolons/spaces ("[1][2]", "[9], [1, 3]") form one
        # group that backs the same claim: the text since the previous group.
        groups: list[tuple[int, int, list[int]]] = []  # (start, end, numbers as written)
        for m in markers:
            if groups and re.fullmatch(r"[\s,;]*", reply[groups[-1][1]:m.start]):
                groups[-1] = (groups[-1][0], m.end, groups[-1][2] + m.numbers)
            else:
                groups.append((m.start, m.end, list(m.numbers)))
        pieces: list[str] = []
        prev_end = 0
        last_claim = ""
        for g_start, g_end, numbers in groups:
            between = reply[prev_end:g_start]
            pieces.append(between)
            claim = between.strip()
            if re.sub(r"[\W_]+", "", claim):
                last_claim = claim
            else:  # a group right after punctuation, "... Moskva. [1]": cite the last claim
                claim = last_claim
            kept: list[int] = []
            for n in numbers:
                if 1 <= n <= k:
                    new_number.setdefault(n, len(new_number) + 1)
                    if new_number[n] not in kept:
                        kept.append(new_number[n])
                    if claim and claim not in claims.setdefault(n, []):
                        claims[n].append(claim)
            if kept:
                pieces.append(" " + "".join(f"[{c}]" for c in kept))
            prev_end = g_end
        pieces.append(reply[prev_end:])
        # A dropped marker takes its leading space with it: "Moskva [9]." -> "Moskva.".
        text = "".join(pieces).strip()

        citations: list[Citation] = []
        for n, c in sorted(new_number.items(), key=lambda x: x[1]):
            citations.append(self._cite(query, passages[n - 1], c, claims.get(n, [])))
        return Answer(question=query.text, text=text, language=query.language, citations=citations,
                      passages=passages, timings={}, answerer=self.name, found=True)

    def _cite(self, query: Query, passage: Passage, n: int, claims: list[str]) -> Citation:
        """Citation ``n``: ``passage`` and its sentence that best supports ``claims``."""
        best = None
        try:
            best_list = self.fallback.score_sentences(self._support_query(query, claims), [passage])
            best = best_list[0] if best_list else None
        except Exception as e:  # pragma: no cover - scoring is deterministic; keep the answer anyway
            log.warning("could not score the sentences of passage %s: %s", passage.id, e)
        if best is None:
            start, end, sentence, score = passage.start, passage.end, passage.text, 0.0
            spans = passage.sentence_texts()
            if spans:
                start, end, sentence = spans[0]
        else:
            start, end, sentence, score = best.start, best.end, best.text, best.score
        # keep the span exact after stripping surrounding whitespace
        lead = len(sentence) - len(sentence.lstrip())
        trail = len(sentence) - len(sentence.rstrip())
        start, end, sentence = start + lead, end - trail, sentence.strip()
        return Citation(n=n, doc_id=passage.doc_id, title=passage.title, source=passage.source, url=passage.url,
                        passage_id=passage.id, passage_text=passage.text, start=start, end=end,
                        sentence=sentence, score=round(float(score), 4))

    def _support_query(self, query: Query, claims: list[str]) -> Query:
        """The question plus the claims that cite a passage, as a query for the sentence scorer."""
        claim_text = " ".join(_MARKER.sub("", c).strip() for c in claims).strip()
        if not claim_text:
            return query
        try:
            from corpus.normalize import normalize_text

            claim_text = normalize_text(claim_text)
        except ImportError:  # pragma: no cover
            claim_text = unicodedata.normalize("NFC", claim_text)
        text = f"{query.text} {claim_text}"
        vector = query.vector
        encoder = getattr(self.fallback, "encoder", None)
        if encoder is not None:
            vector = encoder.encode_queries([text])[0]
        return Query(text=text, language=query.language, vector=vector)
