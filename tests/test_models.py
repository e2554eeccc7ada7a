"""Models: timestamps, unknown variants, open enums, explicit nulls, number helpers."""

from __future__ import annotations

import json
import operator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import msgspec
import pytest

from sinch_async import AsyncSmsClient, ResponseDecodeError
from sinch_async._codec import decoder_for
from sinch_async.models import (
    BatchDeliveryReportSms,
    BinaryBatch,
    DeliveryReceiptCode,
    DeliveryReportType,
    DeliveryStatus,
    DryRunResult,
    Group,
    InboundBinary,
    InboundText,
    RecipientDeliveryReportSms,
    TextBatch,
    UnknownBatch,
    UnknownBatchDeliveryReport,
    UnknownInbound,
    UnknownRecipientDeliveryReport,
    UpdateGroupRequest,
)
from sinch_async.models._base import ResponseStruct
from sinch_async.models.batches import KnownBatch
from sinch_async.models.delivery_reports import KnownRecipientDeliveryReport
from sinch_async.models.inbounds import KnownInbound
from sinch_async.numbers import normalize_number, same_number
from tests.conftest import RecordingServer, api_path, group_json, load_fixture, text_batch

UTC = timezone.utc

# --- timestamps ----------------------------------------------------------------------------


def _batch(**fields: Any) -> bytes:
    return json.dumps({"id": "B1", "type": "mt_text", **fields}).encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-03-01T10:20:30Z", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC), id="Z"),
        pytest.param(
            "2024-03-01T10:20:30.123Z",
            datetime(2024, 3, 1, 10, 20, 30, 123000, tzinfo=UTC),
            id="millis",
        ),
        pytest.param(
            "2024-03-01T10:20:30", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC), id="no-offset"
        ),
        pytest.param(
            "2024-03-01T10:20:30.5",
            datetime(2024, 3, 1, 10, 20, 30, 500000, tzinfo=UTC),
            id="no-offset-fraction",
        ),
        pytest.param(
            "2024-03-01T10:20:30+00:00",
            datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC),
            id="plus-zero",
        ),
    ],
)
def test_timestamps_decode_aware(text: str, expected: datetime) -> None:
    batch = decoder_for(KnownBatch).decode(_batch(created_at=text))
    assert isinstance(batch, TextBatch)
    assert batch.created_at == expected
    assert batch.created_at is not None
    assert batch.created_at.utcoffset() == timedelta(0)


def test_timestamp_with_more_than_six_fractional_digits() -> None:
    batch = decoder_for(KnownBatch).decode(_batch(modified_at="2024-03-01T10:20:30.123456789Z"))
    value = batch.modified_at
    assert value is not None
    assert value.tzinfo is not None
    assert value.replace(microsecond=0) == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)
    assert value.microsecond in (123456, 123457)  # truncated or rounded to microseconds


def test_timestamp_with_nine_digits_and_no_offset() -> None:
    batch = decoder_for(KnownBatch).decode(_batch(send_at="2024-03-01T10:20:30.000000001"))
    assert batch.send_at is not None
    assert batch.send_at.utcoffset() == timedelta(0)
    assert batch.send_at.replace(microsecond=0) == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)


def test_timestamp_offset_is_kept() -> None:
    batch = decoder_for(KnownBatch).decode(_batch(expire_at="2024-03-01T10:20:30+02:00"))
    value = batch.expire_at
    assert value is not None
    assert value.utcoffset() == timedelta(hours=2)
    assert value.hour == 10
    assert value == datetime(2024, 3, 1, 8, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tp", "payload", "fields"),
    [
        pytest.param(
            KnownRecipientDeliveryReport,
            {
                "type": "recipient_delivery_report_sms",
                "batch_id": "B1",
                "recipient": "123",
                "code": 0,
                "status": "Delivered",
                "at": "2024-03-01T10:20:30",
                "operator_status_at": "2024-03-01T10:20:31.1234567",
            },
            ("at", "operator_status_at"),
            id="recipient-report",
        ),
        pytest.param(
            KnownInbound,
            {
                "type": "mo_text",
                "id": "I1",
                "received_at": "2024-03-01T10:20:30",
                "sent_at": "2024-03-01T10:20:29",
            },
            ("received_at", "sent_at"),
            id="inbound",
        ),
        pytest.param(
            Group,
            {"id": "G1", "created_at": "2024-03-01T10:20:30", "modified_at": "2024-03-01T10:20:31"},
            ("created_at", "modified_at"),
            id="group",
        ),
        pytest.param(
            KnownBatch,
            {
                "type": "mt_binary",
                "id": "B1",
                "created_at": "2024-03-01T10:20:30",
                "modified_at": "2024-03-01T10:20:30",
                "send_at": "2024-03-01T10:20:30",
                "expire_at": "2024-03-01T10:20:30",
            },
            ("created_at", "modified_at", "send_at", "expire_at"),
            id="batch",
        ),
    ],
)
def test_naive_timestamps_become_utc_in_every_model(
    tp: Any, payload: dict[str, Any], fields: tuple[str, ...]
) -> None:
    decoded = decoder_for(tp).decode(json.dumps(payload).encode())
    for name in fields:
        value = getattr(decoded, name)
        assert isinstance(value, datetime), name
        assert value.utcoffset() == timedelta(0), name


