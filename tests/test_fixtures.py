"""Every Java SDK fixture decodes into the right model, and every request round-trips."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sinch_async import AsyncSmsClient, BadRequestError
from sinch_async._codec import decoder_for
from sinch_async.errors import api_error
from sinch_async.models import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    BinaryBatch,
    BinaryRequest,
    CreateGroupRequest,
    DeliveryFeedbackRequest,
    DryRunResult,
    Group,
    InboundBinary,
    InboundMedia,
    InboundText,
    MediaBatch,
    MediaBody,
    MediaRequest,
    RecipientDeliveryReportMms,
    RecipientDeliveryReportSms,
    ReplaceGroupRequest,
    SendRequest,
    TextBatch,
    TextRequest,
    UpdateBatchRequest,
    UpdateGroupRequest,
)
from sinch_async.models.batches import KnownBatch
from sinch_async.models.delivery_reports import (
    KnownBatchDeliveryReport,
    KnownRecipientDeliveryReport,
)
from sinch_async.models.inbounds import KnownInbound
from tests.conftest import RecordingServer, api_path, fixture_dir

ROOT = fixture_dir()
ALL_FIXTURES = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.json"))
EXPECTED_FIXTURE_COUNT = 42

TAG_CLASSES: dict[str, type] = {
    "mt_text": TextBatch,
    "mt_binary": BinaryBatch,
    "mt_media": MediaBatch,
    "delivery_report_sms": BatchDeliveryReportSms,
    "delivery_report_mms": BatchDeliveryReportMms,
    "recipient_delivery_report_sms": RecipientDeliveryReportSms,
    "recipient_delivery_report_mms": RecipientDeliveryReportMms,
    "mo_text": InboundText,
    "mo_binary": InboundBinary,
    "mo_media": InboundMedia,
}
REQUEST_TAG_CLASSES: dict[str, type] = {
    "mt_text": TextRequest,
    "mt_binary": BinaryRequest,
    "mt_media": MediaRequest,
}

# list endpoint per top-level fixture folder: (resource attribute, items key)
LIST_RESOURCES = {
    "batches": ("batches", "batches"),
    "deliveryreports": ("delivery_reports", "delivery_reports"),
    "groups": ("groups", "groups"),
    "inbounds": ("inbounds", "inbounds"),
}


def classify(rel: str) -> tuple[str, Any]:
    """What a fixture is: ("error"|"request"|"response"|"page", model type or resource)."""
    path = Path(rel)
    name = path.stem
    top = path.parts[0] if len(path.parts) > 1 else ""
    if name == "error-response":
        return "error", None
    if name == "MediaBodyDto":
        return "request", MediaBody
    if "DeliveryFeedback" in name:
        return "request", DeliveryFeedbackRequest
    if "Request" in name:
        if "Group" in name:
            if "Update" in name:
                return "request", UpdateGroupRequest
            if "Replace" in name:
                return "request", ReplaceGroupRequest
            return "request", CreateGroupRequest
        if "Update" in name:
            return "request", UpdateBatchRequest
        return "request", SendRequest
    if "List" in name and "Page" in name and top in LIST_RESOURCES:
        return "page", top
    if name == "DryRunResponseDto":
        return "response", DryRunResult
    if top == "batches":
        return "response", KnownBatch
    if top == "deliveryreports" and name.startswith("BatchDeliveryReport"):
        return "response", KnownBatchDeliveryReport
    if top == "deliveryreports" and name.startswith("RecipientDeliveryReport"):
        return "response", KnownRecipientDeliveryReport
    if top == "groups" and name == "GroupDto":
        return "response", Group
    if top == "inbounds":
        return "response", KnownInbound
    raise LookupError(f"unclassified fixture {rel}: add it to classify()")


def read_bytes(rel: str) -> bytes:
    return (ROOT / rel).read_bytes()


def _normalize(value: Any) -> Any:
    """JSON with timestamps compared as instants (3 and 6 fractional digits are equal)."""
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


def assert_same_content(decoded: Any, original: Any) -> None:
    """Nothing the fixture holds is lost in decoding (re-encode and compare)."""
    again = json.loads(msgspec.json.encode(decoded))
    assert _normalize(again) == _normalize(original)


def by_kind(kind: str) -> list[str]:
    out = []
    for rel in ALL_FIXTURES:
        try:
            if classify(rel)[0] == kind:
                out.append(rel)
        except LookupError:
            pass
    return out


# --- discovery ---------------------------------------------------------------------------


def test_fixture_count() -> None:
    assert len(ALL_FIXTURES) == EXPECTED_FIXTURE_COUNT


@pytest.mark.parametrize("rel", ALL_FIXTURES)
def test_every_fixture_is_classified(rel: str) -> None:
    kind, target = classify(rel)
    assert kind in ("error", "request", "response", "page")
    if kind != "error":
        assert target is not None


def test_kind_counts() -> None:
    counts = {kind: len(by_kind(kind)) for kind in ("error", "request", "response", "page")}
    assert counts == {"error": 1, "request": 17, "response": 12, "page": 12}


# --- responses ---------------------------------------------------------------------------


@pytest.mark.parametrize("rel", by_kind("response"))
def test_response_fixture_decodes(rel: str) -> None:
    _, tp = classify(rel)
    raw = json.loads(read_bytes(rel))

    decoded = decoder_for(tp).decode(read_bytes(rel))

    if "type" in raw:
        assert type(decoded) is TAG_CLASSES[raw["type"]]
    else:
        assert type(decoded) is tp
    assert_same_content(decoded, raw)
    for name in ("created_at", "modified_at", "send_at", "expire_at", "at", "received_at"):
        value = getattr(decoded, name, None)
        if value is not None:
            assert value.tzinfo is not None, name


async def _fetch_single(sms: AsyncSmsClient, rel: str) -> tuple[Any, str]:
    """Call the client method that returns this fixture's model, and the path it hits."""
    _, tp = classify(rel)
    if tp is KnownBatch:
        return await sms.batches.get("B1"), "/batches/B1"
    if tp is DryRunResult:
        return await sms.batches.dry_run(["+15551231234"], "x"), "/batches/dry_run"
    if tp is KnownBatchDeliveryReport:
        return await sms.delivery_reports.get("B1"), "/batches/B1/delivery_report"
    if tp is KnownRecipientDeliveryReport:
        report = await sms.delivery_reports.get_for_recipient("B1", "+44231235674")
        return report, "/batches/B1/delivery_report/%2B44231235674"
    if tp is Group:
        return await sms.groups.get("G1"), "/groups/G1"
    if tp is KnownInbound:
        return await sms.inbounds.get("I1"), "/inbounds/I1"
    raise AssertionError(f"no client method for {rel}")


