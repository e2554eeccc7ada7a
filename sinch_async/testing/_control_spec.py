"""Reading fault and failure-rule options from JSON (control API) and text (``serve`` flags).

Both end in the arguments of ``FaultInjector.add`` / ``SimulatorBackend.set_failure_rules``,
so the control API, the ``serve`` flags and the Python ``SinchSimulator`` share one
implementation.

``--fault`` syntax: ``ROUTE[:STATUS[:KEY=VALUE,...]]``, for example
``"POST /batches:429:times=3,retry_after=1"``, ``"GET /batches/*:503:times=forever"``,
``"POST /batches::drop=after"`` or ``"*:none:latency=0.5,times=forever"``. ROUTE is
``[METHOD ]PATH`` as in ``sim.faults.add`` (``*`` = every request); STATUS defaults to 429
(``none`` = no status: latency only); keys are ``times`` (a count or ``forever``),
``retry_after``, ``latency`` (real seconds) and ``drop`` (``before``/``after``).
``--failure-rule PREFIX=STATUS[:CODE]``, e.g. ``+4670=Failed`` or ``+4670=Failed:15``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from sinch_async.testing._engine import DEFAULT_CODES, OutcomeRules
from sinch_async.testing._faults import Fault

__all__ = [
    "ControlError",
    "failure_rules_json",
    "fault_json",
    "fault_kwargs",
    "parse_failure_rule_spec",
    "parse_failure_rules",
    "parse_fault_spec",
]

_FAULT_KEYS = {"route", "route_regex", "status", "retry_after", "times", "latency", "drop", "body"}
_MAX_LATENCY = 120.0
_FOREVER = ("forever", "inf", "*")


class ControlError(ValueError):
    """Bad control input: answered with ``status`` (400 unless said otherwise)."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.status = status
        self.code = (
            "request_entity_too_large"
            if status == 413
            else ("not_found" if status == 404 else "bad_request")
        )


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ControlError(f"'{name}' must be an integer between {lo} and {hi}.")
    return value


def fault_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    """Check a fault's JSON options; the keyword arguments of ``FaultInjector.add``.

    Keys: ``route`` (``"[METHOD ]PATH"``, null = every request) or ``route_regex``,
    ``status`` (null = none), ``retry_after``, ``times`` (null = forever, default 1),
    ``latency`` (real seconds), ``drop`` (``"before"``/``"after"``) and ``body``.
    """
    extra = sorted(set(body) - _FAULT_KEYS)
    if extra:
        raise ControlError(f"Unknown fault field(s): {', '.join(extra)}.")
    out: dict[str, Any] = {}
    route = body.get("route")
    regex = body.get("route_regex")
    if route is not None and regex is not None:
        raise ControlError("Give 'route' or 'route_regex', not both.")
    if route is not None:
        if not isinstance(route, str) or not route.strip():
            raise ControlError("'route' must be a non-empty string like 'POST /batches'.")
        out["route"] = None if route.strip() == "*" else route
    elif regex is not None:
        if not isinstance(regex, str):
            raise ControlError("'route_regex' must be a string.")
        try:
            out["route"] = re.compile(regex)
        except re.error as exc:
            raise ControlError(f"'route_regex' is not a valid regular expression: {exc}.") from None
    if "status" in body:
        status = body["status"]
        out["status"] = None if status is None else _int(status, "status", 100, 599)
    if body.get("retry_after") is not None:
        ra = body["retry_after"]
        if isinstance(ra, bool) or not isinstance(ra, (str, int, float)):
            raise ControlError("'retry_after' must be a number of seconds or an HTTP-date.")
        if isinstance(ra, float) and not (math.isfinite(ra) and ra >= 0):
            raise ControlError("'retry_after' must be >= 0.")
        if isinstance(ra, int) and ra < 0:
            raise ControlError("'retry_after' must be >= 0.")
        if isinstance(ra, str) and (not ra.strip() or any(c in ra for c in "\r\n")):
            raise ControlError("'retry_after' must be a non-empty single-line string.")
        out["retry_after"] = ra
    if "times" in body:
        times = body["times"]
        out["times"] = None if times is None else _int(times, "times", 1, 10**9)
    if "latency" in body:
        lat = body["latency"]
        if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat):
            raise ControlError("'latency' must be a number of seconds.")
        if not 0 <= lat <= _MAX_LATENCY:
            raise ControlError(f"'latency' must be between 0 and {_MAX_LATENCY:g} seconds.")
        out["latency"] = float(lat)
    if body.get("drop") is not None:
        if body["drop"] not in ("before", "after"):
            raise ControlError("'drop' must be 'before', 'after' or null.")
        out["drop"] = body["drop"]
    if "body" in body:
        out["body"] = body["body"]
    return out


