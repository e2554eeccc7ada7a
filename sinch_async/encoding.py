"""GSM-7 / UCS-2 detection and SMS part counting.

Pure functions, no I/O. The rules follow Sinch's character-support page:

* A body made only of GSM 03.38 characters is sent as GSM-7. Each basic character
  costs one septet; the extension characters ``| ^ € { } [ ] ~ \\`` and form feed
  cost two (an escape plus the character).
* Any other character switches the whole body to UCS-2, where every UTF-16 code
  unit costs one (so an emoji outside the BMP costs two).
* GSM-7: one part holds 160 septets, concatenated parts hold 153 each.
  UCS-2: one part holds 70 code units, concatenated parts hold 67 each.
* An empty body is one part.

Carriers never split an escape pair across two parts, so at exact part boundaries
the real count can be one higher than this estimate; ``POST /batches/dry_run`` is
authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_MULTI_PART",
    "GSM7_SINGLE_PART",
    "UCS2_MULTI_PART",
    "UCS2_SINGLE_PART",
    "Encoding",
    "MessageParts",
    "count_parts",
    "is_gsm7",
]

Encoding = Literal["GSM-7", "UCS-2"]

#: Characters of the GSM 03.38 default alphabet that cost one septet.
GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters of the GSM 03.38 extension table that cost two septets.
GSM7_EXTENSION: Final[frozenset[str]] = frozenset("|^€{}[]~\\\f")

GSM7_SINGLE_PART: Final = 160
GSM7_MULTI_PART: Final = 153
UCS2_SINGLE_PART: Final = 70
UCS2_MULTI_PART: Final = 67


@dataclass(frozen=True, slots=True)
class MessageParts:
    """How a body would be encoded and split.

    ``characters`` is the number of GSM-7 septets (extension characters count 2) or of
    UTF-16 code units for UCS-2; ``parts`` is the number of SMS parts.
    """

    encoding: Encoding
    characters: int
    parts: int


def is_gsm7(text: str) -> bool:
    """Return True if every character of ``text`` is in the GSM-7 basic or extension table."""
    basic = GSM7_BASIC
    ext = GSM7_EXTENSION
    return all(ch in basic or ch in ext for ch in text)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def count_parts(body: str) -> MessageParts:
    """Count the encoding, characters and SMS parts of ``body``."""
    septets = 0
    basic = GSM7_BASIC
    ext = GSM7_EXTENSION
    gsm = True
    for ch in body:
        if ch in basic:
            septets += 1
        elif ch in ext:
            septets += 2
        else:
            gsm = False
            break
    if gsm:
        n = septets
        parts = 1 if n <= GSM7_SINGLE_PART else _ceil_div(n, GSM7_MULTI_PART)
        return MessageParts("GSM-7", n, parts)
    n = len(body.encode("utf-16-le", "surrogatepass")) // 2
    parts = 1 if n <= UCS2_SINGLE_PART else _ceil_div(n, UCS2_MULTI_PART)
    return MessageParts("UCS-2", n, parts)