def test_timestamp_fix_up_is_inherited_and_leaves_aware_values_alone() -> None:
    class Stamped(ResponseStruct, kw_only=True):
        _timestamp_fields: ClassVar[tuple[str, ...]] = ("at", "until")
        at: datetime | None = None
        until: datetime | None = None

    class Child(Stamped, kw_only=True):
        note: str = ""

    body = b'{"at":"2024-03-01T10:20:30","until":"2024-03-01T12:20:30+02:00","note":"x"}'
    child = msgspec.json.decode(body, type=Child)
    assert child.at == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)
    assert child.until is not None
    assert child.until.utcoffset() == timedelta(hours=2)  # an offset given is kept
    assert msgspec.json.decode(b"{}", type=Child).at is None


def test_timestamp_fields_must_be_field_names() -> None:
    with pytest.raises(ValueError, match="not a field name: 'at; import os'"):

        class Bad(ResponseStruct, kw_only=True):
            _timestamp_fields: ClassVar[tuple[str, ...]] = ("at; import os",)
            at: datetime | None = None


async def test_naive_timestamp_via_client(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, {"id": "I1", "type": "mo_text", "received_at": "2024-03-01T10:20:30"})
    inbound = await sms.inbounds.get("I1")
    assert isinstance(inbound, InboundText)
    assert inbound.received_at == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)


# --- unknown variants ----------------------------------------------------------------------

UNKNOWN_BATCH = {
    "id": "B-holo",
    "type": "mt_hologram",
    "to": ["15551231234"],
    "from": "Sinch",
    "body": {"projection": "3d", "frames": 24},
    "created_at": "2024-03-01T10:20:30",
    "canceled": False,
    "new_field": [1, 2, 3],
}
UNKNOWN_INBOUND = {
    "id": "I-holo",
    "type": "mo_hologram",
    "from": "15551231234",
    "to": "12345",
    "received_at": "2024-03-01T10:20:30Z",
    "body": {"frames": 1},
}
UNKNOWN_BATCH_REPORT = {
    "type": "delivery_report_rcs",
    "batch_id": "B1",
    "statuses": [{"code": 0, "status": "Delivered", "count": 2}],
    "total_message_count": 2,
}
UNKNOWN_RECIPIENT_REPORT = {
    "type": "recipient_delivery_report_rcs",
    "batch_id": "B1",
    "recipient": "15551231234",
    "code": 0,
    "status": "Delivered",
    "at": "2024-03-01T10:20:30Z",
}


async def test_unknown_batch_type_via_client(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, UNKNOWN_BATCH)

    batch = await sms.batches.get("B-holo")

    assert isinstance(batch, UnknownBatch)
    assert batch.type == "mt_hologram"
    assert batch.raw == UNKNOWN_BATCH
    assert batch.id == "B-holo"
    assert batch.from_ == "Sinch"
    assert batch.to == ["15551231234"]
    assert batch.get("new_field") == [1, 2, 3]
    assert batch.get("missing", "dflt") == "dflt"
    assert batch.created_at == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)


async def test_unknown_batch_from_send_and_cancel(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, UNKNOWN_BATCH)
    server.respond(200, UNKNOWN_BATCH)
    sent = await sms.batches.send(["+15551231234"], "hi")
    cancelled = await sms.batches.cancel("B-holo")
    assert isinstance(sent, UnknownBatch)
    assert isinstance(cancelled, UnknownBatch)
    assert sent.raw == cancelled.raw == UNKNOWN_BATCH


async def test_unknown_batch_with_unexpected_shape_keeps_raw(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    odd = {"id": "B2", "type": "mt_future", "to": "not-a-list", "created_at": 17}
    server.respond(200, odd)
    batch = await sms.batches.get("B2")
    assert isinstance(batch, UnknownBatch)
    assert batch.id == "B2"
    assert batch.type == "mt_future"
    assert batch.raw == odd


async def test_unknown_inbound_via_client(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, UNKNOWN_INBOUND)
    inbound = await sms.inbounds.get("I-holo")
    assert isinstance(inbound, UnknownInbound)
    assert inbound.type == "mo_hologram"
    assert inbound.raw == UNKNOWN_INBOUND
    assert inbound.id == "I-holo"
    assert inbound.from_ == "15551231234"
    assert inbound.received_at == datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)


