"""The keyword fields of ``sms.batches``: written once (in the request structs), typed once."""

from __future__ import annotations

import msgspec
import pytest

from sinch_async import AsyncSmsClient
from sinch_async.models import (
    BinaryRequest,
    FanOutFields,
    MediaRequest,
    SendFields,
    TextRequest,
    UpdateBatchRequest,
)
from sinch_async.resources._batch_request import FAN_OUT_FIELDS, SEND_FIELDS
from tests.conftest import RecordingServer

NUM1 = "+46700000001"


def _names(struct: type[msgspec.Struct]) -> set[str]:
    return {field.name for field in msgspec.structs.fields(struct)}


def test_send_fields_are_the_request_structs_fields() -> None:
    every_request_field = _names(TextRequest) | _names(BinaryRequest) | _names(MediaRequest)
    assert set(SEND_FIELDS) == every_request_field - {"to", "body"}
    assert len(SEND_FIELDS) == len(set(SEND_FIELDS)) == 15
    # The keyword types callers see (Unpack[SendFields]) name exactly these fields.
    assert set(SendFields.__annotations__) == set(SEND_FIELDS)
    assert SendFields.__required_keys__ == frozenset()
    # An update takes the same fields, plus its own.
    assert _names(UpdateBatchRequest) == set(SEND_FIELDS) | {"type", "to_add", "to_remove", "body"}


def test_fan_out_fields_are_the_text_fields_it_does_not_set_itself() -> None:
    set_by_fan_out = {"to", "body", "from_", "parameters", "client_reference"}
    assert set(FAN_OUT_FIELDS) == _names(TextRequest) - set_by_fan_out
    assert set(FanOutFields.__annotations__) == FAN_OUT_FIELDS
    assert "udh" not in FAN_OUT_FIELDS
    assert "delivery_report" in FAN_OUT_FIELDS


@pytest.mark.parametrize(
    ("method", "args", "keywords"),
    [
        ("replace", ("B1", [NUM1], "Hi"), {}),
        ("update", ("B1",), {"body": "Hi"}),
    ],
)
async def test_unknown_keyword_is_a_type_error(
    server: RecordingServer,
    sms: AsyncSmsClient,
    method: str,
    args: tuple[object, ...],
    keywords: dict[str, object],
) -> None:
    call = getattr(sms.batches, method)(*args, **keywords, form_="Acme")
    with pytest.raises(
        TypeError, match=rf"^{method}\(\) got an unexpected keyword argument 'form_'"
    ):
        await call
    assert server.requests == []
