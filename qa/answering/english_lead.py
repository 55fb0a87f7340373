"""The short answer (the bold lead) of an English question, read as English.

The lead is a span of a Vietnamese sentence; the sentence itself is quoted verbatim with its
citation, but the lead is what an English reader reads first, so its numbers, dates, units
and the commonest quantity words are rendered in English, and a name the alias table knows in
an English form (``Giôn Ke-ri`` → ``John Kerry``) is given in that form:

    gần 10 tiếng đồng hồ   → nearly 10 hours
    15/12                  → 15 December
    ngày 26-8-2016         → 26 August 2016
    2 triệu người          → 2 million people
    10.000 USD             → 10,000 USD
    tháng 8/2016           → August 2016

Only what the rules know is rewritten, and only when that leaves no Vietnamese common word in
the lead: a lead the rules cannot render whole stays the Vietnamese span (half-translated reads
worse, and a wrong translation is worse still). No machine translation is involved.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..retrieval.aliases import AliasTable

__all__ = ["english_lead", "has_vietnamese_words"]

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]

_UNITS = [
    ("tiếng đồng hồ", "hour"), ("giờ đồng hồ", "hour"), ("tiếng", "hour"), ("giờ", "hour"),
    ("phút", "minute"), ("giây", "second"), ("ngày", "day"), ("tuần", "week"), ("tháng", "month"),
    ("năm", "year"), ("thập kỷ", "decade"), ("thế kỷ", "century"), ("người", "person"),
    ("người dân", "person"), ("binh sĩ", "soldier"), ("quân nhân", "soldier"), ("trẻ em", "child"), ("phụ nữ", "woman"),
    ("nước", "country"), ("quốc gia", "country"), ("thành phố", "city"), ("lần", "time"),
    ("vòng", "round"), ("máy bay", "aircraft"), ("tàu", "ship"), ("xe", "vehicle"), ("ngôi nhà", "house"),
    ("đô la", "dollar"), ("đôla", "dollar"), ("USD", "USD"), ("euro", "euro"), ("đồng", "dong"),
    ("km", "km"), ("ki-lô-mét", "km"), ("kilômét", "km"), ("mét", "metre"), ("tấn", "tonne"), ("kg", "kg"),
]
_PLURAL = {"person": "people", "child": "children", "woman": "women", "century": "centuries",
           "country": "countries", "city": "cities", "aircraft": "aircraft", "USD": "USD", "km": "km",
           "kg": "kg", "dong": "dong", "euro": "euros"}
_SCALE = [("triệu", "million"), ("tỷ", "billion"), ("tỉ", "billion"), ("nghìn", "thousand"), ("ngàn", "thousand"),
          ("trăm", "hundred")]
_QUANT = [("gần", "nearly"), ("khoảng", "about"), ("chừng", "about"), ("hơn", "more than"),
          ("trên", "over"), ("dưới", "under"), ("ít nhất", "at least"), ("tối đa", "at most"),
          ("hàng", "several"), ("vài", "a few"), ("nhiều", "many"), ("mỗi", "each")]
_WEEKDAYS = {"thứ hai": "Monday", "thứ ba": "Tuesday", "thứ tư": "Wednesday", "thứ năm": "Thursday",
             "thứ sáu": "Friday", "thứ bảy": "Saturday", "chủ nhật": "Sunday"}
_WORDS = {"và": "and", "hoặc": "or", "đến": "to", "tới": "to"}

_NUM = r"\d+(?:[.,]\d+)*"
#: "người Nga" after a number: the people of a country (plural forms).
_DEMONYMS = {"Nga": "Russians", "Mỹ": "Americans", "Hoa Kỳ": "Americans", "Syria": "Syrians", "Xy-ri": "Syrians",
             "Việt Nam": "Vietnamese", "Trung Quốc": "Chinese", "Anh": "Britons", "Pháp": "French",
             "Đức": "Germans", "Nhật": "Japanese", "Nhật Bản": "Japanese", "Hàn Quốc": "South Koreans",
             "Ukraine": "Ukrainians", "U-crai-na": "Ukrainians", "Iraq": "Iraqis", "I-rắc": "Iraqis",
             "Iran": "Iranians", "Kurd": "Kurds", "Thổ Nhĩ Kỳ": "Turks", "Israel": "Israelis",
             "Palestine": "Palestinians", "Ả Rập": "Arabs"}


def _number(text: str) -> str:
    """A Vietnamese-written number in English notation: ``10.000`` → ``10,000``, ``2,5`` → ``2.5``."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", text):
        return text.replace(".", ",")
    if re.fullmatch(r"\d+,\d+", text):
        return text.replace(",", ".")
    return text


def _date(day: str | None, month: str, year: str | None) -> str | None:
    m = int(month)
    if not 1 <= m <= 12 or (day is not None and not 1 <= int(day) <= 31):
        return None
    parts = ([str(int(day))] if day else []) + [_MONTHS[m - 1]] + ([year] if year else [])
    return " ".join(parts)