@pytest.mark.parametrize("rel", by_kind("response"))
async def test_response_fixture_through_client(
    rel: str, server: RecordingServer, sms: AsyncSmsClient
) -> None:
    raw = json.loads(read_bytes(rel))
    server.respond(200, body=read_bytes(rel), headers={"Content-Type": "application/json"})

    decoded, path = await _fetch_single(sms, rel)

    assert server.last.raw_path == api_path(path)
    expected = TAG_CLASSES[raw["type"]] if "type" in raw else classify(rel)[1]
    assert type(decoded) is expected
    assert_same_content(decoded, raw)


@pytest.mark.parametrize("rel", by_kind("page"))
async def test_list_page_fixture_decodes_via_client(
    rel: str, server: RecordingServer, sms: AsyncSmsClient
) -> None:
    _, top = classify(rel)
    attribute, items_key = LIST_RESOURCES[top]
    raw = json.loads(read_bytes(rel))
    server.respond(200, body=read_bytes(rel), headers={"Content-Type": "application/json"})

    page = await getattr(sms, attribute).list(page_size=2).page(raw["page"])

    assert server.last.raw_path == api_path(f"/{attribute}")
    assert server.last.query == {"page": str(raw["page"]), "page_size": "2"}
    assert page.page == raw["page"]
    assert page.count == raw["count"]
    assert page.page_size == raw["page_size"]
    assert len(page.items) == len(raw[items_key])
    for item, raw_item in zip(page.items, raw[items_key], strict=True):
        expected = TAG_CLASSES[raw_item["type"]] if "type" in raw_item else Group
        assert type(item) is expected
        assert_same_content(item, raw_item)


