"""A compact set of positive 64-bit integers, for de-duplicating millions of phone numbers.

A Python ``set`` of ints costs about 60-100 bytes per number; this open-addressing
table over ``array('q')`` costs 16 bytes per number at most (8 bytes a slot, at
least half empty), so a campaign of ten million recipients de-duplicates in
about 160 MB instead of about 1 GB.
"""

from __future__ import annotations

from array import array

__all__ = ["IntSet"]

_MULT = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


class IntSet:
    """``add(n)`` returns True if ``n`` (a positive int below 2**63) was not in the set."""

    __slots__ = ("_mask", "_size", "_slots")

    def __init__(self, capacity: int = 1 << 16) -> None:
        size = 1 << max(4, (capacity * 2 - 1).bit_length())
        self._slots = array("q", bytes(8 * size))
        self._mask = size - 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, value: int) -> bool:
        if value <= 0:
            return False  # empty slots hold 0
        slots, mask = self._slots, self._mask
        i = ((value * _MULT) & _MASK64) >> 20 & mask
        while True:
            found = slots[i]
            if found == value:
                return True
            if found == 0:
                return False
            i = (i + 1) & mask

    def add(self, value: int) -> bool:
        if value <= 0:
            raise ValueError("IntSet holds positive integers only")
        slots, mask = self._slots, self._mask
        i = ((value * _MULT) & _MASK64) >> 20 & mask
        while True:
            found = slots[i]
            if found == value:
                return False
            if found == 0:
                slots[i] = value
                self._size += 1
                if self._size * 2 > mask:
                    self._grow()
                return True
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._slots
        size = (self._mask + 1) * 2
        self._slots = array("q", bytes(8 * size))
        self._mask = size - 1
        self._size = 0
        for value in old:
            if value:
                self.add(value)