def _dates(text: str) -> str:
    def full(m: re.Match) -> str:
        return _date(m.group(1), m.group(2), m.group(3)) or m.group(0)

    # ngày 15/12/2016, 15-12, 15.12.2016 (day first, as Vietnamese writes it)
    text = re.sub(r"(?:\bngày\s+)?\b(\d{1,2})[/\-.](\d{1,2})(?:[/\-.](\d{4}))?\b", full, text, flags=re.I)
    # tháng 8/2016, tháng 8 năm 2016, tháng 8
    text = re.sub(r"\btháng\s+(\d{1,2})(?:\s*(?:/|năm)\s*(\d{4}))?\b",
                  lambda m: _date(None, m.group(1), m.group(2)) or m.group(0), text, flags=re.I)
    text = re.sub(r"\bnăm\s+(\d{4})\b", r"\1", text, flags=re.I)
    for vi, en in _WEEKDAYS.items():
        text = re.sub(rf"\b{vi}\b", en, text, flags=re.I)
    return text


def _quantities(text: str) -> str:
    scale = "|".join(re.escape(v) for v, _ in _SCALE)
    units = "|".join(re.escape(v) for v, _ in sorted(_UNITS, key=lambda u: -len(u[0])))  # longest first

    def rep(m: re.Match) -> str:
        num = _number(m.group("n"))
        sc = next((en for vi, en in _SCALE if m.group("s") and m.group("s").lower() == vi), None)
        unit = next((en for vi, en in _UNITS if m.group("u") and m.group("u").lower() == vi.lower()), None)
        out = num + (f" {sc}" if sc else "")
        if unit:
            one = num in ("1", "một") and not sc
            out += " " + (unit if one else _PLURAL.get(unit, unit + "s"))
        return out

    return re.sub(rf"(?P<n>{_NUM})(?:\s+(?P<s>{scale}))?(?:\s+(?P<u>{units}))?(?![\w])", rep, text, flags=re.I)


def english_lead(lead: str, aliases: AliasTable | None = None) -> str:
    """``lead`` (a span of a Vietnamese sentence) with its numbers, dates, units and known
    names in English. ``aliases``: an :class:`~qa.retrieval.aliases.AliasTable` whose first
    form of a group is its English name (as in ``qa/retrieval/aliases.tsv``)."""
    text = " ".join(lead.split())
    if not text:
        return text
    text = _dates(text)
    for vi, en in sorted(_DEMONYMS.items(), key=lambda p: -len(p[0])):
        text = re.sub(rf"(?<=\d)(\s+(?:triệu|tỷ|tỉ|nghìn|ngàn|trăm))?\s+người\s+{re.escape(vi)}(?!\w)",
                      lambda m, en=en: f"{m.group(1) or ''} {en}", text)
    text = _quantities(text)
    for vi, en in sorted(_QUANT, key=lambda p: -len(p[0])):
        text = re.sub(rf"(?<!\w){vi}(?=\s+\d)", en, text, flags=re.I)
    if re.search(r"\d", text):
        text = re.sub(r"(?<!\w)từ\s+(?=\d)", "from ", text, flags=re.I)
        for vi, en in _WORDS.items():
            text = re.sub(rf"(?<=\w)\s+{vi}\s+(?=\d|[A-Z])", f" {en} ", text)
    if aliases is not None:
        text = _english_names(text, aliases)
    if has_vietnamese_words(text):  # half translated reads worse than the Vietnamese span
        return " ".join(lead.split())
    return text


#: Common Vietnamese words written without any diacritic (all others carry one).
_PLAIN_VI = {"trong", "cho", "con", "sau", "khi", "theo", "va", "la", "co", "cua", "tin", "ban", "hai", "ba",
             "tay", "anh", "em", "chi", "thi", "nhanh", "mai", "xa", "gan"}


def has_vietnamese_words(text: str) -> bool:
    """Whether ``text`` still holds a Vietnamese common word (lower case, with a Vietnamese
    letter or in :data:`_PLAIN_VI`); capitalized words are names and may stay."""
    for w in re.findall(r"[^\W\d_]+", text):
        if w[0].islower() and (any(ord(c) > 127 for c in w) or w in _PLAIN_VI):
            return True
    return False


def _english_names(text: str, aliases: AliasTable) -> str:
    """Replace a whole lead that is one known name by the group's English (first) form."""
    groups = getattr(aliases, "groups", None)
    if not groups:
        return text
    from corpus.normalize import fold_diacritics

    key = fold_diacritics(text).replace("-", " ").strip().lower()
    for forms in groups.values():
        if any(fold_diacritics(f).replace("-", " ").lower() == key for f in forms[1:]):
            return forms[0]
    return text
