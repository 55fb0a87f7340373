"""Follow-up questions: the retrieval query of a question asked in a conversation.

"Ông Kerry gặp ai ở Moskva?" then "Còn ông Lavrov nói gì?" or "When was that?": the second
question alone names no meeting, so retrieving with it alone finds nothing useful. The pipeline
retrieves with a *contextual query* instead, built in one of two ways:

* **LLM rewrite** (a generator is configured and ``QAConfig.rewrite_followups``): the model turns
  the follow-up into a standalone question (:func:`qa.answering.prompt.rewrite_messages`),
  "Ông Lavrov nói gì sau cuộc gặp với ông Kerry ở Moskva?". A failed or implausible rewrite
  falls back to the next way.
* **History-aware query** (no model, the default): when the question looks like a follow-up
  (:func:`is_follow_up`: short, or with a pronoun or a contrastive "còn"/"what about"), the
  names and content words of the earlier user turns (newest first) are appended to it:
  "Còn ông Lavrov nói gì? Kerry gặp Moskva". A question that stands
  on its own is used unchanged, so a change of topic is not polluted by the history. The names
  of the previous *answer* are not carried: quoted sentences name many people and places, and
  they pulled "Còn ông Lavrov nói gì?" back to the sentence about Putin that answered the
  first question.

The previous answer also points at the article the conversation is about:
:func:`previous_quotes` gives its sentences, and the pipeline prefers passages of the document
that contains them (a follow-up is most often about the same article).

Two kinds of follow-up get more than that:

* a **change of subject** ("Còn ông Lavrov nói gì?" after "Who is the spokesman of the Russian
  Defence Ministry?"): the follow-up names someone or something the earlier questions did not
  (:func:`new_names`). It asks about the new name, so nothing of the earlier turns is carried
  (their names and words are about the subject it replaces: they pulled the answer back to the
  spokesman, or to Kerry); passages that mention the new name come first, those of the
  previous answer's article before the others (:func:`prefer_previous_document`);
* a **question about what was just said** ("When was that?", "Ở đâu vậy?": nothing but
  question, function and referring words, :func:`refers_back`): "that" is the event of the
  previous answer, so when a sentence it quoted holds what is asked (a date for "when"), the
  answer comes from the passages that hold those sentences (:func:`answer_from_previous`): the
  Moscow meeting of 15/12, not the New York meeting of 18/12 that a date-seeking search of the
  same article also finds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corpus.normalize import fold_diacritics, normalize_text

from .answering.citations import strip_markers
from .text.analysis import EN_STOP, VI_STOP
from .text.language import detect_language
from .text.questions import validate_question
from .types import Passage

if TYPE_CHECKING:  # pragma: no cover
    from .answering.backends import Generator

__all__ = ["FOLLOWUP_EXTRA", "REWRITE_MAX_TOKENS", "ContextualQuery", "answer_from_previous", "contextual_query",
           "history_query", "is_follow_up", "llm_rewriter", "new_names", "prefer_previous_document", "previous_quotes",
           "refers_back", "validate_history"]

#: A question with at most this many words is treated as a follow-up when there is history:
#: "Khi nào?", "Ở đâu vậy?", "Why then?" say nothing on their own, while a four-word question
#: that names its subject ("Ông Putin ở đâu?") gains little from carried terms either.
SHORT_QUESTION_WORDS = 4

#: Words that refer back to something said before (NFC, lower case). Vietnamese: "còn" opening a
#: question ("Còn ông Lavrov …?" = "and what about …?"), demonstratives and pronouns.
VI_REFERRING = {"còn", "đó", "ấy", "này", "kia", "nọ", "họ", "nó", "vậy", "thế", "hắn", "chúng"}
EN_REFERRING = {"that", "this", "it", "its", "he", "she", "they", "him", "her", "them", "his", "their",
                "there", "then", "those", "these", "about", "also"}
#: Words never carried over from the history (folded): the function and question words of
#: :mod:`qa.text.analysis`, plus verbs of the question frame ("nói", "gặp") and the English answer
#: frame's words, which say nothing about the topic.
CARRY_STOP = VI_STOP | EN_STOP | frozenset(fold_diacritics(w) for w in (
    "nói", "gặp", "làm", "hỏi", "bạn", "say", "said", "according", "sources", "vietnamese"))
#: Words carried over at most: enough for the names and the event of the earlier turn, few
#: enough that the new question still dominates the query.
MAX_CARRIED = 8
#: User turns looked back at (newest first).
LOOKBACK_TURNS = 2

_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d+(?:[/.:-]\d+)*", re.U)


def validate_history(history: Sequence[dict] | None) -> list[dict]:
    """``history`` as a list of ``{"role", "content"}`` dicts; a clear error otherwise."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise ValueError("history must be a list of {'role': 'user'|'assistant', 'content': str} messages")
    out = []
    for i, m in enumerate(history):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise ValueError(f"history[{i}] must be a dict with role 'user' or 'assistant' and a content string")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
        # Gradio may put files or components in content: they carry no text to use
    return out


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text))


