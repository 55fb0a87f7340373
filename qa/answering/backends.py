"""Generative backends: a transformers causal LM, or any OpenAI-compatible chat endpoint.

Both turn chat messages (OpenAI format: ``{"role", "content"}``) into a reply, either whole
(:meth:`generate`) or piece by piece as the model writes it (:meth:`stream`). Decoding is greedy
(temperature 0) so that answers are reproducible.

* :class:`OpenAICompatibleGenerator` talks to ``{base_url}/chat/completions`` through the official
  ``openai`` client (kept by the people who define the protocol: requests, server-sent-event
  streaming, timeouts, retries). This covers Ollama, vLLM, llama.cpp ``llama-server``, TGI and
  hosted APIs. The API key comes from the environment variable named by ``api_key_env``
  (default ``QA_GENERATOR_API_KEY``), falling back to ``OPENAI_API_KEY``; local servers need none.
* :class:`TransformersGenerator` loads a local or cached Hugging Face model on first use,
  renders the messages with the tokenizer's chat template, and streams with
  ``transformers.TextIteratorStreamer`` (generation runs in a worker thread).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from .local_model import LocalModel

__all__ = ["Generator", "OpenAICompatibleGenerator", "TransformersGenerator", "strip_reasoning",
           "visible_text", "DEFAULT_API_KEY_ENV"]

log = logging.getLogger(__name__)

#: The environment variable the API key is read from (then ``OPENAI_API_KEY``).
DEFAULT_API_KEY_ENV = "QA_GENERATOR_API_KEY"
#: What the client sends as the key when none is configured: the ``openai`` client requires one,
#: and local servers (Ollama, llama.cpp, vLLM without --api-key) ignore it.
NO_API_KEY = "not-needed"


class Generator(Protocol):
    """Anything that turns chat messages into a reply."""

    def generate(self, messages: list[dict], max_tokens: int) -> str:
        """The assistant's whole reply to ``messages`` (reasoning blocks removed)."""
        ...

    def stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        """The raw reply as it is written, piece by piece (concatenate them for the text)."""
        ...


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


