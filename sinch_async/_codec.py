"""Cached msgspec encoders and decoders, and timestamp handling.

Encoders and decoders are built once per type and reused: building a
``msgspec.json.Decoder`` is far more expensive than using one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import msgspec

from sinch_async._redact import mask_numbers
from sinch_async.errors import SinchValidationError

__all__ = [
    "Decoder",
    "TaggedUnion",
    "decoder_for",
    "encode",
    "format_timestamp",
    "json_decode",
]

T = TypeVar("T")


def _enc_hook(value: Any) -> Any:
    # Only called for types msgspec cannot encode itself (so it costs nothing on the
    # hot path): str subclasses, such as a user's own PhoneNumber(str), go as strings.
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_decoders: dict[Any, Decoder[Any]] = {}

_encode = _encoder.encode


def encode(value: Any) -> bytes:
    """Encode a struct (or any msgspec-supported value) to JSON bytes.

    A lone surrogate anywhere in it (not Unicode text, so not encodable as UTF-8) is a
    :class:`SinchValidationError` naming the field that holds it.
    """
    try:
        return _encode(value)
    except UnicodeEncodeError:
        field = _surrogate_field(msgspec.to_builtins(value, enc_hook=_enc_hook), "") or "request"
        raise SinchValidationError(
            field, "holds a lone surrogate (not Unicode text)", limit="Unicode text"
        ) from None


def _surrogate_field(value: Any, path: str) -> str | None:
    """The path (``parameters.name.+4670...``, ``to[3]``) of the first string in ``value``
    that holds a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "value"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            found = _surrogate_field(key, inner) or _surrogate_field(item, inner)
            if found is not None:
                return mask_numbers(found)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _surrogate_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class Decoder(Generic[T]):
    """A msgspec JSON decoder whose only failure is ``msgspec.DecodeError``: JSON nested
    deeper than the interpreter's recursion limit (a hostile server's few kilobytes of
    brackets) is a ``DecodeError`` too, not a ``RecursionError``."""

    __slots__ = ("_decode",)

    def __init__(self, decoder: msgspec.json.Decoder[T]) -> None:
        self._decode = decoder.decode

    def decode(self, data: bytes | bytearray | memoryview | msgspec.Raw) -> T:
        try:
            return self._decode(data)
        except RecursionError:
            raise msgspec.DecodeError("JSON nests too deeply") from None


json_decode: Callable[[bytes | msgspec.Raw], Any] = Decoder(_any_decoder).decode
"""Decode JSON bytes into plain Python objects."""


def decoder_for(tp: Any) -> Decoder[Any]:
    """The cached JSON decoder for ``tp`` (built on first use).

    Not strict: a value sent as a string where a number or a boolean belongs (``"20000"``,
    as in Sinch's own published examples) is converted; anything else still fails.
    """
    decoder = _decoders.get(tp)
    if decoder is None:
        decoder = _decoders[tp] = Decoder(msgspec.json.Decoder(tp, strict=False))
    return decoder


class TaggedUnion(Generic[T]):
    """A family of models told apart by their ``type`` tag (``KnownBatch``, ...), with
    the family's fallback for a ``type`` newer than this library.

    msgspec fails the whole decode on an unknown tag value; Sinch adds new message
    types from time to time, and a client must not break on them.
    """

    def __init__(
        self, tp: Any, known_tags: frozenset[str], fallback: Callable[[dict[str, Any]], T]
    ) -> None:
        self.tp = tp
        self.known_tags = known_tags
        self.fallback = fallback
        self._decoder = decoder_for(tp)  # (looked up once: hashing a union type is not free)

    def decode(self, data: bytes | msgspec.Raw) -> T:
        """A known member, or ``fallback(raw_dict)`` for an unknown ``type``.

        A known tag with a bad shape still raises ``msgspec.ValidationError``.
        """
        try:
            known: T = self._decoder.decode(data)
            return known
        except msgspec.ValidationError:
            raw = json_decode(data)
            if isinstance(raw, dict):
                tag = raw.get("type")
                if not isinstance(tag, str) or tag not in self.known_tags:
                    return self.fallback(raw)
            raise


def format_timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    else:
        value = value.astimezone(timezone.utc)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
