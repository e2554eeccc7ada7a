"""Plain-text and JSON output helpers (no third-party imports)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

__all__ = ["CliError", "cell", "emit_json", "err", "out", "table", "to_jsonable"]


class CliError(Exception):
    """Bad command-line input: printed as ``error: ...`` and exit code ``code`` (2)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def out(text: str = "") -> None:
    """A line on stdout (looked up at call time, so redirection and capsys work)."""
    sys.stdout.write(text + "\n")


def err(text: str = "") -> None:
    """A line on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def to_jsonable(value: Any) -> Any:
    """Structs, dataclasses, datetimes and lists of them as JSON-ready builtins."""
    return msgspec.to_builtins(value, builtin_types=None, str_keys=True)


def emit_json(value: Any) -> None:
    out(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, default=str))


def cell(value: object, width: int | None = None) -> str:
    """One table cell: ``-`` for None, ISO seconds for datetimes, one line, truncated."""
    if value is None:
        text = "-"
    elif isinstance(value, datetime):
        text = value.isoformat(timespec="seconds")
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = " ".join(str(value).split())
    if width is not None and len(text) > width:
        text = text[: max(width - 1, 0)] + "\u2026"
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """An aligned plain-text table on stdout."""
    body = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()
    out(line)
    for row in body:
        out("  ".join(text.ljust(widths[i]) for i, text in enumerate(row)).rstrip())
