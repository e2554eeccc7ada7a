"""Argument types of the command line (``type=`` of ``add_argument``): the error names the
rule, and argparse turns it into a usage error (exit 2)."""

from __future__ import annotations

import argparse

__all__ = ["chunk_size_arg", "non_negative_int", "positive_float", "positive_int"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def chunk_size_arg(text: str) -> int:
    value = positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"must be 1..1000 (a batch's limit), not {value}")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value