def is_follow_up(question: str) -> bool:
    """Whether a question probably refers to earlier turns (short, or with a referring word)."""
    words = [w.lower() for w in _words(question)]
    if len(words) <= SHORT_QUESTION_WORDS:
        return True
    if words and words[0] in ("còn", "and", "what", "how") and (words[0] == "còn" or words[1:2] == ["about"]):
        return True
    return any(w in VI_REFERRING or w in EN_REFERRING for w in words)


def _stop(word: str) -> bool:
    return fold_diacritics(word.lower()) in CARRY_STOP


def _is_name(word: str, first: bool) -> bool:
    return word[:1].isupper() and not (first and _stop(word)) or any(c.isdigit() for c in word)


def _carry_terms(text: str, names_only: bool = False) -> list[str]:
    """Names (capitalised words, numbers) and, unless ``names_only``, content words of a turn.

    Names are kept even when their folded form is a function word ("Nội" of "Hà Nội" folds to
    "noi" like "nói", "Nam" of "Việt Nam" like "năm")."""
    out = []
    for i, w in enumerate(_words(strip_markers(text))):
        if len(w) < 2 and not w.isdigit():
            continue
        name = _is_name(w, i == 0)
        if name or (not names_only and not _stop(w)):
            out.append(w)
    return out


def new_names(question: str, history: Sequence[dict]) -> list[str]:
    """Names (capitalised words) of ``question`` that no earlier user turn mentions: the new
    subject of a follow-up such as "Còn ông Lavrov nói gì?"."""
    history = validate_history(history)
    said = {fold_diacritics(w.lower()) for m in history if m["role"] == "user" for w in _words(m["content"])}
    out = []
    for i, w in enumerate(_words(question)):
        if w[:1].isupper() and not any(c.isdigit() for c in w) and not _stop(w) \
                and fold_diacritics(w.lower()) not in said and w not in out:
            out.append(w)
    return out


def refers_back(question: str) -> bool:
    """Whether ``question`` has no content of its own: only question, function and referring
    words ("When was that?", "Khi nào vậy?", "Ở đâu?")."""
    words = [w.lower() for w in _words(question)]
    return bool(words) and all(_stop(w) or w in VI_REFERRING or w in EN_REFERRING for w in words)


def history_query(question: str, history: Sequence[dict]) -> str:
    """The history-aware retrieval query (see the module docstring); the question itself when
    it is not a follow-up or there is no history."""
    history = validate_history(history)
    if not history or not is_follow_up(question):
        return question
    if new_names(question, history):  # a new subject: the earlier turns' words were about the old one
        return question
    have = {w.lower() for w in _words(question)}
    carried: list[str] = []

    def add(words: list[str]) -> None:
        for w in words:
            if len(carried) >= MAX_CARRIED:
                return
            if w.lower() not in have:
                have.add(w.lower())
                carried.append(w)

    users = [m["content"] for m in history if m["role"] == "user"][-LOOKBACK_TURNS:]
    for text in reversed(users):
        names = _carry_terms(text, names_only=True)
        add(names)
        add([w for w in _carry_terms(text) if w not in names])
    if not carried:
        return question
    return f"{question} {' '.join(carried)}"


#: Sentences of the previous answer shorter than this are not used to find its article: a short
#: piece of text matches too many documents.
MIN_QUOTE_CHARS = 30


def previous_quotes(history: Sequence[dict]) -> list[str]:
    """Sentences of the previous assistant answer, markers and framing removed (extractive
    answers quote their sources verbatim, so each one locates the article it came from)."""
    history = validate_history(history)
    last = next((m["content"] for m in reversed(history) if m["role"] == "assistant"), "")
    if not last:
        return []
    first = normalize_text(last.split("\n\n")[0])
    text = strip_markers(first)
    if re.search(r"\[\d+\]: “", first):  # the English frame quotes the sources: "[1]: “…”"
        # (quotation marks inside a quote were made single: ‘…’)
        parts = [q.replace("‘", "“").replace("’", "”") for q in re.findall(r"“([^”]+)”", first)]
    else:
        text = re.sub(r"^\*\*[^*]+\*\*\s*[–-]\s*", "", text)  # the bold short answer
        text = re.sub(r"^According to the \(Vietnamese\) sources:\s*", "", text)
        parts = re.split(r"(?<=[.!?…])\s+", text)
    return [p.strip() for p in parts if len(p.strip()) >= MIN_QUOTE_CHARS]


