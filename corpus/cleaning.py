"""Turn the raw text of one news article into a clean body, a title and source metadata.

:func:`clean_article` is format-agnostic: the readers (``corpus.readers``) turn HTML, PDF, Markdown
or JSONL into plain text first and all of them end here. The steps, in order:

1. :func:`~corpus.normalize.normalize_text` (NFC, invisible characters, tone-mark placement).
2. Whitespace: every line ending becomes ``\\n``; inside a line every run of blanks (spaces, tabs,
   no-break spaces and the other Unicode space separators) becomes one space; lines are stripped.
3. Page furniture is removed *as whole lines* by the general rules below (``_is_*`` helpers and the
   ``_*_RE`` patterns); each removed block is kept in :attr:`CleanedArticle.removed` for debugging.
4. Paragraphs: a blank line separates paragraphs, and so does a single newline between two prose
   lines (seed 004 has no blank lines at all), except for a soft-wrapped line (one that does not
   end a sentence, followed by a line starting in lower case), which is joined with a space: this
   is how hard-wrapped text files and PDF extractions break sentences.
5. Title: the given ``title`` (a leading paragraph equal to it is dropped), otherwise the first
   paragraph when it looks like a headline (short, no final period).
6. Source line at the end (``Theo QĐND``; ``Theo Khánh Duy`` + ``Đại đoàn kết``; ``Theo Vũ Anh
   Tuấn/VOV-Trung tâm Tin``; ``Nguồn Doanh Nghiệp: http://…``) → ``source``/``author``/``url``.
7. The VOV end-of-article mark ``/.`` is stripped from the last paragraph.

Everything else (the prose, photo captions, quotes, subheadings) is kept character for character,
so every sentence of the body appears verbatim in :attr:`CleanedArticle.text` (after step 1 and
the blank-collapsing of step 2). Paragraphs are joined with exactly one blank line ``"\\n\\n"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .normalize import fold_diacritics, normalize_text

__all__ = ["CleanedArticle", "clean_article"]


@dataclass
class CleanedArticle:
    """The result of :func:`clean_article`.

    ``removed`` lists the blocks of text that were dropped (furniture, the source line, a title
    line that duplicated the given title), in the order they were removed, for debugging.
    ``date`` is an ISO date (``YYYY-MM-DD``) when a dateline was found in the text, else "".
    """

    title: str
    text: str
    source: str = ""
    url: str = ""
    author: str = ""
    date: str = ""
    removed: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- whitespace

# Line separators other than \n that editors, PDF extractors and Word exports produce: CR (old Mac /
# the \r of \r\n), vertical tab, form feed (pypdf page breaks), file/group/record separators, NEL,
# and the Unicode line/paragraph separators. All become a plain newline.
_LINE_BREAKS_RE = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Any run of blanks other than the newline: with re's Unicode \s this covers space, tab, NBSP
# (U+00A0, seed 003 pads lines with dozens of them), U+2000–U+200A, U+202F, U+205F and U+3000.
_BLANKS_RE = re.compile(r"[^\S\n]+")


def _normalize_whitespace(text: str) -> list[str]:
    """Return the stripped lines of ``text``; blank lines become ``""``."""
    text = _LINE_BREAKS_RE.sub("\n", text)
    return [_BLANKS_RE.sub(" ", line).strip() for line in text.split("\n")]


# --------------------------------------------------------------------------- furniture rules
# The rules match on the diacritic-folded, lower-cased line (fold_diacritics), so a menu typed
# without diacritics ("Dong su kien") or in capitals is recognised too.

# A topic menu header ("Dòng sự kiện:", seed 000; tag lists "Từ khóa:", "Tags:"), optionally itself
# numbered as the first item of the menu ("1. Dòng sự kiện:"). The header line is dropped together
# with the list items that follow it.
_MENU_HEADER_RE = re.compile(r"^(?:\d{1,2}[.)]\s*)?(?:dong su kien|tu khoa|tags?)\s*:")
# A menu / list item: "2. Chiến sự Nga - Ukraine", "- Thế giới", "• Kinh tế".
_LIST_ITEM_RE = re.compile(r"^(?:\d{1,2}[.)]|[-–•·*])\s+\S")
# A menu item is a short label, never a sentence: 80 characters is about twice the longest topic
# label seen ("Bầu cử tổng thống Mỹ 2024" = 25) and shorter than any prose sentence of substance.
_MAX_MENU_ITEM_CHARS = 80

# A heading that starts a related-news list ("Các tin khác", seed 003, and the usual variants of
# Vietnamese CMSs). Such a list is the last block of the article text: the heading and everything
# after it (headlines, teasers, archive footers) is dropped. "Xem thêm"/"Đọc thêm" are not here:
# they also introduce a single link in mid-article, so only their own line goes (next rule).
_RELATED_HEADINGS = frozenset({
    "cac tin khac", "tin khac", "tin lien quan", "cac tin lien quan", "bai lien quan",
    "bai viet lien quan", "tin bai lien quan", "tin cung chuyen muc", "co the ban quan tam",
})
# A "see also" line: "Xem thêm:", "Đọc thêm: Nga tuyên bố ...", "Tin liên quan: ..." → that line.
_INLINE_RELATED_RE = re.compile(r"^(?:xem them|doc them|tin lien quan)\s*(?:[:>»]|$)")

# Archive/date-picker widget labels (seed 003): "Xem các tin đã đưa ngày:" and
# "Tin trong: Chuyên mục này Mọi chuyên mục". Dropped wherever they appear.
_ARCHIVE_RE = re.compile(r"^(?:xem (?:cac )?tin (?:da dua|cu) ngay\b|tin trong\s*:\s*chuyen muc nay\b)")

# A line that is only a dateline, as pages print above the body and trafilatura keeps:
# "Thứ bảy, 10/9/2016 08:30", "15/12/2015 - 10:30 (GMT+7)", "Chủ nhật, 26-8-2016".
_DATELINE_RE = re.compile(
    r"^(?:(?:thu (?:hai|ba|tu|nam|sau|bay)|chu nhat|cn|t[2-7])\s*,?\s*)?"
    r"(?:ngay\s*)?(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"(?:\s*[,|-]?\s*\d{1,2}[:h]\d{2}(?::\d{2})?(?:\s*(?:am|pm))?)?"
    r"(?:\s*\(?(?:gmt|utc)\s*[+-]\s*\d{1,2}(?::?\d{2})?\)?)?$"
)

# Decorative separators: "***", "-----", "___", "• • •".
_SEPARATOR_RE = re.compile(r"^(?:[-_*=~•·.]\s*){3,}$")


def _fold(line: str) -> str:
    return fold_diacritics(line).strip()


def _is_menu_item(line: str) -> bool:
    return (
        bool(_LIST_ITEM_RE.match(line))
        and len(line) <= _MAX_MENU_ITEM_CHARS
        and not line.endswith(".")
    )


def _is_related_heading(folded: str) -> bool:
    return folded.rstrip(" :").strip() in _RELATED_HEADINGS


def _remove_furniture(lines: list[str], removed: list[str]) -> tuple[list[str], str]:
    """Drop furniture lines (replaced by blank lines, i.e. paragraph breaks); return the dateline."""
    out: list[str] = []
    date = ""
    seen_prose = False  # a related-list heading only cuts the text once some prose precedes it
    i = 0
    while i < len(lines):
        line = lines[i]
        folded = _fold(line)
        if not line:
            out.append("")
        elif _MENU_HEADER_RE.match(folded):
            block = [line]
            j = i + 1
            while j < len(lines) and lines[j] and _is_menu_item(lines[j]):
                block.append(lines[j])
                j += 1
            removed.append("\n".join(block))
            out.append("")
            i = j
            continue
        elif _is_related_heading(folded):
            if seen_prose:
                tail = "\n".join(x for x in lines[i:] if x)
                removed.append(tail)
                break
            removed.append(line)
            out.append("")
        elif _INLINE_RELATED_RE.match(folded) or _ARCHIVE_RE.match(folded) or _SEPARATOR_RE.match(line):
            removed.append(line)
            out.append("")
        elif m := _DATELINE_RE.match(folded):
            removed.append(line)
            out.append("")
            if not date:
                day, month, year = int(m["d"]), int(m["m"]), int(m["y"])
                if 1 <= day <= 31 and 1 <= month <= 12:
                    date = f"{year:04d}-{month:02d}-{day:02d}"
        else:
            out.append(line)
            seen_prose = True
        i += 1
    return out, date


# --------------------------------------------------------------------------- paragraphs

# Characters that can end a sentence (or a line that must not be joined to the next one): final
# punctuation, closing quotes/brackets after it, and the colon that introduces a quote (seed 004).
_SENTENCE_END = tuple(".!?…:;\"'”’»)]")


def _paragraphs(lines: list[str]) -> list[str]:
    """Group lines into paragraphs (see module docstring, step 4)."""
    paragraphs: list[str] = []
    current: str | None = None  # the paragraph being built from the current run of lines
    for line in lines:
        if not line:
            if current is not None:
                paragraphs.append(current)
            current = None
            continue
        if current is None:
            current = line
        elif not current.endswith(_SENTENCE_END) and line[0].islower():
            current = f"{current} {line}"  # soft wrap inside a sentence
        else:
            paragraphs.append(current)
            current = line
    if current is not None:
        paragraphs.append(current)
    return paragraphs


# --------------------------------------------------------------------------- title

# Vietnamese news headlines run 60–120 characters (seed headlines: 26–68); 180 leaves room for
# long ones while rejecting lead paragraphs, which are sentences of 150+ characters ending in ".".
_MAX_TITLE_CHARS = 180
# A headline never ends like a sentence or a clause; "?" and "!" are allowed ("Tại sao ...?").
_TITLE_BAD_ENDINGS = (".", ":", ";", ",", "…")
# A photo caption that happens to come first: "... tại Paris (Ảnh: NB News)", "Ảnh: AFP".
_CAPTION_RE = re.compile(r"(?:^|\()\s*(?:anh|nguon|photo|credit)\s*:", re.IGNORECASE)


def _looks_like_headline(paragraph: str) -> bool:
    return (
        len(paragraph) <= _MAX_TITLE_CHARS
        and not paragraph.endswith(_TITLE_BAD_ENDINGS)
        and not _LIST_ITEM_RE.match(paragraph)
        and not _CAPTION_RE.search(_fold(paragraph))
    )


def _title_key(text: str) -> str:
    """Comparison key for titles: folded, punctuation and spacing ignored."""
    return " ".join(re.findall(r"\w+", fold_diacritics(text)))


# --------------------------------------------------------------------------- source line

# Source and byline lines are a few words ("Theo QĐND", "Đại đoàn kết", "Theo Vũ Anh Tuấn/VOV-
# Trung tâm Tin"); a prose paragraph that starts with "Theo" ("Theo Liên hợp quốc (LHQ), Xy-ri
# hiện ...", seed 003) is far longer. 10 words / 80 characters separates the two.
_MAX_SOURCE_WORDS = 10
_MAX_SOURCE_CHARS = 80
# An outlet name on its own line after a "Theo <author>" byline ("Đại đoàn kết"): at most 6 words.
_MAX_OUTLET_WORDS = 6

_URL_RE = re.compile(r"^(?:https?://|www\.)\S+$", re.IGNORECASE)
# "Theo <author>/<outlet>" or "Theo <outlet>", optionally in parentheses and with a final period.
# Not "Theo dõi ..." ("follow us on ..."), a call to action rather than a source.
_THEO_RE = re.compile(
    r"^\(?\s*Theo\s+(?!dõi\b)(?P<who>[^/()]+?)(?:\s*/\s*(?P<outlet>[^()]+?))?\s*\)?\s*\.?$", re.IGNORECASE
)
# "Nguồn: <outlet>", "Nguồn Doanh Nghiệp: http://…", "Nguồn: http://…". The colon is required: it
# is what tells the label from prose such as "Nguồn tin cho biết ...".
_NGUON_RE = re.compile(
    r"^\(?\s*Nguồn\b\s*(?P<outlet>[^:()]*?)\s*:\s*(?P<outlet2>[^:()]*?)\s*"
    r"(?P<url>(?:https?://|www\.)\S+)?\s*\)?\s*\.?$",
    re.IGNORECASE,
)


def _is_short(paragraph: str, max_words: int = _MAX_SOURCE_WORDS) -> bool:
    return len(paragraph) <= _MAX_SOURCE_CHARS and len(paragraph.split()) <= max_words


def _is_outlet_line(paragraph: str) -> bool:
    """A bare outlet name: a few words, starting with a capital, no sentence punctuation."""
    return (
        _is_short(paragraph, _MAX_OUTLET_WORDS)
        and paragraph[:1].isupper()
        and not paragraph.endswith(_TITLE_BAD_ENDINGS + ("?", "!"))
        and not _THEO_RE.match(paragraph)
    )


def _extract_source(paragraphs: list[str], removed: list[str]) -> tuple[str, str, str]:
    """Remove the source/byline paragraphs at the end; return (source, author, url)."""
    source = author = url = ""
    # A bare URL as the last line.
    if len(paragraphs) > 1 and _URL_RE.match(paragraphs[-1]):
        url = paragraphs.pop()
        removed.append(url)
    if len(paragraphs) < 2:  # never turn the only paragraph into metadata
        return source, author, url
    last = paragraphs[-1]
    # "Theo Khánh Duy" followed by the outlet on its own line → author + outlet.
    if len(paragraphs) >= 3 and _is_outlet_line(last):
        m = _THEO_RE.match(paragraphs[-2])
        if m and _is_short(paragraphs[-2]) and not m["outlet"]:
            author, source = m["who"].strip(), last
            removed.append("\n".join(paragraphs[-2:]))
            del paragraphs[-2:]
            return source, author, url
    if _is_short(last) and (m := _THEO_RE.match(last)):
        if m["outlet"]:
            author, source = m["who"].strip(), m["outlet"].strip()
        else:
            source = m["who"].strip()
        removed.append(paragraphs.pop())
    elif len(last) <= 2 * _MAX_SOURCE_CHARS and (m := _NGUON_RE.match(last)):
        # (a URL makes the line longer; the 2x allowance covers typical article URLs)
        # "Nguồn Doanh Nghiệp: <url>" names the outlet before the colon, "Nguồn: NBC" after it.
        outlet = (m["outlet"] or m["outlet2"]).strip()
        if (outlet or m["url"]) and len(outlet.split()) <= _MAX_OUTLET_WORDS:
            source = outlet
            url = (m["url"] or url).rstrip(".,)")
            removed.append(paragraphs.pop())
    return source, author, url


# VOV's end-of-article mark: "…quan trọng này./." (seed 004).
_END_MARK_RE = re.compile(r"\s*/\.\s*$")


# --------------------------------------------------------------------------- entry point


def clean_article(raw: str, *, title: str | None = None) -> CleanedArticle:
    """Clean the raw text of one article (see the module docstring for the rules).

    ``title``: the known title (from HTML metadata, a Markdown heading, a JSONL field, an editor).
    When given, no headline is guessed from the text and a leading paragraph equal to it (ignoring
    case, diacritics and punctuation) is dropped; otherwise the first paragraph becomes the title
    when it looks like a headline, and the title is "" when none does.
    """
    removed: list[str] = []
    lines = _normalize_whitespace(normalize_text(raw))
    lines, date = _remove_furniture(lines, removed)
    paragraphs = _paragraphs(lines)

    if title is not None:
        title = " ".join(normalize_text(title).split())
        if paragraphs and title and _title_key(paragraphs[0]) == _title_key(title):
            removed.append(paragraphs.pop(0))
    elif len(paragraphs) >= 2 and _looks_like_headline(paragraphs[0]):
        title = paragraphs.pop(0)
    else:
        title = ""

    source, author, url = _extract_source(paragraphs, removed)
    if paragraphs:
        last = _END_MARK_RE.sub("", paragraphs[-1])
        if last != paragraphs[-1]:
            removed.append("/.")
            paragraphs[-1] = last
    text = "\n\n".join(p for p in paragraphs if p)
    return CleanedArticle(
        title=title, text=text, source=source, url=url, author=author, date=date, removed=removed
    )
