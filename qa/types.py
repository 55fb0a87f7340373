"""The data that flows out of ``qa``: retrieved passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Passage", "Citation", "Claim", "Answer"]


@dataclass
class Passage:
    """A retrieved passage with the scores that ranked it."""

    id: int
    doc_id: str
    title: str
    source: str
    url: str
    text: str
    start: int  # character offsets of the passage in the cleaned document text
    end: int
    sentences: list[tuple[int, int]]  # sentence spans, document coordinates
    score: float  # final retrieval score (higher is better)
    rank: int = 0  # 1-based
    scores: dict[str, float] = field(default_factory=dict)  # per channel: dense, bm25, ...

    def sentence_texts(self) -> list[tuple[int, int, str]]:
        """(start, end, text) of each sentence, document coordinates."""
        return [(s, e, self.text[s - self.start:e - self.start]) for s, e in self.sentences]


@dataclass
class Citation:
    """Source ``[n]`` of an answer: the passage and the exact sentence the claim came from."""

    n: int
    doc_id: str
    title: str
    source: str
    url: str
    passage_id: int
    passage_text: str
    start: int  # span of the cited sentence in the cleaned document text
    end: int
    sentence: str
    score: float
    #: for generative answers: whether the claims citing this source were checked against the
    #: cited sentence and found supported (None: not checked, e.g. extractive answers, whose
    #: text *is* the cited sentence); ``support`` is that check's score in [0, 1]
    verified: bool | None = None
    support: float | None = None


@dataclass
class Claim:
    """One sentence of a generative answer and the outcome of checking its citations."""

    text: str  # the sentence as shown in the answer, markers included
    citations: list[int]  # the citation numbers it carries (after renumbering)
    verified: bool  # every citation it carries supports it (see qa/answering/citations.py)
    support: float  # best support score of its citations, in [0, 1]
    note: str = ""  # what verification changed: "", "recited", "dropped", "unsupported"


@dataclass
class Answer:
    """What :func:`qa.ask` returns."""

    question: str
    text: str  # the answer, with [n] markers
    language: str  # "vi" or "en": the question's language, which the framing follows
    citations: list[Citation]
    passages: list[Passage]
    timings: dict[str, float]  # seconds per stage
    answerer: str = "extractive"
    found: bool = True  # False when nothing relevant was retrieved
    partial: bool = False  # True for the intermediate answers that Pipeline.ask_stream yields
    #: generative answers: each checked sentence and whether its citations support it
    #: (empty for extractive answers, whose sentences are quotations)
    claims: list[Claim] = field(default_factory=list)
    #: the query retrieval used when it differs from the question (a follow-up in a conversation)
    retrieval_query: str | None = None
    #: the short answer shown in bold at the start of ``text`` (a name, date, number, place), if
    #: any; ``lead_source`` is the same as written in the cited sentence (an English lead renders
    #: a Vietnamese span: "gần 10 tiếng đồng hồ" is shown as "nearly 10 hours")
    lead: str | None = None
    lead_source: str | None = None
    #: how sure the answerer is that the passages hold the answer, on its own scale (the reader:
    #: its best span's margin over "no answer"; refused when not above ``reader_min_margin``);
    #: None for answerers without such a score
    confidence: float | None = None

    def sources_text(self) -> str:
        """The numbered sources, one per line, as the CLI prints them."""
        lines = []
        for c in self.citations:
            where = ", ".join(x for x in (c.source, c.url) if x)
            sentence = c.sentence.replace("“", "‘").replace("”", "’")  # quotes inside the quote
            lines.append(f"[{c.n}] {c.title}" + (f" ({where})" if where else "") + f"\n    “{sentence}”")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)
