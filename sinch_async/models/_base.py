"""Base struct classes shared by every model module."""

from __future__ import annotations

from datetime import timezone
from typing import Any, ClassVar, TypeVar

import msgspec

__all__ = ["RequestStruct", "ResponseStruct", "TaggedStruct", "UnknownVariant", "build_unknown"]


class RequestStruct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A request body: fields left ``UNSET`` are not sent at all."""


class ResponseStruct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A response body. Timestamps are always timezone-aware (naive values are UTC).

    A subclass names its timestamp fields in ``_timestamp_fields`` (inherited by
    its own subclasses); after decoding, naive values there become UTC (Sinch
    omits the offset at times).
    """

    _timestamp_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        annotated = {
            name for klass in cls.__mro__ for name in vars(klass).get("__annotations__", ())
        }
        for name in cls._timestamp_fields:
            if name not in annotated:
                raise ValueError(f"not a field name: {name!r}")

    def __post_init__(self) -> None:
        for name in self._timestamp_fields:
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=timezone.utc))


class TaggedStruct(ResponseStruct, kw_only=True):
    """The fields common to a family of models told apart by their JSON ``type`` tag."""

    @property
    def type(self) -> str | None:
        """The JSON ``type`` tag (for example ``"mt_text"`` or ``"mo_text"``)."""
        tag = self.__struct_config__.tag
        return tag if isinstance(tag, str) else None


class UnknownVariant:
    """Mixin of every fallback model (``UnknownBatch``, ``UnknownInbound``, ...).

    Sinch adds message types from time to time; instead of failing the whole
    response, such an item decodes to the family's ``Unknown*`` model, which
    has the family's common fields plus ``type`` (the unknown tag) and ``raw``
    (the whole JSON object).

    The same models stand in for an item of a list page that does not decode (a known
    ``type`` with an unexpected shape), so that one odd item does not lose the page:
    then ``decode_error`` says what did not fit (it is ``None`` for an unknown type).
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
