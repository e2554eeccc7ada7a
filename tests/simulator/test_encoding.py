"""sinch_async.encoding: GSM-7 / UCS-2 detection and part counting."""

from __future__ import annotations

import dataclasses

import pytest

from sinch_async.encoding import MessageParts, count_parts, is_gsm7


def test_empty_body_is_one_gsm_part() -> None:
    assert count_parts("") == MessageParts("GSM-7", 0, 1)


@pytest.mark.parametrize(
    ("n", "parts"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_boundaries(n: int, parts: int) -> None:
    result = count_parts("a" * n)
    assert result.encoding == "GSM-7"
    assert result.characters == n
    assert result.parts == parts


@pytest.mark.parametrize(
    ("n", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_boundaries(n: int, parts: int) -> None:
    result = count_parts("ж" * n)
    assert result.encoding == "UCS-2"
    assert result.characters == n
    assert result.parts == parts


@pytest.mark.parametrize("ch", list("|^€{}[]~\\\f"))
def test_extension_chars_count_two(ch: str) -> None:
    assert count_parts(ch) == MessageParts("GSM-7", 2, 1)
    assert is_gsm7(ch)


def test_extension_chars_push_over_the_single_part_limit() -> None:
    assert count_parts("a" * 158 + "€").parts == 1  # 160 septets
    assert count_parts("a" * 159 + "€") == MessageParts("GSM-7", 161, 2)


def test_basic_gsm_specials() -> None:
    text = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"
    assert is_gsm7(text)
    assert count_parts(text) == MessageParts("GSM-7", len(text), 1)


def test_one_non_gsm_char_switches_everything_to_ucs2() -> None:
    text = "a" * 100 + "ç"  # lower-case c-cedilla is not in GSM-7
    assert not is_gsm7(text)
    result = count_parts(text)
    assert result.encoding == "UCS-2"
    assert result.characters == 101
    assert result.parts == 2


def test_emoji_counts_two_code_units() -> None:
    assert count_parts("👋") == MessageParts("UCS-2", 2, 1)
    assert count_parts("👋" * 35).parts == 1  # 70 code units
    assert count_parts("👋" * 35 + "a") == MessageParts("UCS-2", 71, 2)


def test_extension_chars_count_one_in_ucs2() -> None:
    assert count_parts("€ж") == MessageParts("UCS-2", 2, 1)


def test_message_parts_is_frozen() -> None:
    parts = count_parts("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parts.parts = 3  # type: ignore[misc]
