"""Robust parsing of deprecation pages: dates, model-id cells, Markdown and HTML tables.

Real pages are messy: dates in many formats (``2026-02-17``, ``Oct 1, 2026``, ``October 23, 2026``,
non-breaking hyphens), floors and placeholders that are not dates (``Not sooner than …``, ``To be
announced``, ``N/A``, ``---``), several ids in one cell (escaped pipes, ``a or b``), footnote markers and
links. Nothing here guesses a date: what is not a date is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Literal

DateKind = Literal["exact", "floor", "unknown"]
_HYPHENS = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\u00ad"), "-")
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2009\u202f\u2007"), " ")
_FLOOR = re.compile(r"\b(not\s+sooner\s+than|not\s+before|no\s+earlier\s+than|at\s+(?:the\s+)?earliest|"
                    r"on\s+or\s+after|earliest)\b", re.I)
_PLACEHOLDER = re.compile(r"^\s*(?:to\s+be\s+(?:announced|determined|confirmed)|tba|tbd|n/?a|none|-+|—|–|\?|"
                          r"unknown|pending|coming\s+soon)\s*\.?\s*$", re.I)
_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y",
            "%b %d %Y", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")
_DATE_IN_TEXT = re.compile(
    r"(\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/\d{4}|"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?,?\s+\d{4})", re.I)
_FOOTNOTE = re.compile(r"(\[\^?\d+\]|\^\d+|[*†‡§¹²³⁴⁵⁶⁷⁸⁹⁰]+)$")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def clean(text: str) -> str:
    """Normalise hyphens and spaces, drop Markdown emphasis, links, code marks and HTML tags."""
    text = text.translate(_HYPHENS).translate(_SPACES)
    text = _LINK.sub(r"\1", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = text.replace("`", "").replace("**", "").replace("__", "")
    return re.sub(r"\s+", " ", text).strip()


def _to_date(token: str) -> date | None:
    token = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", token.strip().rstrip("."))
    token = token.replace("Sept", "Sep")
    for fmt in _FORMATS:
        try:
            return datetime.strptime(token, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class ParsedDate:
    """A date cell: an exact date, a floor (not before), or unknown (placeholder or free text)."""

    kind: DateKind
    value: date | None = None

    @property
    def exact(self) -> date | None:
        return self.value if self.kind == "exact" else None

    @property
    def floor(self) -> date | None:
        return self.value if self.kind == "floor" else None


def parse_date(text: str | None) -> ParsedDate:
    """Read a date cell; floors and placeholders are never reported as a shutdown date."""
    if text is None:
        return ParsedDate("unknown")
    cell = clean(str(text))
    cell = _FOOTNOTE.sub("", cell).strip()
    if not cell or _PLACEHOLDER.match(cell):
        return ParsedDate("unknown")
    found = _DATE_IN_TEXT.search(cell)
    value = _to_date(found.group(1)) if found else _to_date(cell)
    if value is None:
        return ParsedDate("unknown")
    if _FLOOR.search(cell):
        return ParsedDate("floor", value)
    return ParsedDate("exact", value)


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*[A-Za-z0-9*]$|^[A-Za-z0-9]$")


def split_ids(cell: str) -> list[str]:
    """Model ids in a cell: aliases separated by escaped pipes, ``or``, commas, slashes or line breaks."""
    marked = re.sub(r"\\\||<br\s*/?>|\n", " ; ", cell, flags=re.I)  # escaped pipes, line breaks: separators
    text = clean(marked)
    parts = re.split(r"\s*(?:,|;|\s\bor\b\s|\s\band\b\s|\s/\s|\s\|\s)\s*", text)
    out = []
    for part in parts:
        token = _FOOTNOTE.sub("", part.strip().strip(".()")).strip()
        token = re.sub(r"\s*\((?:and\s+)?(?:alias|aliases|snapshot|snapshots)[^)]*\)\s*", "", token).strip()
        if _ID.match(token) and any(ch.isdigit() or ch == "-" for ch in token):
            out.append(token)
    return out


# -- tables ---------------------------------------------------------------------------------------
@dataclass
class Table:
    """A table with its section heading (the text of the nearest heading above it)."""

    heading: str
    header: list[str]
    rows: list[list[str]]


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    parts = re.split(r"(?<!\\)\|", body)
    return [p.strip() for p in parts]


def markdown_tables(text: str) -> list[Table]:
    """Every pipe table in a Markdown document, with the heading it sits under."""
    tables: list[Table] = []
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("#"):
            heading = clean(line.lstrip("#").strip())
        if line.strip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{2,}", lines[i + 1]):
            header = [clean(c) for c in _cells(line)]
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append(Table(heading, header, rows))
            continue
        i += 1
    return tables


class _HtmlTables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.heading = ""
        self._in_heading = False
        self._heading_text: list[str] = []
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "h4"):
            self._in_heading, self._heading_text = True, []
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "h4") and self._in_heading:
            self._in_heading = False
            self.heading = clean("".join(self._heading_text))
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._rows is not None:
            if self._row:
                self._rows.append(self._row)
            self._row = None
        elif tag == "table" and self._rows is not None:
            if self._rows:
                self.tables.append(Table(self.heading, [clean(c) for c in self._rows[0]], self._rows[1:]))
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self._heading_text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[Table]:
    """Every <table> of an HTML page, with the heading it sits under."""
    parser = _HtmlTables()
    parser.feed(text)
    return parser.tables


def tables_of(text: str) -> list[Table]:
    """Tables of a page in Markdown or HTML."""
    return html_tables(text) if re.search(r"<table[\s>]", text, re.I) else markdown_tables(text)


ROLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "shutdown": re.compile(r"shut\s*down|retire|removal|end\s+of\s+life|sunset|discontinu", re.I),
    "deprecated": re.compile(r"^deprecat(ed|ion)(\s+date)?$|deprecated\s+on|announced", re.I),
    "replacement": re.compile(r"replace|substitut|recommend|alternative|migrat|successor|upgrade", re.I),
    "state": re.compile(r"state|status|lifecycle", re.I),
    "model": re.compile(r"model|snapshot|system|endpoint|api\s+name|engine", re.I),
}


def column_roles(header: list[str]) -> dict[str, int]:
    """Match columns by meaning (names vary between pages and over time)."""
    roles: dict[str, int] = {}
    for role in ("replacement", "shutdown", "deprecated", "state", "model"):
        for i, name in enumerate(header):
            if i in roles.values():
                continue
            if ROLE_PATTERNS[role].search(name):
                if role == "model" and ROLE_PATTERNS["replacement"].search(name):
                    continue
                roles[role] = i
                break
    return roles
