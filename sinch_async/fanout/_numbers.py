"""Phone numbers as the fan-outs accept them: the rule of :mod:`sinch_async.numbers`.

:func:`normalize_e164` gives ``(e164, None)`` for a valid number and ``(None, reason)``
otherwise; it is the same function every other entry point checks numbers with.
"""

from __future__ import annotations

from sinch_async.numbers import normalize_e164

__all__ = ["normalize_e164"]
