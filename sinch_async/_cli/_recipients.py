"""Reading a campaign's recipient file lazily: CSV with a header, or one number per line.

Each number is handed to the fan-out as a :class:`NumberAt`, a ``str`` that knows its line
in the file. The fan-out alone decides which rows are invalid, and it keeps an invalid
recipient's value as given (``InvalidRecipient.value``), so the report can name the line
of every invalid row without the CLI validating anything itself.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TextIO

from sinch_async._cli._output import CliError
from sinch_async.fanout import Recipient, normalize_e164

__all__ = [
    "NUMBER_COLUMNS",
    "NumberAt",
    "RecipientFile",
    "inspect_file",
    "line_of",
    "placeholders",
]

NUMBER_COLUMNS = ("number", "msisdn", "phone", "phone_number", "mobile", "to")
"""Header names (case-insensitive) recognised as the phone number column, by priority."""

_DELIMITERS = (",", ";", "\t", "|")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9.\-_ ]+)\}")
_COUNT_LIMIT = 512 * 1024 * 1024  # count rows up front only below this size (cheap)


def placeholders(body: str) -> set[str]:
    """The ``${name}`` parameter names used in a message body."""
    return set(_PLACEHOLDER.findall(body))


class NumberAt(str):
    """A recipient's number as written in the file, with the (first) line of its row."""

    line: int

    def __new__(cls, value: str, line: int) -> NumberAt:
        self = super().__new__(cls, value)
        self.line = line
        return self


def line_of(value: object) -> int | None:
    """The file line of a value read by :meth:`RecipientFile.recipients`, if it is one."""
    return value.line if isinstance(value, NumberAt) else None


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
    empty: Counter[str] = field(default_factory=Counter)
    """Rows read by :meth:`recipients` with a valid number and no value in a column of
    its ``check_empty``, per column."""
    _first: str | None = field(default=None, repr=False)
    _handle: TextIO | None = field(default=None, repr=False)
    _header: list[str] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        if self.kind == "lines":
            return "one number per line"
        cols = f", parameter columns: {', '.join(self.columns)}" if self.columns else ""
        return f"CSV, number column {self.number_column!r}{cols}"

    def recipients(self, used: set[str], check_empty: Sequence[str] = ()) -> Iterator[Recipient]:
        """The rows as fan-out recipients, read lazily; only parameter columns in ``used``
        are passed on, and empty cells are left out (the default value applies). Numbers
        are :class:`NumberAt` values. Rows with a valid number and an empty cell in a
        column of ``check_empty`` are counted in :attr:`empty`."""
        handle = self._handle
        if handle is None:
            raise RuntimeError("recipients() can be iterated once")
        self._handle = None
        try:
            if self.kind == "lines":
                yield from self._lines(handle)
            else:
                yield from self._csv(handle, used, check_empty)
        finally:
            handle.close()

    def count_empty(self, columns: Sequence[str]) -> Counter[str] | None:
        """Read the file once more (not stdin, nor a file too big to read twice: then None)
        and count, per column of ``columns``, the rows with a valid number and no value in
        it: what :attr:`empty` will be once the run has read every row."""
        if self.kind != "csv" or not columns:
            return Counter()
        if self.path == "-":
            return None
        try:
            if os.path.getsize(self.path) > _COUNT_LIMIT:
                return None
            with _open(self.path) as handle:
                handle.readline()  # the header
                counts: Counter[str] = Counter()
                checks = self._indexes(columns)
                for _, number, row in self._rows(handle):
                    _note_empty(number, row, checks, counts)
                return counts
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CliError(f"{self.path}: cannot read: {exc}") from None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _lines(self, handle: TextIO) -> Iterator[Recipient]:
        first = self._first
        if first is not None:
            text = first.strip()
            if text and not text.startswith("#"):
                yield NumberAt(text, 1)
        for line, content in enumerate(handle, start=2):
            text = content.strip()
            if text and not text.startswith("#"):
                yield NumberAt(text, line)

    def _indexes(self, names: Iterable[str]) -> list[tuple[str, int]]:
        """``(column, index)`` of the header's parameter columns named in ``names``."""
        wanted = set(names)
        return [
            (name, i)
            for i, name in enumerate(self._header)
            if i != self.number_index and name in wanted
        ]

    def _rows(self, handle: TextIO) -> Iterator[tuple[int, str, list[str]]]:
        """``(first line, number, cells)`` of each non-blank CSV row after the header."""
        assert self.delimiter is not None
        reader = csv.reader(handle, delimiter=self.delimiter)
        idx = self.number_index
        end = 1  # the header is line 1
        for row in reader:
            start, end = end + 1, 1 + reader.line_num
            if not row or not any(c.strip() for c in row):
                continue
            yield start, (row[idx].strip() if idx < len(row) else ""), row

    def _csv(
        self, handle: TextIO, used: set[str], check_empty: Sequence[str]
    ) -> Iterator[Recipient]:
        wanted = self._indexes(used)
        checks = self._indexes(check_empty)
        empty = self.empty
        for line, number, row in self._rows(handle):
            values = {name: row[i].strip() for name, i in wanted if i < len(row) and row[i].strip()}
            if checks:
                _note_empty(number, row, checks, empty)
            raw = NumberAt(number, line)
            yield (raw, values) if values else raw


def _note_empty(
    number: str, row: list[str], checks: list[tuple[str, int]], counts: Counter[str]
) -> None:
    """Count the columns of ``checks`` empty in ``row``, if its number is one the fan-out
    sends to (the fan-out's own rule, :func:`~sinch_async.fanout.normalize_e164`)."""
    missing = [name for name, i in checks if i >= len(row) or not row[i].strip()]
    if missing and normalize_e164(number)[0] is not None:
        counts.update(missing)


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
