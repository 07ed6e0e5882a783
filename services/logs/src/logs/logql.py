"""The LogQL subset `/service/logs` understands: one label selector, then `|=` `!=` `|~` `!~` line filters.

Grammar (what Qovery's console sends, e.g. `{qovery_com_service_id="<id>", level="error"} |= "timeout"`):

    query    := selector? filter*
    selector := "{" [ matcher ("," matcher)* [","] ] "}"
    matcher  := label ("=" | "!=" | "=~" | "!~") string
    filter   := ("|=" | "!=" | "|~" | "!~") string
    string   := "…" (Go escapes: \\ \" \n \t \r) | `raw`

As in Loki, a label the line does not have reads as "", label regexes are anchored, line-filter regexes are not.
Anything else (`| json`, `| logfmt`, metric queries…) is rejected with a `LogQLError` naming the position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

LEVEL_ALIASES = {
    "warning": "warn",
    "err": "error",
    "critical": "fatal",
    "crit": "fatal",
    "panic": "fatal",
    "information": "info",
    "dbg": "debug",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "'": "'"}


class LogQLError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"invalid query at character {position + 1}: {message}")
        self.position = position


def normalize_level(value: str) -> str:
    lowered = value.lower()
    return LEVEL_ALIASES.get(lowered, lowered)


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.pattern is not None:
            found = self.pattern.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        if self.label == "level":
            equal = normalize_level(actual) == normalize_level(self.value)
        else:
            equal = actual == self.value
        return equal if self.op == "=" else not equal


@dataclass(frozen=True)
class LineFilter:
    op: str  # |= != |~ !~
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, message: str) -> bool:
        found = self.pattern.search(message) is not None if self.pattern is not None else self.value in message
        return found if self.op in ("|=", "|~") else not found


@dataclass(frozen=True)
class Query:
    matchers: tuple[Matcher, ...] = ()
    filters: tuple[LineFilter, ...] = field(default=())

    def matches(self, labels: Mapping[str, str], message: str) -> bool:
        return all(m.matches(labels) for m in self.matchers) and all(f.matches(message) for f in self.filters)


def parse(text: str | None) -> Query:
    """Parse `text` (None or blank: match everything); raises LogQLError."""
    return _Parser(text or "").query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def query(self) -> Query:
        matchers: list[Matcher] = []
        filters: list[LineFilter] = []
        self._skip()
        if self._peek("{"):
            matchers = self._selector()
        while True:
            self._skip()
            if self.pos >= len(self.text):
                return Query(tuple(matchers), tuple(filters))
            op = self._take(("|=", "!=", "|~", "!~"))
            if op is None:
                if self._peek("|"):
                    stage = self.text[self.pos : self.pos + 12].split()[1:2] or ["?"]
                    raise LogQLError(
                        f"unsupported pipeline stage '| {stage[0]}': only |=, !=, |~ and !~ line filters are supported",
                        self.pos,
                    )
                raise LogQLError(f"expected a line filter (|=, !=, |~, !~), found {self._near()}", self.pos)
            self._skip()
            start = self.pos
            value = self._string()
            pattern = _compile(value, start, anchored=False) if op in ("|~", "!~") else None
            filters.append(LineFilter(op, value, pattern))

    def _selector(self) -> list[Matcher]:
        self.pos += 1  # "{"
        matchers: list[Matcher] = []
        while True:
            self._skip()
            if self._peek("}"):
                self.pos += 1
                return matchers
            match = _IDENT.match(self.text, self.pos)
            if match is None:
                raise LogQLError(f"expected a label name or '}}', found {self._near()}", self.pos)
            label = match.group()
            self.pos = match.end()
            self._skip()
            op = self._take(("=~", "!~", "!=", "="))
            if op is None:
                raise LogQLError(f"expected =, !=, =~ or !~ after label {label!r}, found {self._near()}", self.pos)
            self._skip()
            start = self.pos
            value = self._string()
            pattern = _compile(value, start, anchored=True) if op in ("=~", "!~") else None
            matchers.append(Matcher(label, op, value, pattern))
            self._skip()
            if self._peek(","):
                self.pos += 1
            elif not self._peek("}"):
                raise LogQLError(f"expected ',' or '}}' in the label selector, found {self._near()}", self.pos)

    def _string(self) -> str:
        if self._peek("`"):
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise LogQLError("unterminated `raw string`", self.pos)
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        if not self._peek('"'):
            raise LogQLError(f'expected a quoted string ("…" or `…`), found {self._near()}', self.pos)
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in _ESCAPES:
                    raise LogQLError(f"unknown escape \\{nxt}", self.pos)
                out.append(_ESCAPES[nxt])
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        raise LogQLError("unterminated string", start)

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def _take(self, tokens: tuple[str, ...]) -> str | None:
        for token in tokens:
            if self._peek(token):
                self.pos += len(token)
                return token
        return None

    def _near(self) -> str:
        return repr(self.text[self.pos : self.pos + 10]) if self.pos < len(self.text) else "the end of the query"


def _compile(value: str, position: int, *, anchored: bool) -> re.Pattern[str]:
    try:
        return re.compile(value)  # label matchers use fullmatch (anchored); line filters use search
    except re.error as exc:
        kind = "label" if anchored else "line filter"
        raise LogQLError(f"invalid {kind} regular expression {value!r}: {exc}", position) from None
