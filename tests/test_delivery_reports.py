"""sms.delivery_reports at the HTTP level against the recording server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sinch_async import (
    AsyncSmsClient,
    DeliveryStatus,
    NotFoundError,
    SinchValidationError,
)
from sinch_async.models.delivery_reports import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    DeliveryStatusCount,
    RecipientDeliveryReportMms,
    RecipientDeliveryReportSms,
    UnknownBatchDeliveryReport,
    UnknownRecipientDeliveryReport,
)
from sinch_async.models.enums import DeliveryReceiptCode
from tests.conftest import TOKEN, RecordingServer, api_path, header, load_fixture

BATCH_ID = "01FC66621XXXXX119Z8PMV1QPQ"
REPORT_PATH = api_path(f"/batches/{BATCH_ID}/delivery_report")


# --- get (batch report) ---------------------------------------------------------------------


async def test_get_summary_defaults(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json"))
    report = await sms.delivery_reports.get(BATCH_ID)
    rec = server.last
    assert rec.method == "GET"
    assert rec.path == REPORT_PATH
    assert rec.query == {"type": "summary"}
    assert rec.body == b""
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"
    assert header(rec.headers, "Accept") == "application/json"
    assert header(rec.headers, "Content-Type") is None
    assert isinstance(report, BatchDeliveryReportSms)
    assert report.batch_id == BATCH_ID
    assert report.total_message_count == 1
    assert report.client_reference == "a client reference"
    assert report.statuses == [
        DeliveryStatusCount(code=0, status="Delivered", count=1, recipients=["44231235674"])
    ]
    assert report.count("Delivered") == 1
    assert report.count(DeliveryStatus.DELIVERED) == 1
    assert report.count("Failed") == 0


async def test_get_full_with_status_and_code_lists(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, load_fixture("deliveryreports/BatchDeliveryReportMMSDto.json"))
    report = await sms.delivery_reports.get(
        BATCH_ID,
        type="full",
        status=["Delivered", DeliveryStatus.FAILED],
        code=[0, DeliveryReceiptCode.MESSAGE_UNROUTABLE, 406],
    )
    rec = server.last
    assert rec.path == REPORT_PATH
    assert rec.query == {"type": "full", "status": "Delivered,Failed", "code": "0,402,406"}
    assert isinstance(report, BatchDeliveryReportMms)
    assert report.statuses[0].recipients == ["44231235674"]


async def test_get_single_status_and_code(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json"))
    await sms.delivery_reports.get(BATCH_ID, status="Delivered", code=0)
    assert server.last.query == {"type": "summary", "status": "Delivered", "code": "0"}


async def test_get_batch_id_is_quoted(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json"))
    await sms.delivery_reports.get("a:b c")
    assert server.last.raw_path == api_path("/batches/a%3Ab%20c/delivery_report")


async def test_get_unknown_report_type_falls_back(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    body = load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json")
    body["type"] = "delivery_report_rcs"
    server.respond(200, body)
    report = await sms.delivery_reports.get(BATCH_ID)
    assert isinstance(report, UnknownBatchDeliveryReport)
    assert report.type == "delivery_report_rcs"
    assert report.batch_id == BATCH_ID
    assert report.raw == body
    assert report.get("total_message_count") == 1


async def test_get_404(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(404)
    with pytest.raises(NotFoundError) as info:
        await sms.delivery_reports.get(BATCH_ID)
    assert info.value.path == f"/batches/{BATCH_ID}/delivery_report"  # API-relative


@pytest.mark.parametrize("bad_type", ["SUMMARY", "per_recipient", "", "detailed"])
async def test_get_bad_type(server: RecordingServer, sms: AsyncSmsClient, bad_type: str) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.delivery_reports.get(BATCH_ID, type=bad_type)
    assert info.value.field == "type"
    assert server.requests == []


@pytest.mark.parametrize("batch_id", ["", "   "])
async def test_get_empty_batch_id(
    server: RecordingServer, sms: AsyncSmsClient, batch_id: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.delivery_reports.get(batch_id)
    assert info.value.field == "batch_id"
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": []}, "status"),
        ({"status": ["Delivered", ""]}, "status"),
        ({"code": []}, "code"),
        ({"code": ["0"]}, "code"),
        ({"code": [True]}, "code"),
        ({"code": 1.5}, "code"),
    ],
)
async def test_get_bad_filters(
    server: RecordingServer, sms: AsyncSmsClient, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.delivery_reports.get(BATCH_ID, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert server.requests == []


# --- get_for_recipient ----------------------------------------------------------------------


async def test_get_for_recipient_quotes_plus(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("deliveryreports/RecipientDeliveryReportSMSDto.json"))
    report = await sms.delivery_reports.get_for_recipient(BATCH_ID, "+44231235674")
    rec = server.last
    assert rec.method == "GET"
    assert rec.raw_path == api_path(f"/batches/{BATCH_ID}/delivery_report/%2B44231235674")
    assert rec.path == api_path(f"/batches/{BATCH_ID}/delivery_report/+44231235674")
    assert rec.query == {}
    assert isinstance(report, RecipientDeliveryReportSms)
    assert report.batch_id == BATCH_ID
    assert report.recipient == "+44231235674"
    assert report.code == 401
    assert report.status == "Dispatched"
    assert report.at == datetime(2022, 8, 30, 8, 16, 8, 930000, tzinfo=timezone.utc)
    assert report.operator_status_at == datetime(2022, 8, 30, 8, 16, 8, 150000, tzinfo=timezone.utc)
    assert report.operator == "operator"
    assert report.applied_originator == "applied originator"
    assert report.client_reference == "client reference"
    assert report.encoding == "encoding"
    assert report.number_of_message_parts == 123


async def test_get_for_recipient_mms(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("deliveryreports/RecipientDeliveryReportMMSDto.json"))
    report = await sms.delivery_reports.get_for_recipient(BATCH_ID, "44231235674")
    assert server.last.raw_path == api_path(f"/batches/{BATCH_ID}/delivery_report/44231235674")
    assert isinstance(report, RecipientDeliveryReportMms)
    assert report.status == DeliveryStatus.DISPATCHED


async def test_get_for_recipient_unknown_type(server: RecordingServer, sms: AsyncSmsClient) -> None:
    body = load_fixture("deliveryreports/RecipientDeliveryReportSMSDto.json")
    body["type"] = "recipient_delivery_report_rcs"
    server.respond(200, body)
    report = await sms.delivery_reports.get_for_recipient(BATCH_ID, "+44231235674")
    assert isinstance(report, UnknownRecipientDeliveryReport)
    assert report.type == "recipient_delivery_report_rcs"
    assert report.recipient == "+44231235674"
    assert report.code == 401


@pytest.mark.parametrize(
    ("batch_id", "recipient", "field"),
    [("", "+46700000001", "batch_id"), (BATCH_ID, "", "recipient"), (BATCH_ID, " ", "recipient")],
)
async def test_get_for_recipient_empty_ids(
    server: RecordingServer, sms: AsyncSmsClient, batch_id: str, recipient: str, field: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.delivery_reports.get_for_recipient(batch_id, recipient)
    assert info.value.field == field
    assert server.requests == []


# --- list -----------------------------------------------------------------------------------

PAGES = [
    "deliveryreports/response/ListDeliveryReportResponseDtoPage0.json",
    "deliveryreports/response/ListDeliveryReportResponseDtoPage1.json",
    "deliveryreports/response/ListDeliveryReportResponseDtoPage2.json",
]


async def test_list_with_filters(server: RecordingServer, sms: AsyncSmsClient) -> None:
    for page in PAGES[:2]:
        server.respond(200, load_fixture(page))
    start = datetime(2022, 8, 30, 10, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    end = datetime(2022, 8, 31, 8, 0, 0, 123000)  # naive: taken as UTC
    paginator = sms.delivery_reports.list(
        page_size=2,
        start_date=start,
        end_date=end,
        status=[DeliveryStatus.DISPATCHED, "Delivered"],
        code=[401, 0],
        client_reference="ref-1",
    )
    assert server.requests == []  # lazy until iterated
    reports = [r async for r in paginator]
    assert len(server.requests) == 2
    filters = {
        "start_date": "2022-08-30T08:00:00Z",
        "end_date": "2022-08-31T08:00:00.123Z",
        "status": "Dispatched,Delivered",
        "code": "401,0",
        "client_reference": "ref-1",
    }
    for number, rec in enumerate(server.requests):
        assert rec.method == "GET"
        assert rec.path == api_path("/delivery_reports")
        assert rec.query == {**filters, "page": str(number), "page_size": "2"}
    assert [type(r) for r in reports] == [
        RecipientDeliveryReportSms,
        RecipientDeliveryReportMms,
        RecipientDeliveryReportSms,
    ]
    assert all(r.batch_id == BATCH_ID for r in reports)
    assert reports[0].at == datetime(2022, 8, 30, 8, 16, 8, 930000, tzinfo=timezone.utc)


async def test_list_string_dates_passed_through(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, load_fixture(PAGES[2]))
    reports = await sms.delivery_reports.list(
        start_date="2022-08-30T00:00:00Z", end_date="2022-08-31", code=402, status="Failed"
    ).collect()
    assert reports == []
    assert server.last.query == {
        "start_date": "2022-08-30T00:00:00Z",
        "end_date": "2022-08-31",
        "status": "Failed",
        "code": "402",
        "page": "0",
        "page_size": "100",
    }


async def test_list_no_filters(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture(PAGES[0]))
    page = await sms.delivery_reports.list().page()
    assert server.last.query == {"page": "0", "page_size": "100"}
    assert page.count == 3
    assert page.page == 0
    assert page.page_size == 2
    assert len(page.items) == 2


async def test_list_unknown_item_type(server: RecordingServer, sms: AsyncSmsClient) -> None:
    body = load_fixture(PAGES[1])
    body["delivery_reports"][0]["type"] = "recipient_delivery_report_rcs"
    server.respond(200, body)
    reports = await sms.delivery_reports.list(page_size=1).collect()
    assert len(reports) == 1
    assert isinstance(reports[0], UnknownRecipientDeliveryReport)
    assert reports[0].type == "recipient_delivery_report_rcs"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"start_date": ""}, "start_date"),
        ({"end_date": 12}, "end_date"),
        ({"status": []}, "status"),
        ({"code": []}, "code"),
        ({"limit": -1}, "limit"),
    ],
)
async def test_list_validation(
    server: RecordingServer, sms: AsyncSmsClient, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        sms.delivery_reports.list(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert server.requests == []