def strip_reasoning(text: str) -> str:
    """Drop the ``<think>…</think>`` block that reasoning models (Qwen3, DeepSeek-R1) emit."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # the opening tag was in the prompt (some chat templates add it)
        text = text.split("</think>", 1)[1]
    return text.strip()


def visible_text(raw: str) -> str:
    """What of a reply still being written can be shown: without finished reasoning blocks,
    and nothing of a reasoning block still open."""
    text = _THINK.sub("", raw)
    low = text.lower()
    if "<think>" in low:
        text = text[:low.index("<think>")]
    elif "</think>" in low:
        text = text[low.index("</think>") + len("</think>"):]
    # a tag being written ("<thi") is not shown either
    m = re.search(r"<[/a-z]{0,7}$", text, re.I)
    if m and "<think>".startswith(m.group(0).lower().replace("/", "")[:7]):
        text = text[:m.start()]
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
    """Chat completions from an OpenAI-compatible server through the official ``openai`` client.

    ``base_url`` is the API root, e.g. ``http://localhost:11434/v1`` (Ollama),
    ``http://localhost:8000/v1`` (vLLM) or ``http://localhost:8080/v1`` (llama.cpp); requests go to
    ``{base_url}/chat/completions`` (a URL already ending in ``/chat/completions`` is cut back to its
    root). The API key is ``api_key``, else the environment variable ``api_key_env`` (default
    ``QA_GENERATOR_API_KEY``), else ``OPENAI_API_KEY``; never logged. Local servers need none (the
    client then sends a placeholder, which they ignore). ``timeout`` bounds the connection and each
    read; ``max_retries`` repeats a request that failed on the connection, a timeout or HTTP
    408/409/429/5xx (the client's own back-off). Requests to a loopback address never go through
    an HTTP proxy. Every failure is a ``RuntimeError`` naming the server's URL.
    """

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None,
                 timeout: float = 60, api_key_env: str = DEFAULT_API_KEY_ENV, max_retries: int = 1):
        if not base_url:
            raise ValueError("base_url is empty")
        import openai

        base = base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[:-len("/chat/completions")]
        self.url = base + "/chat/completions"
        self.model = model
        if api_key is None:
            api_key = os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        http_client = openai.DefaultHttpxClient(trust_env=False) if _is_loopback(base) else None
        self._client = openai.OpenAI(base_url=base, api_key=api_key or NO_API_KEY, timeout=timeout,
                                     max_retries=max_retries, http_client=http_client)

    def __repr__(self) -> str:
        return f"OpenAICompatibleGenerator(url={self.url!r}, model={self.model!r})"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The client's exceptions as RuntimeErrors that name the server (and its HTTP status)."""
        import openai

        try:
            yield
        except openai.APIStatusError as e:
            detail = (e.message or "").strip()[:300]
            raise RuntimeError(f"the generator server at {self.url} answered HTTP {e.status_code}"
                               + (f": {detail}" if detail else "")) from e
        except openai.APITimeoutError as e:
            raise RuntimeError(f"request to the generator server at {self.url} timed out "
                               f"(after {self.timeout} s)") from e
        except openai.APIConnectionError as e:
            raise RuntimeError(f"could not reach the generator server at {self.url}: {e.__cause__ or e}") from e
        except openai.OpenAIError as e:  # a reply the protocol does not allow, an error event
            raise RuntimeError(f"unexpected reply from the generator server at {self.url}: {e}") from e

    def _create(self, messages: list[dict], max_tokens: int, stream: bool):
        return self._client.chat.completions.create(model=self.model, messages=messages, temperature=0,
                                                    max_tokens=max_tokens, stream=stream)

    def generate(self, messages: list[dict], max_tokens: int = 256) -> str:
        with self._errors():
            reply = self._create(messages, max_tokens, stream=False)
        try:
            content = reply.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as e:
            raise RuntimeError(f"unexpected reply from the generator server at {self.url}: {reply!r:.300}") from e
        return strip_reasoning(content or "")

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        """The reply's text deltas as the server sends them (server-sent events, ended by
        ``[DONE]``); chunks without choices (usage) are skipped."""
        with self._errors():
            with self._create(messages, max_tokens, stream=True) as events:
                for chunk in events:
                    piece = chunk.choices[0].delta.content if chunk.choices else None
                    if piece:
                        yield piece


class TransformersGenerator(LocalModel):
    """A local causal language model through ``transformers`` (loaded on first use).

    ``model_id_or_path`` is a model folder or a Hugging Face id already in the local cache: the
    model is loaded with ``local_files_only=True`` unless the environment sets
    ``HF_HUB_OFFLINE=0`` (which allows a download). ``device`` is a torch device ("cpu" by
    default, "cuda", "mps"). The tokenizer's chat template formats the messages when it has
    one; otherwise a plain "System/User/Assistant" prompt is used. Decoding is greedy.
    """

    auto_class = "AutoModelForCausalLM"
    kind = "generator"

    def prompt(self, messages: list[dict]) -> str:
        """The text the model continues: the chat template's rendering, or a plain transcript."""
        tok = self.tokenizer
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

    def encode(self, messages: list[dict]) -> dict:
        """The model's input for ``messages``: the tokenized :meth:`prompt` (a chat template
        already holds the special tokens, so none are added then)."""
        tok = self.tokenizer
        templated = bool(getattr(tok, "chat_template", None))
        return tok(self.prompt(messages), return_tensors="pt", add_special_tokens=not templated)

    def _generate_kwargs(self, messages: list[dict], max_tokens: int) -> dict:
        tok, model = self._load()
        inputs = {k: v.to(self.device) for k, v in self.encode(messages).items()}
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        return dict(**inputs, max_new_tokens=max_tokens, do_sample=False, pad_token_id=pad)

    def generate(self, messages: list[dict], max_tokens: int = 256) -> str:
        import torch

        tok, model = self._load()
        kwargs = self._generate_kwargs(messages, max_tokens)
        with torch.inference_mode():
            out = model.generate(**kwargs)
        new = out[0, kwargs["input_ids"].shape[1]:]
        return strip_reasoning(tok.decode(new, skip_special_tokens=True))

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        """Pieces of text as the model decodes them (``TextIteratorStreamer``; generation runs
        in a daemon thread, and its error, if any, is raised here)."""
        import torch
        from transformers import TextIteratorStreamer

        tok, model = self._load()
        kwargs = self._generate_kwargs(messages, max_tokens)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)
        failure: list[BaseException] = []

        def work():
            try:
                with torch.inference_mode():
                    model.generate(**kwargs, streamer=streamer)
            except BaseException as e:  # surfaced to the caller below
                failure.append(e)
                streamer.end()

        thread = threading.Thread(target=work, name="qa-generate", daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield piece
        thread.join()
        if failure:
            raise RuntimeError(f"generation with {self.model_id!r} failed: {failure[0]}") from failure[0]
