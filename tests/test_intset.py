"""IntSet: the compact set of positive ints that de-duplicates fan-out recipients."""

from __future__ import annotations

import random

import pytest

from sinch_async._intset import IntSet


def test_add_reports_whether_the_value_is_new() -> None:
    s = IntSet()
    assert len(s) == 0
    assert s.add(46700000001) is True
    assert s.add(46700000001) is False
    assert s.add(46700000002) is True
    assert len(s) == 2
    assert 46700000001 in s
    assert 46700000002 in s
    assert 46700000003 not in s


def test_empty_set_contains_nothing() -> None:
    s = IntSet()
    for value in (1, 2, 46700000001, 10**15, 2**63 - 1):
        assert value not in s


@pytest.mark.parametrize("value", [0, -1, -46700000001])
def test_non_positive_values_are_never_members(value: int) -> None:
    """Empty slots hold 0: a lookup of 0 (or a negative) must not mistake one for a hit."""
    s = IntSet()
    assert value not in s
    s.add(5)
    assert value not in s


@pytest.mark.parametrize("value", [0, -1, -(2**62)])
def test_add_rejects_non_positive(value: int) -> None:
    s = IntSet()
    with pytest.raises(ValueError, match="positive"):
        s.add(value)
    assert len(s) == 0


def test_largest_value_below_2_63() -> None:
    s = IntSet()
    big = 2**63 - 1
    assert s.add(big) is True
    assert big in s
    assert s.add(big) is False


@pytest.mark.parametrize("capacity", [0, 1, 16, 1 << 16])
def test_grows_and_keeps_every_value(capacity: int) -> None:
    rng = random.Random(1234)
    values = rng.sample(range(1, 10**15), 50_000)
    s = IntSet(capacity)
    for v in values:
        assert s.add(v) is True
    assert len(s) == len(values)
    # After many grows every value is still found, and re-adding is refused.
    for v in values:
        assert v in s
    assert all(s.add(v) is False for v in values[:1000])
    assert len(s) == len(values)
    # Values never added are not found.
    present = set(values)
    absent = [v for v in rng.sample(range(1, 10**15), 5000) if v not in present]
    assert all(v not in s for v in absent)


def test_sequential_phone_numbers() -> None:
    """Consecutive numbers (a typical campaign range) do not collide into wrong answers."""
    s = IntSet(16)
    base = 46700000000
    for i in range(20_000):
        assert s.add(base + i) is True
    assert len(s) == 20_000
    assert all((base + i) in s for i in range(20_000))
    assert (base + 20_000) not in s
    assert (base - 1) not in s
    assert sum(s.add(base + i) for i in range(0, 20_000, 7)) == 0


def test_table_stays_at_most_half_full() -> None:
    s = IntSet(16)
    for i in range(1, 10_001):
        s.add(i * 7919)
        assert len(s) * 2 <= s._mask + 1
