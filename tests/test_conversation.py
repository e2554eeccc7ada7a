"""AsyncConversationBatchClient against the simulator: every endpoint at the HTTP level,
validation before network I/O, OAuth, retries, lifecycle and fan-out past 1000 recipients."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import warnings
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sinch_async import (
    AmbiguousSendError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    EventLoopMismatchError,
    NotFoundError,
    RateLimiter,
    RetryPolicy,
    SinchValidationError,
)
from sinch_async._auth import OAuth2TokenProvider
from sinch_async.conversation import (
    CAMPAIGN_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    AsyncConversationBatchClient,
    BatchStatus,
    CardMessage,
    CarouselMessage,
    ChannelIdentity,
    Choice,
    ChoiceMessage,
    ContactInfoMessage,
    ContactName,
    ContactPhoneNumber,
    ConversationChunkResult,
    Coordinates,
    ListChoiceItem,
    ListItem,
    ListMessage,
    ListSection,
    LocationMessage,
    MediaMessage,
    Recipient,
    RecipientAndParams,
    TemplateMessage,
    TemplateReference,
    TextMessage,
)
from sinch_async.fanout import FanOutProgress
from sinch_async.testing import SinchSimulator
from tests.conftest import fan_out_cancelled, numbers

SEND = "POST /v1/projects/{project_id}/messages"
FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, reconcile_delay=0.0)

pytestmark = pytest.mark.sinch_simulator(conversation_processing_delay=2.0)


def now() -> datetime:
    return datetime.now(timezone.utc)


def sms(number: str) -> ChannelIdentity:
    return ChannelIdentity("SMS", number)


@pytest.fixture
async def conv(sim: SinchSimulator) -> AsyncIterator[AsyncConversationBatchClient]:
    async with sim.conversation_client(retry=FAST) as client:
        yield client


def sends(sim: SinchSimulator) -> list[Any]:
    return [e for e in sim.journal.find("POST", "/v1/projects/") if e.status == 200]


# --- send ------------------------------------------------------------------------------------


async def test_send_text_to_identities_and_contacts(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    result = await conv.send(
        "app-1",
        TextMessage("Hi ${name}"),
        [
            (sms("+46700000001"), {"name": "Ada"}),
            "contact-42",
            RecipientAndParams(
                Recipient.identities(ChannelIdentity("WHATSAPP", "+46700000002")),
                parameters={"name": "Bo"},
                message_metadata={"order": 7},
            ),
        ],
        batch_metadata={"campaign": "spring"},
        message_metadata={"source": "test"},
        conversation_metadata={"topic": "promo"},
        processing_strategy="DISPATCH_ONLY",
        channel_priority_order=["WHATSAPP", "SMS"],
        ttl=3600,
        channel_properties={"WHATSAPP_HEADER": "x"},
        callback_url="https://example.com/cb",
    )
    assert result.send_after is None
    entry = sim.journal.find("POST", "/v1/projects/sim-project/messages")[-1]
    assert entry.status == 200
    body = entry.json
    assert body["app_id"] == "app-1"
    assert body["message"] == {"text_message": {"text": "Hi ${name}"}}
    assert body["recipient_and_params"] == [
        {
            "recipient": {
                "identified_by": {
                    "channel_identities": [{"channel": "SMS", "identity": "+46700000001"}]
                }
            },
            "parameters": {"name": "Ada"},
        },
        {"recipient": {"contact_id": "contact-42"}},
        {
            "recipient": {
                "identified_by": {
                    "channel_identities": [{"channel": "WHATSAPP", "identity": "+46700000002"}]
                }
            },
            "parameters": {"name": "Bo"},
            "message_metadata": {"order": 7},
        },
    ]
    assert body["batch_metadata"] == {"campaign": "spring"}
    assert body["message_metadata"] == {"source": "test"}
    assert body["conversation_metadata"] == {"topic": "promo"}
    assert body["processing_strategy"] == "DISPATCH_ONLY"
    assert body["channel_priority_order"] == ["WHATSAPP", "SMS"]
    assert body["ttl"] == "3600s"
    assert body["channel_properties"] == {"WHATSAPP_HEADER": "x"}
    assert body["callback_url"] == "https://example.com/cb"
    assert "send_after" not in body
    batch = sim.conversation.batches[result.batch_id]
    assert batch.rendered(0) == {"text_message": {"text": "Hi Ada"}}
    assert batch.rendered(1) == {"text_message": {"text": "Hi ${name}"}}
    assert sim.token_requests == 1


MESSAGES: list[tuple[Any, str]] = [
    (TextMessage("Hi ${name}"), "text_message"),
    (MediaMessage("https://x/${name}.png", thumbnail_url="https://x/t.png"), "media_message"),
    (
        TemplateMessage(
            omni_template=TemplateReference("tpl", "1", "en-US", {"name": "${name}"}),
            channel_template={"WHATSAPP": TemplateReference("wa-tpl", "2")},
        ),
        "template_message",
    ),
    (
        ChoiceMessage(
            [
                Choice.text("Yes", postback_data="y"),
                Choice.url("Site", "https://example.com"),
                Choice.call("Call", "+46700000009"),
            ],
            TextMessage("Pick, ${name}"),
        ),
        "choice_message",
    ),
    (
        CardMessage(
            title="Hello ${name}",
            description="d",
            media_message=MediaMessage("https://x/a.jpg"),
            height="MEDIUM",
            choices=[Choice.location("Shop", 59.3, 18.0, label="HQ")],
        ),
        "card_message",
    ),
    (
        CarouselMessage([CardMessage(title="A"), CardMessage(title="B")], [Choice.text("More")]),
        "carousel_message",
    ),
    (
        LocationMessage(Coordinates(59.33, 18.06), "Office of ${name}", label="HQ"),
        "location_message",
    ),
    (
        ListMessage(
            "Menu for ${name}",
            [ListSection([ListItem(choice=ListChoiceItem("Tea", postback_data="tea"))], "Drinks")],
        ),
        "list_message",
    ),
    (
        ContactInfoMessage(
            ContactName("Ada Lovelace", first_name="Ada"),
            [ContactPhoneNumber("+46700000003", type="WORK")],
        ),
        "contact_info_message",
    ),
]


@pytest.mark.parametrize(("message", "key"), MESSAGES, ids=[k for _, k in MESSAGES])
async def test_every_typed_message_is_sent_under_its_key(
    sim: SinchSimulator, conv: AsyncConversationBatchClient, message: Any, key: str
) -> None:
    result = await conv.send("app", message, [(sms("+46700000001"), {"name": "Ada"})])
    stored = sim.conversation.batches[result.batch_id]
    assert list(stored.message) == [key]
    rendered = stored.rendered(0)
    assert "${name}" not in str(rendered)
    if "${name}" in str(stored.message):
        assert "Ada" in str(rendered)


async def test_raw_dict_message_is_sent_as_is(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    raw = {"text_message": {"text": "raw"}, "explicit_channel_message": {"SMS": "sms text"}}
    result = await conv.send("app", raw, ["c1"])
    assert sim.conversation.batches[result.batch_id].message == raw


async def test_recipient_forms(sim: SinchSimulator, conv: AsyncConversationBatchClient) -> None:
    result = await conv.send(
        "app",
        TextMessage("x"),
        [
            Recipient.contact("c1"),
            [sms("+46700000001"), ChannelIdentity("RCS", "+46700000001")],
            {"recipient": {"contact_id": "c2"}, "parameters": {"a": "b"}},
            ("c3", {"n": 5}),
        ],
    )
    recipients = sim.conversation.batches[result.batch_id].recipients
    assert recipients[0] == {"recipient": {"contact_id": "c1"}}
    assert len(recipients[1]["recipient"]["identified_by"]["channel_identities"]) == 2
    assert recipients[2]["parameters"] == {"a": "b"}
    assert recipients[3] == {"recipient": {"contact_id": "c3"}, "parameters": {"n": "5"}}


# --- get, scheduling, cancel -------------------------------------------------------------------


async def test_get_moves_from_ready_to_processed(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    result = await conv.send("app", TextMessage("x"), ["c1"], batch_metadata={"k": "v"})
    status = await conv.get(result.batch_id)
    assert isinstance(status, BatchStatus)
    assert (status.batch_id, status.status, status.metadata) == (
        result.batch_id,
        "READY",
        {"k": "v"},
    )
    assert status.send_after is None
    assert not status.cancellable
    await sim.advance(2.5)
    assert (await conv.get(result.batch_id)).status == "PROCESSED"
    assert sim.journal.find("GET", f"/messages/{result.batch_id}")[-1].status == 200


async def test_scheduled_batch_rounds_up_and_is_processed_on_the_clock(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    wanted = sim.clock.now() + timedelta(hours=1, seconds=7)
    result = await conv.send("app", TextMessage("x"), ["c1"], send_after=wanted)
    assert result.send_after is not None
    assert result.send_after >= wanted
    assert result.send_after.timestamp() % 300 == 0
    assert result.send_after - wanted < timedelta(minutes=5)
    sent_body = sim.journal.find("POST", "/messages")[-1].json
    assert sent_body["send_after"].endswith("Z")
    status = await conv.get(result.batch_id)
    assert status.status == "SCHEDULED"
    assert status.cancellable
    assert status.send_after == result.send_after
    await sim.advance((result.send_after - sim.clock.now()).total_seconds() + 0.5)
    assert (await conv.get(result.batch_id)).status == "READY"
    await sim.advance(2)
    assert (await conv.get(result.batch_id)).status == "PROCESSED"


async def test_cancel_by_id_before_send_after(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    later = now() + timedelta(hours=2)
    first = await conv.send("app", TextMessage("x"), ["c1"], send_after=later)
    second = await conv.send("app", TextMessage("x"), ["c2"], send_after=later)
    await conv.cancel(first.batch_id)
    entry = sim.journal.find("DELETE", "/messages")[-1]
    assert (entry.status, entry.json) == (200, {"batch_ids": [first.batch_id]})
    assert (await conv.get(first.batch_id)).status == "CANCELLED"
    assert (await conv.get(second.batch_id)).status == "SCHEDULED"


async def test_cancel_a_list_of_ids(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    later = now() + timedelta(days=1)
    ids = [
        (await conv.send("app", TextMessage("x"), [f"c{i}"], send_after=later)).batch_id
        for i in range(3)
    ]
    await conv.cancel(ids[:2])
    assert [sim.conversation.status(i) for i in ids] == ["CANCELLED", "CANCELLED", "SCHEDULED"]


async def test_cancel_too_late_or_immediate_still_answers_200(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    immediate = await conv.send("app", TextMessage("x"), ["c1"])
    scheduled = await conv.send(
        "app", TextMessage("x"), ["c2"], send_after=now() + timedelta(minutes=10)
    )
    await sim.advance(3600)
    await conv.cancel([immediate.batch_id, scheduled.batch_id, "unknown-batch"])
    assert sim.journal.find("DELETE", "/messages")[-1].status == 200
    assert (await conv.get(immediate.batch_id)).status == "PROCESSED"
    assert (await conv.get(scheduled.batch_id)).status == "PROCESSED"


async def test_cancel_by_metadata(sim: SinchSimulator, conv: AsyncConversationBatchClient) -> None:
    later = now() + timedelta(hours=3)
    spring = [
        (
            await conv.send(
                "app",
                TextMessage("x"),
                [f"c{i}"],
                send_after=later,
                batch_metadata={"wave": "spring"},
            )
        ).batch_id
        for i in range(3)
    ]
    autumn = await conv.send(
        "app", TextMessage("x"), ["c9"], send_after=later, batch_metadata={"wave": "autumn"}
    )
    await conv.cancel(metadata={"wave": "spring"})
    entry = sim.journal.find("DELETE", "/messages")[-1]
    assert entry.json == {"batch_metadata": {"wave": "spring"}}
    assert [(await conv.get(i)).status for i in spring] == ["CANCELLED"] * 3
    assert (await conv.get(autumn.batch_id)).status == "SCHEDULED"


async def test_list_by_metadata(conv: AsyncConversationBatchClient, sim: SinchSimulator) -> None:
    a = await conv.send("app", TextMessage("x"), ["c1"], batch_metadata={"run": "42"})
    await conv.send("app", TextMessage("x"), ["c2"], batch_metadata={"run": "43"})
    found = await conv.list_by_metadata("run", "42")
    assert [b.batch_id for b in found] == [a.batch_id]
    assert sim.journal.requests[-1].query == {"metadataKey": "run", "metadataValue": "42"}
    assert await conv.list_by_metadata("run", "nope") == []


# --- errors, auth, retries ---------------------------------------------------------------------


async def test_unknown_batch_is_not_found_with_conversation_error_shape(
    conv: AsyncConversationBatchClient,
) -> None:
    with pytest.raises(NotFoundError) as info:
        await conv.get("01UNKNOWN")
    err = info.value
    assert err.status == 404
    assert err.code == "NOT_FOUND"
    assert err.text is not None
    assert "not found" in err.text
    assert err.details is not None
    assert err.details["code"] == 404


async def test_server_side_validation_error_is_parsed(conv: AsyncConversationBatchClient) -> None:
    with pytest.raises(BadRequestError) as info:
        await conv.send("app", {"no_such_message": {}}, ["c1"])
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.text is not None
    assert "message" in info.value.text


async def test_bad_credentials_are_an_authentication_error(sim: SinchSimulator) -> None:
    async with AsyncConversationBatchClient(
        sim.project_id, sim.key_id, "wrong", base_url=sim.url, auth_url=sim.auth_url, retry=None
    ) as client:
        with pytest.raises(AuthenticationError):
            await client.get("x")


async def test_token_is_required(sim: SinchSimulator) -> None:
    import aiohttp

    url = f"{sim.url}/v1/projects/{sim.project_id}/messages/x"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert body["error"]["status"] == "UNAUTHENTICATED"


async def test_expired_token_is_refreshed(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    await conv.send("app", TextMessage("x"), ["c1"])
    sim.expire_tokens()
    await conv.send("app", TextMessage("x"), ["c2"])
    assert sim.token_requests == 2
    assert len(sim.conversation.batches) == 2


async def test_429_on_send_is_retried_once_created(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    fault = sim.faults.add(SEND, status=429, retry_after=0)
    await conv.send("app", TextMessage("x"), ["c1"])
    assert fault.hits == 1
    assert len(sim.conversation.batches) == 1


async def test_503_on_get_is_retried(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    result = await conv.send("app", TextMessage("x"), ["c1"])
    sim.faults.add("GET /v1/projects/{project_id}/messages/{batch_id}", status=503, times=2)
    assert (await conv.get(result.batch_id)).batch_id == result.batch_id


async def test_ambiguous_send_without_correlation_is_not_retried(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    sim.faults.add(SEND, status=503)
    with pytest.raises(AmbiguousSendError):
        await conv.send("app", TextMessage("x"), ["c1"])
    assert len(sim.conversation.batches) == 0


async def test_dropped_send_with_correlation_id_is_reconciled(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    sim.faults.add(SEND, drop="after")
    result = await conv.send("app", TextMessage("x"), ["c1"], correlation_id="order-1")
    assert len(sim.conversation.batches) == 1
    (batch,) = sim.conversation.batches.values()
    assert result.batch_id == batch.id
    assert batch.batch_metadata == {CORRELATION_METADATA_KEY: "order-1"}


async def test_503_with_auto_correlation_is_reconciled_or_resent(sim: SinchSimulator) -> None:
    async with sim.conversation_client(retry=FAST, auto_correlation_id=True) as client:
        sim.faults.add(SEND, status=503)  # not applied: the lookup finds nothing, so resend
        result = await client.send("app", TextMessage("x"), ["c1"])
    assert list(sim.conversation.batches) == [result.batch_id]


# --- lifecycle and construction ------------------------------------------------------------


async def test_defaults_and_lifecycle(sim: SinchSimulator) -> None:
    client = AsyncConversationBatchClient("proj", "kid", "s3cr3t-value", region="eu")
    assert client.base_url == "https://eu.conversationbatch.api.sinch.com"
    assert client.auth_url == "https://auth.sinch.com/oauth2/token"
    assert client.rate_limiter.requests_per_second == 800
    assert "s3cr3t" not in repr(client) + repr(client.auth)
    await client.aclose()
    await client.aclose()
    assert client.closed
    with pytest.raises(ClientClosedError):
        await client.get("x")


async def test_unclosed_client_warns(sim: SinchSimulator) -> None:
    client = sim.conversation_client()
    await client.send("app", TextMessage("x"), ["c1"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1
    assert "AsyncConversationBatchClient" in messages[0]
    assert "without being closed" in messages[0]


async def test_with_options_shares_the_session(sim: SinchSimulator) -> None:
    async with sim.conversation_client() as client:
        one_shot = client.with_options(retry=None)
        assert one_shot.retry is None
        assert client.retry is not None
        sim.faults.add("GET /v1/projects/{project_id}/messages/{batch_id}", status=503)
        with pytest.raises(Exception, match="503"):
            await one_shot.get("x")
        del one_shot
        gc.collect()
    assert client.closed


async def test_shared_token_provider_and_rate_limiter(sim: SinchSimulator) -> None:
    provider = OAuth2TokenProvider(sim.key_id, sim.key_secret, sim.auth_url)
    limiter = RateLimiter(requests_per_second=50)
    async with (
        AsyncConversationBatchClient(
            sim.project_id, base_url=sim.url, token_provider=provider, rate_limiter=limiter
        ) as a,
        AsyncConversationBatchClient(
            sim.project_id, base_url=sim.url, token_provider=provider, rate_limiter=limiter
        ) as b,
    ):
        await a.send("app", TextMessage("x"), ["c1"])
        await b.send("app", TextMessage("x"), ["c2"])
        assert a.rate_limiter is b.rate_limiter is limiter
    assert provider.fetch_count == 1


def test_from_env() -> None:
    env = {
        "SINCH_PROJECT_ID": "p1",
        "SINCH_KEY_ID": "k1",
        "SINCH_KEY_SECRET": "s1",
        "SINCH_REGION": "au",
        "SINCH_CONVERSATION_REGION": "br",
    }
    client = AsyncConversationBatchClient.from_env(env, requests_per_second=None)
    assert (client.project_id, client.region) == ("p1", "br")
    assert client.base_url == "https://br.conversationbatch.api.sinch.com"
    assert client.rate_limiter.requests_per_second is None
    with pytest.raises(SinchValidationError) as info:
        AsyncConversationBatchClient.from_env({})
    assert info.value.field == "project_id"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key_secret": None}, "key_secret"),
        ({"key_id": ""}, "key_id"),
        ({"project_id": " "}, "project_id"),
        ({"region": "au"}, "region"),
        ({"base_url": "http://example.com"}, "base_url"),
        ({"max_connections": 0}, "max_connections"),
        ({"requests_per_second": -1}, "requests_per_second"),
        ({"rate_limiter": RateLimiter(), "max_concurrency": 3}, "rate_limiter"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_construction_checks(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"project_id": "p", "key_id": "k", "key_secret": "s", **kwargs}
    with pytest.raises(SinchValidationError) as info:
        AsyncConversationBatchClient(**args)
    assert info.value.field == field


# --- validation before network I/O -------------------------------------------------------------


def _bad_send_cases() -> list[tuple[Any, str, str | None]]:
    return [
        ({"recipient_and_params": []}, "recipient_and_params", "1..1000 items"),
        (
            {"recipient_and_params": [f"c{i}" for i in range(1001)]},
            "recipient_and_params",
            "1..1000 items",
        ),
        ({"recipient_and_params": "c1"}, "recipient_and_params", None),
        ({"send_after": now() + timedelta(days=8)}, "send_after", "<= 7 days ahead"),
        ({"send_after": "tomorrow"}, "send_after", None),
        ({"batch_metadata": {"_batch_id": "x"}}, "batch_metadata", "no '_batch_id' key"),
        ({"batch_metadata": {"n": 1}}, "batch_metadata", None),
        ({"message_metadata": {"_batch_id": "x"}}, "message_metadata", "no '_batch_id' key"),
        (
            {"conversation_metadata": {"_batch_id": 1}},
            "conversation_metadata",
            "no '_batch_id' key",
        ),
        (
            {
                "recipient_and_params": [
                    RecipientAndParams(Recipient.contact("c1"), message_metadata={"_batch_id": "x"})
                ]
            },
            "recipient_and_params[0].message_metadata",
            "no '_batch_id' key",
        ),
        ({"ttl": "3600"}, "ttl", "'<n>s'"),
        ({"ttl": "1m"}, "ttl", "'<n>s'"),
        ({"ttl": -5}, "ttl", ">= 0 seconds"),
        ({"ttl": 1.5}, "ttl", "'<n>s'"),
        ({"app_id": ""}, "app_id", None),
        ({"message": "hello"}, "message", None),
        ({"message": {}}, "message", None),
        ({"recipient_and_params": [Recipient()]}, "recipient_and_params[0]", None),
        (
            {
                "recipient_and_params": [
                    Recipient(
                        contact_id="c", identified_by=Recipient.identities(sms("+1")).identified_by
                    )
                ]
            },
            "recipient_and_params[0]",
            None,
        ),
        (
            {"recipient_and_params": [ChannelIdentity("SMS", "")]},
            "recipient_and_params[0].identified_by.identity",
            None,
        ),
        (
            {"recipient_and_params": [("c1", {"p": None})]},
            "recipient_and_params[0].parameters",
            None,
        ),
        ({"recipient_and_params": [42]}, "recipient_and_params[0]", None),
        ({"correlation_id": "x" * 257}, "correlation_id", "1..256 characters"),
        ({"channel_priority_order": "SMS"}, "channel_priority_order", None),
        ({"processing_strategy": ""}, "processing_strategy", None),
    ]


@pytest.mark.parametrize(("override", "field", "limit"), _bad_send_cases())
async def test_send_validation_before_io(
    sim: SinchSimulator,
    conv: AsyncConversationBatchClient,
    override: dict[str, Any],
    field: str,
    limit: str | None,
) -> None:
    args: dict[str, Any] = {
        "app_id": "app",
        "message": TextMessage("x"),
        "recipient_and_params": ["c1"],
        **override,
    }
    with pytest.raises(SinchValidationError) as info:
        await conv.send(**args)
    assert info.value.field == field
    if limit is not None:
        assert info.value.limit == limit
    assert sim.journal.requests == []
    assert sim.token_requests == 0


@pytest.mark.parametrize(
    ("ttl", "wire"), [("86400s", "86400s"), (0, "0s"), (timedelta(hours=1), "3600s")]
)
async def test_ttl_forms(
    sim: SinchSimulator, conv: AsyncConversationBatchClient, ttl: Any, wire: str
) -> None:
    await conv.send("app", TextMessage("x"), ["c1"], ttl=ttl)
    assert sim.journal.find("POST", "/messages")[-1].json["ttl"] == wire


async def test_1000_recipients_and_naive_send_after_are_accepted(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    naive = (now() + timedelta(days=6)).replace(tzinfo=None)
    result = await conv.send(
        "app", TextMessage("x"), [f"c{i}" for i in range(1000)], send_after=naive
    )
    assert len(sim.conversation.batches[result.batch_id].recipients) == 1000


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((), {}, "batch_id"),
        (("b1",), {"metadata": {"k": "v"}}, "batch_id"),
        (([],), {}, "batch_id"),
        ((["b1", ""],), {}, "batch_id"),
        ((), {"metadata": {}}, "metadata"),
        ((), {"metadata": {"k": 1}}, "metadata"),
        ((), {"metadata": {"_batch_id": "x"}}, "metadata"),
    ],
)
async def test_cancel_validation(
    sim: SinchSimulator,
    conv: AsyncConversationBatchClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await conv.cancel(*args, **kwargs)
    assert info.value.field == field
    assert sim.journal.requests == []


async def test_get_and_list_validation(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    with pytest.raises(SinchValidationError):
        await conv.get("")
    with pytest.raises(SinchValidationError):
        await conv.list_by_metadata("", "v")
    assert sim.journal.requests == []


# --- fan-out -----------------------------------------------------------------------------------


async def test_fan_out_past_1000_recipients(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    progress: list[FanOutProgress] = []
    source = [(sms(n), {"name": f"N{i}"}) for i, n in enumerate(numbers(2500))]
    report = await conv.fan_out(
        "app",
        TextMessage("Hi ${name} ${greeting}"),
        source,
        campaign_id="spring-2026",
        default_parameters={"greeting": "hello", "name": "there"},
        batch_metadata={"team": "growth"},
        ttl="600s",
        on_progress=progress.append,
        concurrency=2,
    )
    assert report.complete
    assert (report.read, report.valid, report.sent, report.failed) == (2500, 2500, 2500, 0)
    assert [c.count for c in report.chunks] == [1000, 1000, 500]
    assert [c.status for c in report.chunks] == ["created"] * 3
    assert len(progress) == 3
    assert progress[-1].recipients_sent == 2500
    bodies = [e.json for e in sends(sim)]
    assert len(bodies) == 3
    for index, (chunk, body) in enumerate(zip(report.chunks, bodies, strict=True)):
        assert body["batch_metadata"] == {
            "team": "growth",
            CORRELATION_METADATA_KEY: f"spring-2026#{index}",
            CAMPAIGN_METADATA_KEY: "spring-2026",
        }
        assert body["ttl"] == "600s"
        assert chunk.client_reference == f"spring-2026#{index}"
        assert chunk.batch_id in sim.conversation.batches
    first = sim.conversation.batches[report.chunks[0].batch_id or ""]
    assert first.recipients[0]["parameters"] == {"greeting": "hello", "name": "N0"}
    assert first.rendered(0) == {"text_message": {"text": "Hi N0 hello"}}
    last = sim.conversation.batches[report.chunks[2].batch_id or ""]
    assert (
        last.recipients[-1]["recipient"]["identified_by"]["channel_identities"][0]["identity"]
        == numbers(1, 2499)[0]
    )
    all_sent = [
        r["recipient"]["identified_by"]["channel_identities"][0]["identity"]
        for b in sim.conversation.batches.values()
        for r in b.recipients
    ]
    assert sorted(all_sent) == numbers(2500)


async def test_fan_out_accounts_for_invalid_and_duplicate_recipients(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    async def source() -> AsyncIterator[Any]:
        for n in numbers(1200):
            yield sms(n)
        yield sms("0701234567")  # national format: invalid
        yield sms("+46 70 000 00 01")  # duplicate once normalised
        yield ChannelIdentity("whatsapp", "0046700000002")  # other channel: not a duplicate
        yield "contact-1"
        yield "contact-1"
        yield 42  # not a recipient
        yield Recipient()  # neither contact nor identity

    report = await conv.fan_out("app", TextMessage("x"), source(), chunk_size=500)
    assert report.read == 1207
    assert report.duplicates == 2
    assert len(report.invalid) == 3
    assert report.valid == 1202
    assert report.read == report.valid + len(report.invalid) + report.duplicates
    assert report.sent == 1202
    assert report.complete
    assert [c.count for c in report.chunks] == [500, 500, 202]
    tail = sim.conversation.batches[report.chunks[-1].batch_id or ""].recipients
    assert tail[-2]["recipient"]["identified_by"]["channel_identities"] == [
        {"channel": "WHATSAPP", "identity": "+46700000002"}
    ]
    assert tail[-1] == {"recipient": {"contact_id": "contact-1"}}
    assert report.chunks[0].recipients == []  # created chunks are slimmed in the report


async def test_fan_out_resume_skips_existing_batches(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    source = [sms(n) for n in numbers(2100)]
    sim.faults.add(SEND, status=400, times=1)  # the first chunk fails
    first = await conv.fan_out("app", TextMessage("x"), source, campaign_id="c7", concurrency=1)
    assert [c.status for c in first.chunks] == ["failed", "created", "created"]
    assert first.failed == 1000
    assert not first.complete
    failed = first.failed_chunks[0]
    assert isinstance(failed, ConversationChunkResult)
    assert isinstance(failed.error, BadRequestError)
    assert len(first.failed_items()) == 1000
    assert first.failed_items()[0].recipient.identified_by is not None
    assert len(sim.conversation.batches) == 2

    again = await conv.fan_out("app", TextMessage("x"), source, campaign_id="c7", concurrency=1)
    assert [c.status for c in again.chunks] == ["created", "existing", "existing"]
    assert again.complete
    assert len(sim.conversation.batches) == 3
    assert again.chunks[1].batch_id == first.chunks[1].batch_id


async def test_fan_out_then_cancel_campaign_by_metadata(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    later = now() + timedelta(hours=6)
    report = await conv.fan_out(
        "app",
        TextMessage("x"),
        [f"contact-{i}" for i in range(1500)],
        campaign_id="b",
        send_after=later,
    )
    other = await conv.send("app", TextMessage("x"), ["c"], send_after=later)
    ids = [c.batch_id or "" for c in report.chunks]
    assert [(await conv.get(i)).status for i in ids] == ["SCHEDULED", "SCHEDULED"]
    await conv.cancel(metadata={CAMPAIGN_METADATA_KEY: "b"})
    assert [(await conv.get(i)).status for i in ids] == ["CANCELLED", "CANCELLED"]
    assert (await conv.get(other.batch_id)).status == "SCHEDULED"


async def test_fan_out_ambiguous_chunk_is_reconciled(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    sim.faults.add(SEND, drop="after")
    report = await conv.fan_out("app", TextMessage("x"), numbers_as_identities(1001), concurrency=1)
    assert report.complete
    assert len(sim.conversation.batches) == 2


def numbers_as_identities(count: int) -> list[ChannelIdentity]:
    return [sms(n) for n in numbers(count)]


async def test_fan_out_iter_yields_each_chunk(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    seen = [
        chunk
        async for chunk in conv.fan_out_iter(
            "app", TextMessage("x"), numbers_as_identities(25), chunk_size=10, dedupe=False
        )
    ]
    assert sorted(c.count for c in seen) == [5, 10, 10]
    assert all(len(c.recipients) == c.count for c in seen)


async def test_fan_out_cancellation_reports_what_was_sent(
    sim: SinchSimulator, conv: AsyncConversationBatchClient
) -> None:
    gate = asyncio.Event()

    async def source() -> AsyncIterator[Any]:
        for n in numbers(1500):
            yield sms(n)
        await gate.wait()  # never set: the run blocks here with 500 buffered
        yield sms("+46799999999")

    task = asyncio.ensure_future(
        conv.fan_out("app", TextMessage("x"), source(), chunk_size=1000, concurrency=1)
    )
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(sim.conversation.batches) == 1:
            break
    await asyncio.sleep(0.05)
    task.cancel()
    report = (await fan_out_cancelled(task)).report
    assert report.sent == 1000
    assert len(report.not_sent) == 500
    assert report.valid == report.sent + report.failed + len(report.not_sent)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 1001}, "chunk_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"campaign_id": ""}, "campaign_id"),
        ({"resume": True}, "resume"),
        ({"correlation_id": "x"}, "correlation_id"),
        ({"recipient_and_params": []}, "recipient_and_params"),
        ({"batch_metadata": {CAMPAIGN_METADATA_KEY: "x"}}, "batch_metadata"),
        ({"batch_metadata": {"_batch_id": "x"}}, "batch_metadata"),
        ({"send_after": now() + timedelta(days=8)}, "send_after"),
        ({"ttl": "forever"}, "ttl"),
        ({"default_parameters": {"a": 1}}, "default_parameters"),
        ({"app_id": ""}, "app_id"),
    ],
)
async def test_fan_out_validation_before_io(
    sim: SinchSimulator, conv: AsyncConversationBatchClient, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"app_id": "app", "message": TextMessage("x"), "recipients": ["c1"]}
    for key in ("app_id",):
        if key in kwargs:
            args[key] = kwargs.pop(key)
    with pytest.raises(SinchValidationError) as info:
        await conv.fan_out(**args, **kwargs)
    assert info.value.field == field
    assert sim.journal.requests == []


async def test_fan_out_rejects_a_string_source(conv: AsyncConversationBatchClient) -> None:
    with pytest.raises(SinchValidationError) as info:
        await conv.fan_out("app", TextMessage("x"), "contact-1")
    assert info.value.field == "recipients"


def test_a_client_is_bound_to_one_event_loop() -> None:
    loop1 = asyncio.new_event_loop()
    loop2 = asyncio.new_event_loop()
    sim = SinchSimulator(time_scale=0)
    try:
        loop1.run_until_complete(sim.start())
        client = sim.conversation_client()
        sent = loop1.run_until_complete(client.send("app", TextMessage("x"), ["c1"]))
        with pytest.raises(EventLoopMismatchError):
            loop2.run_until_complete(client.get(sent.batch_id))
        assert loop1.run_until_complete(client.get(sent.batch_id)).status == "READY"
        loop1.run_until_complete(client.aclose())
    finally:
        loop1.run_until_complete(sim.stop())
        loop1.close()
        loop2.close()


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "conversation_batch.py"


async def test_the_example_runs_against_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("conversation_batch_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert await module.simulate() == 0
    out = capsys.readouterr().out
    assert "sent 2,500 in 3 batches" in out
    assert "after cancel: CANCELLED" in out