def fault_json(fault: Fault) -> dict[str, Any]:
    """A fault as the control API shows it."""
    route = fault.route
    return {
        "route": route.pattern if isinstance(route, re.Pattern) else route,
        "regex": isinstance(route, re.Pattern),
        "status": fault.status,
        "retry_after": fault.retry_after,
        "times": fault.times,
        "latency": fault.latency,
        "drop": fault.drop,
        "hits": fault.hits,
        "remaining": fault.remaining,
        "active": fault.active,
    }


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """``--fault ROUTE[:STATUS[:KEY=VALUE,...]]`` as the keyword arguments of ``faults.add``."""
    route, _, rest = spec.partition(":")
    status_text, _, options = rest.partition(":")
    body: dict[str, Any] = {"route": route.strip() or "*"}
    status_text = status_text.strip().lower()
    if status_text == "none":
        body["status"] = None
    elif status_text:
        if not status_text.isdigit():
            raise ControlError(f"fault {spec!r}: STATUS must be an HTTP status or 'none'.")
        body["status"] = int(status_text)
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or key not in ("times", "retry_after", "latency", "drop"):
            raise ControlError(
                f"fault {spec!r}: options are times=N|forever, retry_after=S, latency=S,"
                " drop=before|after"
            )
        if key == "times":
            body["times"] = None if value.lower() in _FOREVER else _to_int(value, spec, key)
        elif key == "latency":
            body["latency"] = _to_float(value, spec, key)
        elif key == "retry_after":
            body["retry_after"] = value
        else:
            body["drop"] = value
    try:
        return fault_kwargs(body)
    except ControlError as exc:
        raise ControlError(f"fault {spec!r}: {exc}") from None


def _to_int(value: str, spec: str, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ControlError(f"fault {spec!r}: {key} must be an integer.") from None


def _to_float(value: str, spec: str, key: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ControlError(f"fault {spec!r}: {key} must be a number.") from None


def _outcome(prefix: str, value: Any) -> str | tuple[str, int]:
    if isinstance(value, dict):
        extra = set(value) - {"status", "code"}
        if extra or "status" not in value:
            raise ControlError(f"failure rule {prefix!r}: use {{'status': ..., 'code': ...}}.")
        status, code = value["status"], value.get("code")
    elif isinstance(value, list) and len(value) == 2:
        status, code = value
    else:
        status, code = value, None
    if status not in DEFAULT_CODES:
        known = ", ".join(DEFAULT_CODES)
        raise ControlError(f"failure rule {prefix!r}: status must be one of {known}.")
    if code is None:
        return str(status)
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 65535:
        raise ControlError(f"failure rule {prefix!r}: code must be an integer 0..65535.")
    return (str(status), code)


def parse_failure_rules(value: Any) -> dict[str, str | tuple[str, int]] | None:
    """``{prefix: status | [status, code] | {"status", "code"}}`` (or null: no rules)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ControlError("'failure_rules' must be an object of prefix -> status, or null.")
    rules: dict[str, str | tuple[str, int]] = {}
    for prefix, outcome in value.items():
        digits = prefix.strip().lstrip("+")
        if not digits.isdigit() or not digits.isascii():
            raise ControlError(f"failure rule prefix {prefix!r} must be digits (with optional +).")
        rules["+" + digits] = _outcome(prefix, outcome)
    return rules


def parse_failure_rule_spec(spec: str) -> tuple[str, str | tuple[str, int]]:
    """``--failure-rule PREFIX=STATUS[:CODE]`` as (prefix, outcome)."""
    prefix, eq, outcome = spec.partition("=")
    if not eq:
        raise ControlError(f"failure rule {spec!r}: use PREFIX=STATUS[:CODE], e.g. +4670=Failed")
    status, colon, code = outcome.strip().partition(":")
    value: Any = status
    if colon:
        if not code.strip().isdigit():
            raise ControlError(f"failure rule {spec!r}: CODE must be an integer.")
        value = [status, int(code)]
    rules = parse_failure_rules({prefix: value})
    assert rules is not None
    ((key, result),) = rules.items()
    return key, result


def failure_rules_json(rules: OutcomeRules) -> Any:
    """Rules as JSON: ``{prefix: {"status", "code"}}``; ``"callable"`` for a function."""
    if rules is None:
        return {}
    if callable(rules):
        return "callable"
    out: dict[str, dict[str, Any]] = {}
    for prefix, value in rules.items():
        status, code = value if isinstance(value, tuple) else (value, DEFAULT_CODES.get(value, 0))
        out["+" + prefix.strip().lstrip("+")] = {"status": status, "code": code}
    return out
