"""Fuzzing the webhook input paths (hypothesis): only the documented exceptions, ever.

* :func:`verify_signature` with arbitrary header dicts (any text, lone surrogates, digits of
  other scripts, bytes decoded as aiohttp and Starlette decode them, huge values), alone or
  mixed into correctly signed headers: returns or raises :class:`InvalidSignatureError`;
* :func:`parse_callback` with arbitrary bytes, text and JSON-shaped bodies (known ``type``
  values, deep nesting, huge numbers): returns a :data:`WebhookEvent` or raises
  :class:`InvalidCallbackError`;
* :func:`handle_webhook` with all of it and a no-op ``on_event``: 200, 400, 401 or 413.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinch_async.webhooks import (
    ALGORITHM_HEADER,
    CALLBACK_TYPES,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidCallbackError,
    InvalidSignatureError,
    NonceCache,
    WebhookEvent,
    handle_webhook,
    parse_callback,
    sign_headers,
    verify_signature,
)

SECRET = "fuzz-secret"
NOW = int(time.time())
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()), max_size=60)  # surrogates included
digits_of_any_script = st.lists(
    st.sampled_from([0x30, 0xFF10, 0x0660, 0x06F0, 0x0966, 0x1D7CE]), min_size=1, max_size=14
).map(lambda bases: "".join(chr(base + i % 10) for i, base in enumerate(bases)))
header_value = st.one_of(
    any_text,
    digits_of_any_script,
    st.integers(-(10**30), 10**30).map(str),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")),  # aiohttp
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),  # Starlette
    st.sampled_from(["HmacSHA256", "hmacsha512", "HMACSHA384", "", " ", "\x00"]),
    st.integers(1, 20_000).map(lambda n: "9" * n),
)
SINCH_HEADERS = [SIGNATURE_HEADER, NONCE_HEADER, TIMESTAMP_HEADER, ALGORITHM_HEADER]
header_name = st.one_of(
    st.sampled_from(SINCH_HEADERS),
    st.sampled_from(SINCH_HEADERS).map(str.upper),
    st.sampled_from(["content-length", "content-type"]),
    any_text,
)
arbitrary_headers = st.dictionaries(header_name, header_value, max_size=8)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    any_text.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["id", "batch_id", "recipient", "code", "status", "statuses", "from", "to", "body"]
callback_like = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(sorted(CALLBACK_TYPES)), any_text, json_leaf)},
    optional=dict.fromkeys(FIELDS, json_value),
).map(lambda obj: json.dumps(obj).encode())
deep = st.tuples(st.integers(0, 3000), st.sampled_from([b"[", b'{"a":', b'[{"b":'])).map(
    lambda depth_open: depth_open[1] * depth_open[0]
)
bodies = st.one_of(
    st.binary(max_size=300),
    callback_like,
    deep,
    deep.map(lambda opened: b'{"type":"mo_text","x":' + opened),
    st.integers(1, 6000).map(lambda n: b'{"type":"mo_text","id":"1","code":' + b"9" * n + b"}"),
)
texts = st.one_of(any_text, callback_like.map(lambda b: b.decode() + "\udcff"))


@st.composite
def signed_then_mangled(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A body with correct signature headers, some of them then replaced or removed."""
    body = draw(bodies)
    headers = sign_headers(
        body, SECRET, nonce=draw(st.text(min_size=1, max_size=30)), timestamp=NOW
    )
    for name in draw(st.lists(st.sampled_from(SINCH_HEADERS), max_size=2, unique=True)):
        replacement = draw(st.one_of(st.none(), header_value))
        if replacement is None:
            headers.pop(name, None)
        else:
            headers[name] = replacement
    return body, headers


requests = st.one_of(
    st.tuples(bodies, arbitrary_headers),
    signed_then_mangled(),
)


# -- properties ------------------------------------------------------------------------------


@FUZZ
@given(body=bodies, headers=arbitrary_headers)
def test_verify_signature_raises_only_invalid_signature_error(
    body: bytes, headers: dict[str, str]
) -> None:
    reason = None
    try:
        verify_signature(body, headers, SECRET, now=NOW)
    except InvalidSignatureError as exc:
        reason = exc.reason
    assert reason is None or reason in InvalidSignatureError.REASONS


@FUZZ
@given(request=signed_then_mangled())
def test_verify_signature_of_mangled_signed_headers(request: tuple[bytes, dict[str, str]]) -> None:
    body, headers = request
    reason = None
    try:
        verify_signature(body, headers, SECRET, now=NOW, replay_guard=NonceCache())
    except InvalidSignatureError as exc:
        reason = exc.reason
    assert reason is None or reason in InvalidSignatureError.REASONS


@FUZZ
@given(body=st.one_of(bodies, texts))
def test_parse_callback_raises_only_invalid_callback_error(body: bytes | str) -> None:
    try:
        event = parse_callback(body)
    except InvalidCallbackError:
        return
    assert isinstance(event.type, str)
    assert event.type


@pytest.fixture(scope="module")
def fuzz_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every example of the handle_webhook property."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


async def _ignore(event: WebhookEvent) -> None:
    pass


@FUZZ
@given(
    request=requests,
    secret=st.sampled_from([SECRET, None]),
    max_body_size=st.one_of(st.just(1_048_576), st.integers(1, 400)),
)
def test_handle_webhook_answers_only_200_400_401_or_413(
    fuzz_loop: asyncio.AbstractEventLoop,
    request: tuple[bytes, dict[str, str]],
    secret: str | None,
    max_body_size: int,
) -> None:
    body, headers = request
    result = fuzz_loop.run_until_complete(
        handle_webhook(body, headers, secret, _ignore, tolerance=None, max_body_size=max_body_size)
    )
    assert result.status in {200, 400, 401, 413}
    answer: Any = json.loads(result.body)
    assert set(answer) <= {"status", "error", "reason", "max_body_size"}
    if result.status == 200:
        assert result.event is not None
    else:
        assert result.event is None
        assert result.error is not None