def _page_sets() -> list[str]:
    return sorted({Path(rel).parent.as_posix() for rel in by_kind("page")})


def test_page_sets_found() -> None:
    assert len(_page_sets()) == 4


@pytest.mark.parametrize("folder", _page_sets())
async def test_iterating_fixture_pages_stops_after_short_page(
    folder: str, server: RecordingServer, sms: AsyncSmsClient
) -> None:
    pages = sorted(rel for rel in by_kind("page") if Path(rel).parent.as_posix() == folder)
    assert len(pages) == 3
    attribute, items_key = LIST_RESOURCES[Path(folder).parts[0]]
    expected_items: list[Any] = []
    for rel in pages:
        server.respond(200, body=read_bytes(rel), headers={"Content-Type": "application/json"})
        expected_items.extend(json.loads(read_bytes(rel))[items_key])

    items = [item async for item in getattr(sms, attribute).list(page_size=2)]

    assert len(items) == len(expected_items) == 3
    assert [r.query["page"] for r in server.requests] == ["0", "1"]
    for item, raw_item in zip(items, expected_items, strict=True):
        assert_same_content(item, raw_item)


# --- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", by_kind("request"))
def test_request_fixture_round_trips(rel: str) -> None:
    _, tp = classify(rel)
    original = json.loads(read_bytes(rel))

    decoded = msgspec.json.decode(read_bytes(rel), type=tp)

    if tp is SendRequest:
        assert type(decoded) is REQUEST_TAG_CLASSES[original["type"]]
    else:
        assert type(decoded) is tp
    assert json.loads(msgspec.json.encode(decoded)) == original


def test_group_request_fixture_also_round_trips_as_replace() -> None:
    for rel in ("groups/request/GroupRequestDto.json", "ReplaceGroupRequestDto.json"):
        original = json.loads(read_bytes(rel))
        decoded = msgspec.json.decode(read_bytes(rel), type=ReplaceGroupRequest)
        assert json.loads(msgspec.json.encode(decoded)) == original


def test_request_fixture_details() -> None:
    text = msgspec.json.decode(read_bytes("batches/request/TextRequestDto.json"), type=SendRequest)
    assert isinstance(text, TextRequest)
    assert text.from_ == "+15551231234"
    assert text.send_at == datetime.fromisoformat("2019-08-24T14:19:22+00:00")
    create = msgspec.json.decode(read_bytes("CreateGroupRequestDto.json"), type=CreateGroupRequest)
    assert not isinstance(create.auto_update, msgspec.UnsetType)
    assert create.auto_update.to == 15551231234
    update = msgspec.json.decode(
        read_bytes("batches/request/UpdateMediaRequestDto.json"), type=UpdateBatchRequest
    )
    assert isinstance(update.body, MediaBody)


# --- the error body ------------------------------------------------------------------------


@pytest.mark.parametrize("rel", by_kind("error"))
def test_error_fixture_parses(rel: str) -> None:
    raw = json.loads(read_bytes(rel))
    error = api_error(400, method="POST", path="/xms/v1/p/batches", body=read_bytes(rel))
    assert isinstance(error, BadRequestError)
    assert error.code == raw["code"] == "syntax_invalid_parameter_format"
    assert error.text == raw["text"]
    assert "syntax_invalid_parameter_format" in str(error)
