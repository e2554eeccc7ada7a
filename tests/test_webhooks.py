"""Webhooks: callback parsing, HMAC signatures, replay guard, idempotency, both receivers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from multidict import CIMultiDict
from starlette.datastructures import Headers

from sinch_async import SinchError
from sinch_async.models import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    InboundBinary,
    InboundMedia,
    InboundText,
    RecipientDeliveryReportMms,
    RecipientDeliveryReportSms,
    UnknownBatchDeliveryReport,
    UnknownInbound,
    UnknownRecipientDeliveryReport,
)
from sinch_async.models._base import UnknownVariant
from sinch_async.testing import sign_webhook
from sinch_async.webhooks import (
    CALLBACK_TYPES,
    Deduplicator,
    InvalidCallbackError,
    InvalidSignatureError,
    MemorySeenStore,
    NonceCache,
    ReplayGuard,
    SeenStore,
    UnknownCallback,
    WebhookError,
    WebhookEvent,
    _signature,
    compute_signature,
    event_key,
    handle_webhook,
    parse_callback,
    sign_headers,
    sinch_webhook_handler,
    verify_signature,
)
from sinch_async.webhooks.fastapi import sinch_webhook_router
from tests.conftest import LocalServer, fixture_dir

# The verified test vector of the reference notes (section 3.6).
VECTOR_SECRET = "SMSWebhooksSecret"
VECTOR_NONCE = "01JHFFHWYY7HSS4FWTMDTQEK8V"
VECTOR_TS = 1736760161
VECTOR_SIG = "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o0="
VECTOR_BODY = (
    b'{"at":"2025-01-13T09:22:40.914Z","batch_id":"01JHFFHQ0P99JPPNQPJDV7JTBP",'
    b'"client_reference":"a client reference","code":0,'
    b'"operator_status_at":"2025-01-13T09:22:00Z","recipient":"33662162466",'
    b'"status":"Delivered","type":"recipient_delivery_report_sms"}'
)
VECTOR_HEADERS = {
    "x-sinch-webhook-signature": VECTOR_SIG,
    "x-sinch-webhook-signature-nonce": VECTOR_NONCE,
    "x-sinch-webhook-signature-timestamp": str(VECTOR_TS),
    "x-sinch-webhook-signature-algorithm": "HmacSHA256",
}

SECRET = "test-webhook-secret"


def fixture_bytes(relative: str) -> bytes:
    return (fixture_dir() / relative).read_bytes()


def signed(body: bytes, secret: str = SECRET, **kwargs: Any) -> dict[str, str]:
    return sign_headers(body, secret, **kwargs)


def mo_text(id_: str = "01MO0000000000000000000001", body: str = "Hello John! 👋") -> bytes:
    return json.dumps(
        {
            "type": "mo_text",
            "id": id_,
            "from": "+46700000001",
            "to": "12345",
            "body": body,
            "received_at": "2025-01-13T09:22:40.914Z",
        }
    ).encode()


# -- parse_callback ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "cls"),
    [
        ("deliveryreports/BatchDeliveryReportSMSDto.json", BatchDeliveryReportSms),
        ("deliveryreports/BatchDeliveryReportMMSDto.json", BatchDeliveryReportMms),
        ("deliveryreports/RecipientDeliveryReportSMSDto.json", RecipientDeliveryReportSms),
        ("deliveryreports/RecipientDeliveryReportMMSDto.json", RecipientDeliveryReportMms),
        ("inbounds/InboundTextDto.json", InboundText),
        ("inbounds/InboundBinaryDto.json", InboundBinary),
        ("inbounds/InboundMediaDto.json", InboundMedia),
    ],
)
def test_parse_every_callback_type_from_the_java_sdk_fixtures(relative: str, cls: type) -> None:
    body = fixture_bytes(relative)
    event = parse_callback(body)
    assert type(event) is cls
    assert event.type == json.loads(body)["type"]
    assert event.type in CALLBACK_TYPES
    assert not isinstance(event, UnknownVariant)


def test_parse_batch_report_full_and_summary() -> None:
    full = parse_callback(fixture_bytes("deliveryreports/BatchDeliveryReportSMSDto.json"))
    assert isinstance(full, BatchDeliveryReportSms)
    assert full.batch_id == "01FC66621XXXXX119Z8PMV1QPQ"
    assert full.total_message_count == 1
    assert full.client_reference == "a client reference"
    assert full.statuses[0].recipients == ["44231235674"]
    assert full.count("Delivered") == 1

    summary = parse_callback(
        b'{"type":"delivery_report_sms","batch_id":"B1","total_message_count":3,'
        b'"statuses":[{"code":0,"status":"Delivered","count":2},'
        b'{"code":15,"status":"Failed","count":1}]}'
    )
    assert isinstance(summary, BatchDeliveryReportSms)
    assert summary.statuses[1].recipients is None
    assert summary.count("Failed") == 1


def test_parse_recipient_report_fields_and_timestamps() -> None:
    event = parse_callback(fixture_bytes("deliveryreports/RecipientDeliveryReportMMSDto.json"))
    assert isinstance(event, RecipientDeliveryReportMms)
    assert (event.recipient, event.code, event.status) == ("+44231235674", 401, "Dispatched")
    assert event.at is not None
    assert event.at.tzinfo is not None
    assert event.at.isoformat() == "2022-08-30T08:16:08.930000+00:00"
    assert event.number_of_message_parts == 123
    assert event.operator == "operator"

    vector = parse_callback(VECTOR_BODY)
    assert isinstance(vector, RecipientDeliveryReportSms)
    assert vector.status == "Delivered"
    assert vector.code == 0
    assert vector.recipient == "33662162466"


def test_parse_inbounds() -> None:
    text = parse_callback(fixture_bytes("inbounds/InboundTextDto.json"))
    assert isinstance(text, InboundText)
    assert (text.from_, text.to, text.body) == ("+11203494390", "11203453453", "a body")
    assert text.operator_id == "35000"

    binary = parse_callback(fixture_bytes("inbounds/InboundBinaryDto.json"))
    assert isinstance(binary, InboundBinary)
    assert binary.udh == "foo udh"

    media = parse_callback(fixture_bytes("inbounds/InboundMediaDto.json"))
    assert isinstance(media, InboundMedia)
    assert media.body is not None
    assert media.body.subject == "mmy subject"
    assert media.body.media[0].url == "https://foo.url"
    assert media.body.media[0].code == 1234

    emoji = parse_callback(mo_text())
    assert isinstance(emoji, InboundText)
    assert emoji.body == "Hello John! 👋"


def test_parse_accepts_str_bytearray_and_memoryview() -> None:
    for body in (VECTOR_BODY.decode(), bytearray(VECTOR_BODY), memoryview(VECTOR_BODY)):
        assert isinstance(parse_callback(body), RecipientDeliveryReportSms)


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (
            {
                "type": "recipient_delivery_report_rcs",
                "batch_id": "B1",
                "recipient": "46700000001",
                "code": 0,
                "status": "Delivered",
                "at": "2025-01-13T09:22:40.914Z",
                "channel": "rcs",
            },
            UnknownRecipientDeliveryReport,
        ),
        (
            {"type": "delivery_report_rcs", "batch_id": "B1", "extra": [1]},
            UnknownBatchDeliveryReport,
        ),
        ({"type": "mo_rcs", "id": "M1", "body": {"card": 1}}, UnknownInbound),
        ({"type": "conversation_event", "whatever": {"a": 1}}, UnknownCallback),
        # a family member whose fields do not even fit the family: still kept, raw intact
        ({"type": "mo_rcs", "id": 12}, UnknownInbound),
    ],
)
def test_unknown_type_decodes_to_a_fallback_keeping_the_raw_data(
    body: dict[str, Any], cls: type
) -> None:
    event = parse_callback(json.dumps(body).encode())
    assert type(event) is cls
    assert isinstance(event, UnknownVariant)
    assert event.type == body["type"]
    assert event.raw == body
    assert event.get("type") == body["type"]


def test_unknown_recipient_report_keeps_family_fields() -> None:
    event = parse_callback(
        b'{"type":"recipient_delivery_report_rcs","batch_id":"B1","recipient":"1",'
        b'"code":0,"status":"Delivered","at":"2025-01-13T09:22:40.914Z"}'
    )
    assert isinstance(event, UnknownRecipientDeliveryReport)
    assert (event.batch_id, event.status, event.code) == ("B1", "Delivered", 0)
    assert event.at is not None
    assert event.at.tzinfo is not None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b'{"type":"mo_text","id":"1"', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "does not match"),
        (b'"mo_text"', "does not match"),
        (b"{}", "no 'type'"),
        (b'{"type":5,"id":"1"}', "no 'type'"),
        (b'{"type":"","id":"1"}', "no 'type'"),
        (b'{"type":"mo_text","from":"+46700000001"}', "missing required field `id`"),
        (b'{"type":"delivery_report_sms","batch_id":7}', "batch_id"),
        (b'{"type":"recipient_delivery_report_sms","batch_id":"B","recipient":"1"}', "code"),
        (b'{"type":"mo_text","id":"1","received_at":"yesterday"}', "received_at"),
        (b'{"type":"mo_text","id":"1","body":"\xc3\x28"}', "not valid UTF-8"),
        (b'{"type":"mo_text","id":"1","x":' + b"[" * 65 + b"]" * 65 + b"}", "64 levels"),
        (b'{"type":"other","x":' + b'{"a":' * 1000 + b"1" + b"}" * 1001, "64 levels"),
        (b"[" * 100_000, "64 levels"),
        ('{"type":"mo_text","id":"\udcff"}', "not valid UTF-8"),  # a str with a lone surrogate
    ],
)
def test_malformed_bodies_raise_invalid_callback_error(body: bytes | str, fragment: str) -> None:
    with pytest.raises(InvalidCallbackError) as info:
        parse_callback(body)
    assert fragment in str(info.value)
    assert isinstance(info.value, WebhookError)
    assert isinstance(info.value, SinchError)
    assert isinstance(info.value, ValueError)


def test_invalid_callback_error_masks_numbers() -> None:
    with pytest.raises(InvalidCallbackError) as info:
        parse_callback(b'{"type":"mo_text","id":"1","received_at":"+46700000001"}')
    assert "46700000001" not in str(info.value)


# -- verify_signature ----------------------------------------------------------------------


def test_signature_test_vector_from_the_notes() -> None:
    assert compute_signature(VECTOR_BODY, VECTOR_SECRET, VECTOR_NONCE, VECTOR_TS) == VECTOR_SIG
    assert sign_webhook(VECTOR_BODY, VECTOR_SECRET, VECTOR_NONCE, VECTOR_TS) == VECTOR_SIG
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS)
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET.encode(), now=VECTOR_TS + 300)
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS - 300)


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda h: {k.upper(): v for k, v in h.items()}, id="upper-dict"),
        pytest.param(lambda h: {k.title(): v for k, v in h.items()}, id="title-dict"),
        pytest.param(lambda h: CIMultiDict({k.title(): v for k, v in h.items()}), id="cimultidict"),
        pytest.param(
            lambda h: Headers(raw=[(k.title().encode(), v.encode()) for k, v in h.items()]),
            id="starlette-headers",
        ),
    ],
)
def test_header_names_are_case_insensitive_for_any_mapping(
    make_headers: Callable[[dict[str, str]], Mapping[str, str]],
) -> None:
    verify_signature(VECTOR_BODY, make_headers(VECTOR_HEADERS), VECTOR_SECRET, now=VECTOR_TS)


def test_algorithm_header_is_optional_and_sha384_sha512_work() -> None:
    headers = {k: v for k, v in VECTOR_HEADERS.items() if not k.endswith("algorithm")}
    verify_signature(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TS)
    for algorithm in ("HmacSHA384", "HmacSHA512", "hmacsha512"):
        sig = compute_signature(b"{}", SECRET, "n", 100, algorithm=algorithm)
        verify_signature(
            b"{}",
            {
                "x-sinch-webhook-signature": sig,
                "x-sinch-webhook-signature-nonce": "n",
                "x-sinch-webhook-signature-timestamp": "100",
                "x-sinch-webhook-signature-algorithm": algorithm,
            },
            SECRET,
            now=100,
        )


def test_unsupported_algorithm_is_refused() -> None:
    headers = {**VECTOR_HEADERS, "x-sinch-webhook-signature-algorithm": "HmacMD5"}
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TS)
    assert info.value.reason == "unsupported_algorithm"


def _assert_no_leak(exc: BaseException, secret: str = VECTOR_SECRET) -> None:
    text = str(exc) + repr(exc) + repr(exc.args)
    assert secret not in text
    assert VECTOR_SIG not in text
    assert compute_signature(VECTOR_BODY, secret, VECTOR_NONCE, VECTOR_TS) not in text


@pytest.mark.parametrize(
    ("body", "secret", "headers"),
    [
        pytest.param(VECTOR_BODY + b" ", VECTOR_SECRET, VECTOR_HEADERS, id="body-modified"),
        pytest.param(
            json.dumps(json.loads(VECTOR_BODY)).encode(),
            VECTOR_SECRET,
            VECTOR_HEADERS,
            id="body-re-serialized",
        ),
        pytest.param(VECTOR_BODY, "wrong-secret", VECTOR_HEADERS, id="wrong-secret"),
        pytest.param(
            VECTOR_BODY,
            VECTOR_SECRET,
            {**VECTOR_HEADERS, "x-sinch-webhook-signature-nonce": "01JHFFHWYY7HSS4FWTMDTQEK8W"},
            id="nonce-changed",
        ),
        pytest.param(
            VECTOR_BODY,
            VECTOR_SECRET,
            {**VECTOR_HEADERS, "x-sinch-webhook-signature-timestamp": str(VECTOR_TS + 1)},
            id="timestamp-changed",
        ),
        pytest.param(
            VECTOR_BODY,
            VECTOR_SECRET,
            {**VECTOR_HEADERS, "x-sinch-webhook-signature": "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNC"},
            id="signature-truncated",
        ),
        pytest.param(
            VECTOR_BODY,
            VECTOR_SECRET,
            {**VECTOR_HEADERS, "x-sinch-webhook-signature": "é" * 44},
            id="signature-non-ascii",
        ),
    ],
)
def test_bad_signature_is_refused_without_leaking_secrets(
    body: bytes, secret: str, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(body, headers, secret, now=VECTOR_TS)
    assert info.value.reason == "bad_signature"
    assert "signature does not match" in str(info.value)
    assert isinstance(info.value, WebhookError)
    assert isinstance(info.value, ValueError)
    _assert_no_leak(info.value, secret)


def test_nesting_up_to_64_levels_and_brackets_inside_strings_are_fine() -> None:
    nested = b"[" * 63 + b"]" * 63
    text = "[{" * 500
    body = b'{"type":"mo_text","id":"1","body":"' + text.encode() + b'","x":' + nested + b"}"
    event = parse_callback(body)
    assert isinstance(event, InboundText)
    assert event.body == text


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("x-sinch-webhook-signature-timestamp", "\uff11\uff17\uff13\uff16", "invalid_timestamp"),
        ("x-sinch-webhook-signature-timestamp", "\u0661\u0667\u0663", "invalid_timestamp"),
        ("x-sinch-webhook-signature-timestamp", "\udcff", "invalid_timestamp"),
        ("x-sinch-webhook-signature-nonce", "\udcff\udcfe", "bad_signature"),
        ("x-sinch-webhook-signature-nonce", "n" * 257, "bad_signature"),
        ("x-sinch-webhook-signature", "\ud800" * 44, "bad_signature"),
        ("x-sinch-webhook-signature", "A" * 10_000, "bad_signature"),
        ("x-sinch-webhook-signature-algorithm", "\udcffHmacSHA256", "unsupported_algorithm"),
    ],
)
def test_any_header_text_is_an_invalid_signature_error(
    header: str, value: str, reason: str
) -> None:
    """Other scripts' digits, lone surrogates (aiohttp's reading of bytes that are not UTF-8)
    and huge values: InvalidSignatureError, never UnicodeEncodeError."""
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(
            VECTOR_BODY, {**VECTOR_HEADERS, header: value}, VECTOR_SECRET, now=VECTOR_TS
        )
    assert info.value.reason == reason
    assert info.value.header == header


@pytest.mark.parametrize(
    "missing",
    [
        "x-sinch-webhook-signature",
        "x-sinch-webhook-signature-nonce",
        "x-sinch-webhook-signature-timestamp",
    ],
)
def test_missing_header_is_named(missing: str) -> None:
    headers = {k: v for k, v in VECTOR_HEADERS.items() if k != missing}
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TS)
    assert info.value.reason == "missing_header"
    assert info.value.header == missing
    assert repr(missing) in str(info.value)

    blank = {**VECTOR_HEADERS, missing: "  "}
    with pytest.raises(InvalidSignatureError, match="missing signature header"):
        verify_signature(VECTOR_BODY, blank, VECTOR_SECRET, now=VECTOR_TS)


def test_no_headers_at_all() -> None:
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, {}, VECTOR_SECRET)
    assert info.value.reason == "missing_header"


@pytest.mark.parametrize("value", ["abc", "1736760161.5", "-1736760161", "1e9", "9" * 13])
def test_malformed_timestamp(value: str) -> None:
    headers = {**VECTOR_HEADERS, "x-sinch-webhook-signature-timestamp": value}
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TS)
    assert info.value.reason == "invalid_timestamp"


@pytest.mark.parametrize(
    ("offset", "word"), [(301, "old"), (3600, "old"), (-301, "future"), (-86400, "future")]
)
def test_timestamp_outside_the_window_is_refused_both_ways(offset: int, word: str) -> None:
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS + offset)
    assert info.value.reason == "stale_timestamp"
    assert word in str(info.value)
    _assert_no_leak(info.value)


def test_tolerance_is_configurable_and_can_be_disabled() -> None:
    with pytest.raises(InvalidSignatureError, match="tolerance 10 s"):
        verify_signature(
            VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS + 11, tolerance=10
        )
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS + 10, tolerance=10)
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, tolerance=None)  # real clock


def test_default_now_is_the_real_clock() -> None:
    with pytest.raises(InvalidSignatureError, match="old"):
        verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET)
    body = b'{"type":"mo_text","id":"1"}'
    verify_signature(body, sign_headers(body, SECRET), SECRET)


def test_a_bad_signature_wins_over_a_stale_timestamp() -> None:
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(VECTOR_BODY, VECTOR_HEADERS, "wrong", now=VECTOR_TS + 9999)
    assert info.value.reason == "bad_signature"


def test_secret_rotation_accepts_any_of_several_secrets() -> None:
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, ["new-secret", VECTOR_SECRET], now=VECTOR_TS)
    with pytest.raises(InvalidSignatureError):
        verify_signature(VECTOR_BODY, VECTOR_HEADERS, ["a", b"b"], now=VECTOR_TS)


@pytest.mark.parametrize("secret", ["", b"", []])
def test_empty_secret_is_a_programming_error(secret: Any) -> None:
    with pytest.raises(ValueError, match="secret") as info:
        verify_signature(VECTOR_BODY, VECTOR_HEADERS, secret, now=VECTOR_TS)
    assert not isinstance(info.value, InvalidSignatureError)


def test_sign_headers_round_trip() -> None:
    body = b'{"type":"mo_text","id":"1"}'
    headers = sign_headers(body, SECRET, nonce="N1", timestamp=1000)
    assert headers == {
        "x-sinch-webhook-signature": sign_webhook(body, SECRET, "N1", 1000),
        "x-sinch-webhook-signature-nonce": "N1",
        "x-sinch-webhook-signature-timestamp": "1000",
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
    }
    verify_signature(body, headers, SECRET, now=1000)
    assert (
        sign_headers(body, SECRET)["x-sinch-webhook-signature-nonce"]
        != sign_headers(body, SECRET)["x-sinch-webhook-signature-nonce"]
    )


# -- replay guard --------------------------------------------------------------------------


def test_replayed_nonce_is_refused() -> None:
    guard = NonceCache()
    assert isinstance(guard, ReplayGuard)
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS, replay_guard=guard)
    assert VECTOR_NONCE in guard._expiry
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(
            VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS + 5, replay_guard=guard
        )
    assert info.value.reason == "replayed_nonce"
    assert info.value.header == "x-sinch-webhook-signature-nonce"
    _assert_no_leak(info.value)


def test_only_correctly_signed_callbacks_consume_a_nonce() -> None:
    guard = NonceCache()
    for secret in ("wrong", "also-wrong"):
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_signature(VECTOR_BODY, VECTOR_HEADERS, secret, now=VECTOR_TS, replay_guard=guard)
    with pytest.raises(InvalidSignatureError, match="old"):
        verify_signature(
            VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS + 999, replay_guard=guard
        )
    assert len(guard) == 0
    verify_signature(VECTOR_BODY, VECTOR_HEADERS, VECTOR_SECRET, now=VECTOR_TS, replay_guard=guard)


def test_nonce_cache_expiry_follows_the_signed_timestamp() -> None:
    cache = NonceCache(ttl=300)
    assert cache.check_and_add("a", timestamp=1000, now=1000)
    assert not cache.check_and_add("a", timestamp=1000, now=1299)
    assert cache.check_and_add("a", timestamp=1000, now=1300)  # the window has closed by now
    # a timestamp in the future keeps the nonce longer (it stays acceptable longer)
    assert cache.check_and_add("b", timestamp=2200, now=2000)
    assert not cache.check_and_add("b", timestamp=2200, now=2450)
    assert cache.check_and_add("b", timestamp=2200, now=2500)


def test_nonce_cache_bounded_and_discard() -> None:
    cache = NonceCache(ttl=300, max_size=3)
    for i, nonce in enumerate("abcd"):
        assert cache.check_and_add(nonce, timestamp=1000 + i, now=1000 + i)
    assert len(cache) == 3
    assert cache.check_and_add("a", timestamp=1005, now=1005)  # "a" expired soonest: evicted
    assert not cache.check_and_add("d", timestamp=1005, now=1005)
    cache.discard("d")
    cache.discard("never-seen")
    assert cache.check_and_add("d", timestamp=1006, now=1006)
    for i in range(200):  # many discards: the internal heap stays bounded
        cache.check_and_add(f"x{i}", timestamp=1010, now=1010)
        cache.discard(f"x{i}")
    assert len(cache._heap) < 100
    cache.clear()
    assert len(cache) == 0


def test_nonce_cache_contains_uses_its_clock() -> None:
    now = [1000.0]
    cache = NonceCache(ttl=10, clock=lambda: now[0])
    cache.check_and_add("a", timestamp=1000, now=1000)
    assert "a" in cache
    assert 5 not in cache
    now[0] = 1011
    assert "a" not in cache


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"max_size": 0}])
def test_nonce_cache_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        NonceCache(**kwargs)


# -- event_key and Deduplicator -------------------------------------------------------------


def test_event_keys() -> None:
    rdr = parse_callback(VECTOR_BODY)
    assert event_key(rdr) == (
        "recipient_delivery_report_sms/01JHFFHQ0P99JPPNQPJDV7JTBP/33662162466/Delivered/0/"
        "2025-01-13T09:22:40.914Z"
    )
    # the same report re-sent (other key order, other whitespace) has the same key
    again = parse_callback(json.dumps(json.loads(VECTOR_BODY), indent=2, sort_keys=False))
    assert event_key(again) == event_key(rdr)
    # a later status of the same recipient has another key
    dispatched = json.loads(VECTOR_BODY) | {"status": "Dispatched", "code": 401}
    assert event_key(parse_callback(json.dumps(dispatched))) != event_key(rdr)

    mo = parse_callback(fixture_bytes("inbounds/InboundTextDto.json"))
    assert event_key(mo) == "mo_text/01FC66621XXXXX119Z8PMV1QPA"

    report: dict[str, Any] = {
        "type": "delivery_report_sms",
        "batch_id": "B1",
        "statuses": [
            {"code": 0, "status": "Delivered", "count": 2},
            {"code": 15, "status": "Failed", "count": 1},
        ],
    }
    key = event_key(parse_callback(json.dumps(report)))
    assert key == "delivery_report_sms/B1/Delivered:0:2,Failed:15:1"
    report["statuses"].reverse()
    assert event_key(parse_callback(json.dumps(report))) == key

    unknown = {"type": "new_thing", "a": 1, "b": [1, 2]}
    k1 = event_key(parse_callback(json.dumps(unknown)))
    k2 = event_key(parse_callback(json.dumps(dict(reversed(unknown.items())))))
    assert k1 == k2
    assert k1.startswith("new_thing/")

    with pytest.raises(TypeError):
        event_key("not an event")  # type: ignore[arg-type]


async def test_deduplicator_runs_a_handler_once_per_event() -> None:
    dedup = Deduplicator()
    seen: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        seen.append(event_key(event))

    on_event = dedup.wrap(handler)
    assert on_event.__name__ == "handler"
    event = parse_callback(VECTOR_BODY)
    await on_event(event)
    await on_event(parse_callback(VECTOR_BODY))
    assert seen == [event_key(event)]
    assert await dedup.seen(event)
    assert await dedup.process(parse_callback(mo_text()), handler) is True
    assert await dedup.process(parse_callback(mo_text()), handler) is False
    assert len(seen) == 2


async def test_deduplicator_does_not_record_a_failed_event() -> None:
    dedup = Deduplicator()
    calls = 0

    async def flaky(event: WebhookEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")

    event = parse_callback(VECTOR_BODY)
    with pytest.raises(RuntimeError):
        await dedup.process(event, flaky)
    assert not await dedup.seen(event)
    assert await dedup.process(event, flaky) is True
    assert await dedup.process(event, flaky) is False
    assert calls == 2
    assert dedup._locks == {}


async def test_deduplicator_concurrent_duplicates_wait_for_the_first() -> None:
    dedup = Deduplicator()
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def slow(event: WebhookEvent) -> None:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()

    first = asyncio.create_task(dedup.process(parse_callback(VECTOR_BODY), slow))
    await started.wait()
    second = asyncio.create_task(dedup.process(parse_callback(VECTOR_BODY), slow))
    await asyncio.sleep(0.01)
    assert not second.done()
    release.set()
    assert await first is True
    assert await second is False
    assert calls == 1
    assert dedup._locks == {}


async def test_deduplicator_with_a_custom_store() -> None:
    @dataclass
    class DbStore:
        rows: set[str] = field(default_factory=set)

        async def contains(self, key: str) -> bool:
            return key in self.rows

        async def add(self, key: str) -> None:
            self.rows.add(key)

    store = DbStore()
    assert isinstance(store, SeenStore)
    dedup = Deduplicator(store, key=lambda e: f"custom:{event_key(e)}")
    ran: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        ran.append(event)

    await dedup.process(parse_callback(mo_text()), handler)
    await dedup.process(parse_callback(mo_text()), handler)
    assert store.rows == {"custom:mo_text/01MO0000000000000000000001"}
    assert len(ran) == 1


async def test_memory_seen_store_ttl_and_size() -> None:
    now = [0.0]
    store = MemorySeenStore(ttl=10, max_size=2, clock=lambda: now[0])
    await store.add("a")
    now[0] = 5
    await store.add("b")
    assert await store.contains("a")
    assert await store.contains("b")
    now[0] = 10
    assert not await store.contains("a")
    assert await store.contains("b")
    await store.add("c")
    await store.add("d")
    assert len(store) == 2
    assert not await store.contains("b")
    with pytest.raises(ValueError):
        MemorySeenStore(ttl=0)
    with pytest.raises(ValueError):
        MemorySeenStore(max_size=0)


# -- handle_webhook (the framework-independent core) -----------------------------------------


async def test_handle_webhook_outcomes() -> None:
    events: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        events.append(event)

    body = mo_text()
    ok = await handle_webhook(body, signed(body), SECRET, on_event)
    assert (ok.status, json.loads(ok.body), ok.error) == (200, {"status": "ok"}, None)
    assert isinstance(ok.event, InboundText)

    bad = await handle_webhook(body, signed(body, "other"), SECRET, on_event)
    assert bad.status == 401
    assert json.loads(bad.body) == {"error": "invalid_signature", "reason": "bad_signature"}
    assert isinstance(bad.error, InvalidSignatureError)
    assert bad.event is None

    malformed = await handle_webhook(b"{", signed(b"{"), SECRET, on_event)
    assert malformed.status == 400
    assert json.loads(malformed.body) == {"error": "invalid_callback"}

    unsigned = await handle_webhook(body, {}, None, on_event)
    assert unsigned.status == 200
    assert len(events) == 2


async def test_handle_webhook_does_not_parse_unauthenticated_bodies() -> None:
    async def on_event(event: WebhookEvent) -> None:
        raise AssertionError("must not be called")

    result = await handle_webhook(b"not json", {}, SECRET, on_event)
    assert result.status == 401  # not 400: the body of an unsigned request is never parsed


async def test_handle_webhook_500_releases_the_nonce_for_a_retry() -> None:
    guard = NonceCache()
    fail = True

    async def on_event(event: WebhookEvent) -> None:
        if fail:
            raise RuntimeError("boom")

    body = mo_text()
    headers = signed(body, nonce="N-retry")
    first = await handle_webhook(body, headers, SECRET, on_event, replay_guard=guard)
    assert first.status == 500
    assert json.loads(first.body) == {"error": "handler_failed"}
    assert isinstance(first.error, RuntimeError)
    assert "N-retry" not in guard
    fail = False
    retry = await handle_webhook(body, headers, SECRET, on_event, replay_guard=guard)
    assert retry.status == 200
    replay = await handle_webhook(body, headers, SECRET, on_event, replay_guard=guard)
    assert replay.status == 401
    assert json.loads(replay.body)["reason"] == "replayed_nonce"


def test_receivers_check_the_secret_at_setup() -> None:
    async def on_event(event: WebhookEvent) -> None:
        pass

    with pytest.raises(ValueError, match="empty"):
        sinch_webhook_handler("", on_event)
    with pytest.raises(ValueError, match="empty"):
        sinch_webhook_router("/cb", b"", on_event)
    with pytest.raises(TypeError):
        sinch_webhook_router("/cb", [123], on_event)  # type: ignore[list-item]


# -- both receivers, over HTTP ------------------------------------------------------------------


@dataclass
class Receiver:
    """One receiver under test: POST bodies at it, look at what on_event got."""

    kind: str
    post: Callable[[bytes, Mapping[str, str]], Awaitable[tuple[int, Any]]]
    events: list[WebhookEvent]
    fail: list[BaseException]


MakeReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture(params=["aiohttp", "fastapi"])
async def make_receiver(
    request: pytest.FixtureRequest, local_server: LocalServer
) -> AsyncIterator[MakeReceiver]:
    kind: str = request.param
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(secret: str | None = SECRET, replay_guard: NonceCache | None = None) -> Receiver:
        events: list[WebhookEvent] = []
        fail: list[BaseException] = []

        async def on_event(event: WebhookEvent) -> None:
            if fail:
                raise fail.pop(0)
            events.append(event)

        if kind == "aiohttp":
            handler = sinch_webhook_handler(secret, on_event, replay_guard=replay_guard)
            url = await local_server([web.post("/sinch/callbacks", handler)]) + "/sinch/callbacks"
            session = aiohttp.ClientSession()
            cleanups.append(session.close)

            async def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
                async with session.post(url, data=body, headers=dict(headers)) as resp:
                    return resp.status, await resp.json(content_type=None)

        else:
            fastapi_app = FastAPI()
            fastapi_app.include_router(
                sinch_webhook_router(
                    "/sinch/callbacks", secret, on_event, replay_guard=replay_guard
                )
            )
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=fastapi_app), base_url="http://testserver"
            )
            cleanups.insert(0, client.aclose)

            async def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
                resp = await client.post("/sinch/callbacks", content=body, headers=dict(headers))
                return resp.status_code, resp.json()

        return Receiver(kind, post, events, fail)

    yield make
    for cleanup in cleanups:
        await cleanup()


@pytest.mark.parametrize(
    "relative",
    [
        "deliveryreports/BatchDeliveryReportSMSDto.json",
        "deliveryreports/BatchDeliveryReportMMSDto.json",
        "deliveryreports/RecipientDeliveryReportSMSDto.json",
        "deliveryreports/RecipientDeliveryReportMMSDto.json",
        "inbounds/InboundTextDto.json",
        "inbounds/InboundBinaryDto.json",
        "inbounds/InboundMediaDto.json",
    ],
)
async def test_receiver_accepts_each_signed_callback_type(
    make_receiver: MakeReceiver, relative: str
) -> None:
    receiver = await make_receiver()
    body = fixture_bytes(relative)
    assert await receiver.post(body, signed(body)) == (200, {"status": "ok"})
    assert len(receiver.events) == 1
    assert receiver.events[0] == parse_callback(body)


async def test_receiver_verifies_the_test_vector(make_receiver: MakeReceiver) -> None:
    # the vector's signature is valid, but its timestamp is outside the default window
    receiver = await make_receiver(secret=VECTOR_SECRET)
    status, answer = await receiver.post(VECTOR_BODY, VECTOR_HEADERS)
    assert (status, answer) == (401, {"error": "invalid_signature", "reason": "stale_timestamp"})
    fresh = sign_headers(VECTOR_BODY, VECTOR_SECRET)
    assert (await receiver.post(VECTOR_BODY, fresh))[0] == 200


async def test_receiver_header_names_any_case(make_receiver: MakeReceiver) -> None:
    receiver = await make_receiver()
    body = mo_text()
    headers = {k.upper(): v for k, v in signed(body).items()}
    assert (await receiver.post(body, headers))[0] == 200
    headers = {k.title(): v for k, v in signed(body).items()}
    assert (await receiver.post(body, headers))[0] == 200
    assert len(receiver.events) == 2


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h: {**h, "x-sinch-webhook-signature": "AAAA"}, "bad_signature"),
        (lambda h: {k: v for k, v in h.items() if "nonce" not in k}, "missing_header"),
        (lambda h: {k: v for k, v in h.items() if not k.endswith("signature")}, "missing_header"),
        (lambda h: {}, "missing_header"),
        (lambda h: {**h, "x-sinch-webhook-signature-timestamp": "soon"}, "invalid_timestamp"),
    ],
)
async def test_receiver_answers_401_on_a_bad_signature(
    make_receiver: MakeReceiver,
    tamper: Callable[[dict[str, str]], dict[str, str]],
    reason: str,
) -> None:
    receiver = await make_receiver()
    body = mo_text()
    status, answer = await receiver.post(body, tamper(signed(body)))
    assert (status, answer) == (401, {"error": "invalid_signature", "reason": reason})
    assert receiver.events == []


async def test_receiver_answers_401_on_a_wrong_secret(make_receiver: MakeReceiver) -> None:
    receiver = await make_receiver()
    body = mo_text()
    status, answer = await receiver.post(body, signed(body, secret="not-the-secret"))
    assert status == 401
    assert answer["reason"] == "bad_signature"
    assert SECRET not in json.dumps(answer)


@pytest.mark.parametrize("offset", [-301, 301, -86400])
async def test_receiver_answers_401_on_a_stale_timestamp(
    make_receiver: MakeReceiver, monkeypatch: pytest.MonkeyPatch, offset: int
) -> None:
    # Freeze the clock the signature check reads: with the real clock, int(time.time()) + 301
    # truncates the fraction of a second, so once it (plus the time to the check) reached 1 s
    # the timestamp was only 300 s ahead, inside the window, and the receiver answered 200.
    now = float(int(time.time()))
    monkeypatch.setattr(_signature, "time", SimpleNamespace(time=lambda: now))
    receiver = await make_receiver()
    body = mo_text()
    headers = signed(body, timestamp=int(now) + offset)
    assert await receiver.post(body, headers) == (
        401,
        {"error": "invalid_signature", "reason": "stale_timestamp"},
    )
    assert receiver.events == []
    # the edge of the window on the same side is still accepted
    edge = 300 if offset > 0 else -300
    assert (await receiver.post(body, signed(body, timestamp=int(now) + edge)))[0] == 200
    assert len(receiver.events) == 1


async def test_receiver_answers_401_on_a_replayed_nonce(make_receiver: MakeReceiver) -> None:
    receiver = await make_receiver(replay_guard=NonceCache())
    body = mo_text()
    headers = signed(body)
    assert (await receiver.post(body, headers))[0] == 200
    assert await receiver.post(body, headers) == (
        401,
        {"error": "invalid_signature", "reason": "replayed_nonce"},
    )
    assert (await receiver.post(body, signed(body)))[0] == 200  # a new nonce is fine
    assert len(receiver.events) == 2


@pytest.mark.parametrize(
    "body", [b"", b"{not json", b"[1,2]", b"{}", b'{"type":"mo_text"}', b"\xff"]
)
async def test_receiver_answers_400_on_a_malformed_body(
    make_receiver: MakeReceiver, body: bytes
) -> None:
    receiver = await make_receiver()
    assert await receiver.post(body, signed(body)) == (400, {"error": "invalid_callback"})
    assert receiver.events == []


async def test_receiver_answers_500_when_on_event_raises(
    make_receiver: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = await make_receiver()
    receiver.fail.append(RuntimeError("database is down"))
    body = mo_text()
    status, answer = await receiver.post(body, signed(body))
    assert (status, answer) == (500, {"error": "handler_failed"})
    assert "database is down" not in json.dumps(answer)
    assert "handler failed" in caplog.text
    assert (await receiver.post(body, signed(body)))[0] == 200  # Sinch's retry succeeds
    assert len(receiver.events) == 1


async def test_receiver_without_secret_skips_the_signature_check(
    make_receiver: MakeReceiver,
) -> None:
    receiver = await make_receiver(secret=None)
    body = mo_text()
    assert (await receiver.post(body, {}))[0] == 200
    assert (await receiver.post(body, {"x-sinch-webhook-signature": "garbage"}))[0] == 200
    assert (await receiver.post(b"nope", {}))[0] == 400
    assert len(receiver.events) == 2


async def test_receiver_unknown_type_reaches_on_event(make_receiver: MakeReceiver) -> None:
    receiver = await make_receiver()
    body = b'{"type":"recipient_delivery_report_rcs","batch_id":"B","future":true}'
    assert (await receiver.post(body, signed(body)))[0] == 200
    (event,) = receiver.events
    assert isinstance(event, UnknownRecipientDeliveryReport)
    assert event.raw["future"] is True


def test_core_modules_do_not_import_fastapi() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['starlette'] = None\n"
        "import sinch_async, sinch_async.webhooks, sinch_async.testing\n"
        "from sinch_async.webhooks import parse_callback, sinch_webhook_handler\n"
        "try:\n"
        "    import sinch_async.webhooks.fastapi\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_webhook_event_union_members() -> None:
    members = set(WebhookEvent.__args__)
    assert UnknownCallback in members
    assert {RecipientDeliveryReportSms, BatchDeliveryReportMms, InboundMedia} <= members