@dataclass
class ContextualQuery:
    """The query retrieval uses for a question in a conversation."""

    text: str  # what is retrieved with
    method: str  # "none" (question as is), "history" (history-aware) or "rewrite" (LLM)
    new_names: list[str] = field(default_factory=list)  # a change of subject (:func:`new_names`)
    refers_back: bool = False  # asks about what was just said (:func:`refers_back`)


def contextual_query(question: str, history: Sequence[dict] | None,
                     rewriter: Callable[[str, list[dict]], str] | None = None) -> ContextualQuery:
    """The retrieval query for ``question`` after ``history``. ``rewriter(question, history)``,
    when given, returns the LLM's standalone rewrite (or raises / returns "" to decline)."""
    history = validate_history(history)
    if not history:
        return ContextualQuery(question, "none")
    follow = is_follow_up(question)
    names = new_names(question, history) if follow else []
    back = follow and refers_back(question)
    if rewriter is not None:
        try:
            text = (rewriter(question, history) or "").strip()
        except Exception:  # the model is optional: fall back to the history-aware query
            text = ""
        text = text.splitlines()[0].strip().strip('"“”\'') if text else ""
        # implausible rewrites (empty, a whole paragraph) are not used
        if text and len(text) <= max(300, 3 * len(question)):
            return ContextualQuery(text, "rewrite", names, back)
    text = history_query(question, history)
    # a follow-up is retrieved as one (the previous article preferred) even with nothing carried
    return ContextualQuery(text, "history" if text != question or names or back else "none", names, back)


#: Extra candidates retrieved for a follow-up, among which passages of the previous answer's
#: article are preferred (:func:`prefer_previous_document`).
FOLLOWUP_EXTRA = 5
#: Tokens for an LLM rewrite of a follow-up: one question.
REWRITE_MAX_TOKENS = 64


def _mentions(p: Passage, names: Sequence[str]) -> bool:
    text = fold_diacritics(p.text.lower()) + " " + fold_diacritics(p.title.lower())
    return any(re.search(rf"\b{re.escape(fold_diacritics(n.lower()))}\b", text) for n in names)


def prefer_previous_document(passages: list[Passage], quotes: list[str], k: int,
                             names: Sequence[str] = ()) -> list[Passage]:
    """The ``k`` passages to answer a follow-up from: those of the article the previous answer
    quoted come first (in retrieval order), then the rest. Without quotes found, the first ``k``.
    With ``names`` (a change of subject), passages that mention one of them come first, those of
    the previous article before the others."""
    docs = {p.doc_id for p in passages if any(qt in p.text for qt in quotes)}
    if not docs and not names:
        return passages[:k]

    def rank(p: Passage) -> tuple[int, int]:
        return (0 if not names or _mentions(p, names) else 1, 0 if p.doc_id in docs else 1)

    ordered = sorted(passages, key=rank)  # stable: retrieval order within each group
    out = ordered[:k]
    for i, p in enumerate(out, 1):
        p.rank = i
    return out


def answer_from_previous(passages: list[Passage], quotes: list[str], question: str) -> list[Passage]:
    """For a question about what was just said (:func:`refers_back`): the passages that hold a
    sentence the previous answer quoted, when one of those sentences holds what is asked (a date
    for "When was that?"); else ``passages`` unchanged."""
    from .answering.question_type import answer_type, type_match

    kind = answer_type(question)
    if kind is None:
        return passages
    hits = [p for p in passages if any(qt in p.text and type_match(kind, qt, question) for qt in quotes)]
    for i, p in enumerate(hits, 1):
        p.rank = i
    return hits or passages


def llm_rewriter(generator: Generator) -> Callable[[str, list[dict]], str]:
    """The rewriter :func:`contextual_query` takes: ``generator`` turns a follow-up and its history
    into a standalone question (:func:`qa.answering.prompt.rewrite_messages`)."""
    from .answering.backends import strip_reasoning
    from .answering.prompt import rewrite_messages

    def rewrite(question: str, history: list[dict]) -> str:
        lang = detect_language(validate_question(question))
        return strip_reasoning(generator.generate(rewrite_messages(question, history, lang), REWRITE_MAX_TOKENS))

    return rewrite
