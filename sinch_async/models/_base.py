"""Base struct classes shared by every model module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from typing import Any, ClassVar, TypeVar

import msgspec

__all__ = ["RequestStruct", "ResponseStruct", "UnknownVariant", "build_unknown"]


class RequestStruct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A request body: fields left ``UNSET`` are not sent at all."""


class ResponseStruct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A response body. Timestamps are always timezone-aware (naive values are UTC).

    A subclass names its timestamp fields in ``_timestamp_fields``; it gets a
    ``__post_init__`` that makes naive values UTC (Sinch omits the offset at times).
    """

    _timestamp_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = cls.__dict__.get("_timestamp_fields")
        if names:
            cls.__post_init__ = _utc_post_init(names)  # type: ignore[attr-defined]


def _utc_post_init(names: tuple[str, ...]) -> Callable[[Any], None]:
    """``__post_init__`` for these timestamp fields, unrolled: it runs for every decoded
    struct, and a loop of ``getattr`` calls cost as much as decoding the rest."""
    lines = ["def __post_init__(self):"]
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"not a field name: {name!r}")
        lines += [
            f"    value = self.{name}",
            "    if value is not None and value.tzinfo is None:",
            f"        self.{name} = value.replace(tzinfo=UTC)",
        ]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), {"UTC": timezone.utc}, namespace)  # our own field names, checked
    function: Callable[[Any], None] = namespace["__post_init__"]
    return function


class UnknownVariant:
    """Mixin of every fallback model (``UnknownBatch``, ``UnknownInbound``, ...).

    Sinch adds message types from time to time; instead of failing the whole
    response, such an item decodes to the family's ``Unknown*`` model, which
    has the family's common fields plus ``type`` (the unknown tag) and ``raw``
    (the whole JSON object).
    """

    __slots__ = ()
    type: str | None
    raw: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the raw JSON object."""
        return self.raw.get(key, default)


U = TypeVar("U", bound=UnknownVariant)


def build_unknown(cls: type[U], raw: dict[str, Any], **required: Any) -> U:
    """Build a fallback model from a raw dict, keeping every field that still fits."""
    try:
        item = msgspec.convert(raw, cls)
    except msgspec.ValidationError:
        fields = {name: raw.get(name, default) for name, default in required.items()}
        item = cls(**fields)
        item.type = None if raw.get("type") is None else str(raw.get("type"))
    item.raw = raw
    return item
