"""Reading a campaign's recipient file lazily: CSV with a header, or one number per line."""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TextIO

from sinch_async._cli._output import CliError
from sinch_async.fanout import Recipient

__all__ = ["NUMBER_COLUMNS", "RecipientFile", "inspect_file", "placeholders"]

NUMBER_COLUMNS = ("number", "msisdn", "phone", "phone_number", "mobile", "to")
"""Header names (case-insensitive) recognised as the phone number column, by priority."""

_DELIMITERS = (",", ";", "\t", "|")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9.\-_ ]+)\}")
_COUNT_LIMIT = 512 * 1024 * 1024  # count rows up front only below this size (cheap)


def placeholders(body: str) -> set[str]:
    """The ``${name}`` parameter names used in a message body."""
    return set(_PLACEHOLDER.findall(body))


def _open(path: str) -> TextIO:
    if path == "-":  # closing this handle leaves the process's stdin open
        return open(sys.stdin.fileno(), encoding="utf-8-sig", newline="", closefd=False)
    return open(path, encoding="utf-8-sig", newline="")


def _count_lines(path: str) -> int | None:
    """Number of non-empty-terminated lines, by a fast binary scan; None if too big/unknown."""
    if path == "-":
        return None
    try:
        size = os.path.getsize(path)
        if size > _COUNT_LIMIT:
            return None
        lines = 0
        last = b"\n"
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        return lines + (last != b"\n")
    except OSError:
        return None


@dataclass
class RecipientFile:
    """What :func:`inspect_file` found out from a file's first line."""

    path: str
    kind: Literal["csv", "lines"]
    delimiter: str | None = None
    number_column: str | None = None
    number_index: int = 0
    columns: list[str] = field(default_factory=list)
    """Parameter columns (every header column but the number), as written in the header."""
    total_rows: int | None = None
    """Data rows (lines after the header), when cheap to count; blank lines included."""
    _first: str | None = field(default=None, repr=False)
    _handle: TextIO | None = field(default=None, repr=False)
    _header: list[str] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        if self.kind == "lines":
            return "one number per line"
        cols = f", parameter columns: {', '.join(self.columns)}" if self.columns else ""
        return f"CSV, number column {self.number_column!r}{cols}"

    def recipients(self, used: set[str]) -> Iterator[Recipient]:
        """The rows as fan-out recipients, read lazily; only parameter columns in ``used``
        are passed on, and empty cells are left out (the default value applies)."""
        handle = self._handle
        if handle is None:
            raise RuntimeError("recipients() can be iterated once")
        self._handle = None
        try:
            if self.kind == "lines":
                yield from self._lines(handle)
            else:
                yield from self._csv(handle, used)
        finally:
            handle.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _lines(self, handle: TextIO) -> Iterator[Recipient]:
        first = self._first
        if first is not None:
            text = first.strip()
            if text and not text.startswith("#"):
                yield text
        for line in handle:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text

    def _csv(self, handle: TextIO, used: set[str]) -> Iterator[Recipient]:
        assert self.delimiter is not None
        wanted = [
            (name, i)
            for i, name in enumerate(self._header)
            if i != self.number_index and name in used
        ]
        idx = self.number_index
        for row in csv.reader(handle, delimiter=self.delimiter):
            if not row or not any(c.strip() for c in row):
                continue
            number = row[idx].strip() if idx < len(row) else ""
            values = {name: row[i].strip() for name, i in wanted if i < len(row) and row[i].strip()}
            yield (number, values) if values else number


def inspect_file(path: str) -> RecipientFile:
    """Open ``path`` (``-`` is stdin), read its first line and decide how to read the rest.

    A first line with a delimiter (``,`` ``;`` tab ``|``) or a single recognised column
    name is a CSV header; the number column is the first of :data:`NUMBER_COLUMNS` found.
    Anything else is a list of numbers, one per line. Raises :class:`CliError`.
    """
    if path != "-" and not os.path.isfile(path):
        raise CliError(f"{path}: no such file")
    try:
        handle = _open(path)
        first = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None
    try:
        info = _classify(path, first, handle)
    except BaseException:
        handle.close()
        raise
    return info


def _classify(path: str, first: str, handle: TextIO) -> RecipientFile:
    if not first.strip():
        if first == "":
            raise CliError(f"{path}: the file is empty")
        raise CliError(f"{path}: the first line is blank; expected a header or a number")
    line = first.rstrip("\r\n")
    counts = {d: line.count(d) for d in _DELIMITERS}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        if line.strip().lower() in NUMBER_COLUMNS:  # a one-column CSV
            delimiter = ","
        else:
            total = _count_lines(path)
            return RecipientFile(path, "lines", total_rows=total, _first=first, _handle=handle)
    header = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
    lowered = [c.lower() for c in header]
    for name in NUMBER_COLUMNS:
        if name in lowered:
            index = lowered.index(name)
            break
    else:
        raise CliError(
            f"{path}: looks like CSV (delimiter {delimiter!r}) but the header has no number "
            f"column: name one of {', '.join(NUMBER_COLUMNS)} (header: {', '.join(header)})"
        )
    columns = [c for i, c in enumerate(header) if i != index and c]
    total = _count_lines(path)
    return RecipientFile(
        path,
        "csv",
        delimiter=delimiter,
        number_column=header[index],
        number_index=index,
        columns=columns,
        total_rows=None if total is None else max(total - 1, 0),
        _handle=handle,
        _header=header,
    )
