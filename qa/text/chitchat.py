"""Greetings and small talk: messages that are not questions about the articles.

"Hello", "Xin chào", "cảm ơn", "bạn là ai?" or "abc xyz?" are not questions the articles can
answer, yet each retrieves *some* passages, and short inputs score high cosines against short
sentences (a photo credit "(Nguồn: NBC)", an ellipsis), so the pipeline used to answer
"Hello" with a cited fragment. :func:`detect_chitchat` recognises them before retrieval and
:func:`chitchat_reply` answers in the message's language with what the bot can do; the
pipeline returns that as an :class:`~qa.types.Answer` with ``answerer="chitchat"``,
``found=False``, no citations and no passages (see :meth:`qa.Pipeline.ask_stream`), so
:func:`qa.ask`, the CLI and the app behave the same.

What counts (the whole message, case, diacritics, punctuation and emoji aside):

* a phrase of :data:`PHRASES`: greetings, thanks, farewells, questions about the bot itself
  ("who are you", "bạn làm được gì"), acknowledgements ("ok", "test"), in Vietnamese or English,
  optionally with an address or a particle ("chào bạn nhé", "hi there");
* without a conversation before it, a message of at most :data:`NONSENSE_MAX_WORDS` words none
  of which the index knows (``known_word``: the pipeline asks its BM25 vocabulary and alias
  tables), nor a question word: "abc xyz?", "asdf". A short question about something the
  articles do name ("Putin?") is a question; in a conversation a short message is a follow-up.

A greeting followed by a question ("Chào bạn, ông Kerry gặp ông Putin ở đâu?") is a question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from corpus.normalize import fold_diacritics

from .analysis import EN_STOP, VI_STOP
from .language import detect_language

__all__ = ["ChitChat", "PHRASES", "NONSENSE_MAX_WORDS", "ANSWERER", "detect_chitchat", "chitchat_reply"]

#: ``Answer.answerer`` of a chit-chat reply.
ANSWERER = "chitchat"
#: Longest message (in words) that can count as nonsense.
NONSENSE_MAX_WORDS = 4

#: (kind, language) -> phrases, folded (no diacritics), lower case, single spaces.
PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("greeting", "vi"): ("xin chao", "chao", "alo", "chao buoi sang", "chao buoi chieu", "chao buoi toi",
                         "xin chao moi nguoi", "chao moi nguoi", "chao ca nha"),
    ("greeting", "en"): ("hello", "hi", "hey", "hiya", "howdy", "greetings", "good morning", "good afternoon",
                         "good evening", "hello everyone", "hi all", "yo"),
    ("thanks", "vi"): ("cam on", "xin cam on", "cam on nhieu", "cam on rat nhieu", "cam on ban nhieu"),
    ("thanks", "en"): ("thanks", "thank you", "thx", "thank you very much", "many thanks", "thanks a lot", "ty"),
    ("farewell", "vi"): ("tam biet", "hen gap lai", "chao tam biet"),
    ("farewell", "en"): ("bye", "goodbye", "good bye", "see you", "bye bye", "good night"),
    ("identity", "vi"): ("ban la ai", "ban la gi", "ban ten gi", "ban ten la gi", "ban lam duoc gi",
                         "ban co the lam gi", "ban giup duoc gi", "ban giup gi duoc", "ban biet gi",
                         "ban la nguoi hay may", "ban hoat dong the nao", "huong dan", "giup toi",
                         "ban khoe khong", "ban co khoe khong", "ban the nao"),
    ("identity", "en"): ("who are you", "what are you", "what is your name", "whats your name", "what can you do",
                         "what do you do", "how do you work", "help", "help me", "are you a bot", "are you human",
                         "are you a robot", "how are you", "whats up", "what is this"),
    ("ack", "vi"): ("vang", "da", "duoc", "uhm", "hay qua", "tot", "thu", "kiem tra"),
    ("ack", "en"): ("ok", "okay", "yes", "no", "test", "testing", "cool", "nice", "great", "lol", "haha", "hmm"),
}
#: Words that may address or soften a phrase without making it a question.
_FILLERS = {"ban", "oi", "a", "nhe", "nha", "nhá", "em", "anh", "chi", "bot", "there", "you", "so", "much",
            "very", "all", "everyone", "again", "nhieu", "lam", "qua", "vay", "the", "roi"}
_LOOKUP = {phrase: key for key, phrases in PHRASES.items() for phrase in phrases}
_WORD = re.compile(r"[^\W_]+", re.U)


@dataclass(frozen=True)
class ChitChat:
    """A message that is not a question about the articles."""

    kind: str  # "greeting", "thanks", "farewell", "identity", "ack" or "nonsense"
    language: str  # "vi" or "en": the reply's language


def _words(text: str) -> list[str]:
    return _WORD.findall(fold_diacritics(unicodedata.normalize("NFC", text)).lower().replace("'", ""))


def _phrase(words: list[str]) -> tuple[str, str] | None:
    """The (kind, language) of ``words`` if they are a phrase, allowing fillers around it."""
    for a in range(len(words) + 1):
        if a and words[a - 1] not in _FILLERS:
            break
        for b in range(len(words), a, -1):
            if b < len(words) and words[b] not in _FILLERS:
                break
            key = _LOOKUP.get(" ".join(words[a:b]))
            if key is not None:
                return key
    return None


def detect_chitchat(text: str, *, known_word: Callable[[str], bool] | None = None,
                    in_conversation: bool = False) -> ChitChat | None:
    """The kind of small talk ``text`` is, or None for a question (see the module docstring).

    ``known_word(word)``: whether the index knows a word (enables the nonsense rule, which is
    off ``in_conversation``: a short message there is a follow-up)."""
    words = _words(text)
    if not words:
        return None
    key = _phrase(words)
    if key is not None:
        return ChitChat(key[0], key[1])
    if known_word is None or in_conversation or len(words) > NONSENSE_MAX_WORDS:
        return None
    raw = [w for w in _WORD.findall(unicodedata.normalize("NFC", text)) if not w.isdigit()]
    if not raw or any(ch.isdigit() for ch in text):
        return None  # a number or a year asks something
    for w in raw:
        low = w.lower()
        if known_word(w) or low in VI_STOP or low in EN_STOP or fold_diacritics(low) in VI_STOP:
            return None
    return ChitChat("nonsense", detect_language(text))


_REPLIES = {
    "vi": {
        "greeting": "Xin chào! {about} {ask}",
        "ack": "Tôi sẵn sàng. {ask}",
        "thanks": "Không có gì! Bạn cứ hỏi tiếp về các bài báo nhé.",
        "farewell": "Tạm biệt! Khi cần, bạn cứ quay lại hỏi về các bài báo.",
        "identity": "Tôi là trợ lý hỏi đáp trên các bài báo. {about} Tôi không trò chuyện chung và không biết "
                    "gì ngoài các bài báo. {ask}",
        "nonsense": "Tôi chưa hiểu câu hỏi này. {about} {ask}",
    },
    "en": {
        "greeting": "Hello! {about} {ask}",
        "ack": "I'm ready. {ask}",
        "thanks": "You're welcome! Ask me anything else about the articles.",
        "farewell": "Goodbye! Come back with more questions about the articles any time.",
        "identity": "I am a question-answering assistant for news articles. {about} I don't make small talk and "
                    "know nothing beyond the articles. {ask}",
        "nonsense": "I could not make out a question there. {about} {ask}",
    },
}
_ABOUT = {
    "vi": "Tôi trả lời câu hỏi về {n} bài báo trong chỉ mục, bằng tiếng Việt hoặc tiếng Anh; mỗi ý có trích dẫn "
          "[n] tới đúng câu trong bài.",
    "en": "I answer questions about the {n} news article(s) in the index, in Vietnamese or English; every claim "
          "carries a citation [n] to the exact sentence of its article.",
}
_ASK = {
    "vi": "Hãy hỏi về một sự kiện, nhân vật, địa điểm hay con số trong các bài (ai, ở đâu, khi nào, bao nhiêu).",
    "en": "Ask about an event, a person, a place or a number in them (who, where, when, how many).",
}


def chitchat_reply(chat: ChitChat, *, articles: int, language: str | None = None) -> str:
    """A short reply to small talk, in ``language`` (default the message's), saying what the bot
    can do. ``articles``: how many articles the index holds."""
    lang = language if language in ("vi", "en") else chat.language
    template = _REPLIES[lang][chat.kind]
    return template.format(about=_ABOUT[lang].format(n=articles), ask=_ASK[lang]).strip()