async def test_unknown_batch_delivery_report_via_client(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, UNKNOWN_BATCH_REPORT)
    report = await sms.delivery_reports.get("B1")
    assert isinstance(report, UnknownBatchDeliveryReport)
    assert report.type == "delivery_report_rcs"
    assert report.raw == UNKNOWN_BATCH_REPORT
    assert report.batch_id == "B1"
    assert report.count("Delivered") == 2


async def test_unknown_recipient_delivery_report_via_client(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, UNKNOWN_RECIPIENT_REPORT)
    report = await sms.delivery_reports.get_for_recipient("B1", "+15551231234")
    assert server.last.raw_path == api_path("/batches/B1/delivery_report/%2B15551231234")
    assert isinstance(report, UnknownRecipientDeliveryReport)
    assert report.type == "recipient_delivery_report_rcs"
    assert report.raw == UNKNOWN_RECIPIENT_REPORT
    assert report.status == "Delivered"
    assert report.code == 0


async def test_unknown_recipient_report_missing_required_fields(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    raw = {"type": "recipient_delivery_report_rcs", "batch_id": "B1"}
    server.respond(200, raw)
    report = await sms.delivery_reports.get_for_recipient("B1", "123")
    assert isinstance(report, UnknownRecipientDeliveryReport)
    assert report.batch_id == "B1"
    assert report.type == "recipient_delivery_report_rcs"
    assert report.raw == raw


async def test_known_type_with_bad_shape_is_a_decode_error(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, {"type": "mt_text", "to": ["1"]})  # no id
    with pytest.raises(ResponseDecodeError) as info:
        await sms.batches.get("B1")
    assert info.value.status == 200
    assert info.value.method == "GET"


async def test_unknown_batch_inside_list_page(server: RecordingServer, sms: AsyncSmsClient) -> None:
    known = load_fixture("batches/response/ListBatchesResponseDtoPage0.json")["batches"]
    server.respond(
        200,
        {"count": 3, "page": 0, "page_size": 3, "batches": [known[0], UNKNOWN_BATCH, known[1]]},
    )

    items = [b async for b in sms.batches.list(page_size=3)]

    assert [type(b) for b in items] == [BinaryBatch, UnknownBatch, TextBatch]
    assert items[0].id == known[0]["id"]
    assert items[2].id == known[1]["id"]
    unknown = items[1]
    assert isinstance(unknown, UnknownBatch)
    assert unknown.raw == UNKNOWN_BATCH
    assert unknown.type == "mt_hologram"
    assert len(server.requests) == 1


async def test_unknown_inbound_inside_list_page(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    known = load_fixture("inbounds/response/internal/InboundsListResponseDtoPage0.json")["inbounds"]
    server.respond(
        200,
        {"count": 3, "page": 0, "page_size": 3, "inbounds": [UNKNOWN_INBOUND, *known]},
    )
    page = await sms.inbounds.list(page_size=3).page(0)
    assert [type(i) for i in page.items] == [UnknownInbound, InboundBinary, InboundText]
    assert page.items[0].raw == UNKNOWN_INBOUND  # type: ignore[union-attr]


async def test_unknown_recipient_report_inside_list_page(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    known = load_fixture("deliveryreports/RecipientDeliveryReportSMSDto.json")
    server.respond(
        200,
        {
            "count": 2,
            "page": 0,
            "page_size": 2,
            "delivery_reports": [known, UNKNOWN_RECIPIENT_REPORT],
        },
    )
    items = [r async for r in sms.delivery_reports.list(page_size=2)]
    assert [type(r) for r in items] == [RecipientDeliveryReportSms, UnknownRecipientDeliveryReport]
    assert items[1].raw == UNKNOWN_RECIPIENT_REPORT  # type: ignore[union-attr]
    assert items[0].recipient == "+44231235674"


# --- open enums ----------------------------------------------------------------------------


def test_unknown_status_and_encoding_decode_as_strings() -> None:
    payload = {
        "type": "recipient_delivery_report_sms",
        "batch_id": "B1",
        "recipient": "123",
        "code": 9999,
        "status": "Teleported",
        "encoding": "SMOKE_SIGNALS",
    }
    report = decoder_for(KnownRecipientDeliveryReport).decode(json.dumps(payload).encode())
    assert isinstance(report, RecipientDeliveryReportSms)
    assert report.status == "Teleported"
    assert report.encoding == "SMOKE_SIGNALS"
    assert report.code == 9999


async def test_unknown_status_in_batch_report_via_client(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(
        200,
        {
            "type": "delivery_report_sms",
            "batch_id": "B1",
            "statuses": [
                {"code": 777, "status": "Teleported", "count": 3},
                {"code": 0, "status": "Delivered", "count": 4, "recipients": ["1", "2"]},
            ],
            "total_message_count": 7,
        },
    )
    report = await sms.delivery_reports.get("B1", type="full")
    assert isinstance(report, BatchDeliveryReportSms)
    assert [s.status for s in report.statuses] == ["Teleported", "Delivered"]
    assert report.count("Teleported") == 3
    assert report.count(DeliveryStatus.DELIVERED) == 4
    assert report.statuses[1].recipients == ["1", "2"]


async def test_unknown_encoding_in_dry_run(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(
        200,
        {
            "number_of_recipients": 1,
            "number_of_messages": 1,
            "per_recipient": [{"recipient": "1", "encoding": "SMOKE_SIGNALS"}],
        },
    )
    result = await sms.batches.dry_run(["+15550000001"], "x", per_recipient=True)
    assert isinstance(result, DryRunResult)
    assert result.per_recipient is not None
    assert result.per_recipient[0].encoding == "SMOKE_SIGNALS"


def test_unknown_delivery_report_value_in_batch_response() -> None:
    batch = decoder_for(KnownBatch).decode(_batch(delivery_report="telepathic"))
    assert batch.delivery_report == "telepathic"


def test_delivery_status_compares_with_raw_strings() -> None:
    assert DeliveryStatus.DELIVERED == "Delivered"
    assert operator.eq("Delivered", DeliveryStatus.DELIVERED)  # str on the left
    assert DeliveryStatus.DELIVERED != "delivered"
    assert {"Delivered": 1}[DeliveryStatus.DELIVERED] == 1
    assert DeliveryStatus("Failed") is DeliveryStatus.FAILED
    assert DeliveryStatus.DELIVERED.is_final
    assert not DeliveryStatus.QUEUED.is_final
    assert not DeliveryStatus.DISPATCHED.is_final
    report = decoder_for(KnownRecipientDeliveryReport).decode(
        json.dumps(load_fixture("deliveryreports/RecipientDeliveryReportSMSDto.json")).encode()
    )
    assert report.status == DeliveryStatus.DISPATCHED
    assert report.code == DeliveryReceiptCode.DISPATCHED == 401
    assert DeliveryReceiptCode.DELIVERED == 0


def test_delivery_report_type_enum_values() -> None:
    assert {t.value for t in DeliveryReportType} == {
        "none",
        "summary",
        "full",
        "per_recipient",
        "per_recipient_final",
    }


async def test_delivery_report_enum_accepted_by_send(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    await sms.batches.send(
        ["+15550000001"], "x", delivery_report=DeliveryReportType.PER_RECIPIENT_FINAL
    )
    assert server.last.json["delivery_report"] == "per_recipient_final"


# --- explicit null in group updates --------------------------------------------------------


def test_update_group_request_name_none_encodes_null() -> None:
    assert json.loads(msgspec.json.encode(UpdateGroupRequest(name=None))) == {"name": None}


def test_update_group_request_without_name_has_no_name_key() -> None:
    encoded = json.loads(msgspec.json.encode(UpdateGroupRequest(add=["+1555"])))
    assert encoded == {"add": ["+1555"]}


async def test_group_update_via_client_null_and_absent_name(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    group = group_json()
    server.respond(200, group)
    server.respond(200, group)
    server.respond(200, group)

    await sms.groups.update("G1", name=None)
    await sms.groups.update("G1", add=["+15551231234"])
    await sms.groups.update("G1", name="Fans")

    bodies = [r.json for r in server.requests]
    assert bodies == [{"name": None}, {"add": ["+15551231234"]}, {"name": "Fans"}]
    assert [r.method for r in server.requests] == ["POST"] * 3
    assert {r.raw_path for r in server.requests} == {api_path("/groups/G1")}


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+46700000001", "+46700000001"),
        ("46700000001", "+46700000001"),
        ("0046 70-000 00 01", "+46700000001"),
        ("(+1) 201.777.7777", "+12017777777"),
        ("  +1 201 777 7777  ", "+12017777777"),
        ("1234567", "+1234567"),  # numeric short codes ("12345") raise: tests/test_number_rule.py
        ("SINCH", "SINCH"),
        ("01FC66621XXXXX119Z8PMV1QPU", "01FC66621XXXXX119Z8PMV1QPU"),
        (" my-group ", "my-group"),  # documented: stripped, otherwise unchanged
        ("My Shop", "My Shop"),
    ],
)
def test_normalize_number(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+12017777777", "12017777777", True),
        ("0012017777777", "+1 (201) 777-7777", True),
        ("+12017777777", "+12017777778", False),
        ("+46700000001", "46700000001 ", True),
        ("SINCH", "sinch", False),
    ],
)
def test_same_number(a: str, b: str, same: bool) -> None:
    assert same_number(a, b) is same
