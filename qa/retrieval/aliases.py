"""Name aliases: the same person or place in original spelling and Vietnamese transliteration.

The table ships as data (``aliases.tsv`` beside this module: one group per line, forms
separated by `` | ``); users add their own files through ``QAConfig.alias_files`` or the
``QA_ALIAS_FILES`` environment variable (``os.pathsep``-separated). Every occurrence of any
form becomes the group's token (``@john_kerry``), in passages and in queries, so "Kerry"
finds "Giôn Ke-ri" and "Moscow" finds "Mát-xcơ-va" in the lexical channel.

Matching is on folded words (no diacritics, lower case, hyphens split), whole words only, and
a word written with diacritics must carry the form's own ("Nga" matches "nga" typed without
them, never "ngã");
forms written in capitals only ("IS", "UN", "LHQ") match case-sensitively, so the English
"is" or the Vietnamese "is" inside a word never count as Islamic State.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.normalize import fold_diacritics, normalize_text

__all__ = ["AliasTable", "load_aliases", "DEFAULT_ALIAS_FILE", "GLOSSARY_FILE"]

DEFAULT_ALIAS_FILE = Path(__file__).with_name("aliases.tsv")
#: English–Vietnamese news terms in the same format ("spokesman | người phát ngôn"): the
#: offline stand-in for translating an English question's key words.
GLOSSARY_FILE = Path(__file__).with_name("glossary.tsv")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.U)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


@dataclass
class AliasTable:
    """Groups of equivalent names, and a matcher over word sequences."""

    groups: dict[str, list[str]] = field(default_factory=dict)  # token -> forms
    # first word -> [(folded or exact words, lower-case words, case_sensitive, token)], longest first
    _index: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], bool, str]]] = field(
        default_factory=dict, repr=False)

    def add_group(self, forms: Iterable[str]) -> None:
        forms = [normalize_text(f.strip()) for f in forms if f.strip()]
        if len(forms) < 2:
            return
        token = "@" + "_".join(_words(fold_diacritics(forms[0])))
        known = self.groups.setdefault(token, [])
        for f in forms:
            if f in known:
                continue
            known.append(f)
            exact = f.isupper() and len(f) <= 5
            lower = tuple(w.lower() for w in _words(f))
            words = tuple(_words(f)) if exact else tuple(fold_diacritics(w) for w in lower)
            if words:
                bucket = self._index.setdefault(words[0], [])
                bucket.append((words, lower, exact, token))
                bucket.sort(key=lambda x: -len(x[0]))

    def find(self, text: str, *, normalized: bool = False) -> list[tuple[str, str]]:
        """(token, matched form) for every alias occurrence in ``text``, left to right.

        ``normalized=True`` skips :func:`normalize_text` for text that already went through it
        (indexed passages).
        """
        raw = _words(text if normalized else normalize_text(text))
        lower = [w.lower() for w in raw]
        folded = [fold_diacritics(w) for w in raw]
        toneless = [f == w for f, w in zip(folded, lower)]
        out: list[tuple[str, str]] = []
        i = 0
        while i < len(raw):
            step = 1
            for key, words in ((raw[i], raw), (folded[i], folded)):
                for form, form_lower, exact, token in self._index.get(key, ()):
                    if (words is raw) != exact:
                        continue
                    n = len(form)
                    if tuple(words[i:i + n]) != form:
                        continue
                    # A folded match counts only where the text word has no diacritics (typed
                    # without them) or has exactly the form's: "ngã" (to fall) is not "Nga".
                    if not exact and not all(toneless[i + j] or lower[i + j] == form_lower[j] for j in range(n)):
                        continue
                    out.append((token, " ".join(raw[i:i + n])))
                    step = max(step, n)
                    break
                else:
                    continue
                break
            i += step
        return out

    def tokens(self, text: str, *, normalized: bool = False) -> list[str]:
        return [t for t, _ in self.find(text, normalized=normalized)]

    def forms(self, token: str) -> list[str]:
        return self.groups.get(token, [])


def _read(path: Path, table: AliasTable) -> None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "|" not in line:
            raise ValueError(f"{path}:{n}: an alias line lists forms separated by ' | ': {line!r}")
        table.add_group(line.split("|"))


def load_aliases(extra_files: Iterable[str | Path] = ()) -> AliasTable:
    """The shipped names and glossary, plus ``extra_files`` and the files in ``$QA_ALIAS_FILES``."""
    table = AliasTable()
    files = [DEFAULT_ALIAS_FILE, GLOSSARY_FILE, *map(Path, extra_files)]
    env = os.environ.get("QA_ALIAS_FILES")
    if env:
        files += [Path(p) for p in env.split(os.pathsep) if p]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"alias file not found: {f}")
        _read(f, table)
    return table
